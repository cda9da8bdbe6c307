import type { IpAddress } from "../pipeline/ip-address.js";
import { type AddressSpan, type CidrRange, spansOf } from "./cidr.js";

/**
 * A set of CIDR ranges, ready for look-ups on the request path: per family, the ranges
 * merged into disjoint spans in ascending order, searched by bisection (about 14
 * comparisons for 10,000 rules; never a scan of the rules).
 */
export class AddressRanges {
  readonly #firsts: { 4: bigint[]; 6: bigint[] } = { 4: [], 6: [] };
  readonly #lasts: { 4: bigint[]; 6: bigint[] } = { 4: [], 6: [] };
  readonly size: number;

  constructor(ranges: readonly CidrRange[]) {
    this.size = ranges.length;
    const spans = ranges.flatMap(spansOf);
    for (const family of [4, 6] as const) {
      const merged = mergeSpans(spans.filter((span) => span.family === family));
      this.#firsts[family] = merged.map((span) => span.first);
      this.#lasts[family] = merged.map((span) => span.last);
    }
  }

  /** Whether `address` (canonical: IPv4-mapped addresses are IPv4) lies in a range. */
  contains(address: IpAddress | undefined): boolean {
    if (address === undefined) return false;
    const firsts = this.#firsts[address.family];
    const value = address.value;
    // The last span starting at or before `value`.
    let low = 0;
    let high = firsts.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if ((firsts[middle] as bigint) <= value) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    return found !== -1 && value <= (this.#lasts[address.family][found] as bigint);
  }
}

/** Spans of one family as disjoint spans in ascending order (adjacent ones joined). */
function mergeSpans(spans: readonly AddressSpan[]): AddressSpan[] {
  const sorted = [...spans].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: AddressSpan[] = [];
  for (const span of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && span.first <= last.last + 1n) {
      if (span.last > last.last) out[out.length - 1] = { ...last, last: span.last };
    } else out.push(span);
  }
  return out;
}
