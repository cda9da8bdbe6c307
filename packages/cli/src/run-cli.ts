import { createRequire } from "node:module";
import { isKeyGuardError } from "@keyguard/core";
import { cac } from "cac";
import { CliContext } from "./cli-context.js";
import type { CliIo } from "./cli-io.js";
import { registerAuditCommand } from "./commands/audit.js";
import { registerBlockCommands } from "./commands/blocks.js";
import { registerCopyDb } from "./commands/copy-db.js";
import { registerExport } from "./commands/export.js";
import { registerImport } from "./commands/import.js";
import { registerImportPython } from "./commands/import-python.js";
import { registerInit } from "./commands/init.js";
import { registerIpRuleCommands } from "./commands/ip-rules.js";
import { registerKeyCommands } from "./commands/keys.js";
import { registerOrganizationCommands } from "./commands/organizations.js";
import { registerReportCommands } from "./commands/reports.js";
import { registerSecretCommands } from "./commands/secret.js";
import { registerWebhookCommands } from "./commands/webhooks.js";
import { cliMessage } from "./error-messages.js";
import { splitCommandLine } from "./raw-options.js";
import { UsageError } from "./usage-error.js";

const { version } = createRequire(import.meta.url)("../package.json") as { version: string };

/**
 * Runs one CLI invocation and returns its exit code: 0 on success, 1 when the operation
 * failed, 2 when the command line itself was wrong. Errors are one line on stderr; the
 * stack (and cause) only with `--debug`.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const ctx = new CliContext(io, argv);
  const cli = cac("keyguard");
  cli
    .option("--db <url>", "Database URL (default: $KEYGUARD_DATABASE_URL or sqlite:keyguard.db)")
    .option("--redis <url>", "Redis URL (default: $KEYGUARD_REDIS_URL)")
    .option("--secret <key>", "Secret that hashes API keys (default: $KEYGUARD_SECRET_KEY)")
    .option("--json", "Machine-readable output")
    .option("--debug", "Show stack traces on errors");
  for (const register of [
    registerInit,
    registerOrganizationCommands,
    registerKeyCommands,
    registerReportCommands,
    registerBlockCommands,
    registerAuditCommand,
    registerIpRuleCommands,
    registerSecretCommands,
    registerWebhookCommands,
    registerImportPython,
    registerCopyDb,
    registerExport,
    registerImport,
  ]) {
    register(cli, ctx);
  }
  cli.help();
  cli.version(version);

  try {
    const commandLine = splitCommandLine(argv, valueOptionNames(cli));
    cli.parse(["node", "keyguard", ...commandLine.forCac], { run: false });
    if (cli.options.help || cli.options.version) return 0;
    if (!cli.matchedCommand) {
      const [name] = cli.args;
      if (name === undefined) {
        cli.outputHelp();
        return 0;
      }
      throw new UsageError(
        `unknown command "${name}". Run keyguard --help for the list of commands`,
      );
    }
    // The action gets the arguments as typed (a negative amount, `007`), not mri's numbers.
    if (commandLine.positionals[0] === cli.matchedCommandName) {
      cli.args = commandLine.positionals.slice(1);
    }
    await cli.runMatchedCommand();
    return 0;
  } catch (error) {
    return report(error, ctx, io);
  }
}

function report(error: unknown, ctx: CliContext, io: CliIo): number {
  const usage =
    error instanceof UsageError || (error instanceof Error && error.name === "CACError");
  const known = usage || isKeyGuardError(error);
  const message = isKeyGuardError(error)
    ? cliMessage(error)
    : error instanceof Error
      ? error.message
      : String(error);
  const line = known ? message : `unexpected error: ${message}`;
  io.stderr.write(
    `keyguard: ${line.replace(/\s*\n\s*/g, " ")}${usage ? " (see keyguard --help)" : ""}\n`,
  );
  if (ctx.argv.includes("--debug") && error instanceof Error) {
    io.stderr.write(`${error.stack ?? ""}\n`);
    if (error.cause !== undefined)
      io.stderr.write(`caused by: ${String((error.cause as Error)?.stack ?? error.cause)}\n`);
  }
  return usage ? 2 : 1;
}

/** Every option that takes a value (`--db <url>`, `--rate-limit <per-minute>`), without dashes. */
function valueOptionNames(cli: ReturnType<typeof cac>): Set<string> {
  const names = new Set<string>();
  for (const command of [cli.globalCommand, ...cli.commands]) {
    for (const option of command.options) {
      if (!/[<[]/.test(option.rawName)) continue;
      for (const match of option.rawName.matchAll(/--([\w-]+)/g)) names.add(match[1] as string);
    }
  }
  return names;
}
