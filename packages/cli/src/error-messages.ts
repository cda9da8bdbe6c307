import type { KeyGuardError } from "@keyguard/core";

/**
 * What to do next, for failures where a command helps. Core's messages never name CLI
 * commands (the admin API and applications show them too); the CLI adds its own hints.
 */
const HINTS: Partial<Record<string, string>> = {
  organization_not_found: "List them with: keyguard list-orgs",
  api_key_not_found: "List keys with: keyguard list-keys",
};

/** A KeyGuardError as the CLI prints it: core's message, plus a hint where one helps. */
export function cliMessage(error: KeyGuardError): string {
  const hint = HINTS[error.code];
  return hint === undefined ? error.message : `${error.message} ${hint}`;
}
