import {
  type ChangeFeed,
  type ConcurrencySpec,
  type IpBlock,
  KeyGuardError,
  type KeyGuardEvent,
  type LimitSpec,
  type Organization,
  type OrganizationKeyCounts,
  type OrganizationListFilter,
  type OrganizationStatus,
  type Store,
  type StoreCounts,
  type UsageBucket,
  type UsageEvent,
} from "@keyguard/core";
import {
  type ApiKey,
  type ApiKeyChange,
  type ApiKeyListFilter,
  type ApiKeyPatch,
  type ApiKeyRotation,
  type ApiKeyRotationOutcome,
  type AuditEventFilter,
  type EventRecord,
  type IpBlockFilter,
  isCharged,
  isKeyHashScheme,
  type KeyHashSchemeCount,
  type OrganizationChange,
  type OrganizationStatusChange,
  type RotatedKeys,
  type SecretFingerprints,
  type StoredApiKey,
  type StoredIpRule,
  type StoredUsageOverview,
  timeOrderedId,
  topUpCredits,
  type UsageMaintenanceResult,
  type UsageMaintenanceStep,
  webhookEventOf,
} from "@keyguard/core/internal";
import {
  type CompiledQuery,
  type Kysely,
  type RawBuilder,
  type Selectable,
  sql,
  type Transaction,
  type Updateable,
} from "kysely";
import { apiKeyFromRow, apiKeyRow, creditColumns } from "./api-key-row.js";
import {
  appendAuditEvent,
  deleteAuditEventsBefore,
  insertAuditEvent,
  listAuditEvents,
} from "./audit/audit-queries.js";
import { exportRecords } from "./bulk/export-records.js";
import {
  type ImportOptions,
  type ImportRecords,
  type ImportResult,
  importRecords,
} from "./bulk/import-records.js";
import { type ColumnCodec, codecFor, type SqlDialect } from "./column-codec.js";
import { concurrencyColumns, readConcurrency } from "./concurrency-columns.js";
import { isUniqueViolation, toStoreError } from "./database-errors.js";
import type {
  ApiKeysTable,
  DatabaseSchema,
  DbBoolean,
  DbInteger,
  IpBlocksTable,
  OrganizationsTable,
} from "./database-schema.js";
import type { WriteTransactionSync } from "./dialects/open-sqlite.js";
import { deleteIpRuleSteps, insertIpRuleSteps, listIpRules } from "./ip-rule-queries.js";
import { readLimits, writeLimits } from "./limits-column.js";
import { hasKeyGuardSchema, migrateToLatest } from "./migrations/migrate.js";
import { organizationFromRow } from "./organization-row.js";
import {
  adoptSecretFingerprint,
  readSecretFingerprints,
  rotateSecretFingerprint,
} from "./secret-fingerprint-queries.js";
import { all, driveAsync, driveSync, first, run, type Steps } from "./transaction-steps.js";
import { readUsageOverview } from "./usage-overview-query.js";
import { compareText, hourOf, sumForRollup } from "./usage-rollup.js";
import { KyselyWebhookStore } from "./webhooks/kysely-webhook-store.js";

/** Rows per INSERT statement: well under SQLite's and PostgreSQL's bound-parameter limits. */
const USAGE_ROWS_PER_STATEMENT = 1_000;

type KeyRow = Selectable<ApiKeysTable> & {
  organization_name: string;
  organization_status: string;
  organization_limits: string | null;
  organization_concurrency: number | null;
  organization_concurrency_mode: string | null;
};

/** Construction details supplied by `createKyselyStore`. */
export interface KyselyStoreInternals {
  /** PostgreSQL: the schema `migrate()` creates and the pool's search path points at. */
  readonly schema?: string;
  /** SQLite: a synchronous read on the store's own connection (see `findApiKeyByHash`). */
  readonly readFirstRowSync?: (sql: string, parameters: readonly unknown[]) => unknown;
  /** Opens a connection pool for `migrate()` alone, without the store's query bounds. */
  readonly openMigrationDb?: () => Promise<Kysely<DatabaseSchema>>;
  /** SQLite: a synchronous write transaction (see `rotateApiKey`). */
  readonly writeTransactionSync?: WriteTransactionSync;
  /** Opens the database's own change feed (see `openChangeFeed`); none for `:memory:`. */
  readonly openChangeFeed?: (onError: (error: unknown) => void) => Promise<ChangeFeed>;
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
  readonly #openMigrationDb: KyselyStoreInternals["openMigrationDb"];
  /**
   * Boolean literals (not parameters) for `rolled_up` and `charged`: the partial index on
   * rows still to roll up is only used when the query states its condition literally.
   */
  readonly #yes: RawBuilder<DbBoolean>;
  readonly #no: RawBuilder<DbBoolean>;
  readonly #writeTransactionSync: KyselyStoreInternals["writeTransactionSync"];
  readonly #openChangeFeed: KyselyStoreInternals["openChangeFeed"];
  #keyByHash: CompiledQuery<KeyRow> | undefined;
  /** Webhook endpoints and the delivery outbox (`webhooks/kysely-webhook-store.ts`). */
  readonly webhooks: KyselyWebhookStore;
  #closed: Promise<void> | undefined;

