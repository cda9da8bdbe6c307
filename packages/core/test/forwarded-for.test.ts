import { describe, expect, it } from "vitest";
import { KeyGuardError } from "../src/errors/keyguard-error.js";
import {
  createClientAddressResolver,
  MAX_FORWARDED_HOPS,
  MAX_FORWARDED_TEXT,
  UNKNOWN_CLIENT,
} from "../src/pipeline/client-address.js";
import { formatIpAddress, parseIpAddress } from "../src/pipeline/ip-address.js";

const PROXY = "10.0.0.1";

/** A small seeded generator, so a failure names inputs that can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** What a client identity may look like: a canonical address or prefix, or the unknown token. */
const IDENTITY = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f:]{2,39}(?:\/\d{1,3})?|unknown)$/;

describe("X-Forwarded-For entries are read as addresses", () => {
  const oneHop = createClientAddressResolver({ trustProxy: 1 });

  it.each([
    ["203.0.113.5", "203.0.113.5"],
    ["203.0.113.5:4711", "203.0.113.5"],
    [" 203.0.113.5 ", "203.0.113.5"],
    ["\t203.0.113.5:80\t", "203.0.113.5"],
    ['"203.0.113.5"', "203.0.113.5"],
    ["[2001:db8::1]", "2001:db8::/64"],
    ["[2001:db8::1]:443", "2001:db8::/64"],
    ['"[2001:db8:1:2::1]:4711"', "2001:db8:1:2::/64"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::/64"],
    // A bare IPv6 address has no port: the last group is part of the address.
    ["2001:db8::1:443", "2001:db8::/64"],
    ["::ffff:203.0.113.5", "203.0.113.5"],
    ["::ffff:cb00:7105", "203.0.113.5"],
    ["[::ffff:203.0.113.5]:8080", "203.0.113.5"],
    ["64:ff9b::203.0.113.5", "203.0.113.5"],
    ["64:ff9b::cb00:7105", "203.0.113.5"],
    ["fe80::1%eth0", "fe80::/64"],
    ["[fe80::1%25eth0]:80", "fe80::/64"],
  ])("%j is the client %s", (entry, identity) => {
    expect(oneHop(PROXY, entry)).toBe(identity);
    expect(oneHop(PROXY, `6.6.6.6, ${entry}`)).toBe(identity);
  });

  it.each([
    "junk",
    "",
    "for=203.0.113.5",
    'for="[2001:db8::1]"',
    '"203.0.113.5',
    "203.0.113.5:",
    "203.0.113.5:99999",
    "203.0.113.5:80:80",
    "[2001:db8::1",
    "2001:db8::1]:443",
    "127.1",
    "0x7f.0.0.1",
    "010.0.0.1",
    "2130706433",
    "256.1.1.1",
    "1.2.3.4.5",
    "unknown",
    "_hidden",
    "203.0.113.5 203.0.113.6",
    "2001:db8::1::2",
    `${"1".repeat(200)}.1.1.1`,
    "x".repeat(8192),
  ])("%j is junk: the trusted proxy that passed it on is the client", (entry) => {
    expect(oneHop(PROXY, entry)).toBe(PROXY);
    expect(oneHop(PROXY, `203.0.113.9, ${entry}`)).toBe(PROXY);
    // With a list of proxies, the walk stops at the last address it trusted too.
    const list = createClientAddressResolver({ trustProxy: ["10.0.0.0/8"] });
    expect(list(PROXY, `203.0.113.9, ${entry}, 10.0.0.7`)).toBe("10.0.0.7");
  });

  it("turns any text into a canonical address, never into the text itself (generated)", () => {
    const next = random(20_260_115);
    const alphabet = '0123456789abcdefABCDEF:.[]%" \t;=forxyz-_/\u00e9';
    const twoHops = createClientAddressResolver({ trustProxy: 2 });
    for (let i = 0; i < 5_000; i++) {
      const length = Math.floor(next() * 60);
      let entry = "";
      for (let c = 0; c < length; c++) entry += alphabet[Math.floor(next() * alphabet.length)];
      const identity = twoHops(PROXY, `198.51.100.1, ${entry}`);
      expect(identity, JSON.stringify(entry)).toMatch(IDENTITY);
      const parsed = parseIpAddress(entry);
      if (parsed === undefined) expect(identity, JSON.stringify(entry)).toBe(PROXY);
      else if (parsed.family === 4) expect(identity).toBe(formatIpAddress(parsed));
    }
  });

  it("gives a flood of distinct junk values one identity, so limits cannot be multiplied", () => {
    const identities = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      identities.add(oneHop(PROXY, `${i}-${"j".repeat(8192)}`));
      identities.add(oneHop(PROXY, `203.0.113.5:${i % 65_536}`)); // one client, many ports
    }
    expect([...identities].sort()).toEqual([PROXY, "203.0.113.5"]);
  });

  it("canonicalises the socket address too; an unknown or unreadable one is one short token", () => {
    const direct = createClientAddressResolver();
    expect(direct("::ffff:192.0.2.1", undefined)).toBe("192.0.2.1");
    expect(direct("64:ff9b::192.0.2.1", undefined)).toBe("192.0.2.1");
    expect(direct("FE80::1%lo0", undefined)).toBe("fe80::/64");
    expect(direct(undefined, undefined)).toBe(UNKNOWN_CLIENT);
    expect(direct("not an address", undefined)).toBe(UNKNOWN_CLIENT);
    expect(direct("y".repeat(100_000), "1.2.3.4")).toBe(UNKNOWN_CLIENT);
    // Behind a Unix socket (no peer address) a hop count still reads the proxy's entry.
    expect(oneHop(undefined, "203.0.113.5")).toBe("203.0.113.5");
    expect(oneHop(undefined, "junk")).toBe(UNKNOWN_CLIENT);
    expect(createClientAddressResolver({ trustProxy: ["loopback"] })(undefined, "1.2.3.4")).toBe(
      UNKNOWN_CLIENT,
    );
  });

  it("an IPv4-compatible address (::a.b.c.d, deprecated) is IPv6 in every spelling", () => {
    const exact = createClientAddressResolver({ ipv6Subnet: false });
    for (const spelling of ["::1.2.3.4", "::102:304", "0:0:0:0:0:0:1.2.3.4", "[::1.2.3.4]:80"]) {
      expect(exact(spelling, undefined), spelling).toBe("::102:304");
      expect(oneHop(PROXY, spelling), spelling).toBe("::/64");
    }
    // ipaddr.js reads ::0.0.0.1 as ::ffff:0.0.0.1; it is ::1, the loopback address.
    expect(exact("::0.0.0.1", undefined)).toBe("::1");
    expect(createClientAddressResolver({ trustProxy: ["::1"] })("::0.0.0.1", "9.9.9.9")).toBe(
      "9.9.9.9",
    );
    expect(createClientAddressResolver({ trustProxy: ["::0.0.0.1"] })("::1", "9.9.9.9")).toBe(
      "9.9.9.9",
    );
    expect(createClientAddressResolver({ trustProxy: ["1.2.3.4"] })("::1.2.3.4", "9.9.9.9")).toBe(
      "::/64",
    );
  });

  /** RFC 5952 text of the first six groups, then the last two as dotted IPv4 (`::1.2.3.4`). */
  const compressedWithDotted = (parts: number[], dotted: string) => {
    const head = formatIpAddress({
      family: 6,
      value: parts.slice(0, 6).reduce((v, p) => (v << 16n) | BigInt(p), 0n) << 32n,
    });
    // A trailing "::" standing for the two groups the IPv4 part replaces becomes ":".
    if (!head.endsWith("::")) return `${head.slice(0, -3)}${dotted}`; // "...:0:0"
    return parts[5] === 0 ? `${head}${dotted}` : `${head.slice(0, -1)}${dotted}`;
  };

  it("gives one address one identity, however it is spelled (generated)", () => {
    const next = random(5_952);
    const exact = createClientAddressResolver({ ipv6Subnet: false });
    const hex = (n: number) => n.toString(16);
    for (let i = 0; i < 2_000; i++) {
      // Mostly addresses with many zero groups (where spellings differ most), some random.
      const parts = Array.from({ length: 8 }, () =>
        next() < 0.6 ? 0 : Math.floor(next() * 0x10000),
      );
      if (next() < 0.3) parts[5] = 0xffff; // IPv4-mapped
      const [g = 0, h = 0] = parts.slice(6);
      const dotted = `${g >> 8}.${g & 255}.${h >> 8}.${h & 255}`;
      const spellings = [
        parts.map(hex).join(":"),
        parts.map((p) => p.toString(16).padStart(4, "0").toUpperCase()).join(":"),
        formatIpAddress({ family: 6, value: parts.reduce((v, p) => (v << 16n) | BigInt(p), 0n) }),
        `${parts.slice(0, 6).map(hex).join(":")}:${dotted}`,
        compressedWithDotted(parts, dotted),
        `[${parts.map(hex).join(":")}]:443`,
      ];
      const identities = new Set(spellings.map((text) => exact(text, undefined)));
      expect([...identities], spellings.join(" ")).toHaveLength(1);
      expect([...identities][0]).not.toBe(UNKNOWN_CLIENT);
    }
  });

  it("NAT64 clients are told apart (they used to share one /64)", () => {
    const direct = createClientAddressResolver();
    expect(direct("64:ff9b::198.51.100.1", undefined)).not.toBe(
      direct("64:ff9b::198.51.100.2", undefined),
    );
  });

  it("matches trusted proxies in canonical form: an IPv4-mapped peer is its IPv4 address", () => {
    const list = createClientAddressResolver({ trustProxy: ["10.0.0.0/8"] });
    expect(list("::ffff:10.1.2.3", "203.0.113.5")).toBe("203.0.113.5");
    const mapped = createClientAddressResolver({ trustProxy: ["::ffff:10.0.0.0/104"] });
    expect(mapped("10.1.2.3", "203.0.113.5")).toBe("203.0.113.5");
    expect(mapped("11.1.2.3", "203.0.113.5")).toBe("11.1.2.3");
    const netmask = createClientAddressResolver({ trustProxy: ["10.0.0.0/255.0.0.0"] });
    expect(netmask("10.9.9.9", "203.0.113.5")).toBe("203.0.113.5");
  });
});

