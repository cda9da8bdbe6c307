import { z } from "zod";
import { KeyGuardError } from "../errors/keyguard-error.js";
import {
  CONCURRENCY_POLICY_NAME,
  MAX_CONCURRENCY,
  MAX_LIMITS,
  MAX_WINDOW_SECONDS,
  MIN_CONCURRENCY,
  MIN_WINDOW_SECONDS,
  POLICY_NAME_PATTERN,
  RESERVED_POLICY_NAMES,
} from "../limits/limit-policy.js";

// Control characters (C0, DEL, C1) have no business in names and labels: they corrupt
// terminal tables and logs. Everything else, including SQL metacharacters and non-Latin
// scripts, is stored literally.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Bidirectional embedding, override and isolate controls (U+202A-202E, U+2066-2069): in a
 * label or reason they make a terminal or page show text other than what is stored.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

/**
 * Whether `text` holds a control character (C0, DEL, C1). Such text is no name, label,
 * id or address KeyGuard ever stored, and PostgreSQL text cannot hold NUL at all: look-ups
 * answer "not found" for it without asking the database.
 */
export function hasControlCharacters(text: string): boolean {
  return CONTROL_CHARACTERS.test(text);
}

const displayText = (field: string, max: number, options: { bidi?: boolean } = {}) =>
  z
    .string({ error: `${field} must be a string` })
    .trim()
    .min(1, `${field} must not be empty`)
    .max(max, `${field} must be at most ${max} characters`)
    .refine(
      (value) => !CONTROL_CHARACTERS.test(value),
      `${field} must not contain control characters`,
    )
    .refine(
      (value) => options.bidi !== false || !BIDI_CONTROLS.test(value),
      `${field} must not contain bidirectional control characters (U+202A-202E, U+2066-2069)`,
    );

export const MAX_ORGANIZATION_NAME = 200;
export const organizationNameSchema = displayText("organization name", MAX_ORGANIZATION_NAME);
export const keyLabelSchema = displayText("label", 200, { bidi: false });
export const blockReasonSchema = displayText("reason", 200, { bidi: false });

export const rateLimitSchema = z
  .number({ error: "rateLimitPerMinute must be a number" })
  .int("rateLimitPerMinute must be a whole number")
  .positive("rateLimitPerMinute must be greater than 0")
  .max(1_000_000_000, "rateLimitPerMinute must be at most 1,000,000,000");

export const monthlyLimitSchema = z
  .number({ error: "monthlyLimit must be a number" })
  .int("monthlyLimit must be a whole number")
  .positive("monthlyLimit must be greater than 0 (or null for no quota)")
  .max(Number.MAX_SAFE_INTEGER, "monthlyLimit is too large")
  .nullable();

/**
 * A concurrency cap (`ConcurrencySpec`): requests in flight at once, a whole number from
 * `MIN_CONCURRENCY` to `MAX_CONCURRENCY`; `null` removes it.
 */
export const concurrencySchema = z
  .object(
    {
      limit: z
        .number({ error: "concurrency must be a number" })
        .int("concurrency must be a whole number")
        .min(MIN_CONCURRENCY, `concurrency must be at least ${MIN_CONCURRENCY} (or null for none)`)
        .max(MAX_CONCURRENCY, `concurrency must be at most ${MAX_CONCURRENCY}`),
      mode: z
        .enum(["enforce", "shadow"], { error: "concurrency's mode must be enforce or shadow" })
        .optional(),
    },
    { error: "concurrency must be an object" },
  )
  .strict()
  .nullable();

const limitSpecSchema = z
  .object(
    {
      name: z
        .string({ error: "a limit's name must be a string" })
        .regex(POLICY_NAME_PATTERN, "a limit's name must be 1-32 of a-z 0-9 _ -"),
      limit: z
        .number({ error: "a limit's limit must be a number" })
        .int("a limit's limit must be a whole number")
        .positive("a limit's limit must be greater than 0")
        .max(1_000_000_000, "a limit's limit must be at most 1,000,000,000"),
      windowSeconds: z
        .number({ error: "a limit's window must be a number of seconds" })
        .int("a limit's window must be whole seconds")
        .min(MIN_WINDOW_SECONDS, "a limit's window must be at least 1 second")
        .max(MAX_WINDOW_SECONDS, "a limit's window must be at most 31 days (2678400 seconds)"),
      algorithm: z
        .enum(["sliding-window-log", "sliding-window-counter", "gcra"], {
          error: "a limit's algorithm must be sliding-window-log, sliding-window-counter or gcra",
        })
        .optional(),
      mode: z
        .enum(["enforce", "shadow"], { error: "a limit's mode must be enforce or shadow" })
        .optional(),
    },
    { error: "each limit must be an object" },
  )
  .strict();

/** An organization's named windows: bounded, unique names (answers call them `org.<name>`). */
export const organizationLimitsSchema = z
  .array(limitSpecSchema, { error: "limits must be a list" })
  .max(MAX_LIMITS, `limits must hold at most ${MAX_LIMITS} windows`)
  .refine(
    (limits) => new Set(limits.map((limit) => limit.name)).size === limits.length,
    "limits must have unique names",
  )
  .refine(
    (limits) => limits.every((limit) => limit.name !== CONCURRENCY_POLICY_NAME),
    `limits may not be named ${CONCURRENCY_POLICY_NAME} (that is the concurrency cap's name)`,
  );

