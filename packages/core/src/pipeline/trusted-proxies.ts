import ipaddr from "ipaddr.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { type IpAddress, parseIpv6Parts } from "./ip-address.js";

/**
 * Which proxies' `X-Forwarded-For` to believe:
 * - `false` (default): none; the client is the socket's peer.
 * - a number: that many proxy hops in front of the app (1 = one load balancer); 0 is `false`.
 * - a list of addresses, CIDRs (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `fd00::/8`) or
 *   `loopback` / `linklocal` / `uniquelocal`. Addresses are compared in canonical form,
 *   so an IPv4-mapped or NAT64 peer matches the IPv4 ranges.
 *
 * `true` is refused, and so is a list that trusts more public addresses than any proxy
 * fleet has: more than {@link MAX_PUBLIC_IPV4} IPv4 addresses (a /8's worth) or
 * {@link MAX_PUBLIC_IPV6} IPv6 addresses (a /16's worth) outside private, loopback,
 * link-local, CGNAT and reserved space ({@link NOT_PUBLIC}). Such a list lets the clients
 * inside it choose their own address; a CDN's ranges are /12 or smaller (IPv6: /29).
 */
export type TrustProxy = false | number | readonly string[];

/**
 * Whether the hop `hop` steps from the app (0: the socket's peer), at `address`
 * (`undefined`: unknown, e.g. a Unix socket), is a proxy whose `X-Forwarded-For` entry is
 * believed.
 */
export type TrustedHop = (address: IpAddress | undefined, hop: number) => boolean;

/** proxy-addr's names, which users of Express's `trust proxy` already know. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ["127.0.0.1/8", "::1/128"],
  linklocal: ["169.254.0.0/16", "fe80::/10"],
  uniquelocal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
};

interface AddressRange {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
}

const BITS = { 4: 32n, 6: 128n } as const;

/** Most public IPv4 addresses a `trustProxy` list may trust: 2^24, a /8's worth. */
export const MAX_PUBLIC_IPV4 = 1n << 24n;
/** Most public IPv6 addresses a `trustProxy` list may trust: 2^112, a /16's worth. */
export const MAX_PUBLIC_IPV6 = 1n << 112n;

/**
 * Where no client on the internet can be (RFC 6890's registries): trusting these costs
 * nothing, whatever their size. Everything else, unallocated space included, is public.
 */
export const NOT_PUBLIC = {
  4: [
    "0.0.0.0/8", // "this network"
    "10.0.0.0/8",
    "100.64.0.0/10", // CGNAT
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24", // IETF protocol assignments
    "192.0.2.0/24", // documentation
    "192.168.0.0/16",
    "198.18.0.0/15", // benchmarking
    "198.51.100.0/24", // documentation
    "203.0.113.0/24", // documentation
    "224.0.0.0/3", // multicast and reserved, up to 255.255.255.255
  ],
  6: [
    "::/127", // unspecified and loopback
    "::ffff:0:0/96", // IPv4-mapped: IPv4 addresses, counted as such
    "64:ff9b::/96", // NAT64: likewise
    "100::/64", // discard
    "2001:db8::/32", // documentation
    "fc00::/7", // unique local
    "fe80::/10", // link-local
    "ff00::/8", // multicast
  ],
} as const;

/**
 * IPv6 blocks whose addresses are IPv4 addresses in canonical form (`::ffff:0:0/96`,
 * `64:ff9b::/96`): an IPv6 range overlapping one trusts those IPv4 addresses.
 */
const IPV4_IN_IPV6: readonly AddressRange[] = [
  { family: 6, first: 0xffffn << 32n, last: (0xffffn << 32n) | 0xffffffffn },
  { family: 6, first: 0x64ff9bn << 96n, last: (0x64ff9bn << 96n) | 0xffffffffn },
];

/** Whether `trustProxy` believes no forwarded header at all: `false`, or 0 hops. */
export function trustsNoProxy(trustProxy: TrustProxy): boolean {
  return trustProxy === false || trustProxy === 0;
}

/**
 * Compiles `trustProxy` once, at start-up: `undefined` when no forwarded header is to be
 * believed. A misconfiguration is an `invalid_config` error naming the entry.
 */
