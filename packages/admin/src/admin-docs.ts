import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadOptionalModule } from "@keyguard/core";

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

/**
 * One of Swagger UI's files, from the `swagger-ui-dist` package installed next to the app
 * (no CDN: servers without internet get the same page). Unknown names give `undefined`.
 */
export async function adminDocsAsset(name: string): Promise<AdminDocsAsset | undefined> {
  const contentType = ASSETS.get(name);
  if (contentType === undefined) return undefined;
  distPath ??= loadOptionalModule(
    "swagger-ui-dist",
    "The admin API docs page",
    () => import(SWAGGER_UI_DIST) as Promise<SwaggerUiDist & { default?: SwaggerUiDist }>,
  ).then((module) => (module.default ?? module).getAbsoluteFSPath());
  return { contentType, body: await readFile(join(await distPath, name)) };
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
 */
export async function adminDocsResponse(
  subPath: string,
  options: { openApiUrl: string; mountPath: string },
): Promise<{ status: number; headers: Record<string, string>; body: string | Buffer } | undefined> {
  const name = subPath.replace(/^\/+/, "");
  if (name === "" || name === "index.html") {
    return {
      status: 200,
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" },
      body: adminDocsPage({ openApiUrl: options.openApiUrl, assetsPath: options.mountPath }),
    };
  }
  const asset = await adminDocsAsset(name);
  if (asset === undefined) return undefined;
  return {
    status: 200,
    headers: { "content-type": asset.contentType, "cache-control": "public, max-age=86400" },
    body: asset.body,
  };
}
