import { AsyncLocalStorage } from "node:async_hooks";
import { CODE_ACTOR, type EventActor } from "./event-actor.js";

/**
 * The actor of the calls under way: set by `kg.withActor(...)` around each call it
 * makes, so every change that call leads to, however deep, is attributed to it without
 * an actor parameter on every method. Read only when a change is written.
 */
const current = new AsyncLocalStorage<EventActor>();

export function runAsActor<T>(actor: EventActor, work: () => T): T {
  return current.run(actor, work);
}

/** The actor of the call under way; `code` with no name outside `withActor`. */
export function currentActor(): EventActor {
  return current.getStore() ?? CODE_ACTOR;
}
