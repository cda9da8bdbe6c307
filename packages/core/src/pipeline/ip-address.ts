import ipaddr from "ipaddr.js";

/**
 * An IP address in canonical form: IPv4-mapped (`::ffff:a.b.c.d`) and NAT64
 * (`64:ff9b::a.b.c.d`) IPv6 addresses are the IPv4 address they carry, so one client is one
 * address whichever way it reached us.
 */
export interface IpAddress {
  readonly family: 4 | 6;
  /** The address as a 32- or 128-bit number. */
  readonly value: bigint;
}

/**
 * Longest text read as an address. The longest real one, a bracketed IPv6 address with an
 * embedded IPv4 part, a zone id and a port, is about 70 characters; anything longer is junk
 * and is refused without being parsed (or remembered).
 */
export const MAX_ADDRESS_TEXT = 100;

/**
 * An address as proxies write them into `X-Forwarded-For`, and as sockets report them:
 * optional spaces or tabs around it, optionally in double quotes; an IPv4 address with an
 * optional `:port`; an IPv6 address, bare or in brackets (then with an optional `:port`),
 * with an optional `%zone`. A bare IPv6 address never has a port (`2001:db8::1:443` is an
 * address). Groups: 1 quote, 2 bracketed IPv6, 3 its port, 4 IPv4, 5 its port, 6 bare IPv6.
 */
const ADDRESS_TEXT =
  /^[ \t]*("?)(?:\[([0-9A-Fa-f:.]+)(?:%[^\]"]*)?\](?::(\d{1,5}))?|(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?|([0-9A-Fa-f:.]+)(?:%[^"\s]*)?)\1[ \t]*$/;

/**
 * Parses an address (see `ADDRESS_TEXT`): ports, brackets, quotes and zone ids are
 * dropped, IPv4 must be four decimal parts (`127.1`, `0x7f.0.0.1` and `010.0.0.1` are
 * junk, not other spellings of an address). Anything else, `for=1.2.3.4` included, is
 * junk: `undefined`.
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  if (text.length > MAX_ADDRESS_TEXT) return undefined;
  const match = ADDRESS_TEXT.exec(text);
  if (match === null) return undefined;
  const port = match[3] ?? match[5];
  if (port !== undefined && Number(port) > 65_535) return undefined;
  const v4 = match[4];
  if (v4 !== undefined) {
    return ipaddr.IPv4.isValidFourPartDecimal(v4) ? ipv4(ipaddr.IPv4.parse(v4).octets) : undefined;
  }
  const v6 = match[2] ?? match[6];
  const parts = v6 === undefined ? undefined : parseIpv6Parts(v6);
  return parts === undefined ? undefined : canonicalIpv6(parts);
}

/** A trailing dotted IPv4 part of an IPv6 address (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`). */
const EMBEDDED_IPV4 = /:(\d{1,3}(?:\.\d{1,3}){3})$/;

/**
 * The eight 16-bit parts of an IPv6 address (no zone id), or `undefined`. A trailing
 * dotted IPv4 part is read as the two groups it spells: ipaddr.js alone turns `::1.2.3.4`
 * (IPv4-compatible, RFC 4291 §2.5.5.1, deprecated) into `::ffff:1.2.3.4`, another
 * address, so `::1.2.3.4` and `::102:304`, one address, became two identities.
 * IPv4-compatible addresses are plain IPv6 here, in every spelling.
 */
export function parseIpv6Parts(text: string): number[] | undefined {
  let hex = text;
  const embedded = EMBEDDED_IPV4.exec(text);
  if (embedded !== null) {
    const v4 = embedded[1] as string;
    if (!ipaddr.IPv4.isValidFourPartDecimal(v4)) return undefined;
    const [a, b, c, d] = ipaddr.IPv4.parse(v4).octets as [number, number, number, number];
    hex = `${text.slice(0, embedded.index + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  if (hex.includes(".") || !ipaddr.IPv6.isValid(hex)) return undefined;
  return ipaddr.IPv6.parse(hex).parts;
}

/** The IPv6 address with these eight 16-bit parts, as IPv4 when it carries one. */
export function canonicalIpv6(parts: readonly number[]): IpAddress {
  const [a, b, c, d, e, f, g, h] = parts as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff) {
    return { family: 4, value: BigInt(g * 0x10000 + h) }; // ::ffff:a.b.c.d
  }
  if (a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0) {
    return { family: 4, value: BigInt(g * 0x10000 + h) }; // 64:ff9b::a.b.c.d (RFC 6052)
  }
  let value = 0n;
  for (const part of parts) value = (value << 16n) | BigInt(part);
  return { family: 6, value };
}

function ipv4(octets: readonly number[]): IpAddress {
  let value = 0;
  for (const octet of octets) value = value * 256 + octet;
  return { family: 4, value: BigInt(value) };
}

/** The text of an address: dotted IPv4, or RFC 5952 IPv6 (`2001:db8::1`). */
export function formatIpAddress(address: IpAddress): string {
  const value = address.value;
  if (address.family === 4) {
    const n = Number(value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const parts: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) parts.push(Number((value >> shift) & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}
