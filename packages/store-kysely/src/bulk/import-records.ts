import { KeyGuardError, type Organization } from "@keyguard/core";
import { type ApiKey, MAX_IP_RULES, type StoredIpRule } from "@keyguard/core/internal";
import type { Kysely, Transaction } from "kysely";
import { apiKeyRow } from "../api-key-row.js";
import type { ColumnCodec } from "../column-codec.js";
import { concurrencyColumns } from "../concurrency-columns.js";
import type { DatabaseSchema } from "../database-schema.js";
import { writeLimits } from "../limits-column.js";

/** One usage row as KeyGuard stores it (possibly standing for several requests). */
export interface ImportedUsageRow {
  /** Stable across runs, so importing the same data twice adds it once. */
  readonly id: string;
  readonly keyId: string;
  readonly path: string;
  readonly method: string;
  readonly statusCode: number;
  readonly latencyMs: number;
  readonly ipAddress: string | null;
  readonly timestamp: Date;
  readonly requestCount: number;
  /**
   * Whether these requests were charged to the key's monthly quota (let through, not
   * refused). Default `true`.
   */
  readonly charged?: boolean;
  /**
   * Whether the row has already been summed into a rollup (`usage_rollups`), which then
   * counts it: it must come with that rollup. Default `false`.
   */
  readonly rolledUp?: boolean;
}

/**
 * One `usage_rollups` row: a key's requests in one UTC hour and status class, summed from
 * usage rows of which those older than the usage retention have been deleted. Without it
 * a restored database would have lost that usage from every total and quota.
 */
export interface ImportedUsageRollup {
  readonly keyId: string;
  /** The hour's start (UTC). */
  readonly hour: Date;
  /** 100, 200, 300, 400, 429 (apart from the other 4xx), 500 (`statusClassOf`). */
  readonly statusClass: number;
  readonly requestCount: number;
  /** How many of them were charged to the key's monthly quota. */
  readonly chargedCount: number;
}

/**
 * Credits a rotation lineage spent in one balance period (a `credit_spending` row):
 * without it a restored key would have its spent credits again.
 */
export interface ImportedCreditSpending {
  /** The lineage: the `quotaId` of the keys that spend it. */
  readonly quotaId: string;
  /** The balance period's start (`creditPeriod(...).start`). */
  readonly periodStart: Date;
  readonly spent: number;
}

/** A stored manual IP block, as its row. */
export interface ImportedIpBlock {
  readonly id: string;
  readonly client: string;
  readonly scope: "global" | "path";
  readonly path: string | null;
  readonly reason: string;
  readonly createdAt: Date;
  readonly until: Date;
}

/**
 * What an import brings: organizations (with their windows and concurrency cap), keys
 * (with their hash and its scheme, windows, concurrency cap, allowed addresses and
 * credits), usage, the credits spent per lineage and period, blocks, IP allow / deny
 * rules (canonical CIDRs, as core's `parseCidr` spells them).
 */
export interface ImportRecords {
  readonly organizations: readonly Organization[];
  readonly apiKeys: readonly ApiKey[];
  readonly usage: readonly ImportedUsageRow[];
  readonly usageRollups?: readonly ImportedUsageRollup[];
  readonly creditSpending?: readonly ImportedCreditSpending[];
  readonly ipBlocks?: readonly ImportedIpBlock[];
  readonly ipRules?: readonly StoredIpRule[];
}

/** Of one kind of record: how many were added, and how many were there already (same id). */
export interface ImportTableCount {
  readonly added: number;
  readonly alreadyPresent: number;
}

export interface ImportResult {
  readonly organizations: ImportTableCount;
  readonly apiKeys: ImportTableCount;
  readonly usage: ImportTableCount;
  readonly usageRollups: ImportTableCount;
  readonly creditSpending: ImportTableCount;
  readonly ipBlocks: ImportTableCount;
  readonly ipRules: ImportTableCount;
}

export interface ImportOptions {
  /** Work everything out, then roll back: the counts say what a real run would add. */
  readonly dryRun?: boolean;
}

/** Rows per INSERT: below both databases' bound-parameter limits for these tables. */
const ROWS_PER_STATEMENT = 500;

