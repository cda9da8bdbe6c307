import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { KeyGuardError } from "@keyguard/core";
import type { KyselyStore } from "@keyguard/store-kysely";
import { readExportFile } from "../migration/export-file.js";
import { formatCount } from "../output/format.js";
import type { RegisterCommand } from "./command.js";

/** Larger files are refused before being read into memory. */
const MAX_FILE_BYTES = 512 * 1024 * 1024;

/**
 * `keyguard import <file>`: an export file (from `keyguard export`, or written by hand
 * from another system's keys) into the configured database, in one transaction,
 * skipping records whose id is already there.
 */
export const registerImport: RegisterCommand = (cli, ctx) => {
  cli
    .command(
      "import <file>",
      "Import an export file (organizations, keys by hash, usage and its rollups, credits spent, blocks, IP rules)",
    )
    .option("--dry-run", "Check the file and show what would be imported; write nothing")
    .example("keyguard import keyguard-backup.json")
    .action(async (file: string) => {
      const name = String(file);
      const path = resolve(ctx.io.cwd, name);
      let content: string;
      try {
        if (statSync(path).size > MAX_FILE_BYTES) {
          throw new KeyGuardError(
            "invalid_input",
            `${name} is larger than ${MAX_FILE_BYTES / 1024 / 1024} MB`,
          );
        }
        content = readFileSync(path, "utf8");
      } catch (cause) {
        if (cause instanceof KeyGuardError) throw cause;
        throw new KeyGuardError(
          "invalid_input",
          `cannot read ${name}: ${(cause as Error).message}`,
          { cause },
        );
      }
      const records = readExportFile(content, name, new Date());
      const dryRun = ctx.argv.includes("--dry-run");
      const standIn = dryRun && !(await ctx.hasKeyGuardDatabase());
      await ctx.withKeyGuard({ needsSecret: false, create: true, standIn }, async (kg) => {
        const result = await (kg.store as KyselyStore).importRecords(records, { dryRun });
        const rows = [
          ["organizations", result.organizations],
          ["api keys", result.apiKeys],
          ["usage rows", result.usage],
          ["usage rollups", result.usageRollups],
          ["credit spending", result.creditSpending],
          ["ip blocks", result.ipBlocks],
          ["ip rules", result.ipRules],
        ] as const;
        if (ctx.json) {
          ctx.printJson({
            dry_run: dryRun,
            ...Object.fromEntries(
              rows.map(([label, c]) => [
                label.replace(" ", "_"),
                { added: c.added, already_present: c.alreadyPresent },
              ]),
            ),
          });
          return;
        }
        ctx.print(
          [
            `${dryRun ? "Would import" : "Imported"} ${name} into ${ctx.displayDatabaseUrl}:`,
            ...rows.map(
              ([label, c]) =>
                `  ${label.padEnd(15)}${formatCount(c.added).padStart(8)} ${dryRun ? "to add" : "added"}, ${formatCount(c.alreadyPresent)} already present`,
            ),
            ...(dryRun ? ["Nothing was written (--dry-run)."] : []),
          ].join("\n"),
        );
      });
    });
};
