import { randomUUID } from "node:crypto";
import type { KeyGuardConfig } from "../config/keyguard-config.js";
import {
  type ApiKey,
  type ApiKeyInfo,
  type ApiKeyPatch,
  type StoredApiKey,
  toApiKeyInfo,
} from "../domain/api-key.js";
import type { CreditRefill, KeyCredits } from "../domain/key-credits.js";
import type { Organization } from "../domain/organization.js";
import { KeyGuardError } from "../errors/keyguard-error.js";
import { changedFields, created, keyFields } from "../events/event-changes.js";
import type { EventRecorder } from "../events/event-recorder.js";
import { parseAllowedIps } from "../ip-rules/key-allowed-ips.js";
import type { ConcurrencySpec, LimitSpec } from "../limits/limit-policy.js";
import type {
  ApiKeyChange,
  ApiKeyListFilter,
  ApiKeyRotationOutcome,
  Store,
} from "../ports/store.js";
import type { Clock } from "../util/clock.js";
import {
  concurrencySchema,
  creditsAmountSchema,
  creditsSchema,
  expiresAtSchema,
  gracePeriodSchema,
  hasControlCharacters,
  keyLabelSchema,
  limitsSchema,
  monthlyLimitSchema,
  parseInput,
  rateLimitSchema,
  scopesSchema,
} from "../validation/operation-inputs.js";
import {
  DISPLAY_PREFIX_LENGTH,
  generateRawKey,
  isWellFormedKey,
  type KeyEnvironment,
  keyEnvironmentOf,
} from "./key-format.js";
import type { KeyHasher } from "./key-hasher.js";

export interface CreateApiKeyInput {
  /** The owning organization, by name or id. */
  readonly organization: string;
  readonly label: string;
  /** Defaults to the configured `defaultRateLimitPerMinute`. */
  readonly rateLimitPerMinute?: number;
  /** Requests per calendar month (UTC); omitted or `null` = no quota. */
  readonly monthlyLimit?: number | null;
  /** Named windows besides the minute and the month (see `ApiKey.limits`). */
  readonly limits?: readonly LimitSpec[];
  /** Most of the key's requests in flight at once; omitted or `null` = no cap. */
  readonly concurrency?: ConcurrencySpec | null;
  readonly scopes?: readonly string[];
  /** When the key stops working; must be in the future. */
  readonly expiresAt?: Date | null;
  /** `kg_live_` or `kg_test_` keys; defaults to the configured `keyEnvironment`. */
  readonly environment?: KeyEnvironment;
  /** Addresses or CIDRs the key may be used from (at most 100); omitted = anywhere. */
  readonly allowedIps?: readonly string[] | null;
  /** Prepaid credits (see `ApiKey.credits`); omitted or `null` = none. */
  readonly credits?: CreditsInput | null;
}

/** A key's credits as set: a fresh balance of `remaining`, refilled to `refill.amount`. */
export interface CreditsInput {
  readonly remaining: number;
  readonly refill?: CreditRefill | null;
}

/** A new key: `rawKey` is shown to the caller once and never stored anywhere. */
export interface CreatedApiKey {
  readonly rawKey: string;
  readonly key: ApiKeyInfo;
}

export type UpdateApiKeyInput = Omit<ApiKeyPatch, "credits"> & {
  /** A fresh balance from now on (what was spent before no longer counts), or `null`: none. */
  readonly credits?: CreditsInput | null;
};

/** What `listApiKeys` takes: the store's filter, with the organization by name or id. */
export interface ApiKeyListing extends Omit<ApiKeyListFilter, "orgId" | "now"> {
  readonly organization?: string;
}

/** The result of a rotation: the new key (shown once) and what became of the old one. */
export interface RotatedApiKey extends CreatedApiKey {
  readonly previous: ApiKeyInfo;
}

export interface ApiKeyServiceOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly config: KeyGuardConfig;
  readonly hash: KeyHasher;
  /** Where each change's event goes (written in the change's transaction). */
  readonly events: EventRecorder;
  /** Hashers of retired secrets, tried after `hash` when a raw key names no key. */
  readonly previousHashes?: readonly KeyHasher[];
  readonly organizations: { get(nameOrId: string): Promise<Organization> };
  /** Drops a hash from this process's verification cache (a new key may be cached as unknown). */
  readonly forget: (keyHash: string) => void;
  /** A stored key changed: forget it here and tell the other processes. */
  readonly keyChanged: (keyHash: string) => Promise<void>;
  /**
   * Finds an imported key by its raw key when that is not in KeyGuard's format
   * (keyguard-python, plain SHA-256 imports); `undefined` when it names none.
   */
  readonly findImported?: (rawKey: string) => Promise<StoredApiKey | undefined>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How many candidates an ambiguous prefix reports. */
