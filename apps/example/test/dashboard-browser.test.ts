import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from "./real-chromium.js";

const haveChromium = chromiumAvailable("the dashboard browser test");
const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
  "utf8",
);
/** Screenshots of each screen at both sizes: the test's artifacts (and the README's images). */
const ARTIFACTS = fileURLToPath(new URL("../test-artifacts/dashboard/", import.meta.url));
const SIZES = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
] as const;
// expect.poll gives up after 1 s by default: too soon for a busy machine.
const PATIENCE = { timeout: 30_000 };

describe.runIf(haveChromium)("the dashboard in a real browser", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it.each(["express", "fastify", "koa"])(
    "%s: sign in, create an organization and a key, use it, see its usage, change its limit, rotate, revoke",
    async (framework) => {
      const directory = mkdtempSync(join(tmpdir(), `keyguard-dashboard-${framework}-`));
      const server = await startExampleProcess(framework, {
        KEYGUARD_DATABASE_URL: `sqlite:${join(directory, "keyguard.db")}`,
      });
      const context = await browser.newContext({ viewport: SIZES[0] });
      const page = await context.newPage();
      const foreign: string[] = [];
      const pageErrors: string[] = [];
      page.on("request", (request) => {
        if (!request.url().startsWith(server.url)) foreign.push(request.url());
      });
      page.on("pageerror", (error) => pageErrors.push(error.message));
      page.on("console", (message) => {
        if (message.type() === "error" && !/401|Unauthorized/.test(message.text())) {
          pageErrors.push(message.text());
        }
      });
      const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);
      try {
        const answer = await api("/dashboard");
        expect(answer.status).toBe(200);
        const policy = answer.headers.get("content-security-policy") ?? "";
        expect(policy).toContain("default-src 'none'");
        expect(policy).toContain("script-src 'self'");
        expect(policy).toContain("frame-ancestors 'none'");
        expect(answer.headers.get("cache-control")).toBe("no-store");
        // Only the built files are served; anything else is an ordinary 404.
        for (const path of [
          "/dashboard/nope.js",
          "/dashboard/../package.json",
          "/dashboard/%2e%2e/package.json",
          "/dashboard/assets/%2e%2e%2findex.html",
          "/dashboard/index.html/x",
        ]) {
          expect((await api(path)).status, path).toBe(404);
        }

        await page.goto(`${server.url}/dashboard`);
        // A wrong key is refused, and says so.
        await page.getByLabel("Admin key").fill("not-the-admin-key");
        await page.getByRole("button", { name: "Sign in" }).click();
        await expect
          .poll(() => page.getByRole("alert").textContent(), PATIENCE)
          .toContain("Wrong admin key");
        expect(await storedLocally(page)).toBe("{}");

        await page.getByLabel("Admin key").fill(EXAMPLE_SECRET);
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByRole("heading", { name: "Overview" }).waitFor();
        // The key is kept for this tab only: not in localStorage, not in the URL.
        expect(await storedLocally(page)).toBe("{}");
        expect(page.url()).not.toContain(EXAMPLE_SECRET);

        await screenLink(page, "Organizations").click();
        await page.getByLabel("New organization").fill("Acme");
        await page.getByRole("button", { name: "Create", exact: true }).click();
        await page.getByRole("link", { name: "Acme" }).waitFor();

        await screenLink(page, "Keys").click();
        await page.getByRole("button", { name: "Create a key" }).click();
        await page.locator("#create-org").selectOption("Acme");
        await page.getByLabel("Label", { exact: true }).fill("prod");
        await page.getByLabel("Requests per minute").fill("3");
        await page.getByRole("button", { name: "Create key" }).click();
        const rawKey = (await page.getByTestId("raw-key").textContent()) ?? "";
        expect(rawKey).toMatch(/^kg_live_/);
        await page.getByRole("button", { name: "I have stored it" }).click();
        expect(await page.getByTestId("raw-key").count()).toBe(0);

        const call = () => api("/api/data", { headers: { "x-api-key": rawKey } });
        expect((await call()).status).toBe(200);
        expect((await call()).status).toBe(200);

        // The key's page: its usage arrives with the next usage batch (about a second).
        await page.getByRole("link", { name: "prod" }).click();
        await page.getByTestId("key-limits").waitFor();
        expect(await page.getByTestId("key-limits").textContent()).toBe("minute=3/1m");
        await expect
          .poll(async () => {
            await page.getByRole("button", { name: "Refresh", exact: true }).click();
            return page.getByTestId("usage-total").textContent();
          }, PATIENCE)
          .toBe("2");
        expect(await page.locator("[data-testid=usage-chart] canvas").count()).toBe(1);
        // Where its limits stand, read live (reading spends nothing: asked twice, the same).
        for (let i = 0; i < 2; i++) {
          await page.getByRole("button", { name: "Refresh limits" }).click();
          await expect
            .poll(() => page.getByTestId("policy-minute-remaining").textContent(), PATIENCE)
            .toBe("1 of 3");
        }
        await expectAccessible(page, "key");
        await screenshots(page, framework, "key");

        // A lower limit applies at once: two requests this minute, a limit of two.
        await page.getByRole("button", { name: "Edit", exact: true }).click();
        await page.getByLabel("Requests per minute").fill("2");
        await page.getByRole("button", { name: "Save" }).click();
        await expect
          .poll(() => page.getByTestId("key-limits").textContent(), PATIENCE)
          .toBe("minute=2/1m");
        const limited = await call();
        expect(limited.status).toBe(429);
        expect(((await limited.json()) as { code: string }).code).toBe("rate_limited");
        await page.getByRole("button", { name: "Refresh limits" }).click();
        await expect
          .poll(() => page.getByTestId("policy-minute-remaining").textContent(), PATIENCE)
          .toBe("0 of 2");

        // Rotate: the new key is shown once, the old one stops working.
        await page.getByRole("button", { name: "Rotate" }).click();
        await page.getByRole("button", { name: "Yes, rotate" }).click();
        const rotatedKey = (await page.getByTestId("raw-key").textContent()) ?? "";
        expect(rotatedKey).toMatch(/^kg_live_/);
        expect(rotatedKey).not.toBe(rawKey);
        await page.getByRole("button", { name: "I have stored it" }).click();
        expect((await call()).status).toBe(401);
        const callRotated = () => api("/api/data", { headers: { "x-api-key": rotatedKey } });
        expect((await callRotated()).status).toBe(200);

        // Credits and a concurrency cap, set in the form: an empty balance refuses at once,
        // a top-up lets the key through again.
        await screenLink(page, "Keys").click();
        await page.getByLabel("Status", { exact: true }).selectOption("active");
        await expect.poll(() => page.getByRole("link", { name: "prod" }).count(), PATIENCE).toBe(1);
        await page.getByRole("link", { name: "prod" }).click();
        await page.getByRole("button", { name: "Edit", exact: true }).click();
        await page.getByLabel("Requests in flight at once").fill("1");
        await page.getByLabel("Prepaid credits").fill("0");
        await expectAccessible(page, "key form");
        await page.getByRole("button", { name: "Save" }).click();
        await expect
          .poll(() => page.getByTestId("key-limits").textContent(), PATIENCE)
          .toBe("minute=2/1m concurrency=1 credits=0/0");
        const broke = await callRotated();
        expect(broke.status).toBe(429);
        expect(((await broke.json()) as { code: string }).code).toBe("credits_exhausted");
        expect(await page.getByTestId("policy-concurrency-remaining").textContent()).toBe("—");
        await page.getByLabel("Add credits").fill("1");
        await page.getByRole("button", { name: "Add", exact: true }).click();
        await expect
          .poll(() => page.getByTestId("key-credits").textContent(), PATIENCE)
          .toBe("1/1");
        expect((await callRotated()).status).toBe(200);
        // Saving the form without touching the credits leaves the balance as spent: the
        // page still says 1/1, and sending that back would hand the credit back.
        await page.getByRole("button", { name: "Edit", exact: true }).click();
        await page.getByLabel("Scopes").fill("read");
        await page.getByRole("button", { name: "Save" }).click();
        await expect
          .poll(() => page.getByTestId("key-credits").textContent(), PATIENCE)
          .toBe("0/1");
        const spent = await callRotated();
        expect(spent.status).toBe(429);
        expect(((await spent.json()) as { code: string }).code).toBe("credits_exhausted");
        await page.getByLabel("Add credits").fill("1");
        await page.getByRole("button", { name: "Add", exact: true }).click();
        await expect
          .poll(() => page.getByTestId("key-credits").textContent(), PATIENCE)
          .toBe("1/2");

        // Revoke the new key (still on its page).
        await page.getByRole("button", { name: "Revoke" }).click();
        await page.getByRole("button", { name: "Yes, revoke" }).click();
        await expect
          .poll(() => page.getByTestId("key-status").textContent(), PATIENCE)
          .toBe("revoked");
        expect((await callRotated()).status).toBe(401);
        // The organization's keys, counted: the rotated one and its successor, both revoked.
        await screenLink(page, "Organizations").click();
        await expect
          .poll(() => page.getByTestId("org-keys-Acme").textContent(), PATIENCE)
          .toBe("0 active of 2");

        // The overview counts every key's requests: 4 allowed, 3 refused (the limit, the
        // empty balance twice); the 401s of the rotated-away and revoked keys belong to no key.
        await screenLink(page, "Overview").click();
        await expect
          .poll(async () => {
            await page.getByRole("button", { name: "Refresh" }).click();
            return [
              await page.getByTestId("overview-total").textContent(),
              await page.getByTestId("overview-429").textContent(),
            ];
          }, PATIENCE)
          .toEqual(["7", "3"]);
        expect(await page.getByTestId("top-key-requests").allTextContents()).toEqual(["4", "3"]);

        // Every screen: accessible (axe: no serious or critical violation), and pictured.
        for (const screen of ["overview", "organizations", "keys", "blocks", "audit"]) {
          await page.goto(`${server.url}/dashboard#/${screen === "overview" ? "" : screen}`);
          await page.getByRole("heading", { level: 2 }).first().waitFor();
          if (screen === "audit")
            await page.getByRole("cell", { name: "key.revoked" }).first().waitFor();
          await expectAccessible(page, screen);
          await screenshots(page, framework, screen);
        }

        // Signing out forgets the key: a reload asks for it again.
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.reload();
        await page.getByLabel("Admin key").waitFor();
        // A key the server stopped accepting (changed meanwhile) signs the tab out, saying why.
        await page.evaluate(() =>
          (
            globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } }
          ).sessionStorage.setItem("keyguard.adminKey", "a-key-changed-since"),
        );
        await page.reload();
        await expect
          .poll(() => page.getByRole("status").textContent(), PATIENCE)
          .toContain("no longer accepts this admin key");
        expect(foreign).toEqual([]);
        expect(pageErrors).toEqual([]);
      } finally {
        await context.close();
        server.child.kill("SIGTERM");
        await server.exited;
        rmSync(directory, { recursive: true, force: true });
      }
    },
  );
});

