import type { RegisterCommand } from "./command.js";

export const registerInit: RegisterCommand = (cli, ctx) => {
  cli
    .command("init", "Create the database, or bring its schema up to date (safe to repeat)")
    .action(() =>
      ctx.withKeyGuard({ needsSecret: false, create: true }, async () => {
        if (ctx.json) ctx.printJson({ database: ctx.displayDatabaseUrl, ready: true });
        else ctx.print(`KeyGuard database ready: ${ctx.displayDatabaseUrl}`);
      }),
    );
};
