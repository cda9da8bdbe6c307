import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKeyGuardError } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import {
  loadBetterSqlite3,
  sqliteDriverIncompatibility,
} from "../src/dialects/load-better-sqlite3.js";
import { createKyselyStore } from "../src/index.js";

describe("the better-sqlite3 version check", () => {
  it("refuses 13.x on Node 20 and accepts what each Node can run", () => {
    const v13 = { version: "13.0.0", engines: { node: ">=22" } };
    const v12 = { version: "12.6.2", engines: { node: "20.x || 22.x || 23.x || 24.x || 25.x" } };
    expect(sqliteDriverIncompatibility(v13, "v20.19.0")).toBe(
      "better-sqlite3 13.0.0 is installed, but it needs Node 22 or newer and this is Node 20.19.0 (loading it would crash the process). Install the version that supports this Node: npm install better-sqlite3@12",
    );
    // Known even when a manifest carries no engines field.
    expect(sqliteDriverIncompatibility({ version: "13.2.0" }, "20.20.2")).toMatch(/needs Node 22/);
    expect(sqliteDriverIncompatibility(v13, "22.12.0")).toBeUndefined();
    expect(sqliteDriverIncompatibility(v12, "20.19.0")).toBeUndefined();
    expect(sqliteDriverIncompatibility({ version: "11.10.0" }, "20.19.0")).toBeUndefined();
    // A future major that says what it needs is held to it.
    expect(
      sqliteDriverIncompatibility({ version: "14.0.0", engines: { node: ">=24" } }, "22.1.0"),
    ).toMatch(/14\.0\.0 is installed, but it needs Node 24 or newer and this is Node 22\.1\.0/);
  });
});

describe("loading better-sqlite3 from an installed package tree", () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A project whose node_modules holds a better-sqlite3 of `version`; returns a file in it. */
  const projectWith = (version: string, main: string) => {
    const project = mkdtempSync(join(tmpdir(), "keyguard-driver-"));
    directories.push(project);
    const driver = join(project, "node_modules", "better-sqlite3");
    mkdirSync(join(driver, "lib"), { recursive: true });
    writeFileSync(
      join(driver, "package.json"),
      JSON.stringify({ name: "better-sqlite3", version, main: "lib/index.js", engines: {} }),
    );
    writeFileSync(join(driver, "lib", "index.js"), main);
    return join(project, "app.js");
  };

  it("stops before the native binding of a driver this Node cannot run", async () => {
    // Stands in for the binding that would segfault: if it is required, the test sees it.
    const from = projectWith("13.0.0", 'throw new Error("the native binding was loaded");');
    const error = await loadBetterSqlite3({ from, nodeVersion: "20.19.0" }).catch((e) => e);
    expect(isKeyGuardError(error, "driver_incompatible")).toBe(true);
    expect((error as Error).message).toMatch(
      /^better-sqlite3 13\.0\.0 is installed, but it needs Node 22 or newer and this is Node 20\.19\.0 .*npm install better-sqlite3@12$/,
    );
  });

  it("loads the driver it checked", async () => {
    const from = projectWith("12.6.2", "module.exports = function FakeDatabase() {};");
    const Database = await loadBetterSqlite3({ from, nodeVersion: "20.19.0" });
    expect(Database.name).toBe("FakeDatabase");
  });

  it("opens a database with the real driver installed here", async () => {
    const store = await createKyselyStore({ url: "sqlite::memory:" });
    await store.migrate();
    expect(await store.findOrganizationByName("nobody")).toBeUndefined();
    await store.close();
  });
});
