import { UsageError } from "./usage-error.js";

export interface WholeNumberBounds {
  /** The smallest value accepted: 1 (the default) or 0. */
  readonly min?: 0 | 1;
  /** The largest value accepted; at most (and by default) `Number.MAX_SAFE_INTEGER`. */
  readonly max?: number;
}

/**
 * A whole number from exactly the text the user typed for `what` (`--rate-limit`, "the
 * limit in --limit burst=10/1s"), which every error message names. This is the CLI's one
 * reading of a count; every command's numbers go through it.
 *
 * Accepted: ASCII digits, read as decimal (`007` is 7), with blanks around them allowed:
 * `--rate-limit "$(wc -l < ids.txt)"` is right-aligned with spaces on macOS and means the
 * number. Refused, because each either means something else elsewhere or is a typo the
 * user would want to hear about: a sign (`-5`, `+5`), digit separators (`1,000`,
 * `1_000`, `1 000`: in some locales `1,000` is one), exponents (`1e3`), hex, octal and
 * binary (`0x10`), fractions even when whole (`5.0`), `Infinity`, the empty string, and
 * anything above `max` (never above 2^53 - 1, past which a number is not exact).
 *
 * @example
 * parseWholeNumber("120", "--rate-limit"); // 120
 * parseWholeNumber("1,000", "--credits", { min: 0 }); // throws: "--credits must be ..."
 */
export function parseWholeNumber(
  text: string,
  what: string,
  bounds: WholeNumberBounds = {},
): number {
  const min = bounds.min ?? 1;
  const max = Math.min(bounds.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const kind = min === 0 ? "a whole number (0 or more)" : "a positive whole number";
  const digits = text.trim();
  if (!/^[0-9]+$/.test(digits)) {
    // A negative number needs no lesson in how to write numbers, only the rule.
    const how = /^-[0-9]+$/.test(digits) ? "" : ", written in plain digits";
    throw new UsageError(`${what} must be ${kind}${how} (got ${shown(text)})`);
  }
  const value = Number(digits);
  if (value < min) throw new UsageError(`${what} must be ${kind} (got ${shown(text)})`);
  // Past 2^53 - 1 the conversion is no longer exact (9007199254740993 reads as ...992).
  if (value > max || !Number.isSafeInteger(value)) {
    throw new UsageError(`${what} must be at most ${max} (got ${shown(text)})`);
  }
  return value;
}

/** What the user typed, as a message quotes it: quoted when blank or spaced, cut when long. */
function shown(text: string): string {
  const cut = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  return cut.trim() === "" || /\s/.test(cut) ? JSON.stringify(cut) : cut;
}