/** A key's named windows: as an organization's, and none named `minute`, `month` or `credits`. */
export const limitsSchema = organizationLimitsSchema.refine(
  (limits) => limits.every((limit) => !RESERVED_POLICY_NAMES.includes(limit.name)),
  `limits may not be named ${RESERVED_POLICY_NAMES.join(", ")} (rate_limit_per_minute, monthly_limit, concurrency and credits are those)`,
);

export const scopesSchema = z
  .array(
    z
      .string({ error: "each scope must be a string" })
      .regex(
        /^[A-Za-z0-9_.:*/-]{1,100}$/,
        "each scope must be 1-100 characters of letters, digits and _ . : * / -",
      ),
    { error: "scopes must be a list of strings" },
  )
  .max(100, "a key may have at most 100 scopes")
  .transform((scopes) => [...new Set(scopes)]);

/**
 * The latest time KeyGuard stores: the end of year 9999. Past it an ISO-8601 time needs a
 * six-digit signed year (`+010000-...`), which breaks the fixed-width text SQLite keeps
 * times as (text order is time order), and a little further it is no `Date` at all.
 */
export const LATEST_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const expiresAtSchema = z
  .date({ error: "expiresAt must be a valid date" })
  .max(new Date(LATEST_TIME_MS), "expiresAt must be before the year 10000")
  .nullable();

/** A rotation's grace period: at most 365 days (the admin API's `grace_period_seconds` too). */
export const MAX_GRACE_PERIOD_MS = 365 * 86_400_000;

export const gracePeriodSchema = z
  .number({ error: "gracePeriodMs must be a number" })
  .refine(Number.isFinite, "gracePeriodMs must be a finite number")
  .refine((ms) => ms >= 1, "the grace period must be a positive duration")
  .refine((ms) => ms <= MAX_GRACE_PERIOD_MS, "the grace period must be at most 365 days")
  .transform(Math.round);

/** Longest path a block may name (the request line of most servers is 8-16 KiB in all). */
export const MAX_BLOCK_PATH_LENGTH = 2_048;

/**
 * The path of a path-scoped block: starts with `/`, at most 2,048 characters, and no
 * control characters, typed or percent-encoded (blocks are keyed by the decoded path,
 * which a database must be able to store: PostgreSQL text cannot hold NUL).
 */
export const blockPathSchema = z
  .string({ error: "path must be a string" })
  .max(MAX_BLOCK_PATH_LENGTH, `path must be at most ${MAX_BLOCK_PATH_LENGTH} characters`)
  .refine((path) => path.startsWith("/"), 'path must start with "/"')
  .refine(
    (path) => !CONTROL_CHARACTERS.test(path) && !ENCODED_CONTROL_CHARACTER.test(path),
    "path must not contain control characters (typed or percent-encoded)",
  );

/** A percent-encoded C0 control, DEL, or C1 control (UTF-8 `%C2%80`-`%C2%9F`). */
const ENCODED_CONTROL_CHARACTER = /%(?:[01][0-9a-f]|7f|c2%[89][0-9a-f])/i;

/** Longest IP text accepted: an IPv6 address with a zone (`fe80::1%eth0`) is under 64. */
export const MAX_IP_LENGTH = 100;

/**
 * Parses `value` with `schema`, or throws `invalid_input` with the first problem, phrased
 * so a CLI can print it as is. `field` (core's name for the input, e.g. `expiresAt`) goes
 * into the error's `details.field`, so each door can name it its own way
 * (`messageWithFieldNames`).
 */
export function parseInput<T extends z.ZodType>(
  schema: T,
  value: unknown,
  field?: string,
): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  throw new KeyGuardError("invalid_input", `${where}${issue?.message ?? "invalid input"}`, {
    ...(field === undefined ? {} : { details: { field } }),
  });
}

const creditCount = (field: string, min: 0 | 1) =>
  z
    .number({ error: `${field} must be a number` })
    .int(`${field} must be a whole number`)
    .min(min, min === 0 ? `${field} must be 0 or more` : `${field} must be greater than 0`)
    .max(Number.MAX_SAFE_INTEGER, `${field} must be at most ${Number.MAX_SAFE_INTEGER}`);

/** A key's credits as callers give them: a balance, and maybe a refill. */
export const creditsSchema = z
  .object(
    {
      remaining: creditCount("credits.remaining", 0),
      refill: z
        .object(
          {
            amount: creditCount("credits.refill.amount", 1),
            interval: z.enum(["daily", "monthly"], {
              error: 'credits.refill.interval must be "daily" or "monthly"',
            }),
          },
          { error: "credits.refill must be an object { amount, interval }" },
        )
        .strict()
        .nullable()
        .optional(),
    },
    { error: "credits must be an object { remaining, refill? } or null" },
  )
  .strict()
  .nullable();

/** How many credits a top-up adds. */
export const creditsAmountSchema = creditCount("add", 1);
