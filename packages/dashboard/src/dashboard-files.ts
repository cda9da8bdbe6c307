import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One built file of the app, read once and kept: the whole app is about 100 kB. */
export interface DashboardFile {
  readonly contentType: string;
  readonly body: Buffer;
}

const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  [".html", "text/html; charset=utf-8"],
  [".js", "text/javascript; charset=utf-8"],
  [".css", "text/css; charset=utf-8"],
  [".svg", "image/svg+xml"],
  [".png", "image/png"],
  [".woff2", "font/woff2"],
]);

/**
 * The built app (`vite build` writes it to dist/app). From the bundle (dist/index.js) and
 * from the sources (src/, under test) alike, it is ../dist/app.
 */
export const DASHBOARD_APP_DIRECTORY = fileURLToPath(new URL("../dist/app/", import.meta.url));

let files: Promise<ReadonlyMap<string, DashboardFile>> | undefined;

/**
 * Every file of the built app by its path below the app's root (`index.html`,
 * `assets/index-3f2a.js`): a Map of what the build wrote, so nothing else on disk is ever
 * served (no path from a request reaches the file system).
 */
export function dashboardFiles(
  directory = DASHBOARD_APP_DIRECTORY,
): Promise<ReadonlyMap<string, DashboardFile>> {
  if (directory !== DASHBOARD_APP_DIRECTORY) return readTree(directory);
  files ??= readTree(directory).catch((error: unknown) => {
    files = undefined;
    throw error;
  });
  return files;
}

async function readTree(directory: string): Promise<ReadonlyMap<string, DashboardFile>> {
  if (!existsSync(join(directory, "index.html"))) {
    throw new Error(
      `The KeyGuard dashboard's built files are missing (${directory}): build @keyguard/dashboard (pnpm build) or reinstall it.`,
    );
  }
  const found = new Map<string, DashboardFile>();
  for (const entry of await readdir(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const contentType = CONTENT_TYPES.get(extname(entry.name));
    if (contentType === undefined) continue;
    const path = join(entry.parentPath, entry.name);
    const name = path
      .slice(directory.length)
      .replace(/^[/\\]+/, "")
      .replaceAll("\\", "/");
    found.set(name, { contentType, body: await readFile(path) });
  }
  return found;
}
