// Builds every publishable package and writes its installable tarball into dist-tarballs/
// (or the directory given as the first argument). `pnpm pack` rewrites workspace: ranges to
// the packages' real versions, so the tarballs install outside this repository.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const destination = resolve(process.argv[2] ?? join(root, "dist-tarballs"));

const publishable = readdirSync(join(root, "packages"))
  .map((name) => join(root, "packages", name))
  .filter((dir) => {
    try {
      return !JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).private;
    } catch {
      return false;
    }
  });

const run = (command, args, cwd) =>
  execFileSync(command, args, { cwd, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });

rmSync(destination, { recursive: true, force: true });
mkdirSync(destination, { recursive: true });
const filters = publishable.flatMap((dir) => ["--filter", `./${dir.slice(root.length + 1)}`]);
run("pnpm", ["turbo", "run", "build", ...filters, "--output-logs=errors-only"], root);
for (const dir of publishable) {
  run("pnpm", ["pack", "--pack-destination", destination], dir);
}
for (const file of readdirSync(destination).sort()) console.log(join(destination, file));