  constructor(db: Kysely<DatabaseSchema>, dialect: SqlDialect, options: KyselyStoreInternals = {}) {
    this.db = db;
    this.dialect = dialect;
    this.#codec = codecFor(dialect);
    this.#schema = options.schema;
    this.#readFirstRowSync = options.readFirstRowSync;
    this.#openMigrationDb = options.openMigrationDb;
    this.#yes = sql.lit(dialect === "postgres" ? true : 1);
    this.#no = sql.lit(dialect === "postgres" ? false : 0);
    this.#writeTransactionSync = options.writeTransactionSync;
    this.webhooks = new KyselyWebhookStore({
      db,
      codec: this.#codec,
      transact: (steps) => this.#run(() => this.#transact(steps)),
      run: (operation) => this.#run(operation),
      postgres: dialect === "postgres",
      audit: (event) => this.#audit(event),
    });
    this.#openChangeFeed = options.openChangeFeed;
  }

  /**
   * A change feed over the database itself, for processes that share it without Redis:
   * PostgreSQL LISTEN/NOTIFY (notices at commit), or on SQLite the change log every
   * process polls four times a second. The database's triggers (migration 0014) announce every
   * change, whoever makes it. `undefined` for an in-memory SQLite database (one process).
   * `createKeyGuard` opens it when no Redis is configured; close it before the store.
   *
   * @example
   * const feed = await store.openChangeFeed({ onError: console.error });
   * const kg = new KeyGuard({ config, store, changeFeed: feed });
   */
  async openChangeFeed(options: {
    onError: (error: unknown) => void;
  }): Promise<ChangeFeed | undefined> {
    return this.#openChangeFeed?.(options.onError);
  }

