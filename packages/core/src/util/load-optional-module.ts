import { KeyGuardError } from "../errors/keyguard-error.js";

/**
 * Imports an optional peer dependency (a database driver, a KeyGuard backend package),
 * turning "module not found" into a `driver_missing` error that says what to install.
 * Any other failure (a broken native build, say) is rethrown untouched.
 *
 * @example
 * ```ts
 * const { default: Database } = await loadOptionalModule(
 *   "better-sqlite3",
 *   "The SQLite store",
 *   () => import("better-sqlite3"),
 * );
 * ```
 */
export async function loadOptionalModule<T>(
  packageName: string,
  neededBy: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isModuleNotFound(error, packageName)) {
      throw new KeyGuardError(
        "driver_missing",
        `${neededBy} needs the "${packageName}" package, which is not installed. Install it with: npm install ${packageName}`,
        { cause: error },
      );
    }
    throw error;
  }
}

function isModuleNotFound(error: unknown, packageName: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    error.message.includes(packageName)
  );
}
