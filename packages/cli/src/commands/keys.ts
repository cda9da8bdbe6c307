import type { ApiKeyInfo, CreditBalance, KeyGuard, PolicyStatus } from "@keyguard/core";
import { toApiKeyWire, toCreditsWire, toPolicyStatusWire } from "@keyguard/core/internal";
import type { CliContext } from "../cli-context.js";
import { formatCount, formatDateTime } from "../output/format.js";
import { keyStatus, renderKeyTable } from "../output/key-table.js";
import { renderPolicyTable } from "../output/policy-table.js";
import { formatLimits, parseDurationOption } from "../parse-values.js";
import { parseWholeNumber } from "../parse-whole-number.js";
import { UsageError } from "../usage-error.js";
import type { RegisterCommand } from "./command.js";
import { describeCredits } from "./credit-options.js";
import { KEY_SETTING_OPTIONS, readKeySettings } from "./key-settings.js";

/** The key's credit balance, when it has credits (one look-up). */
async function balanceOf(kg: KeyGuard, key: ApiKeyInfo): Promise<CreditBalance | undefined> {
  return key.credits ? kg.creditBalance(key) : undefined;
}

function describeKey(key: ApiKeyInfo, now: number, balance?: CreditBalance): string[] {
  return [
    `  Prefix:      ${key.prefix}`,
    `  ID:          ${key.id}`,
    `  Org:         ${key.organizationName}`,
    `  Status:      ${keyStatus(key, now)}`,
    `  Rate limit:  ${formatCount(key.rateLimitPerMinute)}/min`,
    // Named windows only for keys that have them, like Allowed IPs below.
    ...(key.limits !== undefined && key.limits.length > 0
      ? [`  Limits:      ${formatLimits(key.limits)}`]
      : []),
    `  Monthly:     ${key.monthlyLimit === null ? "unlimited" : formatCount(key.monthlyLimit)}`,
    `  Scopes:      ${key.scopes.length > 0 ? key.scopes.join(", ") : "(none)"}`,
    `  Expires:     ${formatDateTime(key.expiresAt)}${key.expiresAt ? " UTC" : ""}`,
    // Only for keys that have them: keyguard-python's output stays as it was for the others.
    ...(key.allowedIps ? [`  Allowed IPs: ${key.allowedIps.join(", ")}`] : []),
    ...(balance ? [`  Credits:     ${describeCredits(balance, key.credits?.refill ?? null)}`] : []),
  ];
}

/** A window this process has no count of (no limiter: no Redis configured). */
function unreadWindow(policy: PolicyStatus): boolean {
  return policy.remaining === null && policy.windowSeconds > 0 && policy.scope !== "quota";
}

function rawKeyLine(ctx: CliContext, rawKey: string): string {
  return `  Key:         ${ctx.colors.bold(rawKey)}`;
}

function shownOnce(ctx: CliContext): string {
  return ctx.colors.yellow(
    "This is the only time the key is shown: it will not be shown again. Store it now.",
  );
}

function requireOption(ctx: CliContext, name: string, command: string): string {
  const value = ctx.option(name);
  if (value === undefined || value.trim() === "") {
    throw new UsageError(`${command} needs --${name} <${name === "org" ? "name" : name}>`);
  }
  return value;
}

