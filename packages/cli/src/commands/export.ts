import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { KeyGuardError } from "@keyguard/core";
import type { KyselyStore } from "@keyguard/store-kysely";
import { writeExportFile } from "../migration/export-file.js";
import { formatCount } from "../output/format.js";
import type { RegisterCommand } from "./command.js";

/**
 * `keyguard export`: the whole database as KeyGuard's versioned JSON export file
 * (docs/export-format.md), to stdout or `--out`. Keys by hash only.
 */
export const registerExport: RegisterCommand = (cli, ctx) => {
  cli
    .command(
      "export",
      "Write every organization, key (by hash), usage row and rollup, credit spent, block and IP rule as JSON",
    )
    .option("--out <file>", "Write to this new file (mode 0600) instead of stdout")
    .example("keyguard export --out keyguard-backup.json")
    .action(() =>
      ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
        const records = await (kg.store as KyselyStore).exportRecords();
        const content = writeExportFile(records, new Date());
        const out = ctx.option("out");
        if (out === undefined) {
          ctx.io.stdout.write(content);
          return;
        }
        const path = resolve(ctx.io.cwd, out);
        let fd: number;
        try {
          // A new file only, readable by its owner: it holds key hashes and client addresses.
          fd = openSync(path, "wx", 0o600);
        } catch (cause) {
          const code = (cause as { code?: string }).code;
          throw new KeyGuardError(
            "invalid_input",
            code === "EEXIST"
              ? `${out} already exists: choose another file or remove it first`
              : `cannot create ${out}: ${(cause as Error).message}`,
            { cause },
          );
        }
        try {
          writeSync(fd, content);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        ctx.print(
          `Exported ${formatCount(records.organizations.length)} organizations, ${formatCount(records.apiKeys.length)} keys, ${formatCount(records.usage.length)} usage rows, ${formatCount(records.usageRollups.length)} usage rollups, ${formatCount(records.creditSpending.length)} credit spending rows, ${formatCount(records.ipBlocks.length)} blocks and ${formatCount(records.ipRules.length)} IP rules to ${out}`,
        );
      }),
    );
};
