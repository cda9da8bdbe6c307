import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { isKeyGuardError } from "@keyguard/core";
import { loadOptionalModule, problemFor } from "@keyguard/core/internal";

/** A static file of the docs page. */
export interface AdminDocsAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * The files of swagger-ui-dist the page uses; nothing else is ever read from disk. A Map,
 * not an object: `constructor` or `__proto__` must be unknown names, not inherited members.
 */
const ASSETS: ReadonlyMap<string, string> = new Map([
  ["swagger-ui.css", "text/css; charset=utf-8"],
  ["swagger-ui-bundle.js", "text/javascript; charset=utf-8"],
  ["favicon-32x32.png", "image/png"],
]);

interface SwaggerUiDist {
  getAbsoluteFSPath(): string;
}

// A variable, so bundlers and TypeScript leave the optional package unresolved until used.
const SWAGGER_UI_DIST = "swagger-ui-dist";
let distPath: Promise<string> | undefined;

function loadDistPath(): Promise<string> {
  distPath ??= loadOptionalModule(
    "swagger-ui-dist",
    "The admin API docs page",
    () => import(SWAGGER_UI_DIST) as Promise<SwaggerUiDist & { default?: SwaggerUiDist }>,
  ).then((module) => (module.default ?? module).getAbsoluteFSPath());
  return distPath;
}

/**
 * The directory of Swagger UI's files (the `swagger-ui-dist` package installed next to the
 * app), or `undefined` when that package is not installed. Installing it later takes a
 * restart: the answer is kept for the life of the process.
 */
export async function swaggerUiDistPath(): Promise<string | undefined> {
  try {
    return await loadDistPath();
  } catch (error) {
    if (isKeyGuardError(error, "driver_missing")) return undefined;
    throw error;
  }
}

/**
 * One of Swagger UI's files, from the `swagger-ui-dist` package installed next to the app
 * (no CDN: servers without internet get the same page). Unknown names give `undefined`;
 * without `swagger-ui-dist` it throws `driver_missing`.
 */
export async function adminDocsAsset(name: string): Promise<AdminDocsAsset | undefined> {
  const contentType = ASSETS.get(name);
  if (contentType === undefined) return undefined;
  return { contentType, body: await readFile(join(await loadDistPath(), name)) };
}

const MISSING_SWAGGER_UI =
  "The admin API docs page needs the swagger-ui-dist package, which is not installed on this server. Install it next to the app (npm install swagger-ui-dist) and restart the server.";

/** What `/docs` answers when swagger-ui-dist is not installed: the reason, in the browser. */
function missingSwaggerUiPage(openApiUrl: string): string {
  const url = escapeHtml(openApiUrl);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>KeyGuard Admin API: docs page unavailable</title>
</head>
<body>
<h1>KeyGuard Admin API</h1>
<p>This docs page (Swagger UI) needs the <code>swagger-ui-dist</code> package, which is not
installed on this server.</p>
<p>Install it next to the app and restart the server:</p>
<pre>npm install swagger-ui-dist</pre>
<p>The admin API works without it; its OpenAPI document is at <a href="${url}">${url}</a>.</p>
</body>
</html>
`;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The Swagger UI page for the admin API: loads its assets from `assetsPath` (where
 * {@link adminDocsAsset} is served) and the document from `openApiUrl`. "Authorize" takes
 * the admin key; "Try it out" then calls the API from the browser.
 */
export function adminDocsPage(options: { openApiUrl: string; assetsPath: string }): string {
  const assets = escapeHtml(options.assetsPath.replace(/\/$/, ""));
  const config = JSON.stringify({
    url: options.openApiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
  }).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>KeyGuard Admin API</title>
<link rel="icon" type="image/png" href="${assets}/favicon-32x32.png">
<link rel="stylesheet" href="${assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${assets}/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle(${config});</script>
</body>
</html>
`;
}

/**
 * The docs page and its assets as one handler, for adapters to mount (at `/docs`, say):
 * `/` is the page, `/<asset>` a Swagger UI file; anything else is `undefined` (not found).
 * Without `swagger-ui-dist` installed the page is a 503 explaining what to install, and
 * the assets are 503 problems saying the same. `locate` finds Swagger UI's files (tests
 * replace it).
 */
export async function adminDocsResponse(
  subPath: string,
  options: { openApiUrl: string; mountPath: string },
  locate: () => Promise<string | undefined> = swaggerUiDistPath,
): Promise<{ status: number; headers: Record<string, string>; body: string | Buffer } | undefined> {
  const name = subPath.replace(/^\/+/, "");
  const isPage = name === "" || name === "index.html";
  const contentType = ASSETS.get(name);
  if (!isPage && contentType === undefined) return undefined;
  const directory = await locate();
  if (directory === undefined) {
    if (isPage) {
      return {
        status: 503,
        headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
        body: missingSwaggerUiPage(options.openApiUrl),
      };
    }
    return {
      status: 503,
      headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
      body: JSON.stringify(problemFor("service_unavailable", MISSING_SWAGGER_UI)),
    };
  }
  if (isPage) {
    return {
      status: 200,
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
      body: adminDocsPage({ openApiUrl: options.openApiUrl, assetsPath: options.mountPath }),
    };
  }
  return {
    status: 200,
    headers: { "content-type": contentType as string, "cache-control": "public, max-age=86400" },
    body: await readFile(join(directory, name)),
  };
}