describe("X-Forwarded-For is read within bounds", () => {
  it("walks at most MAX_FORWARDED_HOPS entries, however many hops are trusted", () => {
    const entries = Array.from({ length: 100 }, (_, i) => `198.51.100.${i}`);
    const manyHops = createClientAddressResolver({ trustProxy: 1_000 });
    expect(manyHops(PROXY, entries.join(", "))).toBe(`198.51.100.${100 - MAX_FORWARDED_HOPS}`);
    expect(manyHops(PROXY, entries.slice(90).join(","))).toBe("198.51.100.90");
  });

  it("reads only the end of a long header (8 KB, 1 MB): the rest is never looked at", () => {
    /** A header that records which of its characters the resolver asked for. */
    class RecordingHeader extends String {
      lowest = Number.POSITIVE_INFINITY;
      #seen(index: number): void {
        if (index >= 0 && index < this.lowest) this.lowest = index;
      }
      override indexOf(search: string, position?: number): number {
        this.#seen(position ?? 0);
        return super.indexOf(search, position);
      }
      override lastIndexOf(search: string, position?: number): number {
        const found = super.lastIndexOf(search, position);
        this.#seen(found === -1 ? 0 : found);
        return found;
      }
      override slice(start?: number, end?: number): string {
        this.#seen(start ?? 0);
        return super.slice(start, end);
      }
    }
    const twoHops = createClientAddressResolver({ trustProxy: 2 });
    for (const size of [8 * 1024, 1024 * 1024]) {
      const chained = new RecordingHeader(
        `${"203.0.113.1, ".repeat(size / 13)}192.0.2.7, 198.51.100.4`,
      );
      expect(twoHops(PROXY, chained as unknown as string)).toBe("192.0.2.7");
      expect(chained.lowest).toBeGreaterThanOrEqual(chained.length - MAX_FORWARDED_TEXT - 1);
      const oneValue = new RecordingHeader(`${"z".repeat(size)}, 198.51.100.4`);
      expect(twoHops(PROXY, oneValue as unknown as string)).toBe("198.51.100.4");
      expect(oneValue.lowest).toBeGreaterThanOrEqual(oneValue.length - MAX_FORWARDED_TEXT - 1);
      const noComma = new RecordingHeader("9".repeat(size));
      expect(twoHops(PROXY, noComma as unknown as string)).toBe(PROXY);
      expect(noComma.lowest).toBeGreaterThanOrEqual(noComma.length - MAX_FORWARDED_TEXT);
    }
  });
});

