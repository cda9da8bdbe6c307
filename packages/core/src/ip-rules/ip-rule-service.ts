import type { IpRule, IpRuleAction, StoredIpRule } from "../domain/ip-rule.js";
import { isKeyGuardError, KeyGuardError } from "../errors/keyguard-error.js";
import { created, ipRuleFields, removed } from "../events/event-changes.js";
import type { EventRecorder } from "../events/event-recorder.js";
import type { GuardRequest } from "../pipeline/guard-request.js";
import type { IpAddress } from "../pipeline/ip-address.js";
import type { TrustProxy } from "../pipeline/trusted-proxies.js";
import type { KeyGuardChange } from "../ports/change-feed.js";
import type { Store } from "../ports/store.js";
import type { Clock } from "../util/clock.js";
import { timeOrderedId } from "../util/time-ordered-id.js";
import { blockReasonSchema, parseInput } from "../validation/operation-inputs.js";
import { AddressRanges } from "./address-ranges.js";
import { type CidrRange, parseCidr, tryParseCidr } from "./cidr.js";
import { createClientIpResolver } from "./client-ip.js";

/** Most rules of each source: configured ones, and stored ones (refused past it). */
export const MAX_IP_RULES = 10_000;

/** The `ipRules` configuration: addresses or CIDRs, validated at start-up. */
export interface IpRulesConfig {
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}

/** What `addIpRule` takes (the admin API's and the CLI's input). */
export interface IpRuleInput {
  readonly cidr: string;
  readonly action: IpRuleAction;
  readonly reason?: string;
}

export interface IpRuleServiceOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** Writes each stored rule's creation and removal into the audit log, in its transaction. */
  readonly events: EventRecorder;
  readonly configured: IpRulesConfig | undefined;
  readonly trustProxy: TrustProxy;
  /** Tells other processes to re-read the stored rules (a change feed), if there is one. */
  readonly publish: (change: KeyGuardChange) => Promise<void>;
  readonly syncIntervalMs: number;
  readonly onBackgroundError: (error: unknown) => void;
}

interface CompiledRules {
  readonly allow: AddressRanges;
  readonly deny: AddressRanges;
  /** Whether any rule exists (else requests skip the address look-up altogether). */
  readonly active: boolean;
}

/**
 * IP allow and deny rules: the configured ones (checked at start-up), and stored ones
 * (admin API, CLI) that every process reads: at start, every `syncIntervalMs`, and at
 * once on an `ip-rules` notice. The request path reads a compiled copy: no I/O, a
 * bisection per family, and nothing at all while there are no rules.
 */
export class IpRuleService {
  readonly #options: IpRuleServiceOptions;
  readonly #configured: readonly (IpRule & { range: CidrRange })[];
  readonly #clientIp: (request: GuardRequest) => IpAddress | undefined;
  #stored: readonly StoredIpRule[] = [];
  #compiled: CompiledRules;
  #sync: { timer: NodeJS.Timeout; ready: Promise<void> } | undefined;
  /** Reads started so far, and the first whose result is not outdated by a change. */
  #loadsStarted = 0;
  #firstCurrentLoad = 0;

  constructor(options: IpRuleServiceOptions) {
    this.#options = options;
    this.#configured = configuredRules(options.configured);
    this.#clientIp = createClientIpResolver(options.trustProxy);
    this.#compiled = this.#compile();
  }

  /** The client's full address (see `createClientIpResolver`). */
  clientIp(request: GuardRequest): IpAddress | undefined {
    return this.#clientIp(request);
  }

  /**
   * The rule covering the request's client: `deny` wins over `allow` when both cover it.
   * Free (no address parsed) while there are no rules.
   */
  ruleFor(request: GuardRequest): IpRuleAction | undefined {
    const compiled = this.#compiled;
    if (!compiled.active) return undefined;
    const address = this.#clientIp(request);
    if (address === undefined) return undefined;
    if (compiled.deny.contains(address)) return "deny";
    if (compiled.allow.contains(address)) return "allow";
    return undefined;
  }

