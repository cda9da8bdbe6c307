import ipaddr from "ipaddr.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import type { IpAddress } from "./ip-address.js";

/**
 * Which proxies' `X-Forwarded-For` to believe:
 * - `false` (default): none; the client is the socket's peer.
 * - a number: that many proxy hops in front of the app (1 = one load balancer); 0 is `false`.
 * - a list of addresses, CIDRs (`10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `fd00::/8`) or
 *   `loopback` / `linklocal` / `uniquelocal`. Addresses are compared in canonical form,
 *   so an IPv4-mapped or NAT64 peer matches the IPv4 ranges.
 *
 * `true`, and any list whose ranges together cover every IPv4 or every IPv6 address, is
 * refused: it would let any client choose its own address.
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
    const everyIpv4 = covers(ipv4, BITS[4]);
    const everyIpv6 = covers([...ipv6, ...IPV4_IN_IPV6], BITS[6]);
    const everyone =
      everyIpv4 && everyIpv6
        ? "every IPv4 and IPv6 address"
        : everyIpv4
          ? "every IPv4 address"
          : everyIpv6
            ? "every IPv6 address"
            : undefined;
    if (everyone !== undefined) {
      const shown = JSON.stringify(trustProxy);
      throw new KeyGuardError(
        "invalid_config",
        `trustProxy: ${shown.length > 100 ? `${shown.slice(0, 96)}...]` : shown} trusts ${everyone}, which like true would let any client choose its IP through X-Forwarded-For. Give the number of proxy hops (e.g. 1) or the proxies' own addresses.`,
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
  else if (ipaddr.IPv6.isValid(addressText) && !addressText.includes("%")) {
    address = ipaddr.IPv6.parse(addressText);
  } else throw invalid();
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

/** Whether `ranges` together cover every address of a `bits`-bit family. */
function covers(ranges: readonly AddressRange[], bits: bigint): boolean {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const end = 1n << bits;
  let reached = 0n; // every address below this one is covered
  for (const range of sorted) {
    if (range.first > reached) return false;
    if (range.last + 1n > reached) reached = range.last + 1n;
    if (reached >= end) return true;
  }
  return reached >= end;
}
