import { type ErrorCode, httpStatusFor, isErrorCode } from "./error-codes.js";

/**
 * The one error type KeyGuard throws. `code` is stable and safe to branch on; `message`
 * is written for the person who has to fix the problem; `cause` keeps the original error
 * (a driver error, say) for logs, and is never sent to HTTP clients.
 *
 * @example
 * ```ts
 * try {
 *   await kg.createOrganization("Acme Corp");
 * } catch (error) {
 *   if (error instanceof KeyGuardError && error.code === "organization_exists") {
 *     // pick another name
 *   }
 * }
 * ```
 */
export class KeyGuardError extends Error {
  override readonly name = "KeyGuardError";
  readonly code: ErrorCode;
  /** Extra, non-secret facts for callers (e.g. the candidates of an ambiguous reference). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** The HTTP status this error is answered with. */
  get status(): number {
    return httpStatusFor(this.code);
  }
}

/**
 * An error's message with the input it is about (`details.field`, core's name for it,
 * which starts the message) called what the caller typed: each door names its own fields,
 * so the CLI says `--expires` and the admin API `expires_at` where core says `expiresAt`.
 *
 * @example
 * messageWithFieldNames(error, { expiresAt: "--expires" });
 * // "--expires must be in the future"
 */
export function messageWithFieldNames(
  error: KeyGuardError,
  names: Readonly<Record<string, string>>,
): string {
  const field = error.details?.field;
  if (typeof field !== "string" || !Object.hasOwn(names, field)) return error.message;
  if (!error.message.startsWith(field)) return error.message;
  return `${names[field]}${error.message.slice(field.length)}`;
}

/**
 * True for a KeyGuardError (optionally with the given code). Checks the shape rather than
 * `instanceof`, so an error thrown by the CJS build is recognised by the ESM build too.
 */
export function isKeyGuardError(error: unknown, code?: ErrorCode): error is KeyGuardError {
  if (!(error instanceof Error) || error.name !== "KeyGuardError") return false;
  const actual = (error as { code?: unknown }).code;
  return isErrorCode(actual) && (code === undefined || actual === code);
}
