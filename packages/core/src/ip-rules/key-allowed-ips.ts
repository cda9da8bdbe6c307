import { KeyGuardError } from "../errors/keyguard-error.js";
import type { IpAddress } from "../pipeline/ip-address.js";
import { AddressRanges } from "./address-ranges.js";
import { parseCidr, tryParseCidr } from "./cidr.js";

/** Most entries of one key's `allowed_ips`. */
export const MAX_KEY_ALLOWED_IPS = 100;

/**
 * A key's `allowedIps` as given to create or update: a list of addresses or CIDRs, each
 * made canonical (`10.1.2.3/8` -> `10.0.0.0/8`), repeats dropped. An empty list or `null`
 * means no restriction (`null`). `invalid_input` naming `field` otherwise.
 */
export function parseAllowedIps(input: unknown, field = "allowedIps"): readonly string[] | null {
  if (input === null) return null;
  if (!Array.isArray(input)) {
    throw new KeyGuardError("invalid_input", `${field} must be a list of IP addresses or CIDRs`, {
      details: { field },
    });
  }
  if (input.length > MAX_KEY_ALLOWED_IPS) {
    throw new KeyGuardError(
      "invalid_input",
      `${field} may hold at most ${MAX_KEY_ALLOWED_IPS} entries (got ${input.length})`,
      { details: { field } },
    );
  }
  const cidrs = [...new Set(input.map((entry) => parseCidr(entry, field).cidr))];
  return cidrs.length === 0 ? null : cidrs;
}

/** Compiled lists, by the cached key's own array (a key's info is cached, so is this). */
const compiled = new WeakMap<readonly string[], AddressRanges>();

/**
 * Whether a key restricted to `allowedIps` may be used from `address`. An unknown
 * address (a Unix socket) is outside every list.
 */
export function allowedIpsContain(
  allowedIps: readonly string[],
  address: IpAddress | undefined,
): boolean {
  let ranges = compiled.get(allowedIps);
  if (ranges === undefined) {
    // Stored lists are canonical; an entry that does not parse (edited by hand) covers nothing.
    ranges = new AddressRanges(
      allowedIps.flatMap((cidr) => {
        const range = tryParseCidr(cidr);
        return range === undefined ? [] : [range];
      }),
    );
    compiled.set(allowedIps, ranges);
  }
  return ranges.contains(address);
}