export function compileTrust(trustProxy: TrustProxy): TrustedHop | undefined {
  if (trustsNoProxy(trustProxy)) return undefined;
  if (typeof trustProxy === "number") {
    if (!Number.isInteger(trustProxy) || trustProxy < 0) {
      throw new KeyGuardError(
        "invalid_config",
        "trustProxy must be a whole number of proxy hops, a list of proxy addresses, or false",
      );
    }
    return (_address, hop) => hop < trustProxy;
  }
  if (Array.isArray(trustProxy)) {
    const ranges = trustProxy.flatMap((entry: unknown) => parseEntry(entry));
    const ipv4 = ranges.filter((range) => range.family === 4);
    const ipv6 = ranges.filter((range) => range.family === 6);
    const public4 = publicAddresses(ipv4, NOT_PUBLIC_RANGES[4]);
    const public6 = publicAddresses(ipv6, NOT_PUBLIC_RANGES[6]);
    const tooMany = [
      public4 > MAX_PUBLIC_IPV4 ? `${public4.toLocaleString("en-US")} public IPv4 addresses` : "",
      public6 > MAX_PUBLIC_IPV6
        ? `about 2^${Math.round(Math.log2(Number(public6)))} public IPv6 addresses`
        : "",
    ].filter(Boolean);
    if (tooMany.length > 0) {
      const shown = JSON.stringify(trustProxy);
      throw new KeyGuardError(
        "invalid_config",
        `trustProxy: ${shown.length > 100 ? `${shown.slice(0, 96)}...]` : shown} trusts ${tooMany.join(" and ")}, which would let any client among them choose its IP through X-Forwarded-For. Outside private, loopback, link-local, CGNAT and reserved ranges a list may trust at most 16,777,216 IPv4 addresses (a /8's worth) and 2^112 IPv6 addresses (a /16's worth); a CDN's ranges are far smaller. Give the number of proxy hops (e.g. 1) or the proxies' own ranges.`,
      );
    }
    return (address) => {
      if (address === undefined) return false;
      const value = address.value;
      for (const range of address.family === 4 ? ipv4 : ipv6) {
        if (value >= range.first && value <= range.last) return true;
      }
      return false;
    };
  }
  // `true` would believe any client's X-Forwarded-For and let it pick its own IP (and so
  // dodge every per-IP limit and block).
  throw new KeyGuardError(
    "invalid_config",
    "trustProxy: true would let any client choose its IP through X-Forwarded-For. Give the number of proxy hops (e.g. 1) or the proxies' addresses.",
  );
}

/** One list entry: its range, plus the IPv4 addresses inside it when it is IPv6. */
function parseEntry(entry: unknown): AddressRange[] {
  const text = typeof entry === "string" ? entry.trim() : "";
  const name = text.toLowerCase();
  if (Object.hasOwn(NAMED_RANGES, name)) {
    return (NAMED_RANGES[name] as readonly string[]).flatMap((range) => parseEntry(range));
  }
  const invalid = () =>
    new KeyGuardError(
      "invalid_config",
      `trustProxy: ${JSON.stringify(String(entry)).slice(0, 80)} is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`,
    );
  const [addressText = "", prefixText, extra] = text.split("/");
  if (extra !== undefined) throw invalid();
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) address = ipaddr.IPv4.parse(addressText);
  else {
    // Read as the client addresses are (`::1.2.3.4` is `::102:304`, not `::ffff:1.2.3.4`).
    const parts = addressText.includes("%") ? undefined : parseIpv6Parts(addressText);
    if (parts === undefined) throw invalid();
    address = new ipaddr.IPv6(parts);
  }
  const family = address.kind() === "ipv4" ? 4 : 6;
  const bits = BITS[family];
  let prefix: bigint;
  if (prefixText === undefined) prefix = bits;
  else if (/^\d{1,3}$/.test(prefixText) && BigInt(prefixText) <= bits) prefix = BigInt(prefixText);
  else if (ipaddr.isValid(prefixText) && ipaddr.parse(prefixText).kind() === address.kind()) {
    const length = ipaddr.parse(prefixText).prefixLengthFromSubnetMask(); // 255.255.0.0 form
    if (length === null) throw invalid();
    prefix = BigInt(length);
  } else throw invalid();
  let value = 0n;
  for (const byte of address.toByteArray()) value = (value << 8n) | BigInt(byte);
  const hostMask = (1n << (bits - prefix)) - 1n;
  const range: AddressRange = { family, first: value & ~hostMask, last: value | hostMask };
  if (family === 4) return [range];
  // The IPv4 addresses inside this IPv6 range: canonical addresses never have those forms.
  const ranges = [range];
  for (const block of IPV4_IN_IPV6) {
    // Math.max and Math.min take no bigints.
    let first = range.first;
    if (block.first > first) first = block.first;
    let last = range.last;
    if (block.last < last) last = block.last;
    if (first <= last) {
      ranges.push({ family: 4, first: first - block.first, last: last - block.first });
    }
  }
  return ranges;
}

/** `ranges` as disjoint ranges in ascending order. */
function merged(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: AddressRange[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && range.first <= last.last + 1n) {
      if (range.last > last.last) out[out.length - 1] = { ...last, last: range.last };
    } else out.push(range);
  }
  return out;
}

/** How many addresses `ranges` together hold outside `excluded` (disjoint ranges). */
function publicAddresses(
  ranges: readonly AddressRange[],
  excluded: readonly AddressRange[],
): bigint {
  let count = 0n;
  for (const range of merged(ranges)) {
    count += range.last - range.first + 1n;
    for (const hole of excluded) {
      let first = range.first;
      if (hole.first > first) first = hole.first;
      let last = range.last;
      if (hole.last < last) last = hole.last;
      if (first <= last) count -= last - first + 1n;
    }
  }
  return count;
}

const NOT_PUBLIC_RANGES = {
  4: merged(NOT_PUBLIC[4].flatMap((cidr) => parseEntry(cidr))),
  6: merged(NOT_PUBLIC[6].flatMap((cidr) => parseEntry(cidr).filter((r) => r.family === 6))),
};
