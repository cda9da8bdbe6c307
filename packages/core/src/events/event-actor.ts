import { KeyGuardError } from "../errors/keyguard-error.js";
import { hasControlCharacters } from "../validation/operation-inputs.js";

/**
 * Through which door a change came: the admin HTTP API, the `keyguard` CLI, or the
 * application's own code (programmatic `kg.*` calls).
 */
export type EventActorType = "admin_api" | "cli" | "code";

/**
 * Who made a change. `name` is the admin API client's address, the OS user running the
 * CLI, or for code the name the application gave (`kg.withActor("billing-job")`; `null`
 * when it gave none). KeyGuard's own decisions (automatic blocks) are `code` named
 * `keyguard`.
 */
export interface EventActor {
  readonly type: EventActorType;
  readonly name: string | null;
}

export const EVENT_ACTOR_TYPES: readonly EventActorType[] = ["admin_api", "cli", "code"];

/** Calls made without `withActor`. */
export const CODE_ACTOR: EventActor = Object.freeze({ type: "code", name: null });

/** KeyGuard deciding by itself (the failure threshold blocking a client). */
export const KEYGUARD_ACTOR: EventActor = Object.freeze({ type: "code", name: "keyguard" });

/** Longest actor name stored (names come from applications, addresses, OS users). */
export const MAX_ACTOR_NAME = 200;

/**
 * An actor from what `withActor` was given: a name (a `code` actor), or an actor
 * object. Names are 1..200 characters without control characters, as labels are.
 */
export function actorOf(input: string | EventActor): EventActor {
  const actor: EventActor = typeof input === "string" ? { type: "code", name: input } : input;
  if (
    actor === null ||
    typeof actor !== "object" ||
    !EVENT_ACTOR_TYPES.includes(actor.type) ||
    (actor.name !== null && typeof actor.name !== "string")
  ) {
    throw new KeyGuardError(
      "invalid_input",
      'actor must be a name or { type: "admin_api" | "cli" | "code", name }',
      { details: { field: "actor" } },
    );
  }
  if (
    actor.name !== null &&
    (actor.name.length === 0 ||
      actor.name.length > MAX_ACTOR_NAME ||
      hasControlCharacters(actor.name))
  ) {
    throw new KeyGuardError(
      "invalid_input",
      `actor must be 1 to ${MAX_ACTOR_NAME} characters without control characters`,
      { details: { field: "actor" } },
    );
  }
  return Object.freeze({ type: actor.type, name: actor.name });
}