  /** Configured rules first, then the stored ones, oldest first (read from the store now). */
  async list(): Promise<IpRule[]> {
    const stored = await this.#readStored();
    return [...this.#configured.map(withoutRange), ...stored.map(fromStore)];
  }

  /**
   * Stores a rule. The same range with the same action again is not a second rule: the one
   * there is answered (`created: false`); the same range with the other action is a
   * `conflict` (remove that rule first). Past {@link MAX_IP_RULES} stored rules, refused.
   */
  async add(input: IpRuleInput): Promise<{ rule: IpRule; created: boolean }> {
    const { store, clock, events } = this.#options;
    const insert = store.insertIpRule;
    if (insert === undefined) throw unsupported();
    if (typeof input !== "object" || input === null) {
      throw new KeyGuardError("invalid_input", "an IP rule needs cidr and action");
    }
    const range = parseCidr(input.cidr, "cidr");
    if (input.action !== "allow" && input.action !== "deny") {
      throw new KeyGuardError("invalid_input", 'action must be "allow" or "deny"', {
        details: { field: "action" },
      });
    }
    const reason =
      input.reason === undefined ? null : parseInput(blockReasonSchema, input.reason, "reason");
    const existing = await this.#readStored();
    const same = existing.find((rule) => rule.cidr === range.cidr);
    const full = () =>
      new KeyGuardError(
        "invalid_input",
        `at most ${MAX_IP_RULES.toLocaleString("en-US")} IP rules can be stored; remove some, or use wider ranges`,
      );
    if (same === undefined && existing.length >= MAX_IP_RULES) throw full();
    const now = clock.now();
    const rule: StoredIpRule = {
      id: timeOrderedId(now),
      cidr: range.cidr,
      action: input.action,
      reason,
      createdAt: new Date(now),
    };
    // The store calls `record` only when it inserted the row: re-adding the rule there, or
    // a range that has the other action (the conflict below), writes no event.
    const result = await events.write(
      (stored: StoredIpRule) => ({
        action: "ip_rule.created",
        targetId: stored.id,
        changes: created(ipRuleFields(stored)),
      }),
      (record) => insert.call(store, rule, MAX_IP_RULES, record),
    );
    // The store decides the bound again with the insert: a rule stored past it would be
    // answered as created, yet never read back (#readStored reads MAX_IP_RULES).
    if (result === undefined) throw full();
    if (result.rule.action !== input.action) {
      throw new KeyGuardError(
        "conflict",
        `${range.cidr} already has a ${result.rule.action} rule (${result.rule.id}); remove it first to ${input.action} this range`,
      );
    }
    if (result.created) {
      const { id, cidr, action } = result.rule;
      await this.#changed({ kind: "ip-rules", added: { id, cidr, action } });
    }
    return { rule: fromStore(result.rule), created: result.created };
  }

  /** Removes a stored rule by id; `not_found` if there is none (configured rules included). */
  async remove(id: string): Promise<IpRule> {
    const { store, events } = this.#options;
    const remove = store.deleteIpRule;
    if (remove === undefined) throw unsupported();
    if (typeof id !== "string" || id.length === 0 || id.length > 100) {
      throw new KeyGuardError("not_found", "No such IP rule.");
    }
    const gone = await events.write(
      (rule: StoredIpRule) => ({
        action: "ip_rule.removed",
        targetId: rule.id,
        changes: removed(ipRuleFields(rule)),
      }),
      (record) => remove.call(store, id, record),
    );
    if (gone === undefined) {
      throw new KeyGuardError(
        "not_found",
        "No such IP rule (rules from the configuration are changed there).",
      );
    }
    await this.#changed({ kind: "ip-rules", removed: gone.id });
    return fromStore(gone);
  }

  /** Starts the periodic re-read (once); resolves when the first load is done. */
  sync(): Promise<void> {
    if (this.#sync === undefined) {
      const ready = this.#load().catch(this.#options.onBackgroundError);
      const timer = setInterval(() => this.reload(), this.#options.syncIntervalMs);
      timer.unref();
      this.#sync = { timer, ready };
    }
    return this.#sync.ready;
  }

  /**
   * Another process changed the stored rules (or notices may have been missed: no
   * `change`). The change it names applies at once; the rules are then re-read.
   */
  hear(change?: Extract<KeyGuardChange, { kind: "ip-rules" }>): void {
    if (this.#sync === undefined) return; // not serving requests
    const added = change?.added;
    let stored = this.#stored;
    if (added !== undefined && (added.action === "allow" || added.action === "deny")) {
      const range = tryParseCidr(added.cidr);
      if (range !== undefined && !stored.some((rule) => rule.id === added.id)) {
        stored = [
          ...stored,
          {
            id: added.id,
            cidr: range.cidr,
            action: added.action,
            reason: null,
            createdAt: new Date(0),
          },
        ];
      }
    }
    const removed = change?.removed;
    if (removed !== undefined) stored = stored.filter((rule) => rule.id !== removed);
    if (stored !== this.#stored) {
      this.#stored = stored;
      this.#compiled = this.#compile();
    }
    // A read already under way may predate the change: its result must not be kept.
    this.#firstCurrentLoad = this.#loadsStarted + 1;
    this.reload();
  }

  reload(): void {
    if (this.#sync === undefined) return; // not serving requests
    this.#load().catch(this.#options.onBackgroundError);
  }

  stopSync(): void {
    if (this.#sync !== undefined) clearInterval(this.#sync.timer);
  }

  async #changed(change: Extract<KeyGuardChange, { kind: "ip-rules" }>): Promise<void> {
    // This process applies its own change before answering; the others on the notice, or
    // on their next periodic read without a change feed. A read already under way may
    // predate the change: its result is not kept.
    this.#firstCurrentLoad = this.#loadsStarted + 1;
    if (this.#sync !== undefined) await this.#load().catch(this.#options.onBackgroundError);
    await this.#options.publish(change);
  }

  async #load(): Promise<void> {
    const load = ++this.#loadsStarted;
    const stored = await this.#readStored();
    if (load < this.#firstCurrentLoad) return;
    this.#stored = stored;
    this.#compiled = this.#compile();
  }

  async #readStored(): Promise<StoredIpRule[]> {
    const { store } = this.#options;
    if (store.listIpRules === undefined) return [];
    return store.listIpRules(MAX_IP_RULES);
  }

  #compile(): CompiledRules {
    const allow: CidrRange[] = [];
    const deny: CidrRange[] = [];
    for (const rule of this.#configured) (rule.action === "allow" ? allow : deny).push(rule.range);
    for (const rule of this.#stored) {
      // Rows are written canonical; one that does not parse (edited by hand) is skipped.
      const range = tryParseCidr(rule.cidr);
      if (range !== undefined) (rule.action === "deny" ? deny : allow).push(range);
    }
    return {
      allow: new AddressRanges(allow),
      deny: new AddressRanges(deny),
      active: allow.length + deny.length > 0,
    };
  }
}

/** `ipRules` from the configuration, each entry parsed: `invalid_config` naming it. */
export function configuredRules(
  config: IpRulesConfig | undefined,
): (IpRule & { range: CidrRange })[] {
  if (config === undefined) return [];
  const rules: (IpRule & { range: CidrRange })[] = [];
  for (const action of ["allow", "deny"] as const) {
    const entries = config[action] ?? [];
    if (!Array.isArray(entries)) {
      throw new KeyGuardError("invalid_config", `ipRules.${action} must be a list of CIDRs`);
    }
    if (entries.length > MAX_IP_RULES) {
      throw new KeyGuardError(
        "invalid_config",
        `ipRules.${action} may hold at most ${MAX_IP_RULES} entries`,
      );
    }
    entries.forEach((entry, index) => {
      let range: CidrRange;
      try {
        range = parseCidr(entry, `ipRules.${action}[${index}]`);
      } catch (error) {
        if (!isKeyGuardError(error, "invalid_input")) throw error;
        throw new KeyGuardError("invalid_config", error.message, {
          details: { field: `ipRules.${action}` },
        });
      }
      rules.push({
        id: null,
        cidr: range.cidr,
        action,
        reason: null,
        createdAt: null,
        source: "config",
        range,
      });
    });
  }
  return rules;
}

function withoutRange(rule: IpRule & { range: CidrRange }): IpRule {
  const { range: _range, ...rest } = rule;
  return rest;
}

function fromStore(rule: StoredIpRule): IpRule {
  return { ...rule, source: "store" };
}

function unsupported(): KeyGuardError {
  return new KeyGuardError(
    "invalid_config",
    "This store cannot hold IP rules; configure them with ipRules instead.",
  );
}
