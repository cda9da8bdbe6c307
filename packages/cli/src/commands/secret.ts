import { shortFingerprint } from "@keyguard/core/internal";
import { UsageError } from "../usage-error.js";
import type { RegisterCommand } from "./command.js";

export const registerSecretCommands: RegisterCommand = (cli, ctx) => {
  cli
    .command(
      "rotate-secret",
      "Make the database expect a new secret; keys made so far keep working where the old one is configured as a previous secret",
    )
    .option("--new-secret <key>", "The new secret (default: $KEYGUARD_NEW_SECRET_KEY)")
    .example(
      'KEYGUARD_SECRET_KEY=old keyguard rotate-secret --new-secret "$(openssl rand -hex 24)"',
    )
    .action(() => {
      const newSecret = ctx.option("new-secret") || ctx.io.env.KEYGUARD_NEW_SECRET_KEY || undefined;
      if (newSecret === undefined) {
        throw new UsageError(
          "rotate-secret needs the new secret: pass --new-secret <key> or set KEYGUARD_NEW_SECRET_KEY",
        );
      }
      return ctx.withKeyGuard({ needsSecret: true }, async (kg) => {
        const rotation = await kg.rotateSecret(newSecret);
        if (ctx.json) {
          return ctx.printJson({
            fingerprint: rotation.fingerprint,
            previous_fingerprint: rotation.previousFingerprint,
            rotated_at: rotation.rotatedAt.toISOString(),
            keys_to_rotate: rotation.keysToRotate,
          });
        }
        ctx.print(
          [
            `Secret rotated: the database now expects the new secret (fingerprint ${shortFingerprint(rotation.fingerprint)}); the old one (${shortFingerprint(rotation.previousFingerprint)}) is retired.`,
            "",
            "A key's hash cannot be recomputed without the raw key, so the keys made so far",
            `(${rotation.keysToRotate} active) work only where the old secret is still configured. On every server:`,
            "  KEYGUARD_SECRET_KEY=<the new secret>",
            "  KEYGUARD_PREVIOUS_SECRET_KEYS=<the old secret>",
            "and restart (servers still on the old secret refuse to start). Then rotate each",
            "key (keyguard rotate-key <prefix> --grace 24h) and, once keyguard stats shows",
            "no Old-Secret Keys (previous_secret_keys: 0), remove KEYGUARD_PREVIOUS_SECRET_KEYS.",
          ].join("\n"),
        );
      });
    });
};
