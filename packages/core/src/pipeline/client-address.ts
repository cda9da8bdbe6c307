import { KeyGuardError } from "../errors/keyguard-error.js";
import { detachString } from "../util/detach-string.js";
import { formatIpAddress, type IpAddress, MAX_ADDRESS_TEXT, parseIpAddress } from "./ip-address.js";
import { compileTrust, type TrustProxy } from "./trusted-proxies.js";

export type { TrustProxy } from "./trusted-proxies.js";

export interface ClientAddressOptions {
  readonly trustProxy?: TrustProxy;
  /**
   * IPv6 clients are limited per network prefix of this length (default 64: one
   * customer's subnet, which a single machine can hop around in). `false` = full address.
   */
  readonly ipv6Subnet?: number | false;
}

/**
 * Turns a socket address and `X-Forwarded-For` into the client identity limits apply to:
 * always a canonical IPv4 address, an IPv6 address or prefix (`2001:db8:1:2::/64`), or
 * {@link UNKNOWN_CLIENT}; never text taken from the request as it was sent.
 */
export type ClientAddressResolver = (
  socketAddress: string | undefined,
  forwardedFor: string | undefined,
) => string;

/** The identity of a client whose address is unknown (a Unix socket, say). */
export const UNKNOWN_CLIENT = "unknown";

/** Most `X-Forwarded-For` entries walked through (proxies in front of the app). */
export const MAX_FORWARDED_HOPS = 32;

/**
 * Only this much of the end of `X-Forwarded-For` is read: more than `MAX_FORWARDED_HOPS`
 * entries of any real address take. A longer header costs no more than this to parse.
 */
export const MAX_FORWARDED_TEXT = 4096;

/** Addresses remembered; keys are at most `MAX_ADDRESS_TEXT` characters (a few MB at most). */
const MEMO_ENTRIES = 10_000;

interface KnownAddress {
  readonly address: IpAddress;
  /** The identity: the address, or its IPv6 prefix. */
  readonly identity: string;
}

/**
 * Builds the resolver once, checking the options (a misconfiguration is an
 * `invalid_config` error at start-up, not a surprise under load).
 *
 * Behind trusted proxies, `X-Forwarded-For` is walked from the right (the entry the
 * nearest proxy added) while each hop is trusted. Every entry is parsed as an address
 * (ports, brackets, quotes, spaces and zone ids dropped; IPv4-mapped and NAT64 forms are
 * IPv4). An entry that is no address ends the walk at the trusted proxy that passed it on:
 * junk never becomes a client identity.
 */
export function createClientAddressResolver(
  options: ClientAddressOptions = {},
): ClientAddressResolver {
  const trusted = compileTrust(options.trustProxy ?? false);
  const subnet = options.ipv6Subnet ?? 64;
  if (subnet !== false && !(Number.isInteger(subnet) && subnet >= 1 && subnet <= 128)) {
    throw new KeyGuardError(
      "invalid_config",
      "ipv6Subnet must be a prefix length from 1 to 128, or false",
    );
  }
  const prefixMask =
    subnet === false || subnet === 128
      ? undefined
      : ((1n << BigInt(subnet)) - 1n) << BigInt(128 - subnet);
  // Parsing an address costs about a microsecond; the same few (proxies, busy clients)
  // recur, so answers are remembered, junk too, in a bounded map. Only text of at most
  // MAX_ADDRESS_TEXT characters is ever a key, so the map is bounded in bytes as well.
  const memo = new Map<string, KnownAddress | null>();
  const known = (text: string): KnownAddress | undefined => {
    if (text.length > MAX_ADDRESS_TEXT) return undefined;
    let entry = memo.get(text);
    if (entry === undefined) {
      const address = parseIpAddress(text);
      entry =
        address === undefined
          ? null
          : { address, identity: identityOf(address, prefixMask, subnet) };
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      // The text is usually cut from a whole X-Forwarded-For header: keep a copy, not a view.
      memo.set(detachString(text), entry);
    }
    return entry ?? undefined;
  };
  if (trusted === undefined) {
    return (socketAddress) =>
      (socketAddress === undefined ? undefined : known(socketAddress))?.identity ?? UNKNOWN_CLIENT;
  }
  return (socketAddress, forwardedFor) => {
    let current = socketAddress === undefined ? undefined : known(socketAddress);
    if (forwardedFor === undefined) return current?.identity ?? UNKNOWN_CLIENT;
    // Entries are read from the right: [floor, position) holds those not yet read.
    let position = forwardedFor.length;
    let floor = 0;
    if (position > MAX_FORWARDED_TEXT) {
      const cut = forwardedFor.indexOf(",", position - MAX_FORWARDED_TEXT);
      // No comma near the end: the nearest proxy's entry alone is too long to be an address.
      if (cut === -1) return current?.identity ?? UNKNOWN_CLIENT;
      floor = cut + 1;
    }
    for (let hop = 0; hop < MAX_FORWARDED_HOPS && position >= floor; hop++) {
      if (!trusted(current?.address, hop)) break;
      const comma = position === 0 ? -1 : forwardedFor.lastIndexOf(",", position - 1);
      const next =
        position - comma - 1 > MAX_ADDRESS_TEXT
          ? undefined
          : known(forwardedFor.slice(comma + 1, position));
      // Junk: the trusted proxy that passed it on is the nearest address we know.
      if (next === undefined) break;
      current = next;
      position = comma;
    }
    return current?.identity ?? UNKNOWN_CLIENT;
  };
}

function identityOf(
  address: IpAddress,
  prefixMask: bigint | undefined,
  subnet: number | false,
): string {
  if (address.family === 4 || prefixMask === undefined) return formatIpAddress(address);
  return `${formatIpAddress({ family: 6, value: address.value & prefixMask })}/${subnet}`;
}

/** The `X-Forwarded-For` value of a request (several headers joined, as proxies chain them). */
export function forwardedForOf(
  header: (name: string) => string | string[] | undefined,
): string | undefined {
  const forwarded = header("x-forwarded-for");
  return Array.isArray(forwarded) ? forwarded.join(",") : forwarded;
}
