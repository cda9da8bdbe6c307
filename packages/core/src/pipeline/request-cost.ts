import { KeyGuardError } from "../errors/keyguard-error.js";

/**
 * What a request spends of each of its key's policies: a number, or a function of the
 * framework's request (an adapter's `cost` option). Whole numbers from 0 (check without
 * spending) to 1,000,000,000; default 1. A number out of bounds is refused when the
 * middleware or route is set up ({@link checkCostOption}); a function's answer is checked
 * per request, and a function that throws or answers anything else gets the request a 503
 * (reported through `onBackgroundError`), never a guess and never a 500.
 */
export type RequestCost<R> = number | ((request: R) => number);

export const MAX_REQUEST_COST = 1_000_000_000;

function isValidCost(cost: unknown): cost is number {
  return (
    Number.isSafeInteger(cost) && (cost as number) >= 0 && (cost as number) <= MAX_REQUEST_COST
  );
}

/**
 * An adapter's `cost` option, checked where it is given (the middleware's or route's
 * setup): a number out of bounds, or anything neither a number nor a function, throws
 * `invalid_config` naming `where` at once, instead of answering every request 503.
 *
 * @example
 * const cost = checkCostOption(options.cost, "keyguard(kg, { cost })");
 */
export function checkCostOption<R>(
  cost: RequestCost<R> | undefined,
  where: string,
): RequestCost<R> | undefined {
  if (cost === undefined || typeof cost === "function" || isValidCost(cost)) return cost;
  throw new KeyGuardError(
    "invalid_config",
    `${where}: cost must be a whole number from 0 to ${MAX_REQUEST_COST.toLocaleString("en-US")} or a function of the request returning one (got ${describeCost(cost)}).`,
  );
}

/**
 * A request's cost from an adapter's option (1 without one). Throws what a cost function
 * throws; {@link RequestGuard.check} calls it inside its error handling.
 */
export function costOf<R>(cost: RequestCost<R> | undefined, request: R): number {
  if (cost === undefined) return 1;
  return typeof cost === "number" ? cost : cost(request);
}

/**
 * The cost of this request, or `invalid_config`: the application's option is wrong (a
 * function that threw, or answered out of bounds).
 */
export function requestCost<R>(option: RequestCost<R>, input: R): number {
  let cost: unknown;
  try {
    cost = costOf(option, input);
  } catch (error) {
    throw new KeyGuardError(
      "invalid_config",
      `The request's cost function threw: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (isValidCost(cost)) return cost;
  // The application's option (or its function) is wrong: a 503 it hears about.
  throw new KeyGuardError(
    "invalid_config",
    `A request's cost must be a whole number from 0 to ${MAX_REQUEST_COST.toLocaleString("en-US")} (got ${describeCost(cost)}).`,
  );
}

function describeCost(cost: unknown): string {
  const text = typeof cost === "string" ? JSON.stringify(cost) : String(cost);
  return text.slice(0, 40);
}
