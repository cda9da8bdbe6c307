import ipaddr from "ipaddr.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { formatIpAddress, parseIpv6Parts } from "../pipeline/ip-address.js";
import { hasControlCharacters } from "../validation/operation-inputs.js";

/** Longest CIDR text read (an IPv6 address with an embedded IPv4 part and a prefix: ~50). */
export const MAX_CIDR_TEXT = 100;

/**
 * A range of addresses in canonical form, as client addresses are compared: IPv4-mapped
 * (`::ffff:0:0/96`) and NAT64 (`64:ff9b::/96`) ranges are the IPv4 ranges they carry.
 */
export interface CidrRange {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
  readonly prefix: number;
  /** The canonical spelling: network address (host bits cleared), `/prefix` always given. */
  readonly cidr: string;
}

const BITS = { 4: 32, 6: 128 } as const;

/** A prefix length as typed: decimal, no sign, no leading zero (`/08` is junk). */
const PREFIX_TEXT = /^(?:0|[1-9]\d{0,2})$/;

/**
 * Parses an address or CIDR (`203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`,
 * `::ffff:10.0.0.0/104`): a bare address is its /32 or /128; host bits are cleared
 * (`10.1.2.3/8` is `10.0.0.0/8`); IPv4-mapped and NAT64 ranges of prefix 96 or more are
 * the IPv4 range they carry. IPv4 is four decimal parts only (`127.1`, `0x7f.0.0.1`,
 * `010.0.0.1` are refused), no zone ids, no brackets, no ports, no masks written as
 * addresses. Anything else is `invalid_input` naming `field`.
 */
export function parseCidr(input: unknown, field = "cidr"): CidrRange {
  const invalid = (why: string) =>
    new KeyGuardError("invalid_input", `${field} ${why}`, { details: { field } });
  if (typeof input !== "string") throw invalid("must be an IP address or CIDR range as text");
  const text = input.trim();
  if (text === "") throw invalid("must not be empty");
  if (text.length > MAX_CIDR_TEXT) throw invalid(`must be at most ${MAX_CIDR_TEXT} characters`);
  if (hasControlCharacters(text)) throw invalid("must not contain control characters");
  const shown = JSON.stringify(text);
  const notAddress = () =>
    invalid(`${shown} is not an IP address or CIDR range (e.g. 203.0.113.0/24 or 2001:db8::/32)`);
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  let family: 4 | 6;
  let value: bigint;
  if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) {
    family = 4;
    value = 0n;
    for (const octet of ipaddr.IPv4.parse(addressText).octets)
      value = (value << 8n) | BigInt(octet);
  } else {
    // Read as client addresses are (`::1.2.3.4` is `::102:304`, not `::ffff:1.2.3.4`).
    const parts = /^[0-9A-Fa-f:.]+$/.test(addressText) ? parseIpv6Parts(addressText) : undefined;
    if (parts === undefined) throw notAddress();
    family = 6;
    value = 0n;
    for (const part of parts) value = (value << 16n) | BigInt(part);
  }
  const bits = BITS[family];
  let prefix: number = bits;
  if (prefixText !== undefined) {
    if (!PREFIX_TEXT.test(prefixText)) throw notAddress();
    prefix = Number(prefixText);
    if (prefix > bits) {
      throw invalid(`${shown}: an IPv${family} prefix length is 0 to ${bits} (got /${prefixText})`);
    }
  }
  return rangeOf(family, value, prefix);
}

/** Like {@link parseCidr}, for the request path and loaders: `undefined` instead of throwing. */
export function tryParseCidr(input: unknown): CidrRange | undefined {
  try {
    return parseCidr(input);
  } catch {
    return undefined;
  }
}

function rangeOf(family: 4 | 6, value: bigint, prefix: number): CidrRange {
  const bits = BigInt(BITS[family]);
  const hostMask = (1n << (bits - BigInt(prefix))) - 1n;
  const first = value & ~hostMask;
  if (family === 6 && prefix >= 96) {
    // An IPv4-mapped or NAT64 range: canonical client addresses in it are IPv4 addresses.
    const top = first >> 32n;
    if (top === 0xffffn || top === 0x64ff9bn << 64n) {
      return rangeOf(4, first & 0xffffffffn, prefix - 96);
    }
  }
  const address = formatIpAddress({ family, value: first });
  return { family, first, last: first | hostMask, prefix, cidr: `${address}/${prefix}` };
}

/**
 * IPv6 blocks whose addresses are IPv4 addresses in canonical form: an IPv6 range that
 * overlaps one (a short prefix such as `::/0`) covers those IPv4 addresses as well.
 */
const IPV4_IN_IPV6: readonly { readonly first: bigint; readonly last: bigint }[] = [
  { first: 0xffffn << 32n, last: (0xffffn << 32n) | 0xffffffffn },
  { first: 0x64ff9bn << 96n, last: (0x64ff9bn << 96n) | 0xffffffffn },
];

/** A span of canonical addresses of one family. */
export interface AddressSpan {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
}

/**
 * The canonical addresses a range covers: itself, plus, for an IPv6 range overlapping the
 * IPv4-mapped or NAT64 blocks, the IPv4 addresses inside them (clients there are IPv4).
 */
export function spansOf(range: CidrRange): AddressSpan[] {
  const spans: AddressSpan[] = [{ family: range.family, first: range.first, last: range.last }];
  if (range.family === 4) return spans;
  for (const block of IPV4_IN_IPV6) {
    // Math.max and Math.min take no bigints.
    let first = range.first;
    if (block.first > first) first = block.first;
    let last = range.last;
    if (block.last < last) last = block.last;
    if (first <= last)
      spans.push({ family: 4, first: first - block.first, last: last - block.first });
  }
  return spans;
}
