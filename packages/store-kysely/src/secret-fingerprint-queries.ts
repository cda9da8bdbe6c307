import type { SecretFingerprints } from "@keyguard/core/internal";
import type { Kysely } from "kysely";
import type { ColumnCodec } from "./column-codec.js";
import type { DatabaseSchema } from "./database-schema.js";

/** `Store.readSecretFingerprints`: the current fingerprint and the retired ones, newest first. */
export async function readSecretFingerprints(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
): Promise<SecretFingerprints> {
  const rows = await db
    .selectFrom("secret_fingerprints")
    .selectAll()
    .orderBy("retired_at", "desc")
    .execute();
  const current = rows.find((row) => row.role === "current");
  return {
    ...(current === undefined
      ? {}
      : { current: { fingerprint: current.fingerprint, since: codec.readDate(current.since) } }),
    previous: rows
      .filter((row) => row.role !== "current" && row.retired_at !== null)
      .map((row) => ({
        fingerprint: row.fingerprint,
        retiredAt: codec.readDate(row.retired_at as NonNullable<typeof row.retired_at>),
      }))
      .sort((a, b) => b.retiredAt.getTime() - a.retiredAt.getTime()),
  };
}

/**
 * `Store.adoptSecretFingerprint`: inserts the current row unless there is one. A racing
 * insert of another fingerprint hits the one-current index and is ignored (the other
 * process won); a retired fingerprint is never made current again here.
 */
export async function adoptSecretFingerprint(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  fingerprint: string,
  at: Date,
): Promise<SecretFingerprints> {
  await db
    .insertInto("secret_fingerprints")
    .values({ fingerprint, role: "current", since: codec.date(at), retired_at: null })
    .onConflict((conflict) => conflict.doNothing())
    .execute();
  return readSecretFingerprints(db, codec);
}

/** `Store.rotateSecretFingerprint`: retire `expected` and make `next` current, atomically. */
export function rotateSecretFingerprint(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  expected: string,
  next: string,
  at: Date,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const retired = await trx
      .updateTable("secret_fingerprints")
      .set({ role: "retired", retired_at: codec.date(at) })
      .where("fingerprint", "=", expected)
      .where("role", "=", "current")
      .executeTakeFirst();
    if (Number(retired.numUpdatedRows) !== 1) return false;
    // `next` may be a secret retired before (rotating back): it becomes current again.
    await trx.deleteFrom("secret_fingerprints").where("fingerprint", "=", next).execute();
    await trx
      .insertInto("secret_fingerprints")
      .values({ fingerprint: next, role: "current", since: codec.date(at), retired_at: null })
      .execute();
    return true;
  });
}