class DryRunRollback extends Error {
  constructor(readonly result: ImportResult) {
    super("dry run");
  }
}

/**
 * Writes an import in one transaction: all of it or nothing. Records are matched by id
 * (credit spending by lineage and period), so running the same import again adds nothing
 * twice. Refused before anything is written (`invalid_input`, `organization_exists`): an
 * organization whose name another organization already has, a key of an organization that
 * is in neither the import nor the database, a key whose hash another key already has,
 * usage of an unknown key, credit spending of a lineage no key spends, two spending
 * records for one lineage and period, an IP rule whose range another rule already has,
 * more IP rules than a database holds.
 */
export async function importRecords(
  db: Kysely<DatabaseSchema>,
  codec: ColumnCodec,
  records: ImportRecords,
  options: ImportOptions = {},
): Promise<ImportResult> {
  try {
    return await db.transaction().execute(async (trx) => {
      await assertConsistent(trx, records);
      const result: ImportResult = {
        organizations: await insertAll(
          trx,
          "organizations",
          records.organizations.map((org) => ({
            id: org.id,
            name: org.name,
            status: org.status,
            created_at: codec.date(org.createdAt),
            limits: writeLimits(org.limits),
            ...concurrencyColumns(org.concurrency),
          })),
        ),
        apiKeys: await insertAll(
          trx,
          "api_keys",
          records.apiKeys.map((key) => apiKeyRow(key, codec)),
        ),
        usage: await insertAll(
          trx,
          "usage_logs",
          records.usage.map((row) => ({
            id: row.id,
            key_id: row.keyId,
            path: row.path,
            method: row.method,
            status_code: row.statusCode,
            latency_ms: Math.round(row.latencyMs),
            ip_address: row.ipAddress,
            timestamp: codec.date(row.timestamp),
            request_count: row.requestCount,
            charged: codec.boolean(row.charged ?? true),
            rolled_up: codec.boolean(row.rolledUp ?? false),
          })),
        ),
        // Matched by key, hour and status class: a rollup already there is left as it is.
        // The rows the file has rolled up are marked so here too first (they may be here,
        // not rolled up, from an earlier export of the same database), or they would count
        // as rows and again in their rollup.
        usageRollups: await markRolledUp(trx, codec, records.usage).then(() =>
          insertAll(
            trx,
            "usage_rollups",
            (records.usageRollups ?? []).map((row) => ({
              key_id: row.keyId,
              hour: codec.date(row.hour),
              status_class: row.statusClass,
              request_count: row.requestCount,
              charged_count: row.chargedCount,
            })),
            ["key_id", "hour", "status_class"],
          ),
        ),
        // Matched by lineage and period: a second import of the same file adds nothing
        // (spending already there is never added to).
        creditSpending: await insertAll(
          trx,
          "credit_spending",
          (records.creditSpending ?? []).map((row) => ({
            quota_id: row.quotaId,
            period_start: codec.date(row.periodStart),
            spent: row.spent,
          })),
          ["quota_id", "period_start"],
        ),
        ipBlocks: await insertAll(
          trx,
          "ip_blocks",
          (records.ipBlocks ?? []).map((block) => ({
            id: block.id,
            client: block.client,
            scope: block.scope,
            path: block.scope === "path" ? block.path : null,
            reason: block.reason,
            created_at: codec.date(block.createdAt),
            until: codec.date(block.until),
          })),
        ),
        ipRules: await insertAll(
          trx,
          "ip_rules",
          (records.ipRules ?? []).map((rule) => ({
            id: rule.id,
            cidr: rule.cidr,
            action: rule.action,
            reason: rule.reason,
            created_at: codec.date(rule.createdAt),
          })),
        ),
      };
      if (options.dryRun) throw new DryRunRollback(result);
      return result;
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return error.result;
    throw error;
  }
}

type TableName =
  | "organizations"
  | "api_keys"
  | "usage_logs"
  | "usage_rollups"
  | "credit_spending"
  | "ip_blocks"
  | "ip_rules";

/** Inserts `rows`, skipping those whose `key` (the table's primary key) is already there. */
/**
 * Marks the stored rows the import has as rolled up (`rolledUp`) that are not yet: the
 * import's rollups count them. A row this database rolled up itself is left alone (its
 * hour's rollup is then already here, and the import's is not inserted).
 */
async function markRolledUp(
  trx: Transaction<DatabaseSchema>,
  codec: ColumnCodec,
  usage: readonly ImportedUsageRow[],
): Promise<void> {
  const ids = usage.filter((row) => row.rolledUp === true).map((row) => row.id);
  for (let start = 0; start < ids.length; start += ROWS_PER_STATEMENT) {
    await trx
      .updateTable("usage_logs")
      .set({ rolled_up: codec.boolean(true) })
      .where("id", "in", ids.slice(start, start + ROWS_PER_STATEMENT))
      .where("rolled_up", "=", codec.boolean(false))
      .execute();
  }
}

async function insertAll(
  trx: Transaction<DatabaseSchema>,
  table: TableName,
  rows: readonly Record<string, unknown>[],
  key: readonly string[] = ["id"],
): Promise<ImportTableCount> {
  let added = 0;
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(start, start + ROWS_PER_STATEMENT);
    const result = await trx
      .insertInto(table)
      // biome-ignore lint/suspicious/noExplicitAny: rows are built per table above
      .values(chunk as any)
      // biome-ignore lint/suspicious/noExplicitAny: the key columns are the table's
      .onConflict((conflict) => conflict.columns(key as any).doNothing())
      .executeTakeFirst();
    added += Number(result.numInsertedOrUpdatedRows ?? 0);
  }
  return { added, alreadyPresent: rows.length - added };
}

/** The checks that would otherwise surface as a constraint error halfway through. */
async function assertConsistent(
  trx: Transaction<DatabaseSchema>,
  records: ImportRecords,
): Promise<void> {
  const orgIds = new Set(records.organizations.map((org) => org.id));
  const names = new Map<string, string>();
  for (const org of records.organizations) {
    const other = names.get(org.name);
    if (other !== undefined && other !== org.id) {
      throw new KeyGuardError(
        "organization_exists",
        `Two organizations are named "${org.name}" (${other} and ${org.id}); KeyGuard needs unique names: rename one first.`,
      );
    }
    names.set(org.name, org.id);
  }
  for (const chunk of chunks([...names.keys()])) {
    const taken = await trx
      .selectFrom("organizations")
      .select(["id", "name"])
      .where("name", "in", chunk)
      .execute();
    for (const row of taken) {
      if (names.get(row.name) !== row.id) {
        throw new KeyGuardError(
          "organization_exists",
          `An organization named "${row.name}" already exists with another id (${row.id}); rename one of them first.`,
        );
      }
    }
  }
  const missingOrgs = new Set(
    records.apiKeys.map((key) => key.orgId).filter((id) => !orgIds.has(id)),
  );
  for (const chunk of chunks([...missingOrgs])) {
    const found = await trx
      .selectFrom("organizations")
      .select("id")
      .where("id", "in", chunk)
      .execute();
    for (const row of found) missingOrgs.delete(row.id);
  }
  const [missingOrg] = missingOrgs;
  if (missingOrg !== undefined) {
    const key = records.apiKeys.find((k) => k.orgId === missingOrg);
    throw new KeyGuardError(
      "invalid_input",
      `Key ${key?.id} belongs to organization ${missingOrg}, which is neither in the import nor in the database.`,
    );
  }
  const hashes = new Map(records.apiKeys.map((key) => [key.keyHash, key.id]));
  if (hashes.size !== records.apiKeys.length) {
    throw new KeyGuardError("invalid_input", "Two keys in the import have the same hash.");
  }
  for (const chunk of chunks([...hashes.keys()])) {
    const found = await trx
      .selectFrom("api_keys")
      .select(["id", "key_hash"])
      .where("key_hash", "in", chunk)
      .execute();
    for (const row of found) {
      if (hashes.get(row.key_hash) !== row.id) {
        throw new KeyGuardError(
          "invalid_input",
          `Key ${hashes.get(row.key_hash)} has the same hash as key ${row.id}, already in the database.`,
        );
      }
    }
  }
  await assertIpRulesFit(trx, records.ipRules ?? []);
  const keyIds = new Set(records.apiKeys.map((key) => key.id));
  const missingKeys = new Set(
    [...records.usage, ...(records.usageRollups ?? [])]
      .map((row) => row.keyId)
      .filter((id) => !keyIds.has(id)),
  );
  for (const chunk of chunks([...missingKeys])) {
    const found = await trx.selectFrom("api_keys").select("id").where("id", "in", chunk).execute();
    for (const row of found) missingKeys.delete(row.id);
  }
  const [missingKey] = missingKeys;
  if (missingKey !== undefined) {
    throw new KeyGuardError(
      "invalid_input",
      `Usage of key ${missingKey}, which is neither in the import nor in the database.`,
    );
  }
  await assertSpendingHasLineage(trx, records);
}

/**
 * Credit spending: of a lineage some key in the import or the database spends (its
 * `quotaId`), and one record per lineage and period.
 */
async function assertSpendingHasLineage(
  trx: Transaction<DatabaseSchema>,
  records: ImportRecords,
): Promise<void> {
  const spending = records.creditSpending ?? [];
  const seen = new Set<string>();
  for (const row of spending) {
    const period = row.periodStart.toISOString();
    const pair = `${row.quotaId} ${period}`;
    if (seen.has(pair)) {
      throw new KeyGuardError(
        "invalid_input",
        `The import has two records of credits spent by quota ${row.quotaId} in the period from ${period}; keep one.`,
      );
    }
    seen.add(pair);
  }
  const lineages = new Set(records.apiKeys.map((key) => key.quotaId));
  const missing = new Set(spending.map((row) => row.quotaId).filter((id) => !lineages.has(id)));
  for (const chunk of chunks([...missing])) {
    // A key's quota is its `quota_id`, or its own id where that is null.
    const found = await trx
      .selectFrom("api_keys")
      .select(["id", "quota_id"])
      .where((eb) =>
        eb.or([
          eb("quota_id", "in", chunk),
          eb.and([eb("quota_id", "is", null), eb("id", "in", chunk)]),
        ]),
      )
      .execute();
    for (const row of found) missing.delete(row.quota_id ?? row.id);
  }
  const [missingQuota] = missing;
  if (missingQuota !== undefined) {
    throw new KeyGuardError(
      "invalid_input",
      `Credits spent by quota ${missingQuota}, which no key in the import or the database spends.`,
    );
  }
}

/** IP rules: one per range (the unique index's rule), and no more than the service reads. */
async function assertIpRulesFit(
  trx: Transaction<DatabaseSchema>,
  rules: readonly StoredIpRule[],
): Promise<void> {
  const byCidr = new Map<string, string>();
  for (const rule of rules) {
    const other = byCidr.get(rule.cidr);
    if (other !== undefined && other !== rule.id) {
      throw new KeyGuardError(
        "invalid_input",
        `IP rules ${other} and ${rule.id} in the import are both for ${rule.cidr}; keep one.`,
      );
    }
    byCidr.set(rule.cidr, rule.id);
  }
  const present = new Set<string>();
  for (const chunk of chunks([...byCidr.keys()])) {
    const found = await trx
      .selectFrom("ip_rules")
      .select(["id", "cidr"])
      .where("cidr", "in", chunk)
      .execute();
    for (const row of found) {
      if (byCidr.get(row.cidr) !== row.id) {
        throw new KeyGuardError(
          "invalid_input",
          `IP rule ${byCidr.get(row.cidr)} is for ${row.cidr}, which rule ${row.id} in the database already covers: remove one of them first.`,
        );
      }
      present.add(row.id);
    }
  }
  if (rules.length === present.size) return;
  const counted = await trx
    .selectFrom("ip_rules")
    .select((eb) => eb.fn.countAll().as("count"))
    .executeTakeFirstOrThrow();
  const total = Number(counted.count) + rules.length - present.size;
  if (total > MAX_IP_RULES) {
    throw new KeyGuardError(
      "invalid_input",
      `The import would leave ${total.toLocaleString("en-US")} IP rules; a database holds at most ${MAX_IP_RULES.toLocaleString("en-US")}.`,
    );
  }
}

function* chunks<T>(values: readonly T[], size = ROWS_PER_STATEMENT): Generator<T[]> {
  for (let start = 0; start < values.length; start += size) yield values.slice(start, start + size);
}
