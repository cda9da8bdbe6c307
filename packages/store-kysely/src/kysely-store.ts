import type {
  ApiKey,
  ApiKeyListFilter,
  ApiKeyPatch,
  IpBlock,
  Organization,
  OrganizationListFilter,
  OrganizationStatus,
  Store,
  StoreCounts,
  StoredApiKey,
  UsageBucket,
  UsageEvent,
} from "@keyguard/core";
import { isKeyHashScheme, KeyGuardError, type KeyHashSchemeCount } from "@keyguard/core";
import {
  type CompiledQuery,
  type Insertable,
  type Kysely,
  type Selectable,
  sql,
  type Updateable,
} from "kysely";
import { exportRecords } from "./bulk/export-records.js";
import {
  type ImportOptions,
  type ImportRecords,
  type ImportResult,
  importRecords,
} from "./bulk/import-records.js";
import { type ColumnCodec, codecFor, type SqlDialect } from "./column-codec.js";
import { isUniqueViolation, toStoreError } from "./database-errors.js";
import type {
  ApiKeysTable,
  DatabaseSchema,
  DbInteger,
  OrganizationsTable,
} from "./database-schema.js";
import { hasKeyGuardSchema, migrateToLatest } from "./migrations/migrate.js";
import { timeOrderedId } from "./time-ordered-id.js";

/** Rows per INSERT statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const USAGE_ROWS_PER_STATEMENT = 1_000;

type KeyRow = Selectable<ApiKeysTable> & { organization_name: string; organization_status: string };

/** Construction details supplied by `createKyselyStore`. */
export interface KyselyStoreInternals {
  /** PostgreSQL: the schema `migrate()` creates and the pool's search path points at. */
  readonly schema?: string;
  /** SQLite: a synchronous read on the store's own connection (see `findApiKeyByHash`). */
  readonly readFirstRowSync?: (sql: string, parameters: readonly unknown[]) => unknown;
}

/**
 * The Store port on Kysely. One implementation for SQLite and PostgreSQL: queries are
 * written once and `ColumnCodec` absorbs the type differences.
 */
export class KyselyStore implements Store {
  readonly dialect: SqlDialect;
  readonly db: Kysely<DatabaseSchema>;
  readonly #codec: ColumnCodec;
  readonly #schema: string | undefined;
  readonly #readFirstRowSync: KyselyStoreInternals["readFirstRowSync"];
  #keyByHash: CompiledQuery<KeyRow> | undefined;
  #closed: Promise<void> | undefined;

  constructor(db: Kysely<DatabaseSchema>, dialect: SqlDialect, options: KyselyStoreInternals = {}) {
    this.db = db;
    this.dialect = dialect;
    this.#codec = codecFor(dialect);
    this.#schema = options.schema;
    this.#readFirstRowSync = options.readFirstRowSync;
  }

  migrate(): Promise<void> {
    return this.#run(() => migrateToLatest(this.db as Kysely<unknown>, this.dialect, this.#schema));
  }

  /**
   * Whether KeyGuard's schema was ever created here (by `migrate`), without creating
   * anything: false for an empty SQLite file or a PostgreSQL database or schema without
   * KeyGuard's tables. Tools use it to refuse working on the wrong database.
   *
   * @example
   * if (!(await store.hasSchema())) throw new Error('run "keyguard init" first');
   */
  hasSchema(): Promise<boolean> {
    return this.#run(() =>
      hasKeyGuardSchema(this.db as Kysely<unknown>, this.dialect, this.#schema),
    );
  }

  // ---- organizations ------------------------------------------------------------------

