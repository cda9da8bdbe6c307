import { describe, expect, it } from "vitest";
import {
  createPathMatcher,
  MAX_KEYED_PATH_LENGTH,
  normalizePath,
  pathOf,
} from "../src/pipeline/protected-path.js";

describe("pathOf: a raw target as a router reads it", () => {
  it.each([
    ["/api/data?x=1", "/api/data"],
    ["/api/data#frag", "/api/data"],
    ["/api/data#%zz", "/api/data"],
    ["/api/data?#", "/api/data"],
    ["http://anything/api/data", "/api/data"],
    ["HTTPS://user:pass@host:8443/api/data?q#f", "/api/data"],
    ["ftp://x/api/data", "/api/data"],
    ["http://host", "/"],
    ["http://host?x", "/"],
    ["*", "*"],
  ])("%s -> %s", (target, path) => {
    expect(pathOf(target)).toBe(path);
  });
});

describe("createPathMatcher on routed paths", () => {
  const underApi = createPathMatcher("/api");

  it("covers every spelling a router may send to a handler under the prefix", () => {
    for (const path of [
      "/api",
      "/api/data",
      "/API/Data",
      "/%61pi/data",
      "/%61pi/data/%zz",
      "/%61pi/data#%zz",
      "/api%2Fdata",
      "//api//data",
      "/api?x",
    ]) {
      expect(underApi(path), path).toBe(true);
    }
  });

  it("leaves paths outside it alone", () => {
    for (const path of ["/apiary", "/ap", "/", "/health", "/%zzapi/data", "/x/api"]) {
      expect(underApi(path), path).toBe(false);
    }
  });
});

describe("normalizePath: one bounded key per route", () => {
  it("drops query and fragment, so /login#1 and /login?x count as /login", () => {
    for (const path of ["/login#1", "/login#%zz", "/login?x=1", "/Login/#", "/%6Cogin?a#b"]) {
      expect(normalizePath(path), path).toBe("/login");
    }
  });

  it("decodes well-formed escapes beside malformed ones, once", () => {
    expect(normalizePath("/%61pi/%zz")).toBe("/api/%zz");
    expect(normalizePath("/%2561pi")).toBe("/%61pi");
    expect(normalizePath("/%E9t%C3%A9")).toBe("/%e9té");
  });

  it("writes control characters back as escapes, so no key or row carries a NUL", () => {
    expect(normalizePath("/api/data%00")).toBe("/api/data%00");
    expect(normalizePath("/api/%00%1F%7f/x")).toBe("/api/%00%1f%7f/x");
    expect(normalizePath("/API/DATA%00")).toBe("/api/data%00");
    expect(normalizePath("/a\u0000b")).toBe("/a%00b");
    const escaped = normalizePath("/%00%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%7f");
    expect([...escaped].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)).toBe(
      false,
    );
  });

  it("cuts long paths, so long spellings share one key", () => {
    const long = `/api/${"a".repeat(10_000)}`;
    const key = normalizePath(long);
    expect(key.length).toBe(MAX_KEYED_PATH_LENGTH);
    expect(normalizePath(`${long}b`)).toBe(key);
    expect(normalizePath(`/API/${"A".repeat(10_000)}`)).toBe(key);
  });
});