const MAX_CANDIDATES = 10;

/**
 * API keys: creation (the raw key returned once), rotation, look-up by id, prefix or raw
 * key, updates and revocation. Every input is validated before anything is stored; every
 * change to a stored key is announced through `keyChanged`, so no process keeps trusting
 * a cached copy.
 */
/** What a revocation did: `alreadyRevoked` when the key was revoked before (no change). */
export interface RevokeOutcome {
  readonly key: ApiKeyInfo;
  readonly alreadyRevoked: boolean;
}

export class ApiKeyService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #config: KeyGuardConfig;
  readonly #hash: KeyHasher;
  readonly #events: EventRecorder;
  readonly #previousHashes: readonly KeyHasher[];
  readonly #organizations: ApiKeyServiceOptions["organizations"];
  readonly #forget: (keyHash: string) => void;
  readonly #keyChanged: (keyHash: string) => Promise<void>;
  readonly #findImported: ApiKeyServiceOptions["findImported"];

  constructor(options: ApiKeyServiceOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#config = options.config;
    this.#hash = options.hash;
    this.#events = options.events;
    this.#previousHashes = options.previousHashes ?? [];
    this.#organizations = options.organizations;
    this.#forget = options.forget;
    this.#keyChanged = options.keyChanged;
    this.#findImported = options.findImported;
  }

  /** Creates a key. The returned `rawKey` is the only copy: show it once, then drop it. */
  async create(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    const { rawKey, key } = this.#newKey(input);
    const organization = await this.#organizations.get(input.organization);
    const stored = { ...key, orgId: organization.id };
    await this.#events.write(
      (inserted: ApiKey) => ({
        action: "key.created",
        targetId: inserted.id,
        changes: created(keyFields(inserted)),
      }),
      (record) => this.#store.insertApiKey(stored, record),
    );
    return { rawKey, key: this.#createdInfo(stored, organization) };
  }

  /**
   * Issues a new raw key with the settings of an existing one (organization, label, limits,
   * scopes, expiry, and its monthly quota: the successor continues the month's count).
   * The old key is revoked at once, or, with `gracePeriodMs`, keeps working until the
   * grace period ends (its expiry is brought forward to then), both keys spending one
   * quota meanwhile. The database decides: of several rotations of one key at once,
   * from any processes, one succeeds and the others are refused with
   * `key_already_rotated`, so a key never has two successors.
   */
  async rotate(
    reference: string,
    options: { gracePeriodMs?: number } = {},
  ): Promise<RotatedApiKey> {
    const grace =
      options.gracePeriodMs === undefined
        ? undefined
        : parseInput(gracePeriodSchema, options.gracePeriodMs, "gracePeriodMs");
    const found = await this.find(reference);
    const now = this.#clock.now();
    // Refused at once when the read already shows it (no key generated for nothing); the
    // store checks the same conditions again in its conditional write, which is what counts.
    const early = notRotatable(found, now);
    if (early !== undefined) throw early;
    const { rawKey, prefix } = generateRawKey(keyEnvironmentOf(found.prefix));
    const keyHash = this.#hash(rawKey);
    // A lookup of this hash may have been cached as unknown (a client tried it early).
    this.#forget(keyHash);
    const rotation = {
      previousId: found.id,
      successor: { id: randomUUID(), prefix, keyHash, createdAt: new Date(now) },
      now: new Date(now),
      ...(grace === undefined ? {} : { graceEnd: new Date(now + grace) }),
    };
    const rotated = await this.#events.write(
      ({ before, previous, successor }: ApiKeyRotationOutcome) => {
        const changes = changedFields(keyFields(before), keyFields(previous));
        return {
          action: "key.rotated",
          targetId: previous.id,
          // The successor is named (id and display prefix), never its hash.
          changes: {
            before: changes.before,
            after: { ...changes.after, successor_prefix: successor.prefix },
          },
        };
      },
      (record) => this.#store.rotateApiKey(rotation, record),
    );
    if (rotated === undefined) throw await this.#refusal(found, now);
    await this.#keyChanged(found.keyHash);
    return {
      rawKey,
      key: toApiKeyInfo(rotated.successor),
      previous: toApiKeyInfo(rotated.previous),
    };
  }

  /** Why a conditional write on `key` found nothing to change: its state as stored now. */
  async #refusal(key: StoredApiKey, now: number): Promise<KeyGuardError> {
    const current = await this.#store.findApiKeyById(key.id);
    if (current === undefined) {
      return new KeyGuardError("api_key_not_found", `API key ${key.prefix} no longer exists.`);
    }
    return (
      notRotatable(current, now) ??
      // The write lost a race the re-read no longer shows (cannot happen: keys do not come
      // back to life); say so rather than pretend it worked.
      new KeyGuardError("conflict", `Key ${key.prefix} was changed meanwhile; try again.`)
    );
  }

  /** Validates key settings and generates the raw key; `orgId` is filled in by the caller. */
  #newKey(input: CreateApiKeyInput): { rawKey: string; key: ApiKey } {
    const now = this.#clock.now();
    const label = parseInput(keyLabelSchema, input.label, "label");
    const rateLimitPerMinute = parseInput(
      rateLimitSchema,
      input.rateLimitPerMinute ?? this.#config.defaultRateLimitPerMinute,
      "rateLimitPerMinute",
    );
    const monthlyLimit = parseInput(monthlyLimitSchema, input.monthlyLimit ?? null, "monthlyLimit");
    const scopes = parseInput(scopesSchema, input.scopes ?? [], "scopes");
    const limits = parseInput(limitsSchema, input.limits ?? [], "limits");
    const concurrency = parseInput(concurrencySchema, input.concurrency ?? null, "concurrency");
    const expiresAt = this.#parseExpiry(input.expiresAt ?? null, now);
    const allowedIps = parseAllowedIps(input.allowedIps ?? null, "allowedIps");
    const credits = parseCredits(input.credits ?? null, now);
    const { rawKey, prefix } = generateRawKey(input.environment ?? this.#config.keyEnvironment);
    const keyHash = this.#hash(rawKey);
    // A lookup of this hash may have been cached as unknown (a client tried it early).
    this.#forget(keyHash);
    const id = randomUUID();
    return {
      rawKey,
      key: {
        id,
        orgId: "",
        label,
        prefix,
        keyHash,
        isActive: true,
        scopes,
        rateLimitPerMinute,
        monthlyLimit,
        limits,
        ...(concurrency === null ? {} : { concurrency }),
        createdAt: new Date(now),
        expiresAt,
        lastUsedAt: null,
        quotaId: id,
        replacedBy: null,
        ...(allowedIps === null ? {} : { allowedIps }),
        ...(credits === null ? {} : { credits }),
      },
    };
  }

  #createdInfo(key: ApiKey, organization: Pick<Organization, "name" | "status">): ApiKeyInfo {
    return toApiKeyInfo({
      ...key,
      organizationName: organization.name,
      organizationStatus: organization.status,
    });
  }

  /** Keys, masked (no hash, no raw key), oldest first, filtered and paged by the store. */
  async list(filter: ApiKeyListing = {}): Promise<ApiKeyInfo[]> {
    const { organization, ...rest } = filter;
    const orgId =
      organization === undefined ? undefined : (await this.#organizations.get(organization)).id;
    const keys = await this.#store.listApiKeys({
      ...rest,
      ...(orgId === undefined ? {} : { orgId }),
      now: new Date(this.#clock.now()),
    });
    return keys.map(toApiKeyInfo);
  }

  /**
   * Finds a key by id, by its full display prefix (`kg_live_4Gk9`, as `list-keys` shows
   * it) or by the raw key itself. Anything shorter than a display prefix (`k`, `kg_live_`)
   * is refused as too short rather than taken to mean "whichever key starts so": a typo
   * must never revoke some other key. A prefix that fits several keys is an
   * `ambiguous_key_reference` error listing them: KeyGuard never guesses which key you meant.
   */
  async get(reference: string): Promise<ApiKeyInfo> {
    return toApiKeyInfo(await this.find(reference));
  }

  /**
   * Changes a key's label, limits, scopes or expiry. Takes effect in this process at once,
   * and in every other at once with a change feed (Redis), else within `cache.ttlMs`.
   * A revoked key cannot be changed (`conflict`), nor a rotated one (`key_already_rotated`:
   * its settings live in its successor now); the database checks both in the write itself.
   */
  async update(reference: string, input: UpdateApiKeyInput): Promise<ApiKeyInfo> {
    const patch: { -readonly [K in keyof ApiKeyPatch]: ApiKeyPatch[K] } = {};
    if (input.label !== undefined) patch.label = parseInput(keyLabelSchema, input.label, "label");
    if (input.rateLimitPerMinute !== undefined) {
      patch.rateLimitPerMinute = parseInput(
        rateLimitSchema,
        input.rateLimitPerMinute,
        "rateLimitPerMinute",
      );
    }
    if (input.monthlyLimit !== undefined) {
      patch.monthlyLimit = parseInput(monthlyLimitSchema, input.monthlyLimit, "monthlyLimit");
    }
    if (input.scopes !== undefined) patch.scopes = parseInput(scopesSchema, input.scopes, "scopes");
    if (input.limits !== undefined) patch.limits = parseInput(limitsSchema, input.limits, "limits");
    if (input.concurrency !== undefined) {
      patch.concurrency = parseInput(concurrencySchema, input.concurrency, "concurrency");
    }
    if (input.expiresAt !== undefined) {
      patch.expiresAt = this.#parseExpiry(input.expiresAt, this.#clock.now());
    }
    if (input.allowedIps !== undefined) {
      patch.allowedIps = parseAllowedIps(input.allowedIps, "allowedIps");
    }
    if (input.credits !== undefined) patch.credits = parseCredits(input.credits, this.#clock.now());
    const key = await this.find(reference);
    const updated = await this.#events.write(
      ({ before, after }: ApiKeyChange) => ({
        action: "key.updated",
        targetId: after.id,
        changes: changedFields(keyFields(before), keyFields(after)),
      }),
      (record) => this.#store.updateApiKey(key.id, patch, record),
    );
    if (updated === undefined) throw await this.#unchangeable(key);
    if (Object.keys(patch).length > 0) await this.#keyChanged(key.keyHash);
    return toApiKeyInfo(updated);
  }

  /**
   * Adds `amount` credits to a key's balance (see `Store.addCredits`: concurrent top-ups
   * all count), audited as `key.credits_added`. Applies at once everywhere, as any change
   * of a key does. Refused for a key without credits, a revoked or a rotated one.
   */
  async addCredits(reference: string, amount: number): Promise<ApiKeyInfo> {
    const add = parseInput(creditsAmountSchema, amount, "add");
    const store = this.#store;
    if (store.addCredits === undefined) {
      throw new KeyGuardError("invalid_config", "This store cannot hold credits.");
    }
    const key = await this.find(reference);
    if (key.isActive && key.replacedBy === null && !key.credits) {
      throw new KeyGuardError(
        "conflict",
        `Key ${key.prefix} has no credits to add to; give it credits first (credits: { remaining }).`,
      );
    }
    const changed = await this.#events.write(
      ({ before, after }: ApiKeyChange) => {
        const changes = changedFields(keyFields(before), keyFields(after));
        return {
          action: "key.credits_added",
          targetId: after.id,
          changes: { before: changes.before, after: { ...changes.after, credits_added: add } },
        };
      },
      (record) =>
        store.addCredits?.(key.id, add, new Date(this.#clock.now()), record) as Promise<
          ApiKeyChange | undefined
        >,
    );
    if (changed === undefined) {
      const current = await this.#store.findApiKeyById(key.id);
      if (current?.isActive && current.replacedBy === null && !current.credits) {
        throw new KeyGuardError("conflict", `Key ${key.prefix} has no credits to add to.`);
      }
      throw await this.#unchangeable(key);
    }
    await this.#keyChanged(key.keyHash);
    return toApiKeyInfo(changed.after);
  }

  /** Why `updateApiKey` found nothing to change. */
  async #unchangeable(key: StoredApiKey): Promise<KeyGuardError> {
    const current = await this.#store.findApiKeyById(key.id);
    if (current === undefined) {
      return new KeyGuardError("api_key_not_found", `API key ${key.prefix} no longer exists.`);
    }
    if (current.replacedBy !== null) return alreadyRotated(current);
    return new KeyGuardError(
      "conflict",
      `Key ${key.prefix} is revoked and cannot be changed; create a new key instead.`,
    );
  }

  /**
   * Revokes a key: refused from now on (everywhere at once with a change feed). A key that
   * is already revoked is left as it is (nothing written or announced) and reported so.
   * The database decides which: of several revocations at once, exactly one revokes.
   */
  async revoke(reference: string): Promise<RevokeOutcome> {
    const key = await this.find(reference);
    const revoked =
      key.isActive &&
      (await this.#events.write(
        (after: StoredApiKey) => ({
          action: "key.revoked",
          targetId: after.id,
          changes: { before: { is_active: true }, after: { is_active: false } },
        }),
        (record) => this.#store.revokeApiKey(key.id, record),
      ));
    if (revoked) await this.#keyChanged(key.keyHash);
    const current = revoked || key.isActive ? await this.#store.findApiKeyById(key.id) : key;
    if (current === undefined) {
      throw new KeyGuardError("api_key_not_found", `API key ${key.prefix} no longer exists.`);
    }
    return { key: toApiKeyInfo(current), alreadyRevoked: !revoked };
  }

  /** The stored key (with its hash: internal) a reference names; see {@link get}. */
  async find(reference: string): Promise<StoredApiKey> {
    const ref = typeof reference === "string" ? reference.trim() : "";
    if (ref === "") throw new KeyGuardError("invalid_input", "a key id or prefix is required");
    if (UUID.test(ref)) {
      const byId = await this.#store.findApiKeyById(ref.toLowerCase());
      if (byId) return byId;
    } else if (isWellFormedKey(ref)) {
      const byHash = await this.#store.findApiKeyByHash(this.#hash(ref));
      if (byHash) return byHash;
      for (const previous of this.#previousHashes) {
        const byPrevious = await this.#store.findApiKeyByHash(previous(ref));
        if (byPrevious) return byPrevious;
      }
    } else if (ref.length < DISPLAY_PREFIX_LENGTH) {
      throw new KeyGuardError(
        "invalid_input",
        `"${ref}" is too short to name a key: give its full display prefix as key listings show it (${DISPLAY_PREFIX_LENGTH} characters, e.g. kg_live_4Gk9), its id, or the raw key`,
      );
    } else if (ref.length === DISPLAY_PREFIX_LENGTH && !hasControlCharacters(ref)) {
      // No prefix has a control character (PostgreSQL text cannot even hold NUL).
      const candidates = await this.#store.findApiKeysByPrefix(ref, MAX_CANDIDATES + 1);
      if (candidates.length === 1 && candidates[0]) return candidates[0];
      if (candidates.length > 1) throw ambiguous(ref, candidates);
    } else if (this.#findImported !== undefined) {
      // A raw key of another system's format (an imported key).
      const imported = await this.#findImported(ref);
      if (imported) return imported;
    }
    throw new KeyGuardError(
      "api_key_not_found",
      `No API key matches "${ref.length > 40 ? `${ref.slice(0, 12)}...` : ref}".`,
    );
  }

  #parseExpiry(expiresAt: Date | null, now: number): Date | null {
    const parsed = parseInput(expiresAtSchema, expiresAt, "expiresAt");
    if (parsed !== null && parsed.getTime() <= now) {
      throw new KeyGuardError("invalid_input", "expiresAt must be in the future", {
        details: { field: "expiresAt" },
      });
    }
    return parsed;
  }
}

