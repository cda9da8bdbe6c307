import { randomUUID } from "node:crypto";
import type { Organization, OrganizationStatus } from "../domain/organization.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { changedFields, created, organizationFields } from "../events/event-changes.js";
import type { EventRecorder } from "../events/event-recorder.js";
import type { ConcurrencySpec, LimitSpec } from "../limits/limit-policy.js";
import type { OrganizationChange, OrganizationListFilter, Store } from "../ports/store.js";
import type { Clock } from "../util/clock.js";
import {
  concurrencySchema,
  hasControlCharacters,
  MAX_ORGANIZATION_NAME,
  organizationLimitsSchema,
  organizationNameSchema,
  parseInput,
} from "../validation/operation-inputs.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface OrganizationServiceOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** Where each change's event goes (written in the change's transaction). */
  readonly events: EventRecorder;
  /** An organization's status changed: its keys' cached verifications must go, everywhere. */
  readonly organizationChanged: (id: string) => Promise<void>;
}

/** Organizations: created with a unique name, found by name or id, suspended, reactivated. */
export class OrganizationService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #events: EventRecorder;
  readonly #organizationChanged: (id: string) => Promise<void>;

  constructor(options: OrganizationServiceOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#organizationChanged = options.organizationChanged;
  }

  async create(name: string): Promise<Organization> {
    const organization: Organization = {
      id: randomUUID(),
      name: parseInput(organizationNameSchema, name),
      status: "active",
      createdAt: new Date(this.#clock.now()),
    };
    await this.#events.write(
      (stored: Organization) => ({
        action: "organization.created",
        targetId: stored.id,
        changes: created(organizationFields(stored)),
      }),
      (record) => this.#store.insertOrganization(organization, record),
    );
    return organization;
  }

  /** Oldest first, filtered and paged by the store. */
  list(filter: OrganizationListFilter = {}): Promise<Organization[]> {
    return this.#store.listOrganizations(filter);
  }

  /** Finds an organization by name, or by id. Throws `organization_not_found`. */
  async get(nameOrId: string): Promise<Organization> {
    const reference = typeof nameOrId === "string" ? nameOrId.trim() : "";
    // No name is longer than a name may be: such a reference is not looked up at all.
    // Nor is one with control characters (no name has them; PostgreSQL refuses NUL).
    const searchable =
      reference !== "" &&
      reference.length <= MAX_ORGANIZATION_NAME &&
      !hasControlCharacters(reference);
    const found =
      (searchable && (await this.#store.findOrganizationByName(reference))) ||
      (UUID.test(reference) ? await this.#store.findOrganizationById(reference) : undefined);
    if (!found) {
      const cut = reference.length > 60 ? `${reference.slice(0, 60)}...` : reference;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point
      const shown = cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\ufffd");
      throw new KeyGuardError("organization_not_found", `No organization named "${shown}".`);
    }
    return found;
  }

  /** Suspends an organization: its keys are refused until it is reactivated. */
  suspend(nameOrId: string): Promise<Organization> {
    return this.#setStatus(nameOrId, "suspended");
  }

  reactivate(nameOrId: string): Promise<Organization> {
    return this.#setStatus(nameOrId, "active");
  }

  /**
   * Replaces the organization's named windows (`[]`: none). In force at once in this
   * process and, with a change feed, in every other: its keys' cached copies are dropped.
   */
  async setLimits(nameOrId: string, limits: readonly LimitSpec[]): Promise<Organization> {
    const parsed = parseInput(organizationLimitsSchema, limits, "limits");
    const organization = await this.get(nameOrId);
    const store = this.#store;
    if (store.updateOrganizationLimits === undefined) {
      throw new KeyGuardError("invalid_input", "This store cannot keep organization limits.");
    }
    const updateLimits = store.updateOrganizationLimits.bind(store);
    const updated = await this.#events.write(
      // Setting the limits it already had changes nothing: the recorder writes no event.
      ({ before, after }: OrganizationChange) => ({
        action: "organization.updated",
        targetId: after.id,
        changes: changedFields(organizationFields(before), organizationFields(after)),
      }),
      (record) => updateLimits(organization.id, parsed, record),
    );
    if (!updated) throw this.#organizationGone(organization);
    await this.#organizationChanged(organization.id);
    return updated;
  }

  /**
   * Sets (or, with `null`, removes) the cap on requests in flight across all of the
   * organization's keys (`org.concurrency`). In force at once here and, with a change
   * feed, in every other process.
   */
  async setConcurrency(
    nameOrId: string,
    concurrency: ConcurrencySpec | null,
  ): Promise<Organization> {
    const parsed = parseInput(concurrencySchema, concurrency, "concurrency");
    const organization = await this.get(nameOrId);
    const store = this.#store;
    if (store.updateOrganizationConcurrency === undefined) {
      throw new KeyGuardError("invalid_input", "This store cannot keep organization limits.");
    }
    const update = store.updateOrganizationConcurrency.bind(store);
    const updated = await this.#events.write(
      // Setting the cap it already had changes nothing: the recorder writes no event.
      ({ before, after }: OrganizationChange) => ({
        action: "organization.updated",
        targetId: after.id,
        changes: changedFields(organizationFields(before), organizationFields(after)),
      }),
      (record) => update(organization.id, parsed, record),
    );
    if (!updated) throw this.#organizationGone(organization);
    await this.#organizationChanged(organization.id);
    return updated;
  }

  /**
   * A conditional write in the store: only a call that changed the status announces it, so
   * suspending a suspended organization (or two suspensions racing) announces it once.
   */
  async #setStatus(nameOrId: string, status: OrganizationStatus): Promise<Organization> {
    const organization = await this.get(nameOrId);
    const result = await this.#events.write(
      (changed: Organization) => ({
        action: status === "suspended" ? "organization.suspended" : "organization.activated",
        targetId: changed.id,
        changes: {
          before: { status: status === "suspended" ? "active" : "suspended" },
          after: { status },
        },
      }),
      (record) => this.#store.updateOrganizationStatus(organization.id, status, record),
    );
    if (!result) throw this.#organizationGone(organization);
    if (result.changed) await this.#organizationChanged(organization.id);
    return result.organization;
  }

  #organizationGone(organization: Organization): KeyGuardError {
    return new KeyGuardError(
      "organization_not_found",
      `Organization "${organization.name}" no longer exists.`,
    );
  }
}