  migrate(): Promise<void> {
    return this.#run(async () => {
      const db = (await this.#openMigrationDb?.()) ?? this.db;
      try {
        await migrateToLatest(db as Kysely<unknown>, this.dialect, this.#schema);
      } finally {
        if (db !== this.db) await db.destroy();
      }
    });
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

  insertOrganization(
    organization: Organization,
    record?: EventRecord<Organization>,
  ): Promise<void> {
    const db = this.db;
    const codec = this.#codec;
    const audit = this.#audit.bind(this);
    return this.#run(async () => {
      try {
        await this.#transact(function* () {
          yield run(
            db
              .insertInto("organizations")
              .values({
                id: organization.id,
                name: organization.name,
                status: organization.status,
                created_at: codec.date(organization.createdAt),
              })
              .compile(),
          );
          yield* audit(record?.(organization));
        });
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

  /**
   * A compare-and-set on the status: the row count says whether this call changed it, so
   * of two suspensions at once only one is announced.
   */
  updateOrganizationStatus(
    id: string,
    status: OrganizationStatus,
    record?: EventRecord<Organization>,
  ): Promise<OrganizationStatusChange | undefined> {
    const db = this.db;
    const toOrganization = (row: Selectable<OrganizationsTable>) => this.#toOrganization(row);
    const audit = this.#audit.bind(this);
    return this.#run(() =>
      this.#transact(function* () {
        const changed = yield run(
          db
            .updateTable("organizations")
            .set({ status })
            .where("id", "=", id)
            .where("status", "<>", status)
            .compile(),
        );
        const row = (yield first(
          db.selectFrom("organizations").selectAll().where("id", "=", id).compile(),
        )) as Selectable<OrganizationsTable> | undefined;
        if (row === undefined) return undefined;
        const organization = toOrganization(row);
        if (changed === 1) yield* audit(record?.(organization));
        return { organization, changed: changed === 1 };
      }),
    );
  }

  updateOrganizationLimits(
    id: string,
    limits: readonly LimitSpec[],
    record?: EventRecord<OrganizationChange>,
  ): Promise<Organization | undefined> {
    return this.#updateOrganizationColumns(id, { limits: writeLimits(limits) }, record);
  }

  updateOrganizationConcurrency(
    id: string,
    concurrency: ConcurrencySpec | null,
    record?: EventRecord<OrganizationChange>,
  ): Promise<Organization | undefined> {
    return this.#updateOrganizationColumns(id, concurrencyColumns(concurrency), record);
  }

  /** The row as it was (PostgreSQL: `FOR UPDATE`), the update, the row as it is, the event. */
  #updateOrganizationColumns(
    id: string,
    values: Updateable<OrganizationsTable>,
    record?: EventRecord<OrganizationChange>,
  ): Promise<Organization | undefined> {
    const db = this.db;
    const postgres = this.dialect === "postgres";
    const toOrganization = (row: Selectable<OrganizationsTable>) => this.#toOrganization(row);
    const audit = this.#audit.bind(this);
    return this.#run(() =>
      this.#transact(function* () {
        const byId = db.selectFrom("organizations").selectAll().where("id", "=", id);
        const before = (yield first((postgres ? byId.forUpdate() : byId).compile())) as
          | Selectable<OrganizationsTable>
          | undefined;
        if (before === undefined) return undefined;
        yield run(db.updateTable("organizations").set(values).where("id", "=", id).compile());
        const after = toOrganization(
          (yield first(byId.compile())) as Selectable<OrganizationsTable>,
        );
        yield* audit(record?.({ before: toOrganization(before), after }));
        return after;
      }),
    );
  }

  // ---- keys ---------------------------------------------------------------------------

  insertApiKey(key: ApiKey, record?: EventRecord<ApiKey>): Promise<void> {
    const row = apiKeyRow(key, this.#codec);
    const db = this.db;
    const audit = this.#audit.bind(this);
    return this.#run(() =>
      this.#transact(function* () {
        yield run(db.insertInto("api_keys").values(row).compile());
        yield* audit(record?.(key));
      }),
    );
  }

  /**
   * A rotation decided by the database, in one transaction. Its first statement claims the
   * predecessor with a conditional UPDATE (active, not rotated, unexpired): on PostgreSQL it
   * takes the row lock, and a concurrent claim waits for it, then re-checks its WHERE
   * against the committed row and updates nothing; on SQLite the transaction holds the
   * write lock from its start (another process waits on the busy timeout). Only the
   * claimant goes on: it reads the predecessor as now locked (so a change committed just
   * before is copied), inserts the successor with its settings and quota, and revokes the
   * predecessor or shortens its life to the grace period.
   */
  rotateApiKey(
    rotation: ApiKeyRotation,
    record?: EventRecord<ApiKeyRotationOutcome>,
  ): Promise<RotatedKeys | undefined> {
    return this.#run(() => this.#transact(() => this.#rotationSteps(rotation, record)));
  }

  /**
   * Runs a decision's steps as one write transaction. SQLite: synchronously (see
   * WriteTransactionSync), holding Kysely's connection so none of this store's own Kysely
   * transactions is open on it meanwhile. PostgreSQL: a Kysely transaction.
   */
  #transact<T>(steps: () => Steps<T>): Promise<T> {
    const transactionSync = this.#writeTransactionSync;
    if (transactionSync !== undefined) {
      return this.db.connection().execute(async () =>
        transactionSync((statements) =>
          driveSync(steps(), (step) => {
            const { sql: text, parameters } = step.query;
            if (step.kind === "run") return statements.run(text, parameters);
            if (step.kind === "first") return statements.first(text, parameters);
            return statements.all(text, parameters);
          }),
        ),
      );
    }
    return this.db.transaction().execute((trx) =>
      driveAsync(steps(), async (step) => {
        const result = await trx.executeQuery(step.query);
        if (step.kind === "run") return Number(result.numAffectedRows ?? 0);
        return step.kind === "first" ? result.rows[0] : result.rows;
      }),
    );
  }

  /** The step writing a change's event, if it has one (see `EventRecord`). */
  *#audit(event: KeyGuardEvent | undefined): Steps<void> {
    if (event === undefined) return;
    yield run(insertAuditEvent(this.db, this.#codec, event));
    // The webhook outbox: a delivery per subscribed endpoint, in the change's transaction,
    // so a change is delivered exactly when it is committed (no stream to read behind it).
    yield* this.webhooks.enqueueSteps([webhookEventOf(event)]);
  }

  /**
   * The statements of a rotation, written once for both drivers: each step yields a
   * compiled query and receives its result (rows changed, or the first row read).
   */
  *#rotationSteps(
    rotation: ApiKeyRotation,
    record?: EventRecord<ApiKeyRotationOutcome>,
  ): Steps<RotatedKeys | undefined> {
    const codec = this.#codec;
    const { previousId, successor } = rotation;
    const now = codec.date(rotation.now);
    const claimed = yield run(
      this.db
        .updateTable("api_keys")
        .set({ replaced_by: successor.id })
        .where("id", "=", previousId)
        .where("is_active", "=", codec.boolean(true))
        .where("replaced_by", "is", null)
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
        .compile(),
    );
    if (claimed !== 1) return undefined;
    const byId = (id: string) => first(this.#keys().where("api_keys.id", "=", id).compile());
    const row = (yield byId(previousId)) as KeyRow | undefined;
    if (row === undefined) return undefined; // cannot be: the claim just wrote it
    const stored = this.#toKey(row);
    const next: ApiKey = {
      ...stored,
      id: successor.id,
      prefix: successor.prefix,
      keyHash: successor.keyHash,
      isActive: true,
      createdAt: successor.createdAt,
      lastUsedAt: null,
      replacedBy: null,
    };
    yield run(this.db.insertInto("api_keys").values(apiKeyRow(next, this.#codec)).compile());
    const graceEnd = rotation.graceEnd;
    const retire: Updateable<ApiKeysTable> =
      graceEnd === undefined
        ? { is_active: codec.boolean(false) }
        : {
            expires_at: codec.date(
              stored.expiresAt !== null && stored.expiresAt < graceEnd
                ? stored.expiresAt
                : graceEnd,
            ),
          };
    yield run(this.db.updateTable("api_keys").set(retire).where("id", "=", previousId).compile());
    const previous = (yield byId(previousId)) as KeyRow;
    const created = (yield byId(successor.id)) as KeyRow;
    const rotated = { previous: this.#toKey(previous), successor: this.#toKey(created) };
    // The predecessor as it was: the row read under the claim, before the claim's mark.
    yield* this.#audit(record?.({ ...rotated, before: { ...stored, replacedBy: null } }));
    return rotated;
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

  /**
   * Conditional on the key being active and not rotated, in the UPDATE itself: a patch
   * racing a rotation or a revocation waits for its row lock (PostgreSQL) or its write
   * transaction (SQLite) and then finds nothing to change, instead of changing a key whose
   * settings now live in its successor.
   */
  updateApiKey(
    id: string,
    patch: ApiKeyPatch,
    record?: EventRecord<ApiKeyChange>,
  ): Promise<StoredApiKey | undefined> {
    return this.#run(() => this.#transact(() => this.#updateSteps(id, patch, record)));
  }

  /**
   * The key as it was (PostgreSQL: read `FOR UPDATE`, so a concurrent change waits and
   * the "before" of its event is this one's "after"), the conditional UPDATE, the key as
   * it is, and the event.
   */
  *#updateSteps(
    id: string,
    patch: ApiKeyPatch,
    record: EventRecord<ApiKeyChange> | undefined,
  ): Steps<StoredApiKey | undefined> {
    const codec = this.#codec;
    const byId = this.#keys().where("api_keys.id", "=", id);
    const before =
      record === undefined
        ? undefined
        : ((yield first(
            (this.dialect === "postgres" ? byId.forUpdate("api_keys") : byId).compile(),
          )) as KeyRow | undefined);
    const values = this.#patchValues(patch);
    // An empty patch still answers only for a key the condition holds for.
    const set = Object.keys(values).length > 0 ? values : { id };
    const changed = yield run(
      this.db
        .updateTable("api_keys")
        .set(set)
        .where("id", "=", id)
        .where("is_active", "=", codec.boolean(true))
        .where("replaced_by", "is", null)
        .compile(),
    );
    if (changed !== 1) return undefined;
    const after = this.#toKey((yield first(byId.compile())) as KeyRow);
    if (before !== undefined) yield* this.#audit(record?.({ before: this.#toKey(before), after }));
    return after;
  }

  /** A compare-and-set on `is_active`: the row count says whether this call revoked it. */
  revokeApiKey(id: string, record?: EventRecord<StoredApiKey>): Promise<boolean> {
    const codec = this.#codec;
    const db = this.db;
    const keyById = this.#keys().where("api_keys.id", "=", id).compile();
    const toKey = (row: KeyRow) => this.#toKey(row);
    const audit = this.#audit.bind(this);
    return this.#run(() =>
      this.#transact(function* () {
        const changed = yield run(
          db
            .updateTable("api_keys")
            .set({ is_active: codec.boolean(false) })
            .where("id", "=", id)
            .where("is_active", "=", codec.boolean(true))
            .compile(),
        );
        if (changed !== 1) return false;
        if (record !== undefined) yield* audit(record(toKey((yield first(keyById)) as KeyRow)));
        return true;
      }),
    );
  }

  creditsSpent(quotaId: string, periodStart: Date): Promise<number> {
    return this.#run(async () => {
      const row = await this.db
        .selectFrom("credit_spending")
        .select("spent")
        .where("quota_id", "=", quotaId)
        .where("period_start", "=", this.#codec.date(periodStart))
        .executeTakeFirst();
      return row === undefined ? 0 : this.#codec.readInteger(row.spent);
    });
  }

  /**
   * Read under the key's lock (PostgreSQL `FOR UPDATE`; SQLite's write transactions are
   * immediate), so concurrent top-ups each add to what the one before wrote.
   */
  addCredits(
    id: string,
    amount: number,
    now: Date,
    record?: EventRecord<ApiKeyChange>,
  ): Promise<ApiKeyChange | undefined> {
    return this.#run(() => this.#transact(() => this.#addCreditsSteps(id, amount, now, record)));
  }

  *#addCreditsSteps(
    id: string,
    amount: number,
    now: Date,
    record: EventRecord<ApiKeyChange> | undefined,
  ): Steps<ApiKeyChange | undefined> {
    const codec = this.#codec;
    const byId = this.#keys().where("api_keys.id", "=", id);
    const row = (yield first(
      (this.dialect === "postgres" ? byId.forUpdate("api_keys") : byId).compile(),
    )) as KeyRow | undefined;
    if (row === undefined) return undefined;
    const before = this.#toKey(row);
    if (!before.isActive || before.replacedBy !== null || !before.credits) return undefined;
    const next = topUpCredits(before.credits, amount, now);
    if (next === undefined) {
      throw new KeyGuardError(
        "invalid_input",
        `The key's credits cannot exceed ${Number.MAX_SAFE_INTEGER}.`,
        { details: { field: "add" } },
      );
    }
    yield run(
      this.db
        .updateTable("api_keys")
        .set(creditColumns(next, codec))
        .where("id", "=", id)
        .where("is_active", "=", codec.boolean(true))
        .where("replaced_by", "is", null)
        .compile(),
    );
    const after = this.#toKey((yield first(byId.compile())) as KeyRow);
    yield* this.#audit(record?.({ before, after }));
    return { before, after };
  }

  listQuotaKeyIds(quotaId: string, usedSince: Date): Promise<string[]> {
    return this.#run(async () => {
      const rows = await this.db
        .selectFrom("api_keys")
        .select("id")
        .where((eb) =>
          // Keys from before lineages were recorded may have no quota id: their own.
          eb.or([
            eb("quota_id", "=", quotaId),
            eb.and([eb("quota_id", "is", null), eb("id", "=", quotaId)]),
          ]),
        )
        .where("last_used_at", ">=", this.#codec.date(usedSince))
        .execute();
      return rows.map((row) => row.id);
    });
  }

  #patchValues(patch: ApiKeyPatch): Updateable<ApiKeysTable> {
    const codec = this.#codec;
    const values: Updateable<ApiKeysTable> = {};
    if (patch.label !== undefined) values.label = patch.label;
    if (patch.scopes !== undefined) values.scopes = codec.json(patch.scopes);
    if (patch.rateLimitPerMinute !== undefined) {
      values.rate_limit_per_minute = patch.rateLimitPerMinute;
    }
    if (patch.monthlyLimit !== undefined) values.monthly_limit = patch.monthlyLimit;
    if (patch.allowedIps !== undefined) {
      values.allowed_ips = patch.allowedIps === null ? null : codec.json(patch.allowedIps);
    }
    if (patch.limits !== undefined) values.limits = writeLimits(patch.limits);
    if (patch.concurrency !== undefined)
      Object.assign(values, concurrencyColumns(patch.concurrency));
    if (patch.credits !== undefined) Object.assign(values, creditColumns(patch.credits, codec));
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
    const codec = this.#codec;
    const latestUse = new Map<string, Date>();
    // Rows that spent credits, by id: their credits count only if the row is inserted now.
    const spending = new Map<string, UsageEvent>();
    const rows = events.map((event) => {
      const seen = latestUse.get(event.keyId);
      if (seen === undefined || seen < event.timestamp) latestUse.set(event.keyId, event.timestamp);
      // The recorder fixes ids before the first attempt: a retry (its COMMIT's reply
      // lost) or a replay from the spool writes the same ids, and those are skipped.
      const id = event.id ?? timeOrderedId(event.timestamp.getTime());
      if (
        event.credits !== undefined &&
        event.credits > 0 &&
        event.creditsPeriodStart !== undefined
      ) {
        spending.set(id, event);
      }
      return {
        id,
        key_id: event.keyId,
        path: event.path,
        method: event.method,
        status_code: event.statusCode,
        latency_ms: Math.round(event.latencyMs),
        ip_address: event.ipAddress,
        timestamp: codec.date(event.timestamp),
        request_count: event.requestCount ?? 1,
        charged: codec.boolean(isCharged(event)),
      };
    });
    // Rows and keys in one sorted order for every writer: PostgreSQL sessions taking the
    // same row locks in different orders deadlock (and one of them is rolled back).
    rows.sort((a, b) => compareText(a.id, b.id));
    const keys = [...latestUse.keys()].sort(compareText);
    return this.#run(() =>
      this.db.transaction().execute(async (trx) => {
        const inserted: string[] = [];
        for (let start = 0; start < rows.length; start += USAGE_ROWS_PER_STATEMENT) {
          const query = trx
            .insertInto("usage_logs")
            .values(rows.slice(start, start + USAGE_ROWS_PER_STATEMENT))
            .onConflict((conflict) => conflict.column("id").doNothing());
          if (spending.size === 0) {
            await query.execute();
          } else {
            for (const row of await query.returning("id").execute()) inserted.push(row.id);
          }
        }
        if (spending.size > 0) await this.#spendCredits(trx, inserted, spending);
        for (const keyId of keys) {
          const value = codec.date(latestUse.get(keyId) as Date);
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

  /**
   * Adds the credits of the usage rows just inserted (a row already stored, from a
   * retried or replayed batch, spent them then) to their lineages' spending, in the
   * batch's transaction, in one sorted order (no deadlock between writers).
   */
  async #spendCredits(
    trx: Transaction<DatabaseSchema>,
    inserted: readonly string[],
    spending: ReadonlyMap<string, UsageEvent>,
  ): Promise<void> {
    const byKey = new Map<string, Map<number, number>>();
    for (const id of inserted) {
      const event = spending.get(id);
      if (event === undefined) continue;
      const periods = byKey.get(event.keyId) ?? new Map<number, number>();
      byKey.set(event.keyId, periods);
      const period = event.creditsPeriodStart as number;
      periods.set(period, (periods.get(period) ?? 0) + (event.credits as number));
    }
    if (byKey.size === 0) return;
    const lineages = await trx
      .selectFrom("api_keys")
      .select(["id", "quota_id"])
      .where("id", "in", [...byKey.keys()])
      .execute();
    const totals = new Map<string, { quotaId: string; periodStart: number; spent: number }>();
    for (const { id, quota_id } of lineages) {
      const quotaId = quota_id ?? id;
      for (const [periodStart, spent] of byKey.get(id) ?? []) {
        const at = `${quotaId}\u0000${periodStart}`;
        const total = totals.get(at);
        if (total === undefined) totals.set(at, { quotaId, periodStart, spent });
        else total.spent += spent;
      }
    }
    const codec = this.#codec;
    for (const at of [...totals.keys()].sort(compareText)) {
      const { quotaId, periodStart, spent } = totals.get(at) as {
        quotaId: string;
        periodStart: number;
        spent: number;
      };
      await trx
        .insertInto("credit_spending")
        .values({ quota_id: quotaId, period_start: codec.date(new Date(periodStart)), spent })
        .onConflict((conflict) =>
          conflict
            .columns(["quota_id", "period_start"])
            .doUpdateSet({ spent: sql<DbInteger>`credit_spending.spent + excluded.spent` }),
        )
        .execute();
    }
  }

  countAllowedRequests(keyId: string, since: Date): Promise<number> {
    return this.#run(async () => {
      const codec = this.#codec;
      const from = codec.date(since);
      // Rows not yet rolled up, plus the rollups of hours from `since` on.
      const row = await this.db
        .selectNoFrom((eb) => [
          eb
            .selectFrom("usage_logs")
            .select((sub) => sub.fn.sum<DbInteger>("request_count").as("n"))
            .where("key_id", "=", keyId)
            .where("timestamp", ">=", from)
            .where("charged", "=", this.#yes)
            .where("rolled_up", "=", this.#no)
            .as("raw"),
          eb
            .selectFrom("usage_rollups")
            .select((sub) => sub.fn.sum<DbInteger>("charged_count").as("n"))
            .where("key_id", "=", keyId)
            .where("hour", ">=", from)
            .as("rolled"),
        ])
        .executeTakeFirstOrThrow();
      return this.#count(row.raw) + this.#count(row.rolled);
    });
  }

  usageByHour(keyId: string, since: Date): Promise<UsageBucket[]> {
    return this.#run(async () => {
      const from = this.#codec.date(hourOf(since));
      // The hour as "YYYY-MM-DDTHH" text in UTC on both databases. Literals, not
      // parameters, so the SELECT and GROUP BY expressions are identical for PostgreSQL.
      const hour =
        this.dialect === "sqlite"
          ? sql<string>`substr(${sql.ref("timestamp")}, 1, 13)`
          : sql<string>`to_char(${sql.ref("timestamp")} at time zone 'UTC', ${sql.lit('YYYY-MM-DD"T"HH24')})`;
      const inClass = (low: number) =>
        sql<DbInteger>`sum(case when ${sql.ref("status_code")} >= ${sql.lit(low)} and ${sql.ref("status_code")} < ${sql.lit(low + 100)} then ${sql.ref("request_count")} else 0 end)`;
      const raw = await this.db
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
        .where("timestamp", ">=", from)
        .where("rolled_up", "=", this.#no)
        .groupBy(hour)
        .execute();
      const ofClasses = (...classes: number[]) =>
        sql<DbInteger>`sum(case when ${sql.ref("status_class")} in (${sql.join(classes.map((c) => sql.lit(c)))}) then ${sql.ref("request_count")} else 0 end)`;
      const rolled = await this.db
        .selectFrom("usage_rollups")
        .select((eb) => [
          "hour",
          eb.fn.sum<DbInteger>("request_count").as("total"),
          ofClasses(200).as("status2xx"),
          ofClasses(300).as("status3xx"),
          ofClasses(400, 429).as("status4xx"),
          ofClasses(500).as("status5xx"),
        ])
        .where("key_id", "=", keyId)
        .where("hour", ">=", from)
        .groupBy("hour")
        .execute();
      const buckets = new Map<number, UsageBucket>();
      const add = (at: Date, row: Omit<(typeof raw)[number], "hour">) => {
        const before = buckets.get(at.getTime());
        buckets.set(at.getTime(), {
          hour: at,
          total: (before?.total ?? 0) + this.#count(row.total),
          status2xx: (before?.status2xx ?? 0) + this.#count(row.status2xx),
          status3xx: (before?.status3xx ?? 0) + this.#count(row.status3xx),
          status4xx: (before?.status4xx ?? 0) + this.#count(row.status4xx),
          status5xx: (before?.status5xx ?? 0) + this.#count(row.status5xx),
        });
      };
      for (const row of raw) add(new Date(`${row.hour}:00:00.000Z`), row);
      for (const row of rolled) add(this.#codec.readDate(row.hour), row);
      return [...buckets.values()].sort((a, b) => a.hour.getTime() - b.hour.getTime());
    });
  }

  usageOverview(since: Date, topKeys: number): Promise<StoredUsageOverview> {
    return this.#run(() => readUsageOverview(this.db, this.#codec, this.dialect, since, topKeys));
  }

  async maintainUsage(step: UsageMaintenanceStep): Promise<UsageMaintenanceResult> {
    const rolledUp = await this.#rollUp(step.rollUpBefore, step.limit);
    const deletedRows = await this.#deleteRolledUp(step.deleteRowsBefore, step.limit);
    const deletedRollups = await this.#deleteOldestRollupHour(step.deleteRollupsBefore);
    return { rolledUp, deletedRows, deletedRollups };
  }

  /**
   * Marks up to `limit` rows older than `before` as rolled up and adds them to their
   * rollups, in one transaction: marking first means each row is added once even with
   * several processes at it (PostgreSQL: `SKIP LOCKED` hands each its own rows; SQLite
   * has one writer at a time).
   */
  #rollUp(before: Date, limit: number): Promise<number> {
    const codec = this.#codec;
    return this.#run(() =>
      this.db.transaction().execute(async (trx) => {
        let pick = trx
          .selectFrom("usage_logs")
          .select("id")
          .where("rolled_up", "=", this.#no)
          .where("timestamp", "<", codec.date(before))
          .orderBy("timestamp")
          .limit(limit);
        if (this.dialect === "postgres") pick = pick.forUpdate().skipLocked();
        const rows = await trx
          .updateTable("usage_logs")
          .set({ rolled_up: this.#yes })
          .where("id", "in", pick)
          .returning(["key_id", "timestamp", "status_code", "request_count", "charged"])
          .execute();
        const sums = sumForRollup(
          rows.map((row) => ({
            keyId: row.key_id,
            timestamp: codec.readDate(row.timestamp),
            statusCode: row.status_code,
            requestCount: Number(row.request_count),
            charged: codec.readBoolean(row.charged),
          })),
        );
        const add = (column: "request_count" | "charged_count") =>
          sql<DbInteger>`${sql.ref(`usage_rollups.${column}`)} + ${sql.ref(`excluded.${column}`)}`;
        for (let start = 0; start < sums.length; start += USAGE_ROWS_PER_STATEMENT) {
          await trx
            .insertInto("usage_rollups")
            .values(
              sums.slice(start, start + USAGE_ROWS_PER_STATEMENT).map((sum) => ({
                key_id: sum.keyId,
                hour: codec.date(sum.hour),
                status_class: sum.statusClass,
                request_count: sum.requests,
                charged_count: sum.charged,
              })),
            )
            .onConflict((conflict) =>
              conflict.columns(["key_id", "hour", "status_class"]).doUpdateSet({
                request_count: add("request_count"),
                charged_count: add("charged_count"),
              }),
            )
            .execute();
        }
        return rows.length;
      }),
    );
  }

  /** Deletes up to `limit` rolled-up rows older than `before` (their counts live on in rollups). */
  #deleteRolledUp(before: Date, limit: number): Promise<number> {
    return this.#run(async () => {
      let pick = this.db
        .selectFrom("usage_logs")
        .select("id")
        .where("rolled_up", "=", this.#yes)
        .where("timestamp", "<", this.#codec.date(before))
        .orderBy("timestamp")
        .limit(limit);
      if (this.dialect === "postgres") pick = pick.forUpdate().skipLocked();
      const result = await this.db
        .deleteFrom("usage_logs")
        .where("id", "in", pick)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  /** Deletes the rollups of the oldest hour if it is before `before`: at most one row per key and class. */
  #deleteOldestRollupHour(before: Date): Promise<number> {
    return this.#run(async () => {
      const oldest = await this.db
        .selectFrom("usage_rollups")
        .select((eb) => eb.fn.min("hour").as("hour"))
        .executeTakeFirst();
      if (oldest?.hour === undefined || oldest.hour === null) return 0;
      if (this.#codec.readDate(oldest.hour) >= before) return 0;
      const result = await this.db
        .deleteFrom("usage_rollups")
        .where("hour", "=", oldest.hour)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  insertIpBlock(block: IpBlock, record?: EventRecord<IpBlock>): Promise<void> {
    const insert = this.db
      .insertInto("ip_blocks")
      .values({
        id: crypto.randomUUID(),
        client: block.client,
        scope: block.scope,
        path: block.scope === "path" ? (block.path ?? null) : null,
        reason: block.reason,
        automatic: this.#codec.boolean(block.automatic === true),
        created_at: this.#codec.date(new Date()),
        until: this.#codec.date(new Date(block.untilMs)),
      })
      .compile();
    const audit = this.#audit.bind(this);
    return this.#run(() =>
      this.#transact(function* () {
        yield run(insert);
        yield* audit(record?.(block));
      }),
    );
  }

  deleteIpBlocks(client: string, record?: EventRecord<readonly IpBlock[]>): Promise<number> {
    const remove = this.db
      .deleteFrom("ip_blocks")
      .where("client", "=", client)
      .returningAll()
      .compile();
    const toBlock = (row: Selectable<IpBlocksTable>) => this.#toIpBlock(row);
    const audit = this.#audit.bind(this);
    return this.#run(() =>
      this.#transact(function* () {
        const rows = (yield all(remove)) as Selectable<IpBlocksTable>[];
        if (rows.length > 0) yield* audit(record?.(rows.map(toBlock)));
        return rows.length;
      }),
    );
  }

  deleteEndedAutomaticBlocks(now: Date): Promise<number> {
    return this.#run(async () => {
      const result = await this.db
        .deleteFrom("ip_blocks")
        .where("automatic", "=", this.#codec.boolean(true))
        .where("until", "<=", this.#codec.date(now))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  listIpBlocks(now: Date, filter: IpBlockFilter = {}): Promise<IpBlock[]> {
    return this.#run(async () => {
      let query = this.db
        .selectFrom("ip_blocks")
        .selectAll()
        .where("until", ">", this.#codec.date(now));
      if (filter.automatic !== undefined) {
        query = query.where("automatic", "=", this.#codec.boolean(filter.automatic));
      }
      if (filter.limit !== undefined) {
        // The latest-ending first: the blocks a bounded read must not miss.
        query = query.orderBy("until", "desc").orderBy("client").limit(filter.limit);
      } else {
        query = query.orderBy("until").orderBy("client");
      }
      const rows = await query.execute();
      return rows.map((row) => this.#toIpBlock(row));
    });
  }

  #toIpBlock(row: Selectable<IpBlocksTable>): IpBlock {
    return {
      client: row.client,
      scope: row.scope === "path" ? "path" : "global",
      ...(row.path === null ? {} : { path: row.path }),
      untilMs: this.#codec.readDate(row.until).getTime(),
      reason: row.reason,
      ...(this.#codec.readBoolean(row.automatic) ? { automatic: true } : {}),
    };
  }

  // ---- audit log (audit/audit-queries.ts) -----------------------------------------------

  listAuditEvents(filter: AuditEventFilter = {}): Promise<KeyGuardEvent[]> {
    return this.#run(() => listAuditEvents(this.db, this.#codec, filter));
  }

  appendAuditEvent(event: KeyGuardEvent): Promise<void> {
    return this.#run(() => appendAuditEvent(this.db, this.#codec, event));
  }

  deleteAuditEventsBefore(before: Date, limit: number): Promise<number> {
    return this.#run(() =>
      deleteAuditEventsBefore(this.db, this.#codec, this.dialect, before, limit),
    );
  }

  // ---- IP rules (ip-rule-queries.ts) ------------------------------------------------------

  listIpRules(limit: number): Promise<StoredIpRule[]> {
    return this.#run(() => listIpRules(this.db, this.#codec, limit));
  }

  insertIpRule(
    rule: StoredIpRule,
    maxRules?: number,
    record?: EventRecord<StoredIpRule>,
  ): Promise<{ rule: StoredIpRule; created: boolean } | undefined> {
    const postgres = this.dialect === "postgres";
    const audit = (stored: StoredIpRule) => this.#audit(record?.(stored));
    return this.#run(() =>
      this.#transact(() =>
        insertIpRuleSteps(this.db, this.#codec, postgres, rule, maxRules, audit),
      ),
    );
  }

  deleteIpRule(id: string, record?: EventRecord<StoredIpRule>): Promise<StoredIpRule | undefined> {
    const audit = (removed: StoredIpRule) => this.#audit(record?.(removed));
    return this.#run(() =>
      this.#transact(() => deleteIpRuleSteps(this.db, this.#codec, id, audit)),
    );
  }

  // ---- secret fingerprints (secret-fingerprint-queries.ts) --------------------------------

  countActiveKeysCreatedUpTo(at: Date, now: Date): Promise<number> {
    return this.#run(async () => {
      const codec = this.#codec;
      const row = await this.db
        .selectFrom("api_keys")
        .select((eb) => eb.fn.countAll<DbInteger>().as("n"))
        .where("key_hash_scheme", "=", "hmac-sha256")
        .where("created_at", "<=", codec.date(at))
        .where("is_active", "=", codec.boolean(true))
        .where((w) => w.or([w("expires_at", "is", null), w("expires_at", ">", codec.date(now))]))
        .executeTakeFirstOrThrow();
      return codec.readInteger(row.n);
    });
  }

  readSecretFingerprints(): Promise<SecretFingerprints> {
    return this.#run(() => readSecretFingerprints(this.db, this.#codec));
  }

  adoptSecretFingerprint(fingerprint: string, at: Date): Promise<SecretFingerprints> {
    return this.#run(() => adoptSecretFingerprint(this.db, this.#codec, fingerprint, at));
  }

  rotateSecretFingerprint(expected: string, next: string, at: Date): Promise<boolean> {
    return this.#run(() => rotateSecretFingerprint(this.db, this.#codec, expected, next, at));
  }

  countKeysByOrganization(
    orgIds: readonly string[],
    now: Date,
  ): Promise<ReadonlyMap<string, OrganizationKeyCounts>> {
    return this.#run(async () => {
      const counts = new Map<string, OrganizationKeyCounts>();
      if (orgIds.length === 0) return counts;
      const codec = this.#codec;
      const rows = await this.db
        .selectFrom("api_keys")
        .select((eb) => [
          "org_id",
          eb.fn.countAll().as("total"),
          eb.fn
            .sum(
              eb
                .case()
                .when(
                  eb.and([
                    eb("is_active", "=", codec.boolean(true)),
                    eb.or([eb("expires_at", "is", null), eb("expires_at", ">", codec.date(now))]),
                  ]),
                )
                .then(1)
                .else(0)
                .end(),
            )
            .as("active"),
        ])
        .where("org_id", "in", [...orgIds])
        .groupBy("org_id")
        .execute();
      for (const row of rows) {
        counts.set(row.org_id, {
          total: codec.readInteger(row.total as number),
          active: codec.readInteger((row.active ?? 0) as number),
        });
      }
      return counts;
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
          // A usage row stands for request_count requests; rolled-up rows are counted
          // by their rollups instead.
          eb
            .selectFrom("usage_logs")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .where("rolled_up", "=", this.#no)
            .as("total_requests"),
          eb
            .selectFrom("usage_logs")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .where("rolled_up", "=", this.#no)
            .where("timestamp", ">=", codec.date(since))
            .as("requests_since"),
          eb
            .selectFrom("usage_logs")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .where("rolled_up", "=", this.#no)
            .where("status_code", ">=", 400)
            .as("error_requests"),
          eb
            .selectFrom("usage_rollups")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .as("rolled_requests"),
          eb
            .selectFrom("usage_rollups")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .where("hour", ">=", codec.date(since))
            .as("rolled_since"),
          eb
            .selectFrom("usage_rollups")
            .select((sub) => sub.fn.sum("request_count").as("n"))
            .where("status_class", ">=", 400)
            .as("rolled_errors"),
        ])
        .executeTakeFirstOrThrow();
      const count = (value: unknown) => codec.readInteger((value ?? 0) as number);
      return {
        organizations: count(row.organizations),
        totalKeys: count(row.total_keys),
        activeKeys: count(row.active_keys),
        totalRequests: count(row.total_requests) + count(row.rolled_requests),
        requestsSince: count(row.requests_since) + count(row.rolled_since),
        errorRequests: count(row.error_requests) + count(row.rolled_errors),
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

  #count(value: DbInteger | null | undefined): number {
    return this.#codec.readInteger(value ?? 0);
  }

  #keys() {
    return this.db
      .selectFrom("api_keys")
      .innerJoin("organizations", "organizations.id", "api_keys.org_id")
      .selectAll("api_keys")
      .select([
        "organizations.name as organization_name",
        "organizations.status as organization_status",
        "organizations.limits as organization_limits",
        "organizations.concurrency as organization_concurrency",
        "organizations.concurrency_mode as organization_concurrency_mode",
      ]);
  }

  #toOrganization(row: Selectable<OrganizationsTable>): Organization {
    return organizationFromRow(row, this.#codec);
  }

  #toKey(row: KeyRow): StoredApiKey {
    return {
      ...apiKeyFromRow(row, this.#codec),
      organizationName: row.organization_name,
      organizationStatus: row.organization_status as OrganizationStatus,
      organizationLimits: readLimits(row.organization_limits),
      organizationConcurrency: readConcurrency(
        row.organization_concurrency,
        row.organization_concurrency_mode,
      ),
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