/** Why `key` cannot be rotated at `now`, if it cannot. */
function notRotatable(key: StoredApiKey, now: number): KeyGuardError | undefined {
  if (key.replacedBy !== null) return alreadyRotated(key);
  if (!key.isActive) {
    return new KeyGuardError(
      "conflict",
      `Key ${key.prefix} is revoked and cannot be rotated; create a new key instead.`,
    );
  }
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) {
    return new KeyGuardError(
      "conflict",
      `Key ${key.prefix} has expired and cannot be rotated; create a new key instead.`,
    );
  }
  return undefined;
}

function alreadyRotated(key: StoredApiKey): KeyGuardError {
  return new KeyGuardError(
    "key_already_rotated",
    `Key ${key.prefix} was already rotated; its successor has id ${key.replacedBy}. Rotate or change that key instead.`,
    { details: { successorId: key.replacedBy } },
  );
}

function ambiguous(reference: string, candidates: readonly StoredApiKey[]): KeyGuardError {
  const shown = candidates.slice(0, MAX_CANDIDATES).map((key) => ({
    id: key.id,
    prefix: key.prefix,
    label: key.label,
    organization: key.organizationName,
  }));
  const list = shown
    .map((c) => `${c.prefix} (${c.label}, ${c.organization}, id ${c.id})`)
    .join("; ");
  const more = candidates.length > MAX_CANDIDATES ? " and more" : "";
  return new KeyGuardError(
    "ambiguous_key_reference",
    `"${reference}" matches several keys: ${list}${more}. Use the key's id instead.`,
    { details: { candidates: shown } },
  );
}

/** Credits as given, validated, as stored: a fresh balance whose epoch is `now`. */
function parseCredits(input: CreditsInput | null, now: number): KeyCredits | null {
  const parsed = parseInput(creditsSchema, input, "credits");
  if (parsed === null) return null;
  return { granted: parsed.remaining, epoch: new Date(now), refill: parsed.refill ?? null };
}
