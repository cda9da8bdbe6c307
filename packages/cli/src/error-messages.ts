import type { KeyGuardError } from "@keyguard/core";
import { messageWithFieldNames } from "@keyguard/core/internal";

/**
 * What to do next, for failures where a command helps. Core's messages never name CLI
 * commands (the admin API and applications show them too); the CLI adds its own hints.
 */
const HINTS: Partial<Record<string, string>> = {
  organization_not_found: "List them with: keyguard list-orgs",
  api_key_not_found: "List keys with: keyguard list-keys",
  webhook_not_found: "List them with: keyguard list-webhooks",
};

/** Core's names for inputs (`details.field`) as the user gives them to the CLI. */
const OPTION_NAMES: Readonly<Record<string, string>> = {
  label: "--label",
  rateLimitPerMinute: "--rate-limit",
  monthlyLimit: "--monthly-limit",
  scopes: "--scopes",
  expiresAt: "--expires",
  allowedIps: "--allowed-ip",
  gracePeriodMs: "--grace",
  path: "--path",
  reason: "--reason",
  action: "--action",
  targetId: "--target",
  secretKey: "the secret key (--secret / KEYGUARD_SECRET_KEY)",
  previousSecretKeys: "KEYGUARD_PREVIOUS_SECRET_KEYS",
  newSecret: "--new-secret",
  databaseUrl: "the database URL (--db / KEYGUARD_DATABASE_URL)",
  redisUrl: "the Redis URL (--redis / KEYGUARD_REDIS_URL)",
  redisPrefix: "KEYGUARD_REDIS_PREFIX",
  events: "--events",
};

/**
 * A KeyGuardError as the CLI prints it: core's message with the options the user typed
 * instead of core's field names, plus a hint where one helps.
 */
export function cliMessage(error: KeyGuardError): string {
  const message = messageWithFieldNames(error, OPTION_NAMES);
  const hint =
    error.code === "secret_mismatch"
      ? error.details?.rotation === true
        ? "To change it on purpose: keyguard rotate-secret --secret <the database's> --new-secret <new>"
        : undefined
      : HINTS[error.code];
  return hint === undefined ? message : `${message} ${hint}`;
}
