// `pnpm start` (and start:fastify, start:koa): builds the example app and the packages it
// uses, then runs one of its servers in this very process.
//
// Why a launcher instead of `turbo run build && node apps/example/dist/express.js`:
// - The first build takes 30-120 s; turbo's own output is hidden (errors only), so a line
//   says what is happening instead of a silent terminal.
// - pnpm does not forward signals to its script: `kill <pnpm's pid>` (what `kill %1` does
//   in a script) ends pnpm and leaves the server serving, holding the port, with its
//   queued usage never written. The root script runs this file with `exec`, so this
//   process is pnpm's own child, and it watches for pnpm going away: then it stops the
//   server as SIGTERM would (connections drained, usage written). SIGTERM and SIGINT sent
//   to this process directly (Ctrl-C reaches it with pnpm) are handled by the server.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const FRAMEWORKS = ["express", "fastify", "koa"];
const framework = process.argv[2] ?? "express";
if (!FRAMEWORKS.includes(framework)) {
  console.error(
    `start-example: unknown framework "${framework}" (one of ${FRAMEWORKS.join(", ")})`,
  );
  process.exit(2);
}

const root = resolve(import.meta.dirname, "..");

// The process that started this one (pnpm). Checked twice a second: an unref'd timer, so
// it never keeps the process alive, and nothing on any request's path.
const parent = process.ppid;
let building;
const watch = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(watch);
  building?.kill("SIGTERM");
  process.kill(process.pid, "SIGTERM"); // the server's own clean shutdown
}, 500);
watch.unref();

const turbo = join(root, "node_modules", ".bin", "turbo");
if (!existsSync(turbo)) {
  console.error('start-example: turbo is not installed here. Run "pnpm install" first.');
  process.exit(1);
}
console.error(
  `Building the example app and the packages it uses (the first build takes 30-120 s; later starts are cached)...`,
);
const started = Date.now();
const code = await new Promise((done) => {
  building = spawn(
    turbo,
    ["run", "build", "--filter=@keyguard/example...", "--output-logs=errors-only"],
    { cwd: root, stdio: ["ignore", 2, 2] }, // turbo's output to stderr: stdout is the server's,
  );
  building.once("exit", (exitCode, signal) => done(exitCode ?? (signal ? 1 : 0)));
  building.once("error", (error) => {
    console.error(`start-example: could not run turbo: ${error.message}`);
    done(1);
  });
});
building = undefined;
if (code !== 0) {
  console.error("start-example: the build failed (see above).");
  process.exit(1);
}
console.error(`Built in ${((Date.now() - started) / 1000).toFixed(1)} s. Starting ${framework}...`);
await import(pathToFileURL(join(root, "apps", "example", "dist", `${framework}.js`)).href);
