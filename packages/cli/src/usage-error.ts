/**
 * A mistake in how the command was called (unknown command, bad flag value): reported on
 * one line like every error, but with exit code 2 so scripts can tell it from a failure.
 */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
