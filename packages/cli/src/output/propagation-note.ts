import type { DatabaseTarget } from "@keyguard/core";

/**
 * What the CLI says after a change that running servers cache (a revocation, an update,
 * a rotation, a suspension, a block): how soon they will see it. Redis announces it to
 * servers using Redis; without Redis the database's triggers do (PostgreSQL notifies every
 * listening server at commit; servers on a SQLite file read its change log four times a second).
 * Servers configured with Redis listen only to Redis, so a change made without it reaches
 * them when their caches expire.
 */
export function propagationNote(database: DatabaseTarget, throughRedis: boolean): string {
  if (throughRedis) return "Running servers see this at once (announced through Redis).";
  if (database.dialect === "postgres") {
    return "Running servers see this at once (PostgreSQL notifies them); servers that use Redis only with --redis here.";
  }
  return "Running servers on this database file see this within 1 s.";
}