export const registerKeyCommands: RegisterCommand = (cli, ctx) => {
  const createKey = cli
    .command("create-key", "Create an API key (the raw key is printed once)")
    .option("--org <name>", "Organization name (required)")
    .option("--label <label>", "A name for the key (required)")
    .option("--test", "Issue a kg_test_ key instead of kg_live_");
  for (const [flag, text] of KEY_SETTING_OPTIONS) createKey.option(flag, text);
  createKey
    .example('keyguard create-key --org "Acme Corp" --label production --rate-limit 120')
    .action(() => {
      const organization = requireOption(ctx, "org", "create-key");
      requireOption(ctx, "label", "create-key");
      const now = Date.now();
      const settings = readKeySettings(ctx, now);
      return ctx.withKeyGuard({ needsSecret: true }, async (kg) => {
        const { rawKey, key } = await kg.createApiKey({
          ...settings,
          label: settings.label as string,
          organization,
          environment: ctx.argv.includes("--test") ? "test" : undefined,
        });
        const balance = await balanceOf(kg, key);
        if (ctx.json) {
          return ctx.printJson({ ...toApiKeyWire(key, now, balance), raw_key: rawKey });
        }
        ctx.print(
          [
            `Created API key "${key.label}" for ${key.organizationName}`,
            "",
            rawKeyLine(ctx, rawKey),
            ...describeKey(key, now, balance),
            "",
            shownOnce(ctx),
          ].join("\n"),
        );
      });
    });

  cli
    .command("list-keys", "List API keys (masked)")
    .option("--org <name>", "Only this organization's keys")
    .action(() =>
      ctx.withKeyGuard({ needsSecret: false }, async (kg) => {
        const organization = ctx.option("org");
        const keys = await kg.listApiKeys(organization === undefined ? {} : { organization });
        const now = Date.now();
        const balances = new Map<string, CreditBalance | undefined>();
        for (const key of keys) if (key.credits) balances.set(key.id, await balanceOf(kg, key));
        if (ctx.json)
          ctx.printList(keys.map((key) => toApiKeyWire(key, now, balances.get(key.id))));
        else ctx.print(renderKeyTable(keys, now, ctx.colors, balances));
      }),
    );

  cli
    .command("revoke-key <key>", "Revoke a key, by prefix (kg_live_4Gk9) or id")
    .action((reference: string) =>
      ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
        const { key, alreadyRevoked } = await kg.revokeApiKeyOutcome(String(reference));
        if (ctx.json) {
          ctx.printJson({ ...toApiKeyWire(key, Date.now()), already_revoked: alreadyRevoked });
        } else {
          const which = `${key.prefix} (${key.label}, ${key.organizationName})`;
          // Exit 0 either way: the key is revoked, as asked, so scripts can safely repeat it.
          if (alreadyRevoked) ctx.print(`Key ${which} was already revoked.`);
          else ctx.printChange(`Revoked key ${which}.`);
        }
      }),
    );

  const updateKey = cli
    .command(
      "update-key <key>",
      "Change a key's label, limits, concurrency cap, scopes, expiry or credits",
    )
    .option("--label <label>", "A new name for the key");
  for (const [flag, text] of KEY_SETTING_OPTIONS) updateKey.option(flag, text);
  updateKey.action((reference: string) => {
    const now = Date.now();
    const settings = readKeySettings(ctx, now);
    if (Object.keys(settings).length === 0) {
      throw new UsageError(
        "update-key needs at least one of --label, --rate-limit, --monthly-limit, --limit, --scopes, --expires, --allowed-ip, --credits",
      );
    }
    return ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
      const key = await kg.updateApiKey(String(reference), settings);
      const balance = await balanceOf(kg, key);
      if (ctx.json) return ctx.printJson(toApiKeyWire(key, now, balance));
      ctx.printChange(
        [`Updated key ${key.prefix} (${key.label})`, ...describeKey(key, now, balance)].join("\n"),
      );
    });
  });

  cli
    .command("show-key <key>", "One key, masked, with what is left of each of its limits")
    .example("keyguard show-key kg_live_4Gk9")
    .action((reference: string) =>
      // `shared`: with Redis configured its live counts are read there (the servers' own).
      ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
        const key = await kg.getApiKey(String(reference));
        const status = await kg.limitStatus(key);
        const now = Date.now();
        if (ctx.json) {
          return ctx.printJson({
            ...toApiKeyWire(key, now, status.credits),
            policies: status.policies.map(toPolicyStatusWire),
          });
        }
        ctx.print(
          [
            `Key ${key.prefix} (${key.label})`,
            ...describeKey(key, now, status.credits),
            "",
            renderPolicyTable(status.policies),
            ...(status.policies.some(unreadWindow)
              ? [
                  "",
                  "Windows are counted by the servers (their limiter): with their Redis (--redis) this shows what is left of them.",
                ]
              : []),
          ].join("\n"),
        );
      }),
    );

  cli
    .command("add-credits <key> <n>", "Add n credits to a key's balance (in force at once)")
    .example("keyguard add-credits kg_live_4Gk9 5000")
    .action((reference: string, amount: string) => {
      const add = parseWholeNumber(String(amount), "add-credits: the amount <n>");
      return ctx.withKeyGuard({ needsSecret: false, shared: true }, async (kg) => {
        const key = await kg.addCredits(String(reference), add);
        const balance = await balanceOf(kg, key);
        const now = Date.now();
        if (ctx.json) {
          const credits = toCreditsWire(key, now, balance);
          return ctx.printJson({
            key_id: key.id,
            added: add,
            ...credits,
            remaining: credits?.remaining ?? 0,
          });
        }
        ctx.printChange(
          [
            `Added ${add} credits to key ${key.prefix} (${key.label})`,
            ...(balance
              ? [`  Credits:     ${describeCredits(balance, key.credits?.refill ?? null)}`]
              : []),
          ].join("\n"),
        );
      });
    });

  cli
    .command("rotate-key <key>", "Issue a new raw key with the same settings; retire the old one")
    .option(
      "--grace <duration>",
      "Keep the old key working this long (e.g. 24h); default: revoke at once",
    )
    .action((reference: string) => {
      const grace = ctx.option("grace");
      const gracePeriodMs = grace === undefined ? undefined : parseDurationOption(grace, "--grace");
      return ctx.withKeyGuard({ needsSecret: true, shared: true }, async (kg) => {
        const now = Date.now();
        const { rawKey, key, previous } = await kg.rotateApiKey(String(reference), {
          gracePeriodMs,
        });
        if (ctx.json) {
          return ctx.printJson({
            key: { ...toApiKeyWire(key, now), raw_key: rawKey },
            previous: toApiKeyWire(previous, now),
          });
        }
        const fate =
          gracePeriodMs === undefined
            ? `The old key ${previous.prefix} is revoked.`
            : `The old key ${previous.prefix} keeps working until ${formatDateTime(previous.expiresAt)} UTC.`;
        ctx.printChange(
          [
            `Rotated key "${key.label}" (${key.organizationName})`,
            "",
            rawKeyLine(ctx, rawKey),
            ...describeKey(key, now),
            "",
            fate,
            shownOnce(ctx),
          ].join("\n"),
        );
      });
    });
};
