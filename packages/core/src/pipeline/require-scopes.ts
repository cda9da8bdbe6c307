import type { ApiKeyInfo } from "../domain/api-key.js";
import { type ProblemDetails, problemFor } from "./problem-details.js";

/**
 * The `insufficient_scope` problem when `key` lacks any of `required`, else `undefined`.
 * A scope `*` on the key grants everything.
 */
export function missingScopes(
  key: ApiKeyInfo,
  required: readonly string[],
): ProblemDetails | undefined {
  if (key.scopes.includes("*")) return undefined;
  const missing = required.filter((scope) => !key.scopes.includes(scope));
  if (missing.length === 0) return undefined;
  return problemFor(
    "insufficient_scope",
    `This route needs the scope${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, which the key does not have.`,
  );
}
