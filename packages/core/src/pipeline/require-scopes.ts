import type { ApiKeyInfo } from "../domain/api-key.js";
import { type ProblemDetails, problemFor } from "./problem-details.js";

/**
 * What an adapter's `requireScopes(...)` answers: `undefined` when `key` has every scope in
 * `required` (a scope `*` grants everything), `insufficient_scope` when it lacks some, and
 * `missing_api_key` when no key is attached (the KeyGuard middleware did not run first).
 */
export function missingScopes(
  key: ApiKeyInfo | null | undefined,
  required: readonly string[],
): ProblemDetails | undefined {
  if (key === null || key === undefined) {
    return problemFor(
      "missing_api_key",
      "This route needs an API key, but the KeyGuard middleware did not run before it.",
    );
  }
  if (key.scopes.includes("*")) return undefined;
  const missing = required.filter((scope) => !key.scopes.includes(scope));
  if (missing.length === 0) return undefined;
  return problemFor(
    "insufficient_scope",
    `This route needs the scope${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, which the key does not have.`,
  );
}
