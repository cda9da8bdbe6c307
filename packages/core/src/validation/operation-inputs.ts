import { z } from "zod";
import { KeyGuardError } from "../errors/keyguard-error.js";

// Control characters (C0, DEL, C1) have no business in names and labels: they corrupt
// terminal tables and logs. Everything else, including SQL metacharacters and non-Latin
// scripts, is stored literally.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

const displayText = (field: string, max: number) =>
  z
    .string({ error: `${field} must be a string` })
    .trim()
    .min(1, `${field} must not be empty`)
    .max(max, `${field} must be at most ${max} characters`)
    .refine(
      (value) => !CONTROL_CHARACTERS.test(value),
      `${field} must not contain control characters`,
    );

export const organizationNameSchema = displayText("organization name", 200);
export const keyLabelSchema = displayText("label", 200);
export const blockReasonSchema = displayText("reason", 200);

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

export const expiresAtSchema = z.date({ error: "expiresAt must be a valid date" }).nullable();

/**
 * Parses `value` with `schema`, or throws `invalid_input` with the first problem, phrased
 * so a CLI can print it as is.
 */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  throw new KeyGuardError("invalid_input", `${where}${issue?.message ?? "invalid input"}`);
}
