import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AddressRanges } from "../src/ip-rules/address-ranges.js";
import { type CidrRange, parseCidr } from "../src/ip-rules/cidr.js";
import { parseAllowedIps } from "../src/ip-rules/key-allowed-ips.js";
import { formatIpAddress, type IpAddress, parseIpAddress } from "../src/pipeline/ip-address.js";

const address = (text: string): IpAddress => {
  const parsed = parseIpAddress(text);
  if (parsed === undefined) throw new Error(`not an address: ${text}`);
  return parsed;
};

describe("parseCidr", () => {
  it.each([
    ["203.0.113.7", "203.0.113.7/32"],
    [" 10.0.0.0/8 ", "10.0.0.0/8"],
    ["10.1.2.3/8", "10.0.0.0/8"], // host bits cleared
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["2001:DB8:0:0::1", "2001:db8::1/128"],
    ["2001:0db8:0000::/32", "2001:db8::/32"],
    ["2001:db8:1:2:3:4:5:6/64", "2001:db8:1:2::/64"],
    ["::ffff:10.0.0.1", "10.0.0.1/32"], // IPv4-mapped is the IPv4 address
    ["::ffff:a00:1", "10.0.0.1/32"],
    ["::ffff:10.0.0.0/104", "10.0.0.0/8"],
    ["::ffff:0:0/96", "0.0.0.0/0"],
    ["64:ff9b::192.0.2.1", "192.0.2.1/32"], // NAT64 likewise, as client addresses are
    ["::1.2.3.4", "::102:304/128"], // IPv4-compatible stays IPv6, as for clients
    ["::/0", "::/0"],
  ])("%s is %s", (text, canonical) => {
    expect(parseCidr(text).cidr).toBe(canonical);
  });

  it.each([
    ["", "must not be empty"],
    ["   ", "must not be empty"],
    ["10.0.0.0/33", "prefix length is 0 to 32"],
    ["2001:db8::/129", "prefix length is 0 to 128"],
    ["10.0.0.0/", "is not an IP address"],
    ["10.0.0.0/08", "is not an IP address"],
    ["10.0.0.0/-1", "is not an IP address"],
    ["10.0.0.0/8/8", "is not an IP address"],
    ["10.0.0.0/255.0.0.0", "is not an IP address"],
    ["127.1", "is not an IP address"],
    ["0x7f.0.0.1", "is not an IP address"],
    ["010.0.0.1", "is not an IP address"],
    ["256.0.0.1", "is not an IP address"],
    ["fe80::1%eth0", "is not an IP address"],
    ["[2001:db8::1]", "is not an IP address"],
    ["203.0.113.7:80", "is not an IP address"],
    ["2001:db8:::1", "is not an IP address"],
    ["localhost", "is not an IP address"],
    ["10.0.\n0.0/8", "control characters"],
    ["10.0.0.0\u0000/8", "control characters"],
    ["1".repeat(101), "at most 100 characters"],
  ])("refuses %j (%s)", (text, why) => {
    expect(() => parseCidr(text)).toThrow(why);
    try {
      parseCidr(text);
    } catch (error) {
      expect(error).toMatchObject({ code: "invalid_input", details: { field: "cidr" } });
    }
  });

  it("refuses what is not text", () => {
    for (const value of [undefined, null, 10, ["10.0.0.0/8"], {}]) {
      expect(() => parseCidr(value)).toThrow("must be an IP address or CIDR range as text");
    }
  });

  it("an IPv6 range over the IPv4-mapped block covers those IPv4 clients", () => {
    const everything6 = new AddressRanges([parseCidr("::/0")]);
    expect(everything6.contains(address("203.0.113.7"))).toBe(true);
    const mappedHalf = new AddressRanges([parseCidr("::ffff:0:0/97")]);
    expect(mappedHalf.contains(address("10.0.0.1"))).toBe(true);
    expect(mappedHalf.contains(address("203.0.113.7"))).toBe(false);
    const documentation = new AddressRanges([parseCidr("2001:db8::/32")]);
    expect(documentation.contains(address("203.0.113.7"))).toBe(false);
  });
});