describe("trust settings that trust any real client are refused", () => {
  const refused = (trustProxy: unknown) => () =>
    createClientAddressResolver({ trustProxy: trustProxy as string[] });
  const cidr4 = (start: number, prefix: number) =>
    `${formatIpAddress({ family: 4, value: BigInt(start) })}/${prefix}`;

  it.each([
    [true],
    [["0.0.0.0/0"]],
    [["::/0"]],
    [["0.0.0.0/1", "128.0.0.0/1"]],
    [["128.0.0.0/1", "10.0.0.0/8", "0.0.0.0/1"]],
    [["0.0.0.0/0.0.0.0"]],
    [["::ffff:0:0/96"]],
    [["::ffff:0:0/97", "128.0.0.0/1"]],
    [["10.0.0.0/8", "::ffff:0:0/97"]],
    [["64:ff9b::/96"]],
    [["::/64"]], // holds ::ffff:0:0/96: every IPv4 address, written as IPv6
    [["::/1", "8000::/1"]],
    [["loopback", "0.0.0.0/0"]],
    [["0.0.0.0/1"]],
    // What an attacker got to start: every unicast IPv4 address; all but 0.0.0.0/8; all
    // but 255.255.255.255; every global IPv6 address.
    [["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3"]],
    [
      ["1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/5", "16.0.0.0/4", "32.0.0.0/3"].concat([
        "64.0.0.0/2",
        "128.0.0.0/1",
      ]),
    ],
    [Array.from({ length: 32 }, (_, i) => cidr4(2 ** 32 - 2 ** (32 - i), i + 1))],
    [["2000::/3"]],
    [["2000::/15"]],
    [["12.0.0.0/8", "13.0.0.0/32"]], // a /8's worth and one address more
    [["2600::/16", "2a00::/32"]],
  ])("%j", (trustProxy) => {
    expect(refused(trustProxy)).toThrow(KeyGuardError);
    expect(refused(trustProxy)).toThrow(/would let any client.* choose its IP/);
  });

  it("the attacker's lists: refused, and a client behind them cannot pick its address", () => {
    const all32 = Array.from({ length: 32 }, (_, i) => cidr4(2 ** 32 - 2 ** (32 - i), i + 1));
    expect(all32).toHaveLength(32);
    expect(all32[0]).toBe("0.0.0.0/1");
    expect(all32[31]).toBe("255.255.255.254/32");
    expect(refused(all32)).toThrow(/public IPv4 addresses/);
    // The same list once was accepted: with it, this peer chose to be 9.9.9.9.
    const lan = createClientAddressResolver({ trustProxy: ["uniquelocal"] });
    expect(lan("203.0.113.7", "9.9.9.9")).toBe("203.0.113.7");
  });

  it("states the rule in the error", () => {
    expect(refused(["0.0.0.0/1"])).toThrow(
      /trusts 2,092,957,696 public IPv4 addresses.*at most 16,777,216 IPv4 addresses \(a \/8's worth\) and 2\^112 IPv6 addresses \(a \/16's worth\)/,
    );
    expect(refused(["2000::/3"])).toThrow(/about 2\^125 public IPv6 addresses/);
  });

  it("refuses a list covering every IPv6 client, even one that leaves the IPv4 forms out", () => {
    // Everything but ::ffff:0:0/96 and 64:ff9b::/96: the siblings on the way down to each.
    const complement: string[] = [];
    const siblingsOf = (block: bigint, blockPrefix: number, avoid: bigint) => {
      for (let prefix = 1; prefix <= blockPrefix; prefix++) {
        const shift = BigInt(128 - prefix);
        const sibling = ((block >> shift) ^ 1n) << shift;
        if (avoid >= sibling && avoid < sibling + (1n << shift)) continue;
        complement.push(`${formatIpAddress({ family: 6, value: sibling })}/${prefix}`);
      }
    };
    const mapped = 0xffffn << 32n;
    const nat64 = 0x64ff9bn << 96n;
    siblingsOf(mapped, 96, nat64);
    siblingsOf(nat64, 96, mapped);
    expect(refused([...new Set(complement)])).toThrow(/public IPv6 addresses/);
  });

  it("decides generated IPv4 lists as a count of public /24s does (generated)", () => {
    // The oracle counts public /24 blocks by interval arithmetic: every non-public range
    // is /24-aligned, and generated ranges are /24 or larger, so counting blocks is exact.
    // (Intervals rather than a bitmap of all 2^24 blocks: the same answer, in microseconds.)
    const notPublic: [number, number][] = [
      [0, 8],
      [10 << 24, 8],
      [(100 << 24) + (64 << 16), 10],
      [127 << 24, 8],
      [(169 << 24) + (254 << 16), 16],
      [(172 << 24) + (16 << 16), 12],
      [192 << 24, 24],
      [(192 << 24) + (2 << 8), 24],
      [(192 << 24) + (168 << 16), 16],
      [(198 << 24) + (18 << 16), 15],
      [(198 << 24) + (51 << 16) + (100 << 8), 24],
      [(203 << 24) + (113 << 8), 24],
      [224 << 24, 3],
    ].map(([start, prefix]) => [(start as number) >>> 0, prefix as number]);
    // In units of /24 blocks, half-open. The non-public ranges do not overlap each other.
    const notPublicBlocks = notPublic.map(([start, prefix]) => [
      start / 256,
      (start + 2 ** (32 - prefix)) / 256,
    ]);
    const publicBlockCount = (ranges: [number, number][]): number => {
      const merged: [number, number][] = [];
      for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
        const last = merged[merged.length - 1];
        if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to);
        else merged.push([from, to]);
      }
      let count = 0;
      for (const [from, to] of merged) {
        count += to - from;
        for (const [npFrom, npTo] of notPublicBlocks as [number, number][]) {
          count -= Math.max(0, Math.min(to, npTo) - Math.max(from, npFrom));
        }
      }
      return count;
    };
    const next = random(11);
    let refusals = 0;
    for (let round = 0; round < 150; round++) {
      const list: string[] = [];
      const ranges: [number, number][] = [];
      const count = 1 + Math.floor(next() * 12);
      for (let i = 0; i < count; i++) {
        // Mostly small ranges, sometimes large ones, anywhere (private space included).
        const prefix = next() < 0.2 ? 1 + Math.floor(next() * 12) : 8 + Math.floor(next() * 17);
        const size = 2 ** (32 - prefix);
        const start = Math.floor((next() * 2 ** 32) / size) * size;
        list.push(cidr4(start, prefix));
        ranges.push([start / 256, (start + size) / 256]);
      }
      const publicBlocks = publicBlockCount(ranges);
      const tooMany = publicBlocks * 256 > 2 ** 24;
      if (tooMany) refusals++;
      // However it is split and ordered, the answer is the same.
      const shuffled = [...list].sort(() => next() - 0.5);
      for (const attempt of [list, shuffled]) {
        if (tooMany) expect(refused(attempt), attempt.join(" ")).toThrow(/public IPv4/);
        else expect(refused(attempt), attempt.join(" ")).not.toThrow();
      }
    }
    expect(refusals).toBeGreaterThan(10); // both answers were exercised
    expect(refusals).toBeLessThan(140);
  });

  it("refuses any split of the whole space, and any such split missing one range (generated)", () => {
    const next = random(7);
    for (let round = 0; round < 100; round++) {
      // Split 0.0.0.0/0 at random until it is a few dozen ranges, then shuffle them.
      let ranges: [number, number][] = [[0, 0]];
      while (ranges.length < 40) {
        const index = Math.floor(next() * ranges.length);
        const [start, prefix] = ranges[index] as [number, number];
        if (prefix >= 24) continue;
        const half = 2 ** (32 - prefix - 1);
        ranges.splice(index, 1, [start, prefix + 1], [start + half, prefix + 1]);
      }
      ranges = ranges.sort(() => next() - 0.5);
      const all = ranges.map(([start, prefix]) => cidr4(start, prefix));
      expect(refused(all), all.join(" ")).toThrow(/public IPv4/);
      // A hole no longer makes it acceptable: at least half the space is still trusted.
      const withHole = all.filter((_, i) => i !== round % all.length);
      expect(refused(withHole), withHole.join(" ")).toThrow(/public IPv4/);
    }
  });

  it("accepts hop counts and real proxy lists", () => {
    for (const trustProxy of [0, 1, 2, 1_000]) {
      expect(() => createClientAddressResolver({ trustProxy })).not.toThrow();
    }
    const cloudflare = [
      ...["173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22"],
      ...["141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20"],
      ...["197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13"],
      ...["104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22"],
      ...["2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32"],
      ...["2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32"],
    ];
    for (const trustProxy of [
      ["loopback", "linklocal", "uniquelocal"],
      ["10.0.0.0/8", "100.64.0.0/10", "::ffff:10.0.0.0/104", "fc00::/7"],
      // Private and reserved space costs nothing, however much of it.
      ["0.0.0.0/8", "224.0.0.0/3", "fe80::/10", "ff00::/8", "2001:db8::/32"],
      cloudflare,
      ["11.0.0.0/8"], // a /8's worth of public addresses is the most accepted
      ["2600::/16"], // and a /16's worth of IPv6
      ["203.0.113.5", "2001:db8::1"],
    ]) {
      expect(() => createClientAddressResolver({ trustProxy }), trustProxy.join(" ")).not.toThrow();
    }
  });

  it.each([
    ["not an ip"],
    ["10.0.0.0/33"],
    ["10.0.0.0/8/8"],
    ["10.0.0.0/255.0.255.0"],
    ["fe80::1%eth0"],
    ["127.1"],
  ])("%j is a clear configuration error", (entry) => {
    expect(refused([entry])).toThrow(/not an IP address, a CIDR range/);
  });
});