  insertOrganization(organization: Organization): Promise<void> {
    return this.#run(async () => {
      try {
        await this.db
          .insertInto("organizations")
          .values({
            id: organization.id,
            name: organization.name,
            status: organization.status,
            created_at: this.#codec.date(organization.createdAt),
          })
          .execute();
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new KeyGuardError(
            "organization_exists",
            `An organization named "${organization.name}" already exists.`,
            { cause: error },
          );
        }
        throw error;
      }
    });
  }

  listOrganizations(filter: OrganizationListFilter = {}): Promise<Organization[]> {
    return this.#run(async () => {
      let query = this.db
        .selectFrom("organizations")
        .selectAll()
        .orderBy("created_at")
        .orderBy("name");
      if (filter.status !== undefined) query = query.where("status", "=", filter.status);
      if (filter.afterId !== undefined) {
        const after = await this.db
          .selectFrom("organizations")
          .select(["created_at", "name"])
          .where("id", "=", filter.afterId)
          .executeTakeFirst();
        if (after === undefined) throw unknownAfterId("organization");
        query = query.where((eb) =>
          eb.or([
            eb("created_at", ">", after.created_at),
            eb.and([eb("created_at", "=", after.created_at), eb("name", ">", after.name)]),
          ]),
        );
      }
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      const rows = await query.execute();
      return rows.map((row) => this.#toOrganization(row));
    });
  }

  findOrganizationById(id: string): Promise<Organization | undefined> {
    return this.#findOrganization("id", id);
  }

  findOrganizationByName(name: string): Promise<Organization | undefined> {
    return this.#findOrganization("name", name);
  }

  #findOrganization(column: "id" | "name", value: string): Promise<Organization | undefined> {
    return this.#run(async () => {
      const row = await this.db
        .selectFrom("organizations")
        .selectAll()
        .where(column, "=", value)
        .executeTakeFirst();
      return row && this.#toOrganization(row);
    });
  }

  updateOrganizationStatus(
    id: string,
    status: OrganizationStatus,
  ): Promise<Organization | undefined> {
    return this.#run(async () => {
      await this.db.updateTable("organizations").set({ status }).where("id", "=", id).execute();
      return this.findOrganizationById(id);
    });
  }

  // ---- keys ---------------------------------------------------------------------------

  insertApiKey(key: ApiKey): Promise<void> {
    return this.#run(async () => {
      await this.db.insertInto("api_keys").values(this.#keyRow(key)).execute();
    });
  }

  replaceApiKey(
    replacement: ApiKey,
    previousId: string,
    previousPatch: ApiKeyPatch,
  ): Promise<void> {
    return this.#run(() =>
      this.db.transaction().execute(async (trx) => {
        await trx.insertInto("api_keys").values(this.#keyRow(replacement)).execute();
        const values = this.#patchValues(previousPatch);
        if (Object.keys(values).length > 0) {
          await trx.updateTable("api_keys").set(values).where("id", "=", previousId).execute();
        }
      }),
    );
  }

  #keyRow(key: ApiKey): Insertable<ApiKeysTable> {
    const codec = this.#codec;
    return {
      id: key.id,
      org_id: key.orgId,
      label: key.label,
      prefix: key.prefix,
      key_hash: key.keyHash,
      key_hash_scheme: key.hashScheme ?? "hmac-sha256",
      is_active: codec.boolean(key.isActive),
      scopes: codec.json(key.scopes),
      rate_limit_per_minute: key.rateLimitPerMinute,
      monthly_limit: key.monthlyLimit,
      created_at: codec.date(key.createdAt),
      expires_at: key.expiresAt && codec.date(key.expiresAt),
      last_used_at: key.lastUsedAt && codec.date(key.lastUsedAt),
    };
  }

  /**
   * The cold-verification query (every cache miss runs it): compiled by Kysely once, then
   * only its parameter changes. On SQLite it runs synchronously on the connection, which
   * makes it several times cheaper than a trip through Kysely's executor (see
   * docs/benchmarks.md); a read needs none of the executor's serialisation.
   */
  findApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined> {
    this.#keyByHash ??= this.#keys().where("api_keys.key_hash", "=", "").compile();
    const query = this.#keyByHash;
    if (this.#readFirstRowSync !== undefined) {
      try {
        const row = this.#readFirstRowSync(query.sql, [keyHash]) as KeyRow | undefined;
        return Promise.resolve(row && this.#toKey(row));
      } catch (error) {
        return Promise.reject(toStoreError(error, this.dialect));
      }
    }
    return this.#run(async () => {
      const { rows } = await this.db.executeQuery<KeyRow>({ ...query, parameters: [keyHash] });
      return rows[0] && this.#toKey(rows[0]);
    });
  }

  findApiKeyById(id: string): Promise<StoredApiKey | undefined> {
    return this.#run(async () => {
      const row = await this.#keys().where("api_keys.id", "=", id).executeTakeFirst();
      return row && this.#toKey(row);
    });
  }

  findApiKeysByPrefix(prefix: string, limit: number): Promise<StoredApiKey[]> {
    return this.#run(async () => {
      // Compare a substring instead of LIKE: no wildcard escaping, and `_` (which every
      // prefix contains) stays a literal underscore.
      const rows = await this.#keys()
        .where((eb) =>
          eb(eb.fn("substr", ["api_keys.prefix", eb.val(1), eb.val(prefix.length)]), "=", prefix),
        )
        .orderBy("api_keys.created_at")
        .limit(limit)
        .execute();
      return rows.map((row) => this.#toKey(row));
    });
  }

  listApiKeys(filter: ApiKeyListFilter = {}): Promise<StoredApiKey[]> {
    return this.#run(async () => {
      const codec = this.#codec;
      let query = this.#keys().orderBy("api_keys.created_at").orderBy("api_keys.id");
      if (filter.orgId !== undefined) query = query.where("api_keys.org_id", "=", filter.orgId);
      if (filter.status !== undefined) {
        const now = codec.date(filter.now ?? new Date());
        // The same states as the admin API's `status` (see ApiKeyStatus).
        query =
          filter.status === "revoked"
            ? query.where("api_keys.is_active", "=", codec.boolean(false))
            : query
                .where("api_keys.is_active", "=", codec.boolean(true))
                .where((eb) =>
                  filter.status === "expired"
                    ? eb.and([
                        eb("api_keys.expires_at", "is not", null),
                        eb("api_keys.expires_at", "<=", now),
                      ])
                    : eb.or([
                        eb("api_keys.expires_at", "is", null),
                        eb("api_keys.expires_at", ">", now),
                      ]),
                );
      }
      if (filter.afterId !== undefined) {
        const afterId = filter.afterId;
        const after = await this.db
          .selectFrom("api_keys")
          .select("created_at")
          .where("id", "=", afterId)
          .executeTakeFirst();
        if (after === undefined) throw unknownAfterId("key");
        query = query.where((eb) =>
          eb.or([
            eb("api_keys.created_at", ">", after.created_at),
            eb.and([
              eb("api_keys.created_at", "=", after.created_at),
              eb("api_keys.id", ">", afterId),
            ]),
          ]),
        );
      }
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      const rows = await query.execute();
      return rows.map((row) => this.#toKey(row));
    });
  }

  updateApiKey(id: string, patch: ApiKeyPatch): Promise<StoredApiKey | undefined> {
    return this.#run(async () => {
      const values = this.#patchValues(patch);
      if (Object.keys(values).length > 0) {
        await this.db.updateTable("api_keys").set(values).where("id", "=", id).execute();
      }
      return this.findApiKeyById(id);
    });
  }

  #patchValues(patch: ApiKeyPatch): Updateable<ApiKeysTable> {
    const codec = this.#codec;
    const values: Updateable<ApiKeysTable> = {};
    if (patch.label !== undefined) values.label = patch.label;
    if (patch.isActive !== undefined) values.is_active = codec.boolean(patch.isActive);
    if (patch.scopes !== undefined) values.scopes = codec.json(patch.scopes);
    if (patch.rateLimitPerMinute !== undefined) {
      values.rate_limit_per_minute = patch.rateLimitPerMinute;
    }
    if (patch.monthlyLimit !== undefined) values.monthly_limit = patch.monthlyLimit;
    if (patch.expiresAt !== undefined) {
      values.expires_at = patch.expiresAt && codec.date(patch.expiresAt);
    }
    return values;
  }

  // ---- imported keys ------------------------------------------------------------------

  countKeysByHashScheme(): Promise<readonly KeyHashSchemeCount[]> {
    return this.#run(async () => {
      const codec = this.#codec;
      const rows = await this.db
        .selectFrom("api_keys")
        .select((eb) => [
          "key_hash_scheme",
          eb.fn.countAll<DbInteger>().as("keys"),
          eb.fn
            .sum<DbInteger>(
              eb.case().when("is_active", "=", codec.boolean(true)).then(1).else(0).end(),
            )
            .as("unrevoked"),
        ])
        .groupBy("key_hash_scheme")
        .execute();
      return rows
        .filter((row) => isKeyHashScheme(row.key_hash_scheme))
        .map((row) => ({
          scheme: row.key_hash_scheme as KeyHashSchemeCount["scheme"],
          keys: codec.readInteger(row.keys),
          unrevokedKeys: codec.readInteger(row.unrevoked ?? 0),
        }));
    });
  }

  findApiKeysByHashes(keyHashes: readonly string[]): Promise<StoredApiKey[]> {
    if (keyHashes.length === 0) return Promise.resolve([]);
    return this.#run(async () => {
      const rows = await this.#keys()
        .where("api_keys.key_hash", "in", [...keyHashes])
        .execute();
      return rows.map((row) => this.#toKey(row));
    });
  }

  upgradeKeyHash(id: string, fromHash: string, toHash: string): Promise<StoredApiKey | undefined> {
    return this.#run(async () => {
      const result = await this.db
        .updateTable("api_keys")
        .set({ key_hash: toHash, key_hash_scheme: "imported-hmac-sha256" })
        .where("id", "=", id)
        .where("key_hash", "=", fromHash)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      return this.findApiKeyById(id);
    });
  }

  /**
   * Adds organizations, keys (hashes as given, with their scheme) and usage rows in one
   * transaction, skipping records whose id is already stored: `keyguard import-python`
   * and `keyguard import`. See `importRecords` for what is refused.
   */
  importRecords(records: ImportRecords, options: ImportOptions = {}): Promise<ImportResult> {
    return this.#run(() => importRecords(this.db, this.#codec, records, options));
  }

  /** Every organization, key (with hash and scheme), usage row and stored block: `keyguard export`. */
  exportRecords(): Promise<Required<ImportRecords>> {
    return this.#run(() => exportRecords(this.db, this.#codec));
  }

  // ---- usage --------------------------------------------------------------------------

  insertUsageEvents(events: readonly UsageEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return this.#run(() =>
      this.db.transaction().execute(async (trx) => {
        const latestUse = new Map<string, Date>();
        for (let start = 0; start < events.length; start += USAGE_ROWS_PER_STATEMENT) {
          const chunk = events.slice(start, start + USAGE_ROWS_PER_STATEMENT);
          await trx
            .insertInto("usage_logs")
            .values(
              chunk.map((event) => {
                const seen = latestUse.get(event.keyId);
                if (seen === undefined || seen < event.timestamp) {
                  latestUse.set(event.keyId, event.timestamp);
                }
                return {
                  id: timeOrderedId(event.timestamp.getTime()),
                  key_id: event.keyId,
                  path: event.path,
                  method: event.method,
                  status_code: event.statusCode,
                  latency_ms: Math.round(event.latencyMs),
                  ip_address: event.ipAddress,
                  timestamp: this.#codec.date(event.timestamp),
                  request_count: event.requestCount ?? 1,
                };
              }),
            )
            .execute();
        }
        for (const [keyId, usedAt] of latestUse) {
          const value = this.#codec.date(usedAt);
          await trx
            .updateTable("api_keys")
            .set({ last_used_at: value })
            .where("id", "=", keyId)
            .where((eb) => eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<", value)]))
            .execute();
        }
      }),
    );
  }

  countAllowedRequests(keyId: string, since: Date): Promise<number> {
    return this.#run(async () => {
      const row = await this.db
        .selectFrom("usage_logs")
        .select((eb) => eb.fn.sum<DbInteger>("request_count").as("n"))
        .where("key_id", "=", keyId)
        .where("timestamp", ">=", this.#codec.date(since))
        .where("status_code", "<>", 429)
        .executeTakeFirst();
      return this.#codec.readInteger(row?.n ?? 0);
    });
  }

  usageByHour(keyId: string, since: Date): Promise<UsageBucket[]> {
    return this.#run(async () => {
      // The hour as "YYYY-MM-DDTHH" text in UTC on both databases. Literals, not
      // parameters, so the SELECT and GROUP BY expressions are identical for PostgreSQL.
      const hour =
        this.dialect === "sqlite"
          ? sql<string>`substr(${sql.ref("timestamp")}, 1, 13)`
          : sql<string>`to_char(${sql.ref("timestamp")} at time zone 'UTC', ${sql.lit('YYYY-MM-DD"T"HH24')})`;
      const inClass = (low: number) =>
        sql<DbInteger>`sum(case when ${sql.ref("status_code")} >= ${sql.lit(low)} and ${sql.ref("status_code")} < ${sql.lit(low + 100)} then ${sql.ref("request_count")} else 0 end)`;
      const rows = await this.db
        .selectFrom("usage_logs")
        .select((eb) => [
          hour.as("hour"),
          eb.fn.sum<DbInteger>("request_count").as("total"),
          inClass(200).as("status2xx"),
          inClass(300).as("status3xx"),
          inClass(400).as("status4xx"),
          inClass(500).as("status5xx"),
        ])
        .where("key_id", "=", keyId)
        .where("timestamp", ">=", this.#codec.date(since))
        .groupBy(hour)
        .orderBy(hour)
        .execute();
      const count = (value: DbInteger | null) => this.#codec.readInteger(value ?? 0);
      return rows.map((row) => ({
        hour: new Date(`${row.hour}:00:00.000Z`),
        total: count(row.total),
        status2xx: count(row.status2xx),
        status3xx: count(row.status3xx),
        status4xx: count(row.status4xx),
        status5xx: count(row.status5xx),
      }));
    });
  }

  insertIpBlock(block: IpBlock): Promise<void> {
    return this.#run(async () => {
      await this.db
        .insertInto("ip_blocks")
        .values({
          id: crypto.randomUUID(),
          client: block.client,
          scope: block.scope,
          path: block.scope === "path" ? (block.path ?? null) : null,
          reason: block.reason,
          created_at: this.#codec.date(new Date()),
          until: this.#codec.date(new Date(block.untilMs)),
        })
        .execute();
    });
  }

  deleteIpBlocks(client: string): Promise<number> {
    return this.#run(async () => {
      const result = await this.db
        .deleteFrom("ip_blocks")
        .where("client", "=", client)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  listIpBlocks(now: Date): Promise<IpBlock[]> {
    return this.#run(async () => {
      const rows = await this.db
        .selectFrom("ip_blocks")
        .selectAll()
        .where("until", ">", this.#codec.date(now))
        .orderBy("until")
        .orderBy("client")
        .execute();
      return rows.map((row) => ({
        client: row.client,
        scope: row.scope === "path" ? "path" : "global",
        ...(row.path === null ? {} : { path: row.path }),
        untilMs: this.#codec.readDate(row.until).getTime(),
        reason: row.reason,
      }));
    });
  }

  countStats(since: Date, now: Date): Promise<StoreCounts> {
    return this.#run(async () => {
      const codec = this.#codec;
      const row = await this.db
        .selectNoFrom((eb) => [
          eb.selectFrom("organizations").select(eb.fn.countAll().as("n")).as("organizations"),
          eb.selectFrom("api_keys").select(eb.fn.countAll().as("n")).as("total_keys"),
          eb
            .selectFrom("api_keys")
            .select(eb.fn.countAll().as("n"))
            .where("is_active", "=", codec.boolean(true))
            .where((w) =>
              w.or([w("expires_at", "is", null), w("expires_at", ">", codec.date(now))]),
            )
            .as("active_keys"),
          // A usage row stands for request_count requests.
          eb
            .selectFrom("usage_logs")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .as("total_requests"),
          eb
            .selectFrom("usage_logs")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .where("timestamp", ">=", codec.date(since))
            .as("requests_since"),
          eb
            .selectFrom("usage_logs")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .where("status_code", ">=", 400)
            .as("error_requests"),
        ])
        .executeTakeFirstOrThrow();
      const count = (value: unknown) => codec.readInteger((value ?? 0) as number);
      return {
        organizations: count(row.organizations),
        totalKeys: count(row.total_keys),
        activeKeys: count(row.active_keys),
        totalRequests: count(row.total_requests),
        requestsSince: count(row.requests_since),
        errorRequests: count(row.error_requests),
      };
    });
  }

  close(): Promise<void> {
    this.#closed ??= this.db.destroy();
    return this.#closed;
  }

  // ---- helpers ------------------------------------------------------------------------

  /** Runs a store operation, translating driver failures into KeyGuard errors. */
  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw toStoreError(error, this.dialect);
    }
  }

  #keys() {
    return this.db
      .selectFrom("api_keys")
      .innerJoin("organizations", "organizations.id", "api_keys.org_id")
      .selectAll("api_keys")
      .select([
        "organizations.name as organization_name",
        "organizations.status as organization_status",
      ]);
  }

  #toOrganization(row: Selectable<OrganizationsTable>): Organization {
    return {
      id: row.id,
      name: row.name,
      status: row.status as OrganizationStatus,
      createdAt: this.#codec.readDate(row.created_at),
    };
  }

  #toKey(row: KeyRow): StoredApiKey {
    const codec = this.#codec;
    return {
      id: row.id,
      orgId: row.org_id,
      label: row.label,
      prefix: row.prefix,
      keyHash: row.key_hash,
      hashScheme: isKeyHashScheme(row.key_hash_scheme) ? row.key_hash_scheme : "hmac-sha256",
      isActive: codec.readBoolean(row.is_active),
      scopes: codec.readJson(row.scopes) as string[],
      rateLimitPerMinute: row.rate_limit_per_minute,
      monthlyLimit: row.monthly_limit === null ? null : codec.readInteger(row.monthly_limit),
      createdAt: codec.readDate(row.created_at),
      expiresAt: row.expires_at === null ? null : codec.readDate(row.expires_at),
      lastUsedAt: row.last_used_at === null ? null : codec.readDate(row.last_used_at),
      organizationName: row.organization_name,
      organizationStatus: row.organization_status as OrganizationStatus,
    };
  }
}

/** A page asked to continue after an item that is not there (deleted, or never listed). */
function unknownAfterId(what: "key" | "organization"): KeyGuardError {
  // The id is not repeated: it may come from a client (an admin API cursor) and be anything.
  return new KeyGuardError(
    "invalid_input",
    `The listing cannot continue after that ${what}: there is no such ${what}.`,
  );
}
