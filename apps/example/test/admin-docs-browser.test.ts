import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/express";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from "./real-chromium.js";

const haveChromium = chromiumAvailable("the browser test");

/** Every admin operation, as Swagger UI lists it: method and path. */
const OPERATIONS = [
  "DELETE /ip-blocks/{ip}",
  "DELETE /ip-rules/{id}",
  "DELETE /keys/{id}",
  "DELETE /webhooks/{id}",
  "GET /audit",
  "GET /ip-blocks",
  "GET /ip-rules",
  "GET /keys",
  "GET /keys/{id}",
  "GET /keys/{id}/usage",
  "GET /orgs",
  "GET /stats",
  "GET /usage",
  "GET /webhooks",
  "GET /webhooks/{id}/deliveries",
  "PATCH /keys/{id}",
  "PATCH /orgs/{id}",
  "POST /ip-blocks",
  "POST /ip-rules",
  "POST /keys",
  "POST /keys/{id}/rotate",
  "POST /keys/{id}/credits",
  "POST /orgs",
  "POST /webhooks",
].sort();

describe.runIf(haveChromium)("admin API docs in a real browser", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it.each(["express", "fastify", "koa"])(
    "%s: /docs lists every operation, and Try it out creates an organization",
    async (framework) => {
      const directory = mkdtempSync(join(tmpdir(), `keyguard-docs-${framework}-`));
      const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
      const server = await startExampleProcess(framework, { KEYGUARD_DATABASE_URL: databaseUrl });
      // A context of its own: closing it closes the connections Chromium opened (or opened
      // ahead) to the server, which the server's shutdown would otherwise wait for.
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        // Nothing may come from outside: every request the page makes is to the app.
        const foreign: string[] = [];
        page.on("request", (request) => {
          if (!request.url().startsWith(server.url) && !request.url().startsWith("data:")) {
            foreign.push(request.url());
          }
        });
        // Only Swagger UI's own files are served; anything else is an ordinary 404.
        for (const path of ["/docs/nope.js", "/docs/package.json", "/docs/%2e%2e/package.json"]) {
          expect((await fetch(`${server.url}${path}`)).status, path).toBe(404);
        }
        await page.goto(`${server.url}/docs/`);
        await page.locator(".opblock").first().waitFor();
        const listed = await page.locator(".opblock-summary").evaluateAll((summaries) =>
          summaries.map((summary) => {
            const method = summary.querySelector(".opblock-summary-method")?.textContent ?? "";
            const path = summary.querySelector(".opblock-summary-path")?.getAttribute("data-path");
            return `${method.trim()} ${path}`;
          }),
        );
        expect(listed.sort()).toEqual(OPERATIONS);

        // Authorize with the admin key (the secret key by default), then try POST /orgs.
        await page.locator("button.authorize").first().click();
        await page.locator(".auth-container input").fill(EXAMPLE_SECRET);
        await page.locator(".auth-btn-wrapper button.authorize").click();
        await page.locator(".auth-btn-wrapper button.btn-done").click();
        const operation = page.locator(".opblock-post", {
          has: page.locator('.opblock-summary-path[data-path="/orgs"]'),
        });
        await operation.locator(".opblock-summary").click();
        await operation.locator("button.try-out__btn").click();
        await operation
          .locator("textarea.body-param__text")
          .fill('{"name": "Created in the browser"}');
        await operation.locator("button.execute").click();
        const status = operation
          .locator(".live-responses-table tbody .response-col_status")
          .first();
        // expect.poll gives up after 1 s by default: too soon for a busy machine.
        await expect
          .poll(async () => (await status.textContent())?.trim(), { timeout: 30_000 })
          .toBe("201");
        expect(foreign).toEqual([]);

        // In the database, not just on the page.
        const kg = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl }, { env: {} });
        expect((await kg.listOrganizations()).map((org) => org.name)).toEqual([
          "Created in the browser",
        ]);
        await kg.close();
      } finally {
        await context.close();
        server.child.kill("SIGTERM");
        await server.exited;
        rmSync(directory, { recursive: true, force: true });
      }
    },
  );
});
