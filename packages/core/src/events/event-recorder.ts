import type { EventRecord } from "../ports/audit-log.js";
import type { Clock } from "../util/clock.js";
import { currentActor } from "./actor-context.js";
import { EVENT_ACTIONS, type EventAction } from "./event-actions.js";
import type { EventActor } from "./event-actor.js";
import { hasChanges } from "./event-changes.js";
import { EventIds } from "./event-id.js";
import type { EventSubscribers } from "./event-subscribers.js";
import type { EventChanges, KeyGuardEvent } from "./keyguard-event.js";

/** What a service says about a change; the recorder adds id, time and actor. */
export interface EventDraft {
  readonly action: EventAction;
  readonly targetId: string;
  readonly changes: EventChanges;
}

export interface EventRecorderOptions {
  readonly clock: Clock;
  readonly subscribers: EventSubscribers;
}

/**
 * How services write changes into the event stream: `write` hands the store a `record`
 * that turns the change's outcome into a complete event (id, time, the current actor),
 * which the store writes in the change's transaction; once the store call resolved (the
 * transaction committed), the event goes to this process's subscribers.
 */
export class EventRecorder {
  readonly #clock: Clock;
  readonly #subscribers: EventSubscribers;
  readonly #ids = new EventIds();

  constructor(options: EventRecorderOptions) {
    this.#clock = options.clock;
    this.#subscribers = options.subscribers;
  }

  /**
   * Runs `change` (a store call) with a `record` built from `draft`. A draft of no
   * changes (an update that set what was there) is no event.
   *
   * @example
   * await events.write(
   *   (key: ApiKey) => ({ action: "key.created", targetId: key.id, changes: created(keyFields(key)) }),
   *   (record) => store.insertApiKey(key, record),
   * );
   */
  async write<T, R>(
    draft: (outcome: T) => EventDraft | undefined,
    change: (record: EventRecord<T>) => Promise<R>,
    actor: EventActor = currentActor(),
  ): Promise<R> {
    let written: KeyGuardEvent | undefined;
    const result = await change((outcome) => {
      const described = draft(outcome);
      written =
        described === undefined || !hasChanges(described.changes)
          ? undefined
          : this.event(described, actor);
      return written;
    });
    if (written !== undefined) this.#subscribers.notify(written);
    return result;
  }

  /** A complete event for a draft (for `Store.appendAuditEvent`). */
  event(draft: EventDraft, actor: EventActor = currentActor()): KeyGuardEvent {
    const at = this.#clock.now();
    return {
      id: this.#ids.next(at),
      at: new Date(at),
      actor,
      action: draft.action,
      targetType: EVENT_ACTIONS[draft.action],
      targetId: draft.targetId,
      changes: draft.changes,
    };
  }

  /** Tells subscribers about an event written outside `write`. */
  committed(event: KeyGuardEvent): void {
    this.#subscribers.notify(event);
  }
}
