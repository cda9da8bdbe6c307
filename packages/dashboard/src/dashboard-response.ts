import { type DashboardFile, dashboardFiles } from "./dashboard-files.js";

export interface DashboardOptions {
  /**
   * Where the dashboard is mounted ("/dashboard"): the page's asset URLs are absolute
   * below it, so it works with and without a trailing slash.
   */
  readonly mountPath: string;
  /**
   * The admin API's path on this origin (default "/admin"). A path only: the page sends the
   * admin key there, and its Content-Security-Policy allows no other origin.
   */
  readonly adminApiUrl?: string;
}

export interface DashboardAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer;
}

/**
 * The page's policy: its own scripts, styles and images, requests to its own origin only
 * (the admin API), no inline script or style element, no frames, no forms posted
 * elsewhere, no plugins. A hostile page cannot frame it (clickjacking) and an injected
 * string cannot run as a script.
 */
export const DASHBOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join("; ");

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": DASHBOARD_CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
};

/**
 * What a mount path and an admin API URL may be: a plain absolute path (no dot segments,
 * nothing an HTML attribute or a URL would read differently), so it is written into the
 * page as it is.
 */
const PLAIN_PATH = /^(\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+)*\/?$/;

/**
 * Checks the admin API's URL once, when an adapter mounts the dashboard: a clear error at
 * start rather than a page that cannot work. Returns it without a trailing slash.
 */
export function checkAdminApiUrl(adminApiUrl = "/admin"): string {
  const path = adminApiUrl.replace(/\/+$/, "");
  if (path === "" || !PLAIN_PATH.test(path)) {
    throw new TypeError(
      `adminApiUrl must be the admin API's path on this server, such as "/admin" (the page sends the admin key there): ${JSON.stringify(adminApiUrl)}`,
    );
  }
  return path;
}

/**
 * The dashboard as one handler for adapters to mount: `/` (or nothing) is the page, a
 * built asset's path is that asset, anything else `undefined` (the framework's not found).
 * GET and HEAD only; the page itself adds no server logic: it calls the admin API.
 */
export async function dashboardResponse(
  subPath: string,
  options: DashboardOptions,
): Promise<DashboardAnswer | undefined> {
  const adminApiUrl = checkAdminApiUrl(options.adminApiUrl);
  const mountPath = options.mountPath.replace(/\/+$/, "");
  // The mount path comes from the router (Express's baseUrl can hold what a pattern matched):
  // anything but a plain path is not the dashboard's.
  if (!PLAIN_PATH.test(mountPath)) return undefined;
  const name = subPath.replace(/^\/+/, "");
  const files = await dashboardFiles();
  if (name === "" || name === "index.html") {
    const page = files.get("index.html") as DashboardFile;
    return {
      status: 200,
      headers: {
        ...SECURITY_HEADERS,
        "content-type": page.contentType,
        "cache-control": "no-store",
      },
      body: pageFor(page.body.toString("utf8"), mountPath, adminApiUrl),
    };
  }
  const file = files.get(name);
  if (file === undefined) return undefined;
  return {
    status: 200,
    headers: {
      ...SECURITY_HEADERS,
      "content-type": file.contentType,
      // Vite names assets by their content's hash: a changed file is a new name.
      "cache-control": name.startsWith("assets/")
        ? "public, max-age=31536000, immutable"
        : "public, max-age=3600",
    },
    body: file.body,
  };
}

/** The built page with its asset URLs under the mount path and the admin API's path. */
function pageFor(html: string, mountPath: string, adminApiUrl: string): string {
  return html
    .replaceAll('="./', `="${mountPath}/`)
    .replace(
      '<meta name="keyguard-admin-api" content="/admin">',
      `<meta name="keyguard-admin-api" content="${adminApiUrl}">`,
    );
}
