import { secretFingerprint, shortFingerprint } from "@keyguard/core/internal";
import type { RegisterCommand } from "./command.js";

export const registerInit: RegisterCommand = (cli, ctx) => {
  cli
    .command("init", "Create the database, or bring its schema up to date (safe to repeat)")
    .action(() =>
      ctx.withKeyGuard({ needsSecret: false, create: true }, async (kg) => {
        // With a secret, init has recorded its fingerprint (or checked it against the one
        // recorded): keys made with any other secret are refused from now on.
        const secret = kg.config.secretKey;
        const fingerprint = secret === undefined ? undefined : secretFingerprint(secret);
        if (ctx.json) {
          return ctx.printJson({
            database: ctx.displayDatabaseUrl,
            ready: true,
            secret_fingerprint: fingerprint ?? null,
          });
        }
        ctx.print(`KeyGuard database ready: ${ctx.displayDatabaseUrl}`);
        if (fingerprint !== undefined) {
          ctx.print(
            `Secret fingerprint: ${shortFingerprint(fingerprint)} (keys made with another secret are refused)`,
          );
        }
      }),
    );
};
