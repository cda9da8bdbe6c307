import { describe, expect, it } from "vitest";
import { adminDocsResponse } from "../src/admin-docs.js";

const options = { openApiUrl: "/admin/openapi.json", mountPath: "/docs" };
const notInstalled = async () => undefined;

describe("the docs page with swagger-ui-dist installed", () => {
  it("serves the page and the Swagger UI files it loads", async () => {
    const page = await adminDocsResponse("/", options);
    expect(page?.status).toBe(200);
    expect(String(page?.body)).toContain('<script src="/docs/swagger-ui-bundle.js"></script>');
    const bundle = await adminDocsResponse("/swagger-ui-bundle.js", options);
    expect(bundle?.status).toBe(200);
    expect(bundle?.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(bundle?.body.length).toBeGreaterThan(100_000);
    expect(await adminDocsResponse("/../package.json", options)).toBeUndefined();
  });
});

describe("the docs page without swagger-ui-dist", () => {
  it("says in the browser what to install", async () => {
    const page = await adminDocsResponse("/", options, notInstalled);
    expect(page?.status).toBe(503);
    expect(page?.headers["content-type"]).toBe("text/html; charset=utf-8");
    const html = String(page?.body);
    expect(html).toContain("<pre>npm install swagger-ui-dist</pre>");
    expect(html).toContain('<a href="/admin/openapi.json">');
    expect(html).not.toContain("<script");
  });

  it("answers the page's scripts and styles with a problem naming the package", async () => {
    for (const asset of ["/swagger-ui-bundle.js", "/swagger-ui.css", "/favicon-32x32.png"]) {
      const answer = await adminDocsResponse(asset, options, notInstalled);
      expect(answer?.status).toBe(503);
      expect(answer?.headers["content-type"]).toBe("application/problem+json");
      expect(JSON.parse(String(answer?.body))).toMatchObject({
        status: 503,
        code: "service_unavailable",
        detail: expect.stringContaining("npm install swagger-ui-dist"),
      });
    }
    expect(await adminDocsResponse("/index.js", options, notInstalled)).toBeUndefined();
  });

  it("escapes the document URL it links to", async () => {
    const page = await adminDocsResponse("/", { ...options, openApiUrl: '/x"><b>' }, notInstalled);
    expect(String(page?.body)).not.toContain('"><b>');
  });
});