describe("parseAllowedIps", () => {
  it("canonicalises, drops repeats, and reads an empty list as no restriction", () => {
    expect(parseAllowedIps(["10.1.2.3/8", "10.0.0.0/8", "::ffff:192.0.2.1"])).toEqual([
      "10.0.0.0/8",
      "192.0.2.1/32",
    ]);
    expect(parseAllowedIps([])).toBeNull();
    expect(parseAllowedIps(null)).toBeNull();
  });

  it("is bounded and names the field", () => {
    const many = Array.from({ length: 101 }, (_, i) => `10.0.${i}.0/24`);
    expect(() => parseAllowedIps(many, "allowed_ips")).toThrow(
      "allowed_ips may hold at most 100 entries",
    );
    expect(() => parseAllowedIps(["10.0.0.0/8", "nope"], "allowed_ips")).toThrow(
      'allowed_ips "nope" is not an IP address',
    );
    expect(() => parseAllowedIps("10.0.0.0/8", "allowed_ips")).toThrow("must be a list");
  });
});

// ---- generated addresses and ranges against a reference matcher ------------------------

/** The reference: a linear scan comparing the top `prefix` bits, nothing merged or sorted. */
function referenceContains(
  rules: readonly { family: 4 | 6; value: bigint; prefix: number }[],
  client: IpAddress,
): boolean {
  return rules.some((rule) => {
    const bits = rule.family === 4 ? 32n : 128n;
    if (rule.family === client.family) {
      const shift = bits - BigInt(rule.prefix);
      return client.value >> shift === rule.value >> shift;
    }
    if (rule.family === 6 && client.family === 4) {
      // An IPv4 client is also ::ffff:a.b.c.d and 64:ff9b::a.b.c.d.
      const shift = 128n - BigInt(rule.prefix);
      return [0xffffn << 32n, 0x64ff9bn << 96n].some(
        (base) => (base | client.value) >> shift === rule.value >> shift,
      );
    }
    return false;
  });
}

const ipv4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n });
/** IPv6 values near each other and near the IPv4-mapped and NAT64 blocks, so ranges meet. */
const ipv6 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((low) => (0xffffn << 32n) | low),
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((low) => (0x64ff9bn << 96n) | low),
  fc.bigInt({ min: 0n, max: (1n << 16n) - 1n }).map((low) => (0x20010db8n << 96n) | low),
);
const rule = fc.oneof(
  fc.record({
    family: fc.constant(4 as const),
    value: ipv4,
    prefix: fc.integer({ min: 0, max: 32 }),
  }),
  fc.record({
    family: fc.constant(6 as const),
    value: ipv6,
    prefix: fc.integer({ min: 0, max: 128 }),
  }),
);
const client = fc.oneof(
  ipv4.map((value): IpAddress => ({ family: 4, value })),
  ipv6.map((value) => address(formatIpv6(value))),
);

function formatIpv6(value: bigint): string {
  return formatIpAddress({ family: 6, value });
}

/** The rule as a user might type it: some spellings differ from the canonical one. */
function spelling(rule: { family: 4 | 6; value: bigint; prefix: number }, style: number): string {
  if (rule.family === 4)
    return `${formatIpAddress({ family: 4, value: rule.value })}/${rule.prefix}`;
  const text = formatIpv6(rule.value);
  if (style === 1) {
    // Every group written out, upper case.
    const parts: string[] = [];
    for (let shift = 112n; shift >= 0n; shift -= 16n) {
      parts.push(((rule.value >> shift) & 0xffffn).toString(16).padStart(4, "0").toUpperCase());
    }
    return `${parts.join(":")}/${rule.prefix}`;
  }
  return `${text}/${rule.prefix}`;
}

describe("matching generated addresses", () => {
  it("agrees with a linear reference for any rules and clients", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(rule, fc.integer({ min: 0, max: 1 })), { maxLength: 30 }),
        fc.array(client, { minLength: 1, maxLength: 20 }),
        (rules, clients) => {
          const ranges: CidrRange[] = rules.map(([r, style]) => parseCidr(spelling(r, style)));
          const matcher = new AddressRanges(ranges);
          for (const c of clients) {
            expect(matcher.contains(c)).toBe(
              referenceContains(
                rules.map(([r]) => r),
                c,
              ),
            );
          }
        },
      ),
      { seed: 20_261_202, numRuns: 300 },
    );
  });

  it("a rule always covers its own network address and the last address of its range", () => {
    fc.assert(
      fc.property(rule, (r) => {
        const range = parseCidr(spelling(r, 0));
        const matcher = new AddressRanges([range]);
        // In canonical form (a mapped range is IPv4 now).
        expect(matcher.contains({ family: range.family, value: range.first })).toBe(true);
        expect(matcher.contains({ family: range.family, value: range.last })).toBe(true);
        // Its canonical text parses to itself.
        expect(parseCidr(range.cidr)).toEqual(range);
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});