describe.runIf(haveChromium)("the dashboard against a hostile page", () => {
  it("cannot be framed, and the page's origin cannot call the admin API", async () => {
    const directory = mkdtempSync(join(tmpdir(), "keyguard-dashboard-hostile-"));
    const server = await startExampleProcess("express", {
      KEYGUARD_DATABASE_URL: `sqlite:${join(directory, "keyguard.db")}`,
    });
    // Another origin (another port), serving a page that frames the dashboard and calls
    // the admin API with the well-known default admin key.
    const hostile = createServer((_request, response) => {
      response.setHeader("content-type", "text/html");
      response.end(`<!doctype html><html><head><title>Prize</title></head><body>
<iframe id="frame" src="${server.url}/dashboard" width="800" height="600"></iframe>
<script>
  window.attempt = fetch(${JSON.stringify(`${server.url}/admin/orgs`)}, {
    method: "POST",
    headers: { "x-admin-key": ${JSON.stringify(EXAMPLE_SECRET)}, "content-type": "application/json" },
    body: JSON.stringify({ name: "Made by a hostile page" }),
  }).then((r) => r.status, (e) => "refused: " + e.name);
</script></body></html>`);
    });
    await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve));
    const hostileUrl = `http://localhost:${(hostile.address() as AddressInfo).port}/`;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      await page.goto(hostileUrl);
      expect(
        await page.evaluate(() => (globalThis as unknown as { attempt: Promise<unknown> }).attempt),
      ).toBe("refused: TypeError");
      // The frame never shows the dashboard: frame-ancestors 'none' / X-Frame-Options.
      await expect
        .poll(
          () =>
            page
              .frames()
              .find((frame) => frame !== page.mainFrame())
              ?.url(),
          PATIENCE,
        )
        .toMatch(/^chrome-error:/);
      const organizations = await fetch(`${server.url}/admin/orgs`, {
        headers: { "x-admin-key": EXAMPLE_SECRET },
      });
      expect(((await organizations.json()) as { items: unknown[] }).items).toEqual([]);
    } finally {
      await browser.close();
      hostile.close();
      server.child.kill("SIGTERM");
      await server.exited;
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

async function expectAccessible(page: Page, screen: string): Promise<void> {
  // Through the DevTools protocol, not a script tag: the page's CSP allows no injected script.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run(): Promise<{
            violations: { id: string; impact: string; help: string; nodes: unknown[] }[];
          }>;
        };
      }
    ).axe;
    const result = await axe.run();
    return result.violations
      .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
      .map(
        (violation) =>
          `${violation.id} (${violation.impact}): ${violation.help} x${violation.nodes.length}`,
      );
  });
  expect(violations, screen).toEqual([]);
}

async function screenshots(page: Page, framework: string, screen: string): Promise<void> {
  for (const size of SIZES) {
    await page.setViewportSize({ width: size.width, height: size.height });
    await page.screenshot({
      path: join(ARTIFACTS, `${framework}-${screen}-${size.name}.png`),
      fullPage: true,
    });
  }
  await page.setViewportSize(SIZES[0]);
}

/** A link of the screens' navigation (the page has others with the same words). */
function screenLink(page: Page, name: string) {
  return page.getByRole("navigation", { name: "Screens" }).getByRole("link", { name, exact: true });
}

/** Everything the page keeps in localStorage (the admin key must never be there). */
function storedLocally(page: Page): Promise<string> {
  return page.evaluate(() =>
    JSON.stringify(
      (globalThis as unknown as { localStorage: Record<string, string> }).localStorage,
    ),
  );
}
