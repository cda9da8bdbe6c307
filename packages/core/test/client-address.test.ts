import { describe, expect, it } from "vitest";
import { KeyGuardError } from "../src/errors/keyguard-error.js";
import { createClientAddressResolver } from "../src/pipeline/client-address.js";
import { isProtectedPath, normalizePath, pathOf } from "../src/pipeline/protected-path.js";

describe("client address", () => {
  it("comes from the socket unless a proxy is trusted", () => {
    const resolve = createClientAddressResolver();
    expect(resolve("203.0.113.7", "198.51.100.1")).toBe("203.0.113.7");
    expect(resolve("::ffff:203.0.113.7", undefined)).toBe("203.0.113.7");
  });

  it("believes X-Forwarded-For only for the trusted hops", () => {
    const oneHop = createClientAddressResolver({ trustProxy: 1 });
    expect(oneHop("10.0.0.2", "198.51.100.1")).toBe("198.51.100.1");
    // A client's own forged entry sits further left and is not believed with one hop.
    expect(oneHop("10.0.0.2", "6.6.6.6, 198.51.100.1")).toBe("198.51.100.1");
    const list = createClientAddressResolver({ trustProxy: ["loopback", "10.0.0.0/8"] });
    expect(list("10.0.0.2", "198.51.100.1")).toBe("198.51.100.1");
    expect(list("203.0.113.9", "198.51.100.1")).toBe("203.0.113.9"); // not a trusted proxy
  });

  it("groups IPv6 clients by /64 unless told otherwise", () => {
    const resolve = createClientAddressResolver();
    expect(resolve("2001:db8:1:2:aaaa:bbbb:cccc:dddd", undefined)).toBe("2001:db8:1:2::/64");
    expect(resolve("2001:db8:1:2::1", undefined)).toBe("2001:db8:1:2::/64");
    expect(createClientAddressResolver({ ipv6Subnet: false })("2001:db8::1", undefined)).toBe(
      "2001:db8::1",
    );
    expect(createClientAddressResolver({ ipv6Subnet: 48 })("2001:db8:1:2::1", undefined)).toBe(
      "2001:db8:1::/48",
    );
  });

  it("refuses dangerous or broken settings at start-up", () => {
    expect(() => createClientAddressResolver({ trustProxy: true as never })).toThrow(
      /trustProxy: true/,
    );
    expect(() => createClientAddressResolver({ trustProxy: -1 })).toThrow(KeyGuardError);
    expect(() => createClientAddressResolver({ trustProxy: ["not an ip"] })).toThrow(/trustProxy/);
    expect(() => createClientAddressResolver({ ipv6Subnet: 200 })).toThrow(/ipv6Subnet/);
  });
});

describe("protected paths", () => {
  it("cover the prefix and below, whatever the case or encoding", () => {
    for (const path of ["/api", "/api/", "/api/data", "/API/data", "/%61pi/data", "//api/data"]) {
      expect(isProtectedPath(path, "/api"), path).toBe(true);
    }
    for (const path of ["/apiary", "/health", "/", "/ap"])
      expect(isProtectedPath(path, "/api"), path).toBe(false);
    expect(isProtectedPath("/anything", "/")).toBe(true);
    expect(pathOf("/api/data?x=1")).toBe("/api/data");
  });
});

describe("normalizePath", () => {
  it("gives every spelling of a route one key", () => {
    for (const path of ["/login", "/LOGIN", "/login/", "//login", "/%6Cogin", "/Login//"]) {
      expect(normalizePath(path), path).toBe("/login");
    }
    expect(normalizePath("/")).toBe("/");
    expect(normalizePath("")).toBe("/");
    expect(normalizePath("/%zz")).toBe("/%zz");
  });

  it("keeps paths already in normal form as they are, and normalises the rest", () => {
    for (const path of ["/api/data", "/a-b_c.d/~e", "/v1/keys/123"]) {
      expect(normalizePath(path)).toBe(path);
    }
    expect(normalizePath("/api//data")).toBe("/api/data");
    expect(normalizePath("/api/Data")).toBe("/api/data");
    expect(normalizePath("/api/data//")).toBe("/api/data");
    expect(normalizePath("/caf%C3%A9")).toBe("/café");
    expect(normalizePath("/CAFÉ")).toBe("/café");
  });
});
