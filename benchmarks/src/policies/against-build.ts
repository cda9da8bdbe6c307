import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { summarize } from "../side-by-side.js";

const here = dirname(fileURLToPath(import.meta.url));
const REPOSITORY = resolve(here, "../../..");
const CHILD = join(here, "one-policy-check.mjs");
const PACKAGES = ["core", "limiter-memory", "store-kysely"];

/** ns of CPU per check in a fresh process pinned to the last core, for one build. */
function nsPerCheck(root: string, algorithm: string): number {
  const core = String(cpus().length - 1);
  const output = execFileSync("taskset", ["-c", core, process.execPath, CHILD, root, algorithm], {
    encoding: "utf8",
  });
  return Number(output.trim().split("\n").at(-1));
}

/**
 * The one-policy path of this checkout against another build of KeyGuard (a checkout of an
 * earlier revision with core, limiter-memory and store-kysely built): each build in its own
 * process, both pinned to the same core, CPU time per check, in alternating pairs (A B,
 * B A, ...). Cost ratio = this build / the other, per pair, as median (min-max).
 */
export function compareWithBuild(baselineRoot: string, pairs = 4): string[] {
  const root = resolve(baselineRoot);
  for (const pkg of PACKAGES) {
    if (!existsSync(join(root, "packages", pkg, "dist", "index.js"))) {
      throw new Error(`${root}: packages/${pkg} is not built (run pnpm build there first)`);
    }
  }
  const lines: string[] = [];
  for (const algorithm of ["sliding-window-log", "gcra"]) {
    const ratios: number[] = [];
    const baseline: number[] = [];
    const current: number[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      // A B, then B A: drift over the run hits both builds alike.
      let other: number;
      let ours: number;
      if (pair % 2 === 0) {
        other = nsPerCheck(root, algorithm);
        ours = nsPerCheck(REPOSITORY, algorithm);
      } else {
        ours = nsPerCheck(REPOSITORY, algorithm);
        other = nsPerCheck(root, algorithm);
      }
      baseline.push(other);
      current.push(ours);
      ratios.push(ours / other);
    }
    const ratio = summarize(ratios);
    lines.push(
      `one policy (minute), ${algorithm}: ${summarize(current).median.toFixed(0)} ns of CPU per check, ` +
        `${summarize(baseline).median.toFixed(0)} ns in ${root}: cost ratio ${ratio.median.toFixed(2)} ` +
        `(${ratio.min.toFixed(2)}-${ratio.max.toFixed(2)}) (goal <= 1.00)`,
    );
  }
  return lines;
}
