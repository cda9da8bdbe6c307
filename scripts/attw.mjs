// are-the-types-wrong on the tarballs users would install (packed as by `pnpm release:pack`):
// every package's types must resolve for node10, node16 (CJS and ESM) and bundlers. Runs
// offline. keyguard-cli is skipped: it ships a command, no importable types.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "keyguard-attw-"));
let failed = 0;
try {
  execFileSync(process.execPath, [join(root, "scripts", "release-pack.mjs"), work], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (const file of readdirSync(work).sort()) {
    if (!file.endsWith(".tgz") || file.startsWith("keyguard-cli-")) continue;
    try {
      execFileSync(
        join(root, "node_modules", ".bin", "attw"),
        [join(work, file), "--format", "ascii"],
        {
          stdio: "inherit",
        },
      );
    } catch {
      failed += 1;
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failed > 0) {
  console.error(`attw: ${failed} package(s) have type problems`);
  process.exit(1);
}
