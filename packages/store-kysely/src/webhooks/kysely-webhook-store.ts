import { KeyGuardError, type KeyGuardEvent, type WebhookDelivery } from "@keyguard/core";
import {
  type EventRecord,
  type ExpiringKey,
  type ListPage,
  subscribesTo,
  timeOrderedId,
  type WebhookAttempt,
  type WebhookAttemptOutcome,
  type WebhookClaimRequest,
  type WebhookDeliveryClaim,
  type WebhookDeliveryStatus,
  type WebhookEndpointRecord,
  type WebhookEventRecord,
  type WebhookStore,
} from "@keyguard/core/internal";
import { type Kysely, type Selectable, sql } from "kysely";
import type { ColumnCodec } from "../column-codec.js";
import type { DatabaseSchema, DbInteger, WebhookEndpointsTable } from "../database-schema.js";
import { all, first, run, type Steps } from "../transaction-steps.js";

/** Due deliveries a claim looks at, earliest first, before capping them per endpoint. */
const CLAIM_SCAN = 1_000;

export interface KyselyWebhookStoreOptions {
  readonly db: Kysely<DatabaseSchema>;
  readonly codec: ColumnCodec;
  /** Runs steps as one write transaction (the store's `#transact`), errors translated. */
  readonly transact: <T>(steps: () => Steps<T>) => Promise<T>;
  /** Runs an operation, translating driver errors into KeyGuard's (the store's `#run`). */
  readonly run: <T>(operation: () => Promise<T>) => Promise<T>;
  /** PostgreSQL (table locks) rather than SQLite. */
  readonly postgres: boolean;
  /** The store's audit step: writes a change's event (and its deliveries) in its transaction. */
  readonly audit: (event: KeyGuardEvent | undefined) => Steps<void>;
}

/**
 * The `WebhookStore` port on Kysely, for SQLite and PostgreSQL: endpoints, the delivery
 * outbox, attempts and notices. Claims are conditional updates (see `claimWebhookDeliveries`).
 */
export class KyselyWebhookStore implements WebhookStore {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #codec: ColumnCodec;
  readonly #transact: KyselyWebhookStoreOptions["transact"];
  readonly #run: KyselyWebhookStoreOptions["run"];
  readonly #audit: KyselyWebhookStoreOptions["audit"];
  readonly #postgres: boolean;

  constructor(options: KyselyWebhookStoreOptions) {
    this.#db = options.db;
    this.#codec = options.codec;
    this.#transact = options.transact;
    this.#run = options.run;
    this.#audit = options.audit;
    this.#postgres = options.postgres;
  }

  // ---- endpoints ------------------------------------------------------------------------

