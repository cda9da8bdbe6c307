import type { KeyGuardEvent } from "./keyguard-event.js";

/** Told about each event once its change is committed. */
export type EventListener = (event: KeyGuardEvent) => void;

/**
 * The in-memory part of the event stream: listeners in this process, told after each
 * change's transaction committed (never for a change that was refused or rolled back).
 * Only this process's own changes arrive here; every process's are in the store
 * (`Store.listAuditEvents`, read after a cursor). A listener that throws is reported
 * and the others are still told: a subscriber can never undo or fail a change.
 */
export class EventSubscribers {
  readonly #listeners = new Set<EventListener>();
  readonly #onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** Adds a listener; the returned function removes it. */
  subscribe(listener: EventListener): () => void {
    // A wrapper per subscription, so subscribing one function twice is two subscriptions.
    const entry: EventListener = (event) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  notify(event: KeyGuardEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}
