import { createClientAddressResolver, forwardedForOf } from "../pipeline/client-address.js";
import type { GuardRequest } from "../pipeline/guard-request.js";
import { type IpAddress, parseIpAddress } from "../pipeline/ip-address.js";
import type { TrustProxy } from "../pipeline/trusted-proxies.js";

/** Addresses remembered by their canonical text (at most ~40 characters each). */
const MEMO_ENTRIES = 10_000;

/**
 * The client's full address as IP rules and keys' `allowed_ips` compare it: derived as
 * every limit and block derives the client (the socket's peer, `X-Forwarded-For` only
 * through `trustProxy`), but never cut to the IPv6 prefix limits use, so a rule for one
 * IPv6 address matches that address and not its whole /64. `undefined` when the address
 * is unknown (a Unix socket): no rule matches it, and a key with `allowed_ips` is refused.
 */
export function createClientIpResolver(
  trustProxy: TrustProxy,
): (request: GuardRequest) => IpAddress | undefined {
  const resolve = createClientAddressResolver({ trustProxy, ipv6Subnet: false });
  // The resolver answers canonical text (a dotted IPv4 or RFC 5952 IPv6 address), never
  // request text, so these keys are bounded and few.
  const memo = new Map<string, IpAddress | null>();
  return (request) => {
    const text = resolve(
      request.remoteAddress,
      forwardedForOf((name) => request.header(name)),
    );
    let address = memo.get(text);
    if (address === undefined) {
      address = parseIpAddress(text) ?? null;
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      memo.set(text, address);
    }
    return address ?? undefined;
  };
}
