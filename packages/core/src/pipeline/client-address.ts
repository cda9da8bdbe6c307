import ipaddr from "ipaddr.js";
import proxyAddr from "proxy-addr";
import { KeyGuardError } from "../errors/keyguard-error.js";

/**
 * Which proxies' `X-Forwarded-For` to believe:
 * - `false` (default): none; the client is the socket's peer.
 * - a number: that many proxy hops in front of the app (1 = one load balancer).
 * - a list of addresses, CIDRs or `loopback` / `linklocal` / `uniquelocal`.
 */
export type TrustProxy = false | number | readonly string[];

export interface ClientAddressOptions {
  readonly trustProxy?: TrustProxy;
  /**
   * IPv6 clients are limited per network prefix of this length (default 64: one
   * customer's subnet, which a single machine can hop around in). `false` = full address.
   */
  readonly ipv6Subnet?: number | false;
}

/** Turns a socket address and `X-Forwarded-For` into the client identity limits apply to. */
export type ClientAddressResolver = (
  socketAddress: string | undefined,
  forwardedFor: string | undefined,
) => string;

/**
 * Builds the resolver once, checking the options (a misconfiguration is an
 * `invalid_config` error at start-up, not a surprise under load).
 */
export function createClientAddressResolver(
  options: ClientAddressOptions = {},
): ClientAddressResolver {
  const trust = compileTrust(options.trustProxy ?? false);
  const subnet = options.ipv6Subnet ?? 64;
  if (subnet !== false && !(Number.isInteger(subnet) && subnet >= 1 && subnet <= 128)) {
    throw new KeyGuardError(
      "invalid_config",
      "ipv6Subnet must be a prefix length from 1 to 128, or false",
    );
  }
  // Parsing and normalising an address costs about a microsecond; the same few addresses
  // (proxies, busy clients) recur, so results are remembered in a small bounded map.
  const normalized = new Map<string, string>();
  const normalizeCached = (address: string) => {
    let result = normalized.get(address);
    if (result === undefined) {
      result = normalize(address, subnet);
      if (normalized.size >= 10_000) normalized.clear();
      normalized.set(address, result);
    }
    return result;
  };
  return (socketAddress, forwardedFor) => {
    const peer = socketAddress ?? "";
    const address =
      trust === undefined || forwardedFor === undefined
        ? peer
        : proxyAddr(
            {
              headers: { "x-forwarded-for": forwardedFor },
              connection: { remoteAddress: peer },
            } as never,
            trust,
          );
    return normalizeCached(address);
  };
}

function compileTrust(
  trustProxy: TrustProxy,
): ((address: string, hop: number) => boolean) | undefined {
  if (trustProxy === false) return undefined;
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
    try {
      return proxyAddr.compile([...trustProxy]);
    } catch (cause) {
      throw new KeyGuardError("invalid_config", `trustProxy: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
  // `true` would believe any client's X-Forwarded-For and let it pick its own IP (and so
  // dodge every per-IP limit and block).
  throw new KeyGuardError(
    "invalid_config",
    "trustProxy: true would let any client choose its IP through X-Forwarded-For. Give the number of proxy hops (e.g. 1) or the proxies' addresses.",
  );
}

function normalize(address: string, subnet: number | false): string {
  if (!ipaddr.isValid(address)) return address || "unknown";
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  if (parsed.kind() === "ipv4" || subnet === false || subnet === 128) return parsed.toString();
  const bytes = parsed.toByteArray();
  for (let bit = subnet; bit < 128; bit++) {
    const index = bit >> 3;
    bytes[index] = (bytes[index] as number) & ~(0x80 >> (bit & 7));
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${subnet}`;
}

/** The `X-Forwarded-For` value of a request (several headers joined, as proxies chain them). */
export function forwardedForOf(
  header: (name: string) => string | string[] | undefined,
): string | undefined {
  const forwarded = header("x-forwarded-for");
  return Array.isArray(forwarded) ? forwarded.join(",") : forwarded;
}