  insertWebhookEndpoint(
    endpoint: WebhookEndpointRecord,
    maxEndpoints: number,
    record?: EventRecord<WebhookEndpointRecord>,
  ): Promise<boolean> {
    const db = this.#db;
    const codec = this.#codec;
    const postgres = this.#postgres;
    const audit = this.#audit;
    return this.#transact(function* () {
      // The count and the insert are one decision. PostgreSQL: a table lock that conflicts
      // with itself (not with reads), so racing registrations count one after another
      // (under READ COMMITTED each would miss the others' uncommitted rows). SQLite: the
      // write transaction holds the database's write lock from its start.
      if (postgres) {
        yield run(sql`lock table webhook_endpoints in share row exclusive mode`.compile(db));
      }
      const counted = (yield first(
        db
          .selectFrom("webhook_endpoints")
          .select((eb) => eb.fn.countAll().as("count"))
          .compile(),
      )) as { count: DbInteger };
      if (codec.readInteger(counted.count) >= maxEndpoints) return false;
      yield run(
        db
          .insertInto("webhook_endpoints")
          .values({
            id: endpoint.id,
            url: endpoint.url,
            events: JSON.stringify(endpoint.events),
            sealed_secret: endpoint.sealedSecret,
            created_at: codec.date(endpoint.createdAt),
          })
          .compile(),
      );
      yield* audit(record?.(endpoint));
      return true;
    });
  }

  listWebhookEndpoints(page: ListPage = {}): Promise<WebhookEndpointRecord[]> {
    return this.#run(async () => {
      let query = this.#db
        .selectFrom("webhook_endpoints")
        .selectAll()
        .orderBy("created_at")
        .orderBy("id");
      if (page.afterId !== undefined) {
        const after = await this.#db
          .selectFrom("webhook_endpoints")
          .select(["created_at", "id"])
          .where("id", "=", page.afterId)
          .executeTakeFirst();
        if (after === undefined) throw unknownAfterId("webhook endpoint");
        query = query.where((eb) =>
          eb.or([
            eb("created_at", ">", after.created_at),
            eb.and([eb("created_at", "=", after.created_at), eb("id", ">", after.id)]),
          ]),
        );
      }
      if (page.limit !== undefined) query = query.limit(page.limit);
      return (await query.execute()).map((row) => this.#toEndpoint(row));
    });
  }

  countWebhookEndpoints(): Promise<number> {
    return this.#run(async () => {
      const row = await this.#db
        .selectFrom("webhook_endpoints")
        .select((eb) => eb.fn.countAll().as("count"))
        .executeTakeFirstOrThrow();
      return this.#codec.readInteger(row.count as number);
    });
  }

  findWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | undefined> {
    return this.#run(async () => {
      const row = await this.#db
        .selectFrom("webhook_endpoints")
        .selectAll()
        .where("id", "=", id)
        .executeTakeFirst();
      return row === undefined ? undefined : this.#toEndpoint(row);
    });
  }

  deleteWebhookEndpoint(id: string, record?: EventRecord<WebhookEndpointRecord>): Promise<boolean> {
    const db = this.#db;
    const toRecord = (row: Selectable<WebhookEndpointsTable>) => this.#toEndpoint(row);
    const audit = this.#audit;
    // Deliveries and attempts go with it (foreign keys `on delete cascade`).
    return this.#transact(function* () {
      const row = (yield first(
        db.selectFrom("webhook_endpoints").selectAll().where("id", "=", id).compile(),
      )) as Selectable<WebhookEndpointsTable> | undefined;
      if (row === undefined) return false;
      const deleted = yield run(db.deleteFrom("webhook_endpoints").where("id", "=", id).compile());
      if (deleted !== 1) return false;
      yield* audit(record?.(toRecord(row)));
      return true;
    });
  }

  resealWebhookSecret(id: string, expected: string, sealed: string): Promise<boolean> {
    return this.#run(async () => {
      const result = await this.#db
        .updateTable("webhook_endpoints")
        .set({ sealed_secret: sealed })
        .where("id", "=", id)
        .where("sealed_secret", "=", expected)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    });
  }

  // ---- the outbox ------------------------------------------------------------------------

  /**
   * One transaction: for each event, its notice first (`on conflict do nothing`: when
   * the notice exists the event is skipped, so one of several processes raising it wins),
   * then a delivery per subscribed endpoint registered no later than the event, unique
   * per (endpoint, event) so an event enqueued twice is delivered once.
   */
  enqueueWebhookEvents(events: readonly WebhookEventRecord[]): Promise<number> {
    if (events.length === 0) return Promise.resolve(0);
    return this.#transact(() => this.enqueueSteps(events));
  }

  /**
   * The statements of `enqueueWebhookEvents`, to run inside another transaction too: the
   * store runs them beside each change's audit event, so the change and its deliveries
   * commit together.
   */
  *enqueueSteps(events: readonly WebhookEventRecord[]): Steps<number> {
    const codec = this.#codec;
    const endpoints = (yield all(
      this.#db.selectFrom("webhook_endpoints").select(["id", "events", "created_at"]).compile(),
    )) as Array<Pick<Selectable<WebhookEndpointsTable>, "id" | "events" | "created_at">>;
    const subscribed = endpoints.map((row) => ({
      id: row.id,
      events: JSON.parse(row.events) as string[],
      createdAt: codec.readDate(row.created_at).getTime(),
    }));
    let written = 0;
    for (const event of events) {
      const targets = subscribed.filter(
        (endpoint) =>
          subscribesTo(endpoint.events, event.type) &&
          endpoint.createdAt <= event.createdAt.getTime() &&
          endpoint.id !== event.exceptEndpointId,
      );
      if (event.notice !== undefined) {
        // With no endpoint to tell, the notice is not spent: one subscribing later gets it.
        if (targets.length === 0) continue;
        const noticed = (yield run(
          this.#db
            .insertInto("webhook_notices")
            .values({
              kind: event.notice.kind,
              subject_id: event.notice.subjectId,
              period: codec.date(event.notice.period),
              created_at: codec.date(event.createdAt),
            })
            .onConflict((conflict) =>
              conflict.columns(["kind", "subject_id", "period"]).doNothing(),
            )
            .compile(),
        )) as number;
        if (noticed === 0) continue;
      }
      if (targets.length === 0) continue;
      written += (yield run(
        this.#db
          .insertInto("webhook_deliveries")
          .values(
            targets.map((endpoint) => ({
              id: timeOrderedId(event.createdAt.getTime()),
              endpoint_id: endpoint.id,
              event_id: event.id,
              event_type: event.type,
              body: event.body,
              status: "pending",
              created_at: codec.date(event.createdAt),
              next_attempt_at: codec.date(event.createdAt),
            })),
          )
          .onConflict((conflict) => conflict.columns(["endpoint_id", "event_id"]).doNothing())
          .compile(),
      )) as number;
    }
    return written;
  }

  /**
   * Claims due deliveries: the earliest due (pending, `next_attempt_at` reached, no
   * unexpired lease), at most `perEndpoint` of each endpoint, are leased to `owner` by a
   * conditional update that re-checks those conditions. On PostgreSQL a row another
   * claim updated first is re-read after its commit and no longer matches; SQLite has one
   * writer. So each delivery is claimed by one caller until its lease runs out.
   */
  claimWebhookDeliveries(request: WebhookClaimRequest): Promise<WebhookDeliveryClaim[]> {
    return this.#run(async () => {
      const codec = this.#codec;
      const now = codec.date(request.now);
      let due = this.#db
        .selectFrom("webhook_deliveries")
        .select(["id", "endpoint_id", "next_attempt_at"])
        .where("status", "=", "pending")
        .where("next_attempt_at", "<=", now)
        .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", now)]))
        .orderBy("next_attempt_at")
        .limit(CLAIM_SCAN);
      if (request.skipEndpoints.length > 0) {
        due = due.where("endpoint_id", "not in", [...request.skipEndpoints]);
      }
      const candidates = await due.execute();
      const perEndpoint = new Map<string, number>();
      const ids: string[] = [];
      for (const row of candidates) {
        const taken = perEndpoint.get(row.endpoint_id) ?? 0;
        if (taken >= request.perEndpoint) continue;
        perEndpoint.set(row.endpoint_id, taken + 1);
        ids.push(row.id);
        if (ids.length >= request.limit) break;
      }
      if (ids.length === 0) return [];
      const claimed = await this.#db
        .updateTable("webhook_deliveries")
        .set((eb) => ({
          attempts: eb("attempts", "+", 1),
          lease_owner: request.owner,
          lease_until: codec.date(request.leaseUntil),
        }))
        .where("id", "in", ids)
        .where("status", "=", "pending")
        .where("next_attempt_at", "<=", now)
        .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<=", now)]))
        .returning([
          "id",
          "endpoint_id",
          "event_id",
          "event_type",
          "body",
          "attempts",
          "created_at",
        ])
        .execute();
      if (claimed.length === 0) return [];
      const endpoints = new Map(
        (
          await this.#db
            .selectFrom("webhook_endpoints")
            .select(["id", "url", "sealed_secret"])
            .where("id", "in", [...new Set(claimed.map((row) => row.endpoint_id))])
            .execute()
        ).map((row) => [row.id, row]),
      );
      const claims: WebhookDeliveryClaim[] = [];
      for (const row of claimed) {
        const endpoint = endpoints.get(row.endpoint_id);
        if (endpoint === undefined) continue; // removed meanwhile: its deliveries went with it
        claims.push({
          id: row.id,
          endpointId: row.endpoint_id,
          url: endpoint.url,
          sealedSecret: endpoint.sealed_secret,
          eventId: row.event_id,
          eventType: row.event_type,
          body: row.body,
          attempt: Number(row.attempts),
          createdAt: codec.readDate(row.created_at),
        });
      }
      return claims;
    });
  }

  /**
   * The delivery's new state and the attempt's row in one transaction, so a reader never
   * sees an attempt without the state it led to. The state changes only while `owner`
   * still holds this attempt's lease; that update locks the delivery, so its endpoint
   * cannot be removed before the attempt is written. A claimer whose lease ran out (and
   * whose delivery another process may have claimed) only adds its attempt to the log,
   * unless the delivery is gone with its endpoint. A crash before the commit leaves the
   * lease to expire and the delivery to be sent again: at least once.
   */
  recordWebhookAttempt(outcome: WebhookAttemptOutcome): Promise<void> {
    const db = this.#db;
    const codec = this.#codec;
    const finishedAt = codec.date(new Date(outcome.startedAt.getTime() + outcome.durationMs));
    const newState = db
      .updateTable("webhook_deliveries")
      .set({
        status: outcome.status,
        next_attempt_at:
          outcome.status === "pending" && outcome.nextAttemptAt !== undefined
            ? codec.date(outcome.nextAttemptAt)
            : null,
        lease_owner: null,
        lease_until: null,
        delivered_at: outcome.status === "delivered" ? finishedAt : null,
        finished_at: outcome.status === "pending" ? null : finishedAt,
      })
      .where("id", "=", outcome.deliveryId)
      .where("lease_owner", "=", outcome.owner)
      .where("attempts", "=", outcome.attempt)
      .where("status", "=", "pending")
      .compile();
    const attemptRow = db
      .insertInto("webhook_attempts")
      .values({
        id: timeOrderedId(outcome.startedAt.getTime()),
        delivery_id: outcome.deliveryId,
        attempt: outcome.attempt,
        started_at: codec.date(outcome.startedAt),
        duration_ms: Math.min(Math.round(outcome.durationMs), 2_147_483_647),
        status_code: outcome.statusCode,
        error: outcome.error === null ? null : outcome.error.slice(0, 300),
      })
      .compile();
    return this.#transact(function* () {
      const updated = (yield run(newState)) as number;
      if (updated === 0) return false;
      yield run(attemptRow);
      return true;
    }).then(async (recorded) => {
      if (recorded) return;
      await this.#run(() =>
        db.executeQuery(attemptRow).catch((error: unknown) => {
          // The endpoint was removed meanwhile: nothing is left to record against.
          if (!isForeignKeyViolation(error)) throw error;
        }),
      );
    });
  }

  releaseWebhookDeliveries(ids: readonly string[], owner: string, now: Date): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#run(async () => {
      await this.#db
        .updateTable("webhook_deliveries")
        .set((eb) => ({
          attempts: eb("attempts", "-", 1),
          lease_owner: null,
          lease_until: null,
          next_attempt_at: this.#codec.date(now),
        }))
        .where("id", "in", [...ids])
        .where("lease_owner", "=", owner)
        .where("status", "=", "pending")
        .execute();
    });
  }

  listWebhookDeliveries(endpointId: string, page: ListPage = {}): Promise<WebhookDelivery[]> {
    return this.#run(async () => {
      const codec = this.#codec;
      let query = this.#db
        .selectFrom("webhook_deliveries")
        .select([
          "id",
          "endpoint_id",
          "event_id",
          "event_type",
          "status",
          "created_at",
          "next_attempt_at",
          "delivered_at",
        ])
        .where("endpoint_id", "=", endpointId)
        .orderBy("created_at", "desc")
        .orderBy("id", "desc");
      if (page.afterId !== undefined) {
        const after = await this.#db
          .selectFrom("webhook_deliveries")
          .select(["created_at", "id"])
          .where("id", "=", page.afterId)
          .where("endpoint_id", "=", endpointId)
          .executeTakeFirst();
        if (after === undefined) throw unknownAfterId("delivery");
        query = query.where((eb) =>
          eb.or([
            eb("created_at", "<", after.created_at),
            eb.and([eb("created_at", "=", after.created_at), eb("id", "<", after.id)]),
          ]),
        );
      }
      if (page.limit !== undefined) query = query.limit(page.limit);
      const rows = await query.execute();
      const attempts = new Map<string, WebhookAttempt[]>();
      if (rows.length > 0) {
        const attemptRows = await this.#db
          .selectFrom("webhook_attempts")
          .selectAll()
          .where(
            "delivery_id",
            "in",
            rows.map((row) => row.id),
          )
          .orderBy("delivery_id")
          .orderBy("attempt")
          .execute();
        for (const row of attemptRows) {
          const list = attempts.get(row.delivery_id) ?? [];
          list.push({
            attempt: row.attempt,
            startedAt: codec.readDate(row.started_at),
            durationMs: row.duration_ms,
            statusCode: row.status_code,
            error: row.error,
          });
          attempts.set(row.delivery_id, list);
        }
      }
      return rows.map((row) => ({
        id: row.id,
        endpointId: row.endpoint_id,
        eventId: row.event_id,
        eventType: row.event_type,
        status: row.status as WebhookDeliveryStatus,
        attempts: attempts.get(row.id) ?? [],
        createdAt: codec.readDate(row.created_at),
        nextAttemptAt:
          row.status === "pending" && row.next_attempt_at !== null
            ? codec.readDate(row.next_attempt_at)
            : null,
        deliveredAt: row.delivered_at === null ? null : codec.readDate(row.delivered_at),
      }));
    });
  }

  deleteFinishedWebhookDeliveries(before: Date, limit: number): Promise<number> {
    return this.#run(async () => {
      const doomed = this.#db
        .selectFrom("webhook_deliveries")
        .select("id")
        .where("status", "<>", "pending")
        .where("finished_at", "<", this.#codec.date(before))
        .limit(limit);
      const result = await this.#db
        .deleteFrom("webhook_deliveries")
        .where("id", "in", doomed)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  listExpiringKeys(from: Date, to: Date, limit: number): Promise<ExpiringKey[]> {
    return this.#run(async () => {
      const codec = this.#codec;
      const rows = await this.#db
        .selectFrom("api_keys as k")
        .select(["k.id", "k.org_id", "k.label", "k.prefix", "k.expires_at"])
        .where("k.is_active", "=", codec.boolean(true))
        .where("k.replaced_by", "is", null)
        .where("k.expires_at", ">", codec.date(from))
        .where("k.expires_at", "<=", codec.date(to))
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom("webhook_notices as n")
                .select(sql.lit(1).as("one"))
                .where("n.kind", "=", "key.expiring")
                .whereRef("n.subject_id", "=", "k.id")
                .whereRef("n.period", "=", "k.expires_at"),
            ),
          ),
        )
        .orderBy("k.expires_at")
        .orderBy("k.id")
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        id: row.id,
        orgId: row.org_id,
        label: row.label,
        prefix: row.prefix,
        expiresAt: codec.readDate(row.expires_at as Date | string),
      }));
    });
  }

  // ---- helpers --------------------------------------------------------------------------

  #toEndpoint(row: Selectable<WebhookEndpointsTable>): WebhookEndpointRecord {
    return {
      id: row.id,
      url: row.url,
      events: JSON.parse(row.events) as string[],
      sealedSecret: row.sealed_secret,
      createdAt: this.#codec.readDate(row.created_at),
    };
  }
}

function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "23503" || code === "SQLITE_CONSTRAINT_FOREIGNKEY";
}

function unknownAfterId(what: string): KeyGuardError {
  return new KeyGuardError(
    "invalid_input",
    `The listing cannot continue after that ${what}: there is no such ${what}.`,
  );
}
