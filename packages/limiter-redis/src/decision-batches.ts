import { type LimitDecision, type LimitRequest, samePolicies } from "@keyguard/core/internal";

/** A request with a key: the only kind decided in batches. */
export type KeyedLimitRequest = LimitRequest & { readonly key: NonNullable<LimitRequest["key"]> };

/** Decides `count` requests alike in one call, in arrival order. */
export type DecideBatch = (request: KeyedLimitRequest, count: number) => Promise<LimitDecision[]>;

interface Waiting {
  resolve(decision: LimitDecision): void;
  reject(error: unknown): void;
}

/** Requests that one script call decides together. */
interface Batch {
  /** The latest request (all are alike but for `now`): the batch is decided at its `now`. */
  request: KeyedLimitRequest;
  readonly waiting: Waiting[];
}

/** Whether two requests of one key can be decided in one call. */
function alike(a: KeyedLimitRequest, b: KeyedLimitRequest): boolean {
  return (
    a.client === b.client &&
    a.path === b.path &&
    (a.cost ?? 1) === (b.cost ?? 1) &&
    a.key.quotaId === b.key.quotaId &&
    a.key.orgId === b.key.orgId &&
    samePolicies(a.policies ?? [], b.policies ?? [])
  );
}

/** More than this many alike requests in one turn of the event loop go in several calls. */
const MAX_BATCH = 256;

/**
 * Gathers the decisions asked for in one turn of the event loop and sends those that are
 * alike (same key, client, path, cost and policies) as one call. Under load many
 * requests of one key arrive together (one busy client, or a hundred connections): each
 * decision then costs a fraction of a round trip and of a script run, and Redis's CPU stays
 * with the counting. Exactness is kept: the script decides a batch as if its requests came
 * one after another, atomically. A request on its own waits only for the end of the
 * current turn (`setImmediate`), microseconds.
 */
export class DecisionBatches {
  readonly #decide: DecideBatch;
  #open = new Map<string, Batch[]>();
  #scheduled = false;

  constructor(decide: DecideBatch) {
    this.#decide = decide;
  }

  add(request: KeyedLimitRequest): Promise<LimitDecision> {
    let batches = this.#open.get(request.key.id);
    if (batches === undefined) {
      batches = [];
      this.#open.set(request.key.id, batches);
    }
    let batch = batches.find(
      (open) => open.waiting.length < MAX_BATCH && alike(open.request, request),
    );
    if (batch === undefined) {
      batch = { request, waiting: [] };
      batches.push(batch);
    } else if (request.now > batch.request.now) {
      batch.request = request;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    const waiting = batch.waiting;
    return new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
    });
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const open = this.#open;
    this.#open = new Map();
    for (const batches of open.values()) {
      for (const batch of batches) this.#send(batch);
    }
  };

  #send(batch: Batch): void {
    const { waiting } = batch;
    this.#decide(batch.request, waiting.length).then(
      (decisions) => {
        for (let i = 0; i < waiting.length; i++) {
          (waiting[i] as Waiting).resolve(decisions[i] as LimitDecision);
        }
      },
      (error: unknown) => {
        for (const one of waiting) one.reject(error);
      },
    );
  }
}
