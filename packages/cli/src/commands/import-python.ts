import { KeyGuardError } from "@keyguard/core";
import { redactUrl } from "@keyguard/core/internal";
import { type KyselyStore, openReadOnlyDatabase } from "@keyguard/store-kysely";
import { readKeyguardPython } from "../migration/keyguard-python-source.js";
import { parseDatabaseArgument, sameDatabase } from "../migration/source-database.js";
import { formatCount } from "../output/format.js";
import type { RegisterCommand } from "./command.js";

/**
 * `keyguard import-python`: organizations, keys and usage from a keyguard-python database
 * into the configured one, in one transaction, idempotent by id. Keys keep their
 * keyguard-python hash (verified with `legacySecret`, re-stored under KeyGuard's HMAC on
 * first use), so nobody has to be given a new key.
 */
export const registerImportPython: RegisterCommand = (cli, ctx) => {
  cli
    .command(
      "import-python",
      "Import organizations, keys and usage from a keyguard-python database",
    )
    .option("--from <database>", "The keyguard-python database: a SQLite file or a postgres:// URL")
    .option(
      "--legacy-secret <key>",
      "keyguard-python's SECRET_KEY (default: $KEYGUARD_LEGACY_SECRET); your servers need it too",
    )
    .option("--dry-run", "Show what would be imported; write nothing")
    .example(
      'keyguard import-python --from old/keyguard.db --legacy-secret "$OLD_SECRET" --db sqlite:keyguard-node.db',
    )
    .action(async () => {
      const from = ctx.option("from");
      if (from === undefined) {
        throw new KeyGuardError(
          "invalid_input",
          "--from is required: the keyguard-python database to import (a SQLite file or a postgres:// URL)",
        );
      }
      const legacySecret =
        ctx.option("legacy-secret") || ctx.io.env.KEYGUARD_LEGACY_SECRET || undefined;
      if (legacySecret === undefined) {
        throw new KeyGuardError(
          "invalid_config",
          "--legacy-secret is required (or KEYGUARD_LEGACY_SECRET): keyguard-python's SECRET_KEY, which your servers need as legacySecret to accept the imported keys",
        );
      }
      const dryRun = ctx.argv.includes("--dry-run");
      const source = parseDatabaseArgument(from, "--from", ctx.io.cwd);
      const target = parseDatabaseArgument(ctx.databaseUrl, "--db", ctx.io.cwd);
      if (sameDatabase(source, target)) {
        throw new KeyGuardError(
          "invalid_input",
          `--from and --db name the same database (${redactUrl(from)}): KeyGuard imports into a database of its own; point --db (or KEYGUARD_DATABASE_URL) at a new one, e.g. --db sqlite:keyguard-node.db`,
        );
      }
      const database = await openReadOnlyDatabase(source, from);
      try {
        // The source is read (and refused if it is not keyguard-python's) before the
        // target is opened, so a wrong --from leaves no new database file behind.
        const imported = await readKeyguardPython(database, {
          display: redactUrl(from),
          defaultRateLimitPerMinute: 60,
        });
        const standIn = dryRun && !(await ctx.hasKeyGuardDatabase());
        await ctx.withKeyGuard({ needsSecret: false, create: true, standIn }, async (kg) => {
          const store = kg.store as KyselyStore;
          const result = await store.importRecords(imported.records, { dryRun });
          const keyStates = importedKeyStates(imported.records, Date.now());
          if (ctx.json) {
            ctx.printJson({
              dry_run: dryRun,
              organizations: counts(result.organizations),
              api_keys: counts(result.apiKeys),
              usage_rows: counts(result.usage),
              usage_logs_read: imported.read.usageLogs,
              orphan_usage_logs: imported.orphanUsageLogs,
            });
            return;
          }
          const verb = dryRun ? "Would import" : "Imported";
          const line = (label: string, c: { added: number; alreadyPresent: number }, extra = "") =>
            `  ${label.padEnd(15)}${formatCount(c.added).padStart(8)} ${dryRun ? "to add" : "added"}, ${formatCount(c.alreadyPresent)} already present${extra}`;
          ctx.print(
            [
              `${verb} from keyguard-python (${redactUrl(from)}) into ${ctx.displayDatabaseUrl}:`,
              line("organizations", result.organizations),
              line("api keys", result.apiKeys, ` (${describeKeyStates(keyStates)})`),
              line(
                "usage rows",
                result.usage,
                ` (from ${formatCount(imported.read.usageLogs - imported.orphanUsageLogs)} usage logs)`,
              ),
              ...(imported.orphanUsageLogs > 0
                ? [
                    `  ${formatCount(imported.orphanUsageLogs)} usage logs of keys no longer in api_keys were left out`,
                  ]
                : []),
              dryRun
                ? "Nothing was written (--dry-run)."
                : "Give your servers legacySecret (KEYGUARD_LEGACY_SECRET) so these keys are accepted; each is re-stored under KeyGuard's own hash on first use (keyguard stats: Legacy Hashes).",
            ].join("\n"),
          );
        });
      } finally {
        await database.close();
      }
    });
};

function counts(c: { added: number; alreadyPresent: number }) {
  return { added: c.added, already_present: c.alreadyPresent };
}

/**
 * What the imported keys will do, as a server will answer them: usable, revoked, expired,
 * or refused because their organization is suspended (a key is counted once, in that order
 * of precedence after revoked).
 */
function importedKeyStates(
  records: {
    readonly organizations: readonly { readonly id: string; readonly status: string }[];
    readonly apiKeys: readonly {
      readonly orgId: string;
      readonly isActive: boolean;
      readonly expiresAt: Date | null;
    }[];
  },
  now: number,
) {
  const suspended = new Set(
    records.organizations.filter((org) => org.status === "suspended").map((org) => org.id),
  );
  const states = { active: 0, revoked: 0, expired: 0, suspended: 0 };
  for (const key of records.apiKeys) {
    if (!key.isActive) states.revoked++;
    else if (key.expiresAt !== null && key.expiresAt.getTime() <= now) states.expired++;
    else if (suspended.has(key.orgId)) states.suspended++;
    else states.active++;
  }
  return states;
}

function describeKeyStates(states: ReturnType<typeof importedKeyStates>): string {
  const parts = [`${formatCount(states.active)} active`, `${formatCount(states.revoked)} revoked`];
  if (states.expired > 0) parts.push(`${formatCount(states.expired)} expired`);
  if (states.suspended > 0) {
    parts.push(`${formatCount(states.suspended)} in suspended organizations`);
  }
  return parts.join(", ");
}
