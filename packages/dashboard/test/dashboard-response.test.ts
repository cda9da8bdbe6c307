import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkAdminApiUrl,
  DASHBOARD_CONTENT_SECURITY_POLICY,
  dashboardResponse,
} from "../src/index.js";

const options = { mountPath: "/dashboard", adminApiUrl: "/admin" };

describe("dashboardResponse", () => {
  it("serves the page with its assets under the mount path and the admin API's path", async () => {
    for (const subPath of ["", "/", "/index.html"]) {
      const answer = await dashboardResponse(subPath, {
        mountPath: "/console/",
        adminApiUrl: "/api/admin/",
      });
      expect(answer?.status).toBe(200);
      expect(answer?.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(answer?.headers["cache-control"]).toBe("no-store");
      const html = String(answer?.body);
      expect(html).toContain('<meta name="keyguard-admin-api" content="/api/admin">');
      expect(html).toMatch(
        /<script type="module" crossorigin src="\/console\/assets\/index-[\w-]+\.js">/,
      );
      expect(html).not.toContain('="./');
      // No inline script: the policy allows none.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }
  });

  it("serves each built asset with a strict policy and long caching, nothing else", async () => {
    const page = String((await dashboardResponse("/", options))?.body);
    const script = /src="\/dashboard\/(assets\/[^"]+\.js)"/.exec(page)?.[1] as string;
    const style = /href="\/dashboard\/(assets\/[^"]+\.css)"/.exec(page)?.[1] as string;
    const js = await dashboardResponse(`/${script}`, options);
    expect(js?.headers).toMatchObject({
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=31536000, immutable",
      "content-security-policy": DASHBOARD_CONTENT_SECURITY_POLICY,
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
    });
    expect((await dashboardResponse(`/${style}`, options))?.headers["content-type"]).toBe(
      "text/css; charset=utf-8",
    );
    for (const path of [
      "/package.json",
      "/../package.json",
      "/assets/../index.html/",
      "/assets/",
      "/assets",
      "/%2e%2e/package.json",
      "/src/main.tsx",
      "/constructor",
      "/__proto__",
      "/index.html/x",
    ]) {
      expect(await dashboardResponse(path, options), path).toBeUndefined();
    }
  });

  it("answers any path outside the built files with undefined, never a throw", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (path) => {
        const answer = await dashboardResponse(path, options);
        const name = path.replace(/^\/+/, "");
        if (answer !== undefined)
          expect(
            ["", "index.html", "favicon.svg"].includes(name) || name.startsWith("assets/"),
          ).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("is not found under a mount path that is not a plain path", async () => {
    for (const mountPath of ['/a"b', "/a b", "/<x>", "/a/../b", "//evil.example"]) {
      expect(await dashboardResponse("/", { mountPath }), mountPath).toBeUndefined();
    }
  });

  it("refuses an admin API URL that is not a path on this server", () => {
    expect(checkAdminApiUrl()).toBe("/admin");
    expect(checkAdminApiUrl("/api/admin/")).toBe("/api/admin");
    for (const url of [
      "https://evil.example/admin",
      "//evil.example",
      "admin",
      "/",
      '/a"><script>',
      "",
    ]) {
      expect(() => checkAdminApiUrl(url), url).toThrow(/adminApiUrl must be the admin API's path/);
    }
  });
});
