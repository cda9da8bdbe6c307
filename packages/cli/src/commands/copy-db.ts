import { KeyGuardError } from "@keyguard/core";
import { redactUrl } from "@keyguard/core/internal";
import {
  type CopiedTable,
  copyDatabase,
  createKyselyStore,
  openReadOnlyDatabase,
} from "@keyguard/store-kysely";
import { parseDatabaseArgument, sameDatabase } from "../migration/source-database.js";
import { formatCount } from "../output/format.js";
import type { RegisterCommand } from "./command.js";

/**
 * `keyguard copy-db`: everything KeyGuard stores (organizations, keys with their hashes,
 * usage, blocks and any other KeyGuard table), from one database to another, typically
 * the zero-infrastructure SQLite file to PostgreSQL. One transaction on the target; row
 * counts checked per table before it commits.
 */
export const registerCopyDb: RegisterCommand = (cli, ctx) => {
  cli
    .command("copy-db", "Copy a KeyGuard database to another (e.g. SQLite to PostgreSQL)")
    .option(
      "--from <database>",
      "The KeyGuard database to copy (a SQLite file or a postgres:// URL)",
    )
    .option("--to <database>", "Where to copy it; must hold no KeyGuard data unless --merge")
    .option(
      "--merge",
      "Copy into a database that already holds KeyGuard data, adding what it lacks",
    )
    .example("keyguard copy-db --from sqlite:keyguard.db --to postgres://app@db:5432/app")
    .action(async () => {
      const from = ctx.option("from");
      const to = ctx.option("to");
      if (from === undefined || to === undefined) {
        throw new KeyGuardError(
          "invalid_input",
          "copy-db needs --from and --to: the database to copy and where to copy it (a SQLite file or a postgres:// URL)",
        );
      }
      const source = parseDatabaseArgument(from, "--from", ctx.io.cwd);
      const target = parseDatabaseArgument(to, "--to", ctx.io.cwd);
      if (sameDatabase(source, target)) {
        throw new KeyGuardError("invalid_input", "--from and --to name the same database");
      }
      const merge = ctx.argv.includes("--merge");
      const reader = await openReadOnlyDatabase(source, from);
      let tables: CopiedTable[];
      try {
        const store = await createKyselyStore({ database: target });
        try {
          await store.migrate();
          tables = await copyDatabase(reader, { db: store.db, dialect: store.dialect }, { merge });
        } finally {
          await store.close();
        }
      } finally {
        await reader.close();
      }
      if (ctx.json) {
        ctx.printJson({
          from: redactUrl(from),
          to: redactUrl(to),
          tables: tables.map((t) => ({
            table: t.table,
            source_rows: t.sourceRows,
            copied: t.copied,
            already_present: t.alreadyPresent,
            target_rows: t.targetRows,
          })),
        });
        return;
      }
      const width = Math.max(...tables.map((t) => t.table.length)) + 2;
      ctx.print(
        [
          `Copied ${redactUrl(from)} to ${redactUrl(to)}:`,
          ...tables.map(
            (t) =>
              `  ${t.table.padEnd(width)}${formatCount(t.copied).padStart(10)} rows copied` +
              (merge
                ? `, ${formatCount(t.alreadyPresent)} already there (now ${formatCount(t.targetRows)})`
                : ""),
          ),
          merge
            ? "Row counts checked: every table holds what it held plus what was copied."
            : "Row counts checked: every table holds exactly what the source holds.",
          "Point your servers at the new database (KEYGUARD_DATABASE_URL) with the same KEYGUARD_SECRET_KEY: the same keys work there.",
        ].join("\n"),
      );
    });
};
