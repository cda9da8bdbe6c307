/** Where failures off the request path go when the user gave no `onBackgroundError`. */
export function warnBackgroundError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.emitWarning(`KeyGuard background task failed: ${message}`, {
    code: "KEYGUARD_BACKGROUND_ERROR",
  });
}
