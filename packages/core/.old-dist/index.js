// src/util/detach-string.ts
function detachString(text) {
  return text.length < 13 ? text : ` ${text}`.slice(1);
}

// src/blocks/ip-block-list.ts
var IpBlockList = class {
  #byClient = /* @__PURE__ */ new Map();
  #maxClients;
  /**
   * @param maxClients For a cache: past this many clients the longest-held are forgotten
   *   (and must be looked up again). Unbounded by default: the manual list is the truth.
   */
  constructor(maxClients = Number.POSITIVE_INFINITY) {
    this.#maxClients = maxClients;
  }
  /** The longest block on `client` that covers `path` at `now`. */
  find(client, path, now) {
    const blocks = this.#byClient.get(client);
    if (blocks === void 0) return void 0;
    let found2;
    for (const block of blocks) {
      if (block.untilMs > now && (block.scope === "global" || block.path === path)) {
        if (found2 === void 0 || block.untilMs > found2.untilMs) found2 = block;
      }
    }
    return found2;
  }
  /** Adds a block, replacing the client's block of the same scope and path. */
  add(added) {
    const block = added.path === void 0 ? added : { ...added, path: detachString(added.path) };
    const blocks = (this.#byClient.get(block.client) ?? []).filter(
      (known) => !(known.scope === block.scope && known.path === block.path)
    );
    blocks.push(block);
    this.#byClient.delete(block.client);
    this.#byClient.set(block.client, blocks);
    if (this.#byClient.size > this.#maxClients) {
      const oldest = this.#byClient.keys().next().value;
      if (oldest !== void 0) this.#byClient.delete(oldest);
    }
  }
  remove(client) {
    this.#byClient.delete(client);
  }
  clear() {
    this.#byClient.clear();
  }
  /** Replaces everything with what the store holds now. */
  replaceAll(blocks) {
    const next = /* @__PURE__ */ new Map();
    for (const block of blocks) {
      const list = next.get(block.client);
      if (list === void 0) next.set(block.client, [block]);
      else list.push(block);
    }
    this.#byClient = next;
  }
};

// src/blocks/ip-block-service.ts
import { isIP } from "net";

// src/errors/error-codes.ts
var ERROR_CODES = {
  // Configuration and set-up (raised at start-up, never in a request).
  invalid_config: { status: 500, title: "Invalid configuration" },
  driver_missing: { status: 500, title: "Driver not installed" },
  driver_incompatible: { status: 500, title: "Driver incompatible with this Node.js" },
  // The configured secret is not the one the database's keys are hashed with (start-up, or
  // a key created after another process rotated the secret): 503, as nothing the caller
  // sent is wrong and the server cannot serve the request as configured.
  secret_mismatch: { status: 503, title: "Secret key mismatch" },
  // Requests refused before any operation runs (HTTP parser, admin API routing and bodies).
  bad_request: { status: 400, title: "Bad request" },
  headers_too_large: { status: 431, title: "Request headers too large" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  request_timeout: { status: 408, title: "Request timeout" },
  // Other client errors a framework or a handler raises (answered by the adapters'
  // problemErrorHandler); a 4xx status without a code here is answered as bad_request.
  forbidden: { status: 403, title: "Forbidden" },
  not_acceptable: { status: 406, title: "Not acceptable" },
  conflict: { status: 409, title: "Conflict" },
  gone: { status: 410, title: "Gone" },
  length_required: { status: 411, title: "Length required" },
  precondition_failed: { status: 412, title: "Precondition failed" },
  uri_too_long: { status: 414, title: "URI too long" },
  range_not_satisfiable: { status: 416, title: "Range not satisfiable" },
  unprocessable_content: { status: 422, title: "Unprocessable content" },
  // Bad input to an operation (CLI, admin API, programmatic use).
  invalid_input: { status: 400, title: "Invalid input" },
  organization_not_found: { status: 404, title: "Organization not found" },
  organization_exists: { status: 409, title: "Organization already exists" },
  api_key_not_found: { status: 404, title: "API key not found" },
  ambiguous_key_reference: { status: 409, title: "Ambiguous key reference" },
  // A key's state forbids the operation (decided by the database, so also when two admin
  // calls race): rotating a key that already has a successor. A revoked or expired key
  // that cannot be rotated or changed is the generic `conflict`.
  key_already_rotated: { status: 409, title: "API key already rotated" },
  // Request authentication and authorization.
  missing_api_key: { status: 401, title: "Missing API key" },
  invalid_api_key: { status: 401, title: "Invalid API key" },
  revoked_api_key: { status: 401, title: "Revoked API key" },
  expired_api_key: { status: 401, title: "Expired API key" },
  organization_suspended: { status: 403, title: "Organization suspended" },
  insufficient_scope: { status: 403, title: "Insufficient scope" },
  unauthorized: { status: 401, title: "Unauthorized" },
  // Abuse prevention and limits.
  ip_blocked: { status: 403, title: "IP address blocked" },
  rate_limited: { status: 429, title: "Rate limit exceeded" },
  quota_exceeded: { status: 429, title: "Monthly quota exceeded" },
  // Infrastructure, and failures that are nobody's input (a bug): never explained to clients.
  internal_error: { status: 500, title: "Internal server error" },
  database_unavailable: { status: 503, title: "Database unavailable" },
  service_unavailable: { status: 503, title: "Service unavailable" }
};
function httpStatusFor(code) {
  return ERROR_CODES[code].status;
}
function titleFor(code) {
  return ERROR_CODES[code].title;
}
function isErrorCode(value) {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

// src/errors/keyguard-error.ts
var KeyGuardError = class extends Error {
  name = "KeyGuardError";
  code;
  /** Extra, non-secret facts for callers (e.g. the candidates of an ambiguous reference). */
  details;
  constructor(code, message, options = {}) {
    super(message, options.cause === void 0 ? void 0 : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
  /** The HTTP status this error is answered with. */
  get status() {
    return httpStatusFor(this.code);
  }
};
function messageWithFieldNames(error, names) {
  const field = error.details?.field;
  if (typeof field !== "string" || !Object.hasOwn(names, field)) return error.message;
  if (!error.message.startsWith(field)) return error.message;
  return `${names[field]}${error.message.slice(field.length)}`;
}
function isKeyGuardError(error, code) {
  if (!(error instanceof Error) || error.name !== "KeyGuardError") return false;
  const actual = error.code;
  return isErrorCode(actual) && (code === void 0 || actual === code);
}

// src/pipeline/protected-path.ts
var MAX_KEYED_PATH_LENGTH = 1024;
function createPathMatcher(prefix) {
  const normalizedPrefix = normalize(prefix).replace(/\/+$/, "");
  if (normalizedPrefix === "") return () => true;
  const withSlash = `${normalizedPrefix}/`;
  return (path) => {
    const normalizedPath = NEEDS_DECODING.test(path) ? normalize(path) : path.toLowerCase();
    return normalizedPath === normalizedPrefix || normalizedPath.startsWith(withSlash);
  };
}
var NEEDS_DECODING = /[%?#]|\/\//;
function isProtectedPath(path, prefix) {
  return createPathMatcher(prefix)(path);
}
function normalizePath(path) {
  if (isAlreadyNormal(path)) return path;
  const normalized = normalize(path).replace(/\/+$/, "");
  const bounded = normalized.length > MAX_KEYED_PATH_LENGTH ? detachString(normalized.slice(0, MAX_KEYED_PATH_LENGTH)) : normalized;
  return bounded === "" ? "/" : bounded;
}
var NEEDS_NORMALIZING = /[%?#A-Z\u0000-\u001f\u007f-\uffff]|\/\/|[\s\S]\/$/;
function isAlreadyNormal(path) {
  return path !== "" && path.length <= MAX_KEYED_PATH_LENGTH && !NEEDS_NORMALIZING.test(path);
}
function normalize(path) {
  const end = path.search(/[?#]/);
  const pathOnly = end === -1 ? path : path.slice(0, end);
  return escapeControls(decodeEscapes(pathOnly)).replace(/\/{2,}/g, "/").toLowerCase();
}
function escapeControls(path) {
  return CONTROL.test(path) ? path.replace(CONTROL_ALL, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`) : path;
}
var CONTROL = /[\u0000-\u001f\u007f]/;
var CONTROL_ALL = /[\u0000-\u001f\u007f]/g;
function decodeEscapes(path) {
  if (!path.includes("%")) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return path.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}
function pathOf(target) {
  let path = target;
  if (path.charCodeAt(0) !== 47) {
    const authority = path.indexOf("://");
    if (authority !== -1) {
      const start = path.indexOf("/", authority + 3);
      path = start === -1 ? "/" : path.slice(start);
    }
  }
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

// src/util/duration.ts
var UNIT_MS = {
  ms: 1,
  s: 1e3,
  sec: 1e3,
  secs: 1e3,
  second: 1e3,
  seconds: 1e3,
  m: 6e4,
  min: 6e4,
  mins: 6e4,
  minute: 6e4,
  minutes: 6e4,
  h: 36e5,
  hr: 36e5,
  hrs: 36e5,
  hour: 36e5,
  hours: 36e5,
  d: 864e5,
  day: 864e5,
  days: 864e5,
  w: 6048e5,
  week: 6048e5,
  weeks: 6048e5
};
var PART = /(\d+(?:\.\d+)?)\s*([a-z]+)/gy;
var MAX_DURATION_MS = 3650 * 864e5;
var MAX_DURATION_TEXT = 64;
function parseDuration(value, what = "duration") {
  const shown = String(value).length > 40 ? `${String(value).slice(0, 40)}...` : String(value);
  const invalid2 = () => new KeyGuardError(
    "invalid_input",
    `${what} "${shown}" is not a duration: use e.g. 90s, 15m, 24h, 30d, "1 hour" or seconds`
  );
  const bounded = (ms) => {
    if (ms > MAX_DURATION_MS) {
      throw new KeyGuardError(
        "invalid_input",
        `${what} "${shown}" is too long: at most ${MAX_DURATION_MS / 864e5} days (10 years)`,
        { details: { maxMs: MAX_DURATION_MS } }
      );
    }
    const rounded = Math.round(ms);
    if (!(rounded >= 1)) throw invalid2();
    return rounded;
  };
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) throw invalid2();
    return bounded(value * 1e3);
  }
  if (typeof value !== "string" || value.length > MAX_DURATION_TEXT) throw invalid2();
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text), what);
  let total = 0;
  let consumed = 0;
  PART.lastIndex = 0;
  for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
    const name = match[2];
    const unit = Object.hasOwn(UNIT_MS, name) ? UNIT_MS[name] : void 0;
    if (unit === void 0) throw invalid2();
    total += Number(match[1]) * unit;
    consumed = PART.lastIndex;
    while (text[consumed] === " ") consumed++;
    PART.lastIndex = consumed;
  }
  if (text === "" || consumed !== text.length || total <= 0) throw invalid2();
  return bounded(total);
}

// src/validation/operation-inputs.ts
import { z } from "zod";
var CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
var BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;
function hasControlCharacters(text) {
  return CONTROL_CHARACTERS.test(text);
}
var displayText = (field, max, options = {}) => z.string({ error: `${field} must be a string` }).trim().min(1, `${field} must not be empty`).max(max, `${field} must be at most ${max} characters`).refine(
  (value) => !CONTROL_CHARACTERS.test(value),
  `${field} must not contain control characters`
).refine(
  (value) => options.bidi !== false || !BIDI_CONTROLS.test(value),
  `${field} must not contain bidirectional control characters (U+202A-202E, U+2066-2069)`
);
var MAX_ORGANIZATION_NAME = 200;
var organizationNameSchema = displayText("organization name", MAX_ORGANIZATION_NAME);
var keyLabelSchema = displayText("label", 200, { bidi: false });
var blockReasonSchema = displayText("reason", 200, { bidi: false });
var rateLimitSchema = z.number({ error: "rateLimitPerMinute must be a number" }).int("rateLimitPerMinute must be a whole number").positive("rateLimitPerMinute must be greater than 0").max(1e9, "rateLimitPerMinute must be at most 1,000,000,000");
var monthlyLimitSchema = z.number({ error: "monthlyLimit must be a number" }).int("monthlyLimit must be a whole number").positive("monthlyLimit must be greater than 0 (or null for no quota)").max(Number.MAX_SAFE_INTEGER, "monthlyLimit is too large").nullable();
var scopesSchema = z.array(
  z.string({ error: "each scope must be a string" }).regex(
    /^[A-Za-z0-9_.:*/-]{1,100}$/,
    "each scope must be 1-100 characters of letters, digits and _ . : * / -"
  ),
  { error: "scopes must be a list of strings" }
).max(100, "a key may have at most 100 scopes").transform((scopes) => [...new Set(scopes)]);
var LATEST_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
var expiresAtSchema = z.date({ error: "expiresAt must be a valid date" }).max(new Date(LATEST_TIME_MS), "expiresAt must be before the year 10000").nullable();
var MAX_GRACE_PERIOD_MS = 365 * 864e5;
var gracePeriodSchema = z.number({ error: "gracePeriodMs must be a number" }).refine(Number.isFinite, "gracePeriodMs must be a finite number").refine((ms) => ms >= 1, "the grace period must be a positive duration").refine((ms) => ms <= MAX_GRACE_PERIOD_MS, "the grace period must be at most 365 days").transform(Math.round);
var MAX_BLOCK_PATH_LENGTH = 2048;
var blockPathSchema = z.string({ error: "path must be a string" }).max(MAX_BLOCK_PATH_LENGTH, `path must be at most ${MAX_BLOCK_PATH_LENGTH} characters`).refine((path) => path.startsWith("/"), 'path must start with "/"').refine(
  (path) => !CONTROL_CHARACTERS.test(path) && !ENCODED_CONTROL_CHARACTER.test(path),
  "path must not contain control characters (typed or percent-encoded)"
);
var ENCODED_CONTROL_CHARACTER = /%(?:[01][0-9a-f]|7f|c2%[89][0-9a-f])/i;
var MAX_IP_LENGTH = 100;
function parseInput(schema, value, field) {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  throw new KeyGuardError("invalid_input", `${where}${issue?.message ?? "invalid input"}`, {
    ...field === void 0 ? {} : { details: { field } }
  });
}

// src/blocks/ip-block-service.ts
var IpBlockService = class {
  #options;
  /** Manual blocks: every one the store holds (operators make them; re-read periodically). */
  #list = new IpBlockList();
  /**
   * Automatic blocks (failed authentications, lockouts), bounded: clients can make these,
   * so past {@link MAX_AUTOMATIC_BLOCKS} clients the longest-held are forgotten here (the
   * limiter still holds them). Read from the store at start-up and on a resync, kept in
   * step by notices otherwise: a restart, or a Redis that lost its data, lifts none.
   */
  #automatic = new IpBlockList(MAX_AUTOMATIC_BLOCKS);
  #sync;
  /** Reads of the store started so far, and the first whose result is not outdated. */
  #loadsStarted = 0;
  #firstCurrentLoad = 0;
  /**
   * Automatic-block changes made or heard while a read of them is under way, replayed on
   * its result (which may predate them). Only kept while a read is under way.
   */
  #automaticChanges = [];
  #automaticLoads = 0;
  constructor(options) {
    this.#options = options;
  }
  async blockIp(ip, options) {
    const address = ipText(ip);
    if (!isIP(address)) {
      throw new KeyGuardError("invalid_input", `"${String(ip).slice(0, 64)}" is not an IP address`);
    }
    return this.#block(this.#options.clientAddress(address, void 0), options);
  }
  /**
   * Blocks the client of `request`. A path block on the request's own path that could not
   * be stored (over 2,048 characters, or control characters once decoded: a path the
   * client chose) blocks the client everywhere instead, so no path escapes a block.
   */
  blockRequest(request, options) {
    const client = this.#options.clientOf(request);
    if ((options.scope ?? "global") !== "path" || options.path !== void 0) {
      return this.#block(client, options);
    }
    const storable = blockPathSchema.safeParse(request.path).success;
    return this.#block(
      client,
      storable ? { ...options, path: request.path } : { ...options, scope: "global" }
    );
  }
  async unblockIp(ip) {
    const address = ipText(ip);
    const client = isIP(address) ? this.#options.clientAddress(address, void 0) : address;
    if (client === "") throw new KeyGuardError("invalid_input", "an IP address is required");
    const removed = await this.#options.store.deleteIpBlocks(client);
    this.#list.remove(client);
    this.#automaticChanged(client, void 0);
    const lifted = await this.#options.limiter?.unblock(client) ?? false;
    await this.#options.publish({ kind: "ip-blocks", client, stored: true });
    return removed > 0 || lifted;
  }
  async listBlocks() {
    const now = this.#options.clock.now();
    const stored = await this.#options.store.listIpBlocks(new Date(now));
    const limiter = this.#options.limiter;
    const inLimiter = limiter === void 0 ? [] : await limiter.listBlocks(now);
    const seen = new Set(stored.map(blockIdentity));
    return [
      ...stored,
      ...inLimiter.filter((block) => !seen.has(blockIdentity(block))).map((block) => block.automatic === true ? block : { ...block, automatic: true })
    ];
  }
  /**
   * The stored block covering `client` on `path` at `now`, manual or automatic, from
   * memory (no I/O): the longest-lasting.
   */
  findManualBlock(client, path, now) {
    const manual = this.#list.find(client, path, now);
    const automatic = this.#automatic.find(client, path, now);
    if (manual === void 0) return automatic;
    if (automatic === void 0) return manual;
    return automatic.untilMs > manual.untilMs ? automatic : manual;
  }
  /**
   * Records a block KeyGuard decided on (failed authentications past the threshold, a
   * lockout): in the limiter first, so it applies at once (in every process, with Redis),
   * then stored like a manual block, so a restart (of this server without Redis, or of a
   * Redis that comes back empty) lifts nothing. A store that fails is reported, not
   * thrown: the block then holds in the limiter until it ends, or until a restart.
   */
  async blockAutomatically(block) {
    const automatic = block.automatic === true ? block : { ...block, automatic: true };
    const { store, clock, limiter, onBackgroundError } = this.#options;
    await limiter?.block(automatic, clock.now());
    this.#automaticChanged(automatic.client, automatic);
    try {
      await store.insertIpBlock(automatic);
    } catch (error) {
      onBackgroundError(error);
      return;
    }
    await this.#options.publish({
      kind: "ip-blocks",
      client: automatic.client,
      block: automatic,
      stored: true
    });
  }
  /** Starts the periodic re-read (once); resolves when the first load is done. */
  sync() {
    if (this.#sync === void 0) {
      const ready = Promise.all([
        this.#load().catch(this.#options.onBackgroundError),
        this.#loadAutomatic().catch(this.#options.onBackgroundError)
      ]).then(() => {
      });
      const timer = setInterval(() => {
        this.reload();
        this.#sweepIfDue();
      }, this.#options.syncIntervalMs);
      timer.unref();
      this.#sync = { timer, ready };
    }
    return this.#sync.ready;
  }
  /**
   * Another process blocked or unblocked a client. A stored (manual) change applies to the
   * in-memory list at once, and the list is then re-read to be sure it matches the store.
   */
  hear(change) {
    if (!change.stored) return;
    if (change.block === void 0) {
      this.#list.remove(change.client);
      this.#automaticChanged(change.client, void 0);
    } else if (change.block.automatic === true) {
      this.#automaticChanged(change.client, change.block);
      return;
    } else {
      this.#list.add(change.block);
    }
    this.#firstCurrentLoad = this.#loadsStarted + 1;
    this.reload();
  }
  /** Re-reads the stored manual blocks now (another process changed them). */
  reload() {
    if (this.#sync === void 0) return;
    this.#load().catch(this.#options.onBackgroundError);
  }
  /**
   * Re-reads every stored block, the automatic ones too: notices may have been missed (the
   * change feed reconnected), or the limiter lost its own copy (Redis restarted empty).
   */
  resync() {
    if (this.#sync === void 0) return;
    this.#load().catch(this.#options.onBackgroundError);
    this.#loadAutomatic().catch(this.#options.onBackgroundError);
  }
  async #load() {
    const { store, clock } = this.#options;
    const load = ++this.#loadsStarted;
    const blocks = await store.listIpBlocks(new Date(clock.now()), { automatic: false });
    if (load >= this.#firstCurrentLoad) this.#list.replaceAll(blocks);
  }
  /** Not on the periodic re-read: clients can make many, and notices keep these in step. */
  async #loadAutomatic() {
    const { store, clock } = this.#options;
    this.#automaticLoads++;
    const since = this.#automaticChanges.length;
    try {
      const blocks = await store.listIpBlocks(new Date(clock.now()), {
        automatic: true,
        limit: MAX_AUTOMATIC_BLOCKS
      });
      this.#automatic.replaceAll(blocks);
      for (const { client, block } of this.#automaticChanges.slice(since)) {
        this.#applyAutomatic(client, block);
      }
    } finally {
      if (--this.#automaticLoads === 0) this.#automaticChanges = [];
    }
  }
  #automaticChanged(client, block) {
    this.#applyAutomatic(client, block);
    if (this.#automaticLoads > 0) this.#automaticChanges.push({ client, block });
  }
  #applyAutomatic(client, block) {
    if (block === void 0) this.#automatic.remove(client);
    else this.#automatic.add(block);
  }
  /** When ended automatic blocks were last deleted (at most once an hour, by each process). */
  #sweptAtMs = Number.NEGATIVE_INFINITY;
  #sweepIfDue() {
    const { store, clock, onBackgroundError } = this.#options;
    const now = clock.now();
    if (store.deleteEndedAutomaticBlocks === void 0 || now - this.#sweptAtMs < SWEEP_EVERY_MS) {
      return;
    }
    this.#sweptAtMs = now;
    store.deleteEndedAutomaticBlocks(new Date(now)).catch(onBackgroundError);
  }
  stopSync() {
    if (this.#sync !== void 0) clearInterval(this.#sync.timer);
  }
  async #block(client, options) {
    const now = this.#options.clock.now();
    const scope = options.scope ?? "global";
    if (scope !== "global" && scope !== "path") {
      throw new KeyGuardError("invalid_input", 'scope must be "global" or "path"');
    }
    if (scope === "path" && options.path === void 0) {
      throw new KeyGuardError(
        "invalid_input",
        'a "path" block needs the path it applies to, starting with "/"'
      );
    }
    const path = scope === "path" ? parseInput(blockPathSchema, options.path, "path") : void 0;
    const untilMs = options.until !== void 0 ? untilOf(options.until) : void 0;
    const endMs = untilMs ?? now + parseDuration(options.duration ?? "24h", "duration");
    if (endMs <= now) throw new KeyGuardError("invalid_input", "a block must end in the future");
    if (endMs - now > MAX_DURATION_MS) {
      throw new KeyGuardError(
        "invalid_input",
        "until: a block may last at most 3650 days (10 years)"
      );
    }
    const block = {
      client,
      scope,
      ...path === void 0 ? {} : { path: normalizePath(path) },
      untilMs: endMs,
      reason: parseInput(blockReasonSchema, options.reason ?? "manual", "reason")
    };
    await this.#options.store.insertIpBlock(block);
    this.#list.add(block);
    await this.#options.limiter?.block(block, now);
    await this.#options.publish({ kind: "ip-blocks", client, block, stored: true });
    return block;
  }
};
var MAX_AUTOMATIC_BLOCKS = 1e5;
var SWEEP_EVERY_MS = 36e5;
function ipText(ip) {
  const address = typeof ip === "string" ? ip.trim() : "";
  if (address.length > MAX_IP_LENGTH) {
    throw new KeyGuardError("invalid_input", `ip must be at most ${MAX_IP_LENGTH} characters`);
  }
  if (hasControlCharacters(address)) {
    throw new KeyGuardError("invalid_input", "ip must not contain control characters");
  }
  return address;
}
function untilOf(until) {
  const ms = until instanceof Date ? until.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new KeyGuardError("invalid_input", "until must be a valid date");
  return ms;
}
function blockIdentity(block) {
  return `${block.client}\0${block.scope}\0${block.path ?? ""}\0${block.untilMs}`;
}

// src/cache/verification-cache.ts
import { LRUCache } from "lru-cache";

// src/domain/api-key.ts
function toApiKeyInfo(key) {
  return {
    id: key.id,
    orgId: key.orgId,
    label: key.label,
    prefix: key.prefix,
    isActive: key.isActive,
    scopes: key.scopes,
    rateLimitPerMinute: key.rateLimitPerMinute,
    monthlyLimit: key.monthlyLimit,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    lastUsedAt: key.lastUsedAt,
    quotaId: key.quotaId,
    replacedBy: key.replacedBy,
    organizationName: key.organizationName,
    organizationStatus: key.organizationStatus
  };
}

// src/cache/verification-cache.ts
var UNKNOWN = Object.freeze({ key: void 0, info: void 0 });
function found(key) {
  const info = toApiKeyInfo(key);
  Object.freeze(info.scopes);
  return Object.freeze({ key, info: Object.freeze(info) });
}
var REFRESH_AHEAD_FRACTION = 0.75;
var REFRESH_RETRY_MS = 1e3;
var VerificationCache = class {
  /** Hashes of stored keys (active or not). */
  #known;
  /** Hashes no key has, remembered for `negativeTtlMs`. */
  #unknown;
  #inFlight = /* @__PURE__ */ new Map();
  #clock;
  #ttlMs;
  #refreshAfterMs;
  #retryMs;
  #staleIfErrorMs;
  #onRefreshError;
  constructor(options) {
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs;
    this.#refreshAfterMs = Math.floor(options.ttlMs * REFRESH_AHEAD_FRACTION);
    this.#retryMs = Math.max(1, Math.min(REFRESH_RETRY_MS, Math.floor(options.ttlMs / 10)));
    this.#staleIfErrorMs = options.staleIfErrorMs ?? 0;
    this.#onRefreshError = options.onRefreshError ?? (() => {
    });
    this.#known = new LRUCache({
      max: options.maxEntries,
      ttl: options.ttlMs + this.#staleIfErrorMs,
      perf: options.clock,
      ttlResolution: 0
    });
    this.#unknown = new LRUCache({
      max: options.negativeMaxEntries ?? options.maxEntries,
      ttl: options.negativeTtlMs,
      perf: options.clock,
      ttlResolution: 0
    });
  }
  /**
   * The cached lookup for a hash if it is fresh (or an unexpired "unknown"), else
   * `undefined`. Synchronous: no I/O, and nothing is refreshed (see {@link lookup}).
   */
  peek(keyHash) {
    const entry = this.#known.get(keyHash);
    if (entry !== void 0) {
      return this.#clock.now() - entry.loadedAt < this.#ttlMs ? entry.lookup : void 0;
    }
    return this.#unknown.get(keyHash);
  }
  /**
   * The answer for a hash that needs no waiting, or `undefined` when the caller must wait
   * for {@link resolve}. Synchronous. A fresh entry is answered, and refreshed in the
   * background once it is three quarters through its TTL; an entry past its TTL is still
   * answered (within `staleIfErrorMs`) while its refresh is under way or the last one found
   * the store unavailable. Refreshes go through `load`, one per key at a time.
   */
  lookup(keyHash, load) {
    const entry = this.#known.get(keyHash);
    if (entry === void 0) return this.#unknown.get(keyHash);
    const now = this.#clock.now();
    const age = now - entry.loadedAt;
    if (age < this.#refreshAfterMs) return entry.lookup;
    const refreshing = this.#inFlight.has(keyHash);
    const failed = entry.failedAt !== void 0;
    if (!refreshing && (!failed || now - (entry.failedAt ?? 0) >= this.#retryMs)) {
      this.resolve(keyHash, load, true).catch((error) => {
        if (!isUnavailable(error)) this.#onRefreshError(error);
      });
    }
    if (age < this.#ttlMs) return entry.lookup;
    if ((refreshing || failed) && age < this.#ttlMs + this.#staleIfErrorMs) return entry.lookup;
    return void 0;
  }
  /**
   * Looks the hash up through `load` unless it is fresh in the cache, sharing one load
   * between concurrent callers. When the store is unavailable and the hash has a cached
   * entry within `staleIfErrorMs` past its TTL, that entry is the answer.
   */
  resolve(keyHash, load, refresh = false) {
    if (!refresh) {
      const cached = this.peek(keyHash);
      if (cached !== void 0) return Promise.resolve(cached);
    }
    const pending = this.#inFlight.get(keyHash);
    if (pending !== void 0) return pending;
    const load$ = load(keyHash).then(
      (key) => {
        const lookup = key === void 0 ? UNKNOWN : found(key);
        if (this.#inFlight.get(keyHash) === load$) {
          this.#inFlight.delete(keyHash);
          if (key === void 0) {
            this.#known.delete(keyHash);
            this.#unknown.set(keyHash, lookup);
          } else {
            this.#known.set(keyHash, {
              lookup,
              loadedAt: this.#clock.now(),
              failedAt: void 0
            });
          }
        }
        return lookup;
      },
      (error) => {
        if (this.#inFlight.get(keyHash) !== load$) throw error;
        this.#inFlight.delete(keyHash);
        const entry = this.#known.get(keyHash);
        if (entry === void 0 || !isUnavailable(error)) throw error;
        const now = this.#clock.now();
        entry.failedAt = now;
        if (now - entry.loadedAt < this.#ttlMs + this.#staleIfErrorMs) return entry.lookup;
        throw error;
      }
    );
    this.#inFlight.set(keyHash, load$);
    return load$;
  }
  /** Forgets one key (after this process revoked or changed it). */
  invalidate(keyHash) {
    this.#known.delete(keyHash);
    this.#unknown.delete(keyHash);
    this.#inFlight.delete(keyHash);
  }
  /** Forgets every cached key of an organization (after a suspension or reactivation). */
  invalidateOrganization(orgId) {
    for (const [hash2, entry] of this.#known.entries()) {
      if (entry.lookup.key?.orgId === orgId) this.#known.delete(hash2);
    }
    this.#inFlight.clear();
  }
  /** Number of cached entries (known and unknown hashes). */
  get size() {
    return this.#known.size + this.#unknown.size;
  }
  /** Number of cached unknown hashes. */
  get negativeSize() {
    return this.#unknown.size;
  }
  clear() {
    this.#known.clear();
    this.#unknown.clear();
    this.#inFlight.clear();
  }
};
function isUnavailable(error) {
  return isKeyGuardError(error) && error.code === "database_unavailable";
}

// src/config/database-url.ts
import { isAbsolute, resolve } from "path";
function parseDatabaseUrl(url, cwd = process.cwd()) {
  const trimmed = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql" || scheme === "postgresql+asyncpg") {
    const connectionString = `postgresql:${trimmed.slice(scheme.length + 1)}`;
    try {
      const parsed = new URL(connectionString);
      if (!parsed.host) throw new Error("no host");
    } catch (cause) {
      throw invalid(url, "it is not a valid PostgreSQL URL (postgres://user@host:5432/db)", cause);
    }
    return { dialect: "postgres", connectionString };
  }
  if (scheme === "sqlite" || scheme === "sqlite+aiosqlite" || scheme === "sqlite3") {
    let path = trimmed.slice(scheme.length + 1);
    if (path.startsWith("///"))
      path = path.slice(3);
    else if (path.startsWith("//")) path = path.slice(2);
    path = decodeURIComponent(path.split("?")[0] ?? "");
    if (path === "") throw invalid(url, "it names no file (e.g. sqlite:keyguard.db)");
    if (path === ":memory:") return { dialect: "sqlite", filename: ":memory:" };
    return { dialect: "sqlite", filename: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  throw invalid(
    url,
    scheme ? `the scheme "${scheme}:" is not supported` : "it has no scheme (did you mean sqlite:<file>?)"
  );
}
function invalid(url, why, cause) {
  return new KeyGuardError(
    "invalid_config",
    `databaseUrl "${redactUrl(url)}" is unusable: ${why}. Use sqlite:<file>, sqlite:/abs/path or postgres://user@host:5432/db.`,
    { cause, details: { field: "databaseUrl" } }
  );
}
function redactUrl(url) {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}

// src/config/keyguard-config.ts
import { z as z2 } from "zod";
var positiveInt = (field) => z2.coerce.number({ error: `${field} must be a number` }).int(`${field} must be a whole number`).positive(`${field} must be greater than 0`).max(Number.MAX_SAFE_INTEGER, `${field} is too large`);
var nonNegativeInt = (field) => z2.coerce.number({ error: `${field} must be a number` }).int(`${field} must be a whole number`).min(0, `${field} must not be negative`).max(Number.MAX_SAFE_INTEGER, `${field} is too large`);
var configSchema = z2.object({
  secretKey: z2.string({ error: "secretKey must be a string" }).min(8, "secretKey must be at least 8 characters; use a long random value").optional(),
  /**
   * Secrets a rotation retired (`rotateSecret`), still tried, after `secretKey`, for keys
   * made before it: a key's hash cannot be recomputed without its raw key, so these keys
   * work only while their secret is listed here. From the environment: comma-separated in
   * `KEYGUARD_PREVIOUS_SECRET_KEYS`.
   */
  previousSecretKeys: z2.preprocess(
    (value) => typeof value === "string" ? value.split(",").map((part) => part.trim()).filter(Boolean) : value,
    z2.array(
      z2.string({ error: "previousSecretKeys must be a list of strings" }).min(8, "previousSecretKeys: each secret must be at least 8 characters"),
      { error: "previousSecretKeys must be a list of secrets" }
    ).max(8, "previousSecretKeys: at most 8 secrets (each is tried for every unknown key)")
  ).default([]),
  /**
   * keyguard-python's SECRET_KEY, for keys imported from it (`keyguard import-python`):
   * they are verified by SHA-256(raw key + this) and re-stored under KeyGuard's HMAC on
   * first use. Not needed once `stats` shows no legacy hashes.
   */
  legacySecret: z2.string({ error: "legacySecret must be a string" }).min(1, "legacySecret must not be empty").optional(),
  /** The admin API's `X-Admin-Key`; defaults to `secretKey`, as in the seed. */
  adminKey: z2.string({ error: "adminKey must be a string" }).min(8, "adminKey must be at least 8 characters; use a long random value").optional(),
  databaseUrl: z2.string().min(1).default("sqlite:keyguard.db"),
  redisUrl: z2.string().regex(/^rediss?:\/\//i, "redisUrl must start with redis:// or rediss://").optional(),
  /** Put in front of KeyGuard's Redis key names, so several apps can share one Redis. */
  redisPrefix: z2.string().regex(
    /^[A-Za-z0-9:_.-]{0,64}$/,
    "redisPrefix may only hold letters, digits and : _ . - (at most 64 characters)"
  ).default("keyguard:"),
  defaultRateLimitPerMinute: positiveInt("defaultRateLimitPerMinute").default(60),
  ipBlockThreshold: positiveInt("ipBlockThreshold").default(100),
  /** Whether new keys are `kg_live_...` or `kg_test_...` unless a caller says otherwise. */
  keyEnvironment: z2.enum(["live", "test"]).default("live"),
  /**
   * Whose `X-Forwarded-For` to believe (see `TrustProxy`): `false` (default: the socket's
   * peer is the client), a hop count, or proxy addresses / CIDRs. From the environment:
   * `KEYGUARD_TRUST_PROXY=1` or `=10.0.0.0/8,loopback`.
   */
  trustProxy: z2.preprocess(
    (value) => {
      if (typeof value !== "string") return value;
      const text = value.trim();
      if (text === "" || text === "false") return false;
      if (/^\d+$/.test(text)) return Number(text);
      return text.split(",").map((part) => part.trim()).filter(Boolean);
    },
    z2.union(
      [
        z2.literal(false),
        z2.number().int("trustProxy must be a whole number of hops").min(0),
        z2.array(z2.string()).min(1)
      ],
      { error: "trustProxy must be false, a number of proxy hops, or a list of proxy addresses" }
    )
  ).transform((value) => value === 0 ? false : value).default(false),
  /** IPv6 clients are limited and blocked per prefix of this length; `false` = per address. */
  ipv6Subnet: z2.union([z2.literal(false), z2.number().int().min(1).max(128)], {
    error: "ipv6Subnet must be a prefix length from 1 to 128, or false"
  }).default(64),
  /** Time zone for clock-time lockouts such as `"4:00 PM"` (IANA name). */
  timeZone: z2.string().refine(isTimeZone, "timeZone must be an IANA time zone such as UTC or Europe/Paris").default("UTC"),
  /** How often manual IP blocks are re-read from the database (other processes' blocks). */
  blockSyncIntervalMs: positiveInt("blockSyncIntervalMs").default(2e3),
  cache: z2.object({
    maxEntries: positiveInt("cache.maxEntries").default(1e4),
    ttlMs: positiveInt("cache.ttlMs").default(3e4),
    negativeTtlMs: positiveInt("cache.negativeTtlMs").default(5e3),
    /**
     * How much longer than `ttlMs` a cached key keeps working while the database cannot
     * be reached (stale-if-error); 0 = refuse (503) as soon as its TTL has passed.
     */
    staleIfErrorMs: nonNegativeInt("cache.staleIfErrorMs").default(60 * 60 * 1e3),
    /**
     * Most unknown key hashes remembered (for `negativeTtlMs`), apart from the known keys:
     * a flood of unknown keys then evicts only other unknown keys.
     */
    negativeMaxEntries: positiveInt("cache.negativeMaxEntries").default(1e4)
  }).strict().prefault({}),
  /**
   * Bounds on every wait for PostgreSQL (SQLite ignores them): a database that is down,
   * unreachable or stalled makes what needs it fail with `database_unavailable` within
   * these, instead of hanging requests and shutdown. 0 = no bound.
   */
  postgres: z2.object({
    connectTimeoutMs: nonNegativeInt("postgres.connectTimeoutMs").default(5e3),
    queryTimeoutMs: nonNegativeInt("postgres.queryTimeoutMs").default(5e3),
    statementTimeoutMs: nonNegativeInt("postgres.statementTimeoutMs").default(4e3)
  }).strict().prefault({}),
  usage: z2.object({
    batchSize: positiveInt("usage.batchSize").default(500),
    flushIntervalMs: positiveInt("usage.flushIntervalMs").default(1e3),
    maxBuffered: positiveInt("usage.maxBuffered").default(1e5),
    /**
     * Where usage that could not be written at shutdown (the store unreachable) is kept
     * until the next start writes it: a file per shutdown, mode 0600. Default: the
     * SQLite file's directory; for PostgreSQL the working directory.
     */
    spoolDirectory: z2.string().min(1, "usage.spoolDirectory must not be empty").optional(),
    /** Most bytes all spool files of a database may hold together; rows beyond are dropped, counted. */
    maxSpoolBytes: positiveInt("usage.maxSpoolBytes").default(64 * 1024 * 1024),
    /** Usage rows are summed into per-hour rollups once older than this. */
    rollupAfterHours: positiveInt("usage.rollupAfterHours").default(24),
    /** Usage rows (per request detail: path, client, latency) are deleted after this. */
    retentionDays: positiveInt("usage.retentionDays").default(90),
    /**
     * Rollups (per key, hour and status class) are deleted after this. At least 32 days:
     * a quota is seeded from the (UTC) month's usage, rollups included, and a month is
     * at most 31 days (one more to spare).
     */
    rollupRetentionDays: positiveInt("usage.rollupRetentionDays").min(
      32,
      "usage.rollupRetentionDays must be at least 32: monthly quotas are counted from the rollups of the whole month"
    ).default(400),
    /** How often servers roll up and delete old usage (in the background, in batches). */
    maintenanceIntervalMs: positiveInt("usage.maintenanceIntervalMs").default(10 * 6e4),
    /** Rows rolled up or deleted per transaction: short transactions, no long lock. */
    maintenanceBatchSize: positiveInt("usage.maintenanceBatchSize").max(1e4, "usage.maintenanceBatchSize must be at most 10000").default(2e3)
  }).strict().prefault({})
});
var CONFIG_ENV_VARS = {
  secretKey: "KEYGUARD_SECRET_KEY",
  previousSecretKeys: "KEYGUARD_PREVIOUS_SECRET_KEYS",
  legacySecret: "KEYGUARD_LEGACY_SECRET",
  databaseUrl: "KEYGUARD_DATABASE_URL",
  adminKey: "KEYGUARD_ADMIN_KEY",
  redisUrl: "KEYGUARD_REDIS_URL",
  redisPrefix: "KEYGUARD_REDIS_PREFIX",
  defaultRateLimitPerMinute: "KEYGUARD_DEFAULT_RATE_LIMIT_PER_MINUTE",
  ipBlockThreshold: "KEYGUARD_IP_BLOCK_THRESHOLD",
  trustProxy: "KEYGUARD_TRUST_PROXY",
  timeZone: "KEYGUARD_TIME_ZONE",
  "cache.ttlMs": "KEYGUARD_CACHE_TTL_MS",
  "cache.staleIfErrorMs": "KEYGUARD_CACHE_STALE_IF_ERROR_MS",
  "postgres.connectTimeoutMs": "KEYGUARD_POSTGRES_CONNECT_TIMEOUT_MS",
  "postgres.queryTimeoutMs": "KEYGUARD_POSTGRES_QUERY_TIMEOUT_MS",
  "postgres.statementTimeoutMs": "KEYGUARD_POSTGRES_STATEMENT_TIMEOUT_MS",
  "usage.spoolDirectory": "KEYGUARD_USAGE_SPOOL_DIRECTORY",
  "usage.retentionDays": "KEYGUARD_USAGE_RETENTION_DAYS",
  "usage.rollupRetentionDays": "KEYGUARD_USAGE_ROLLUP_RETENTION_DAYS"
};
function isTimeZone(value) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}
function resolveConfig(input = {}, env = process.env, options = {}) {
  const merged2 = { ...input };
  for (const [path, variable] of Object.entries(CONFIG_ENV_VARS)) {
    const fromEnv = env[variable];
    if (fromEnv === void 0 || fromEnv === "") continue;
    const [field, nested] = path.split(".");
    if (nested === void 0) {
      if (merged2[field] === void 0) merged2[field] = fromEnv;
      continue;
    }
    const section = merged2[field] ?? {};
    if (typeof section !== "object" || section === null) continue;
    if (section[nested] === void 0) {
      merged2[field] = { ...section, [nested]: fromEnv };
    }
  }
  const parsed = configSchema.strict().safeParse(merged2);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join(".") || "config";
    const message = issue?.code === "unrecognized_keys" ? `unknown option(s): ${issue.keys.join(", ")}` : issue?.message ?? "invalid";
    throw new KeyGuardError(
      "invalid_config",
      message.startsWith(field) ? message : `${field}: ${message}`,
      { details: { field } }
    );
  }
  if (parsed.data.secretKey === void 0 && options.requireSecret !== false) {
    throw new KeyGuardError(
      "invalid_config",
      "secretKey is required: pass it or set KEYGUARD_SECRET_KEY",
      { details: { field: "secretKey" } }
    );
  }
  if (parsed.data.previousSecretKeys.includes(parsed.data.secretKey)) {
    throw new KeyGuardError(
      "invalid_config",
      "previousSecretKeys must not hold secretKey itself: list only the secrets a rotation retired",
      { details: { field: "previousSecretKeys" } }
    );
  }
  return { ...parsed.data, database: parseDatabaseUrl(parsed.data.databaseUrl) };
}

// src/keys/api-key-service.ts
import { randomUUID } from "crypto";

// src/keys/key-format.ts
import { randomBytes } from "crypto";
var RANDOM_BYTES = 32;
var RANDOM_LENGTH = 43;
var CHECKSUM_LENGTH = 6;
var TYPE_PREFIX_LENGTH = "kg_live_".length;
var BODY_LENGTH = TYPE_PREFIX_LENGTH + RANDOM_LENGTH;
var DISPLAY_RANDOM_CHARS = 4;
var RAW_KEY_LENGTH = BODY_LENGTH + CHECKSUM_LENGTH;
var DISPLAY_PREFIX_LENGTH = TYPE_PREFIX_LENGTH + DISPLAY_RANDOM_CHARS;
var BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
var BASE64URL = `${BASE62.slice(10)}${BASE62.slice(0, 10)}-_`;
var BASE62_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE62.length; i++) BASE62_VALUE[BASE62.charCodeAt(i)] = i;
var IS_BASE64URL = new Uint8Array(128);
for (const char of BASE64URL) IS_BASE64URL[char.charCodeAt(0)] = 1;
var CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 3988292384 ^ c >>> 1 : c >>> 1;
  CRC_TABLE[n] = c;
}
function crc32(bytes, length) {
  let crc = -1;
  for (let i = 0; i < length; i++) {
    crc = CRC_TABLE[(crc ^ bytes[i]) & 255] ^ crc >>> 8;
  }
  return (crc ^ -1) >>> 0;
}
var candidate = Buffer.alloc(RAW_KEY_LENGTH * 3);
var PREFIX_LIVE = Buffer.from("kg_live_", "latin1");
var PREFIX_TEST = Buffer.from("kg_test_", "latin1");
function startsWithBytes(bytes, prefix) {
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
function encodeChecksum(crc) {
  let value = crc;
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}
function generateRawKey(environment = "live") {
  const body = `kg_${environment}_${randomBytes(RANDOM_BYTES).toString("base64url")}`;
  const rawKey = body + encodeChecksum(crc32(Buffer.from(body, "latin1"), BODY_LENGTH));
  return { rawKey, prefix: rawKey.slice(0, DISPLAY_PREFIX_LENGTH) };
}
function isWellFormedKey(value) {
  if (value.length !== RAW_KEY_LENGTH) return false;
  const bytes = candidate;
  if (bytes.write(value, 0, "utf8") !== RAW_KEY_LENGTH) return false;
  if (!startsWithBytes(bytes, PREFIX_LIVE) && !startsWithBytes(bytes, PREFIX_TEST)) return false;
  for (let i = TYPE_PREFIX_LENGTH; i < BODY_LENGTH; i++) {
    const code = bytes[i];
    if (code >= 128 || IS_BASE64URL[code] === 0) return false;
  }
  let checksum = 0;
  for (let i = BODY_LENGTH; i < RAW_KEY_LENGTH; i++) {
    const code = bytes[i];
    const digit = code < 128 ? BASE62_VALUE[code] : -1;
    if (digit < 0) return false;
    checksum = checksum * 62 + digit;
  }
  return checksum === crc32(bytes, BODY_LENGTH);
}
function keyEnvironmentOf(rawKey) {
  return rawKey.startsWith("kg_test_") ? "test" : "live";
}

// src/keys/api-key-service.ts
var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
var MAX_CANDIDATES = 10;
var ApiKeyService = class {
  #store;
  #clock;
  #config;
  #hash;
  #previousHashes;
  #organizations;
  #forget;
  #keyChanged;
  #findImported;
  constructor(options) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#config = options.config;
    this.#hash = options.hash;
    this.#previousHashes = options.previousHashes ?? [];
    this.#organizations = options.organizations;
    this.#forget = options.forget;
    this.#keyChanged = options.keyChanged;
    this.#findImported = options.findImported;
  }
  /** Creates a key. The returned `rawKey` is the only copy: show it once, then drop it. */
  async create(input) {
    const { rawKey, key } = this.#newKey(input);
    const organization = await this.#organizations.get(input.organization);
    const stored = { ...key, orgId: organization.id };
    await this.#store.insertApiKey(stored);
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
  async rotate(reference, options = {}) {
    const grace = options.gracePeriodMs === void 0 ? void 0 : parseInput(gracePeriodSchema, options.gracePeriodMs, "gracePeriodMs");
    const found2 = await this.find(reference);
    const now = this.#clock.now();
    const early = notRotatable(found2, now);
    if (early !== void 0) throw early;
    const { rawKey, prefix } = generateRawKey(keyEnvironmentOf(found2.prefix));
    const keyHash = this.#hash(rawKey);
    this.#forget(keyHash);
    const rotated = await this.#store.rotateApiKey({
      previousId: found2.id,
      successor: { id: randomUUID(), prefix, keyHash, createdAt: new Date(now) },
      now: new Date(now),
      ...grace === void 0 ? {} : { graceEnd: new Date(now + grace) }
    });
    if (rotated === void 0) throw await this.#refusal(found2, now);
    await this.#keyChanged(found2.keyHash);
    return {
      rawKey,
      key: toApiKeyInfo(rotated.successor),
      previous: toApiKeyInfo(rotated.previous)
    };
  }
  /** Why a conditional write on `key` found nothing to change: its state as stored now. */
  async #refusal(key, now) {
    const current = await this.#store.findApiKeyById(key.id);
    if (current === void 0) {
      return new KeyGuardError("api_key_not_found", `API key ${key.prefix} no longer exists.`);
    }
    return notRotatable(current, now) ?? // The write lost a race the re-read no longer shows (cannot happen: keys do not come
    // back to life); say so rather than pretend it worked.
    new KeyGuardError("conflict", `Key ${key.prefix} was changed meanwhile; try again.`);
  }
  /** Validates key settings and generates the raw key; `orgId` is filled in by the caller. */
  #newKey(input) {
    const now = this.#clock.now();
    const label = parseInput(keyLabelSchema, input.label, "label");
    const rateLimitPerMinute = parseInput(
      rateLimitSchema,
      input.rateLimitPerMinute ?? this.#config.defaultRateLimitPerMinute,
      "rateLimitPerMinute"
    );
    const monthlyLimit = parseInput(monthlyLimitSchema, input.monthlyLimit ?? null, "monthlyLimit");
    const scopes = parseInput(scopesSchema, input.scopes ?? [], "scopes");
    const expiresAt = this.#parseExpiry(input.expiresAt ?? null, now);
    const { rawKey, prefix } = generateRawKey(input.environment ?? this.#config.keyEnvironment);
    const keyHash = this.#hash(rawKey);
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
        createdAt: new Date(now),
        expiresAt,
        lastUsedAt: null,
        quotaId: id,
        replacedBy: null
      }
    };
  }
  #createdInfo(key, organization) {
    return toApiKeyInfo({
      ...key,
      organizationName: organization.name,
      organizationStatus: organization.status
    });
  }
  /** Keys, masked (no hash, no raw key), oldest first, filtered and paged by the store. */
  async list(filter = {}) {
    const { organization, ...rest } = filter;
    const orgId = organization === void 0 ? void 0 : (await this.#organizations.get(organization)).id;
    const keys = await this.#store.listApiKeys({
      ...rest,
      ...orgId === void 0 ? {} : { orgId },
      now: new Date(this.#clock.now())
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
  async get(reference) {
    return toApiKeyInfo(await this.find(reference));
  }
  /**
   * Changes a key's label, limits, scopes or expiry. Takes effect in this process at once,
   * and in every other at once with a change feed (Redis), else within `cache.ttlMs`.
   * A revoked key cannot be changed (`conflict`), nor a rotated one (`key_already_rotated`:
   * its settings live in its successor now); the database checks both in the write itself.
   */
  async update(reference, input) {
    const patch = {};
    if (input.label !== void 0) patch.label = parseInput(keyLabelSchema, input.label, "label");
    if (input.rateLimitPerMinute !== void 0) {
      patch.rateLimitPerMinute = parseInput(
        rateLimitSchema,
        input.rateLimitPerMinute,
        "rateLimitPerMinute"
      );
    }
    if (input.monthlyLimit !== void 0) {
      patch.monthlyLimit = parseInput(monthlyLimitSchema, input.monthlyLimit, "monthlyLimit");
    }
    if (input.scopes !== void 0) patch.scopes = parseInput(scopesSchema, input.scopes, "scopes");
    if (input.expiresAt !== void 0) {
      patch.expiresAt = this.#parseExpiry(input.expiresAt, this.#clock.now());
    }
    const key = await this.find(reference);
    const updated = await this.#store.updateApiKey(key.id, patch);
    if (updated === void 0) throw await this.#unchangeable(key);
    if (Object.keys(patch).length > 0) await this.#keyChanged(key.keyHash);
    return toApiKeyInfo(updated);
  }
  /** Why `updateApiKey` found nothing to change. */
  async #unchangeable(key) {
    const current = await this.#store.findApiKeyById(key.id);
    if (current === void 0) {
      return new KeyGuardError("api_key_not_found", `API key ${key.prefix} no longer exists.`);
    }
    if (current.replacedBy !== null) return alreadyRotated(current);
    return new KeyGuardError(
      "conflict",
      `Key ${key.prefix} is revoked and cannot be changed; create a new key instead.`
    );
  }
  /**
   * Revokes a key: refused from now on (everywhere at once with a change feed). A key that
   * is already revoked is left as it is (nothing written or announced) and reported so.
   * The database decides which: of several revocations at once, exactly one revokes.
   */
  async revoke(reference) {
    const key = await this.find(reference);
    const revoked = key.isActive && await this.#store.revokeApiKey(key.id);
    if (revoked) await this.#keyChanged(key.keyHash);
    const current = revoked || key.isActive ? await this.#store.findApiKeyById(key.id) : key;
    if (current === void 0) {
      throw new KeyGuardError("api_key_not_found", `API key ${key.prefix} no longer exists.`);
    }
    return { key: toApiKeyInfo(current), alreadyRevoked: !revoked };
  }
  /** The stored key (with its hash: internal) a reference names; see {@link get}. */
  async find(reference) {
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
        `"${ref}" is too short to name a key: give its full display prefix as key listings show it (${DISPLAY_PREFIX_LENGTH} characters, e.g. kg_live_4Gk9), its id, or the raw key`
      );
    } else if (ref.length === DISPLAY_PREFIX_LENGTH && !hasControlCharacters(ref)) {
      const candidates = await this.#store.findApiKeysByPrefix(ref, MAX_CANDIDATES + 1);
      if (candidates.length === 1 && candidates[0]) return candidates[0];
      if (candidates.length > 1) throw ambiguous(ref, candidates);
    } else if (this.#findImported !== void 0) {
      const imported = await this.#findImported(ref);
      if (imported) return imported;
    }
    throw new KeyGuardError(
      "api_key_not_found",
      `No API key matches "${ref.length > 40 ? `${ref.slice(0, 12)}...` : ref}".`
    );
  }
  #parseExpiry(expiresAt, now) {
    const parsed = parseInput(expiresAtSchema, expiresAt, "expiresAt");
    if (parsed !== null && parsed.getTime() <= now) {
      throw new KeyGuardError("invalid_input", "expiresAt must be in the future", {
        details: { field: "expiresAt" }
      });
    }
    return parsed;
  }
};
function notRotatable(key, now) {
  if (key.replacedBy !== null) return alreadyRotated(key);
  if (!key.isActive) {
    return new KeyGuardError(
      "conflict",
      `Key ${key.prefix} is revoked and cannot be rotated; create a new key instead.`
    );
  }
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) {
    return new KeyGuardError(
      "conflict",
      `Key ${key.prefix} has expired and cannot be rotated; create a new key instead.`
    );
  }
  return void 0;
}
function alreadyRotated(key) {
  return new KeyGuardError(
    "key_already_rotated",
    `Key ${key.prefix} was already rotated; its successor has id ${key.replacedBy}. Rotate or change that key instead.`,
    { details: { successorId: key.replacedBy } }
  );
}
function ambiguous(reference, candidates) {
  const shown = candidates.slice(0, MAX_CANDIDATES).map((key) => ({
    id: key.id,
    prefix: key.prefix,
    label: key.label,
    organization: key.organizationName
  }));
  const list = shown.map((c) => `${c.prefix} (${c.label}, ${c.organization}, id ${c.id})`).join("; ");
  const more = candidates.length > MAX_CANDIDATES ? " and more" : "";
  return new KeyGuardError(
    "ambiguous_key_reference",
    `"${reference}" matches several keys: ${list}${more}. Use the key's id instead.`,
    { details: { candidates: shown } }
  );
}

// src/keys/imported-key-lookup.ts
import { timingSafeEqual } from "crypto";

// src/keys/foreign-key-format.ts
var KG_PYTHON_PREFIX = "kg_live_";
var KG_PYTHON_LENGTH = KG_PYTHON_PREFIX.length + 43;
var FOREIGN_KEY_MIN_LENGTH = 16;
var FOREIGN_KEY_MAX_LENGTH = 256;
function isBase64UrlCode(code) {
  return code >= 48 && code <= 57 || // 0-9
  code >= 65 && code <= 90 || // A-Z
  code >= 97 && code <= 122 || // a-z
  code === 45 || // -
  code === 95;
}
function isKeyguardPythonKey(value) {
  if (value.length !== KG_PYTHON_LENGTH || !value.startsWith(KG_PYTHON_PREFIX)) return false;
  for (let i = KG_PYTHON_PREFIX.length; i < KG_PYTHON_LENGTH; i++) {
    if (!isBase64UrlCode(value.charCodeAt(i))) return false;
  }
  return true;
}
function isPlausibleForeignKey(value) {
  if (value.length < FOREIGN_KEY_MIN_LENGTH || value.length > FOREIGN_KEY_MAX_LENGTH) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 33 || code > 126) return false;
  }
  return true;
}

// src/keys/key-hash-scheme.ts
import { createHash } from "crypto";
var KEY_HASH_SCHEMES = [
  "hmac-sha256",
  "imported-hmac-sha256",
  "keyguard-python",
  "sha256-hex",
  "sha256-base64url"
];
var LEGACY_HASH_SCHEMES = [
  "keyguard-python",
  "sha256-hex",
  "sha256-base64url"
];
function isKeyHashScheme(value) {
  return typeof value === "string" && KEY_HASH_SCHEMES.includes(value);
}
function isLegacyHashScheme(value) {
  return typeof value === "string" && LEGACY_HASH_SCHEMES.includes(value);
}
function legacyHashOf(scheme, rawKey, legacySecret) {
  if (scheme === "keyguard-python") {
    return createHash("sha256").update(rawKey + (legacySecret ?? ""), "utf8").digest("hex");
  }
  return createHash("sha256").update(rawKey, "utf8").digest(scheme === "sha256-hex" ? "hex" : "base64url");
}

// src/keys/imported-key-lookup.ts
var ImportedKeyLookup = class {
  #store;
  #hash;
  #legacySecret;
  #clock;
  #refreshMs;
  #retryMs;
  #census;
  #reading;
  /** The first census read failed: until `until`, answer with its error instead of asking again. */
  #unavailable;
  constructor(options) {
    this.#store = options.store;
    this.#hash = options.hash;
    this.#legacySecret = options.legacySecret;
    this.#clock = options.clock;
    this.#refreshMs = options.refreshMs;
    this.#retryMs = options.retryMs;
  }
  /** Whether the store can hold imported keys at all (it implements the optional methods). */
  static supports(store) {
    return store.countKeysByHashScheme !== void 0 && store.findApiKeysByHashes !== void 0 && store.upgradeKeyHash !== void 0;
  }
  /**
   * Reads the census now (at start-up, right after migrating, while the database is known
   * to answer), so that even the first foreign-format key is decided without waiting and
   * without depending on the database being up at that moment. A failure is left for the
   * first such key to meet.
   */
  async prime() {
    await this.#read().catch(() => {
    });
  }
  /**
   * What to look `rawKey` up by, or `undefined` when it cannot be an imported key (then
   * it is malformed). Waits for the census only the first time; later it answers from the
   * census it has and refreshes it in the background when it is old.
   */
  candidates(rawKey) {
    const pythonFormat = this.#legacySecret !== void 0 && isKeyguardPythonKey(rawKey);
    if (!pythonFormat && !isPlausibleForeignKey(rawKey)) return void 0;
    const census = this.#census;
    if (census === void 0) {
      const down = this.#unavailable;
      if (down !== void 0 && this.#clock.now() < down.until) return Promise.reject(down.error);
      return this.#read().then((read) => this.#candidates(rawKey, read));
    }
    if (this.#clock.now() - census.readAt >= this.#refreshMs) void this.#read();
    return this.#candidates(rawKey, census);
  }
  #candidates(rawKey, census) {
    const legacy = [];
    if (this.#legacySecret !== void 0 && census.present.has("keyguard-python") && isKeyguardPythonKey(rawKey)) {
      legacy.push("keyguard-python");
    }
    const plausible = isPlausibleForeignKey(rawKey);
    if (plausible && census.present.has("sha256-hex")) legacy.push("sha256-hex");
    if (plausible && census.present.has("sha256-base64url")) legacy.push("sha256-base64url");
    const upgraded = plausible && census.present.has("imported-hmac-sha256");
    if (legacy.length === 0 && !upgraded) return void 0;
    return { keyHash: this.#hash(rawKey), legacy };
  }
  /**
   * The stored key for `rawKey`: by its HMAC (already upgraded), else by each legacy hash,
   * upgrading the key it finds. The hash a row was found by is compared again in constant
   * time with the one its own scheme gives, so a row is only ever accepted under its scheme.
   */
  async load(rawKey, candidates) {
    const legacyHashes = candidates.legacy.map((scheme) => ({
      scheme,
      hash: legacyHashOf(scheme, rawKey, this.#legacySecret)
    }));
    const findByHashes = this.#store.findApiKeysByHashes;
    const rows = await findByHashes.call(this.#store, [
      candidates.keyHash,
      ...legacyHashes.map((entry) => entry.hash)
    ]);
    for (const row of rows) {
      const scheme = row.hashScheme ?? "hmac-sha256";
      if (!isLegacyHashScheme(scheme)) {
        if (sameHash(row.keyHash, candidates.keyHash)) return row;
        continue;
      }
      const expected = legacyHashes.find((entry) => entry.scheme === scheme);
      if (expected === void 0 || !sameHash(row.keyHash, expected.hash)) continue;
      return this.#upgrade(row, candidates.keyHash);
    }
    return void 0;
  }
  async #upgrade(row, keyHash) {
    const upgrade = this.#store.upgradeKeyHash;
    const upgraded = await upgrade.call(this.#store, row.id, row.keyHash, keyHash);
    return upgraded ?? this.#store.findApiKeyByHash(keyHash);
  }
  #read() {
    this.#reading ??= (async () => {
      try {
        const count = this.#store.countKeysByHashScheme;
        const counts = await count.call(this.#store);
        const census = {
          present: new Set(counts.filter((c) => c.keys > 0).map((c) => c.scheme)),
          readAt: this.#clock.now()
        };
        this.#census = census;
        this.#unavailable = void 0;
        return census;
      } catch (error) {
        const known = this.#census;
        if (known === void 0) {
          this.#unavailable = { error, until: this.#clock.now() + this.#retryMs };
          throw error;
        }
        const census = {
          present: known.present,
          readAt: this.#clock.now() - this.#refreshMs + this.#retryMs
        };
        this.#census = census;
        return census;
      } finally {
        this.#reading = void 0;
      }
    })();
    return this.#reading;
  }
};
function sameHash(stored, expected) {
  if (stored.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(stored, "latin1"), Buffer.from(expected, "latin1"));
}

// src/keys/key-hasher.ts
import { createHash as createHash2, createHmac, hash } from "crypto";
var BLOCK = 64;
var MAX_FAST_INPUT = 256;
function createKeyHasher(secret, memoEntries = 0) {
  let key = Buffer.from(secret, "utf8");
  if (key.length > BLOCK) key = createHash2("sha256").update(key).digest();
  const inner = Buffer.alloc(BLOCK + MAX_FAST_INPUT);
  const outer = Buffer.alloc(BLOCK + 32);
  const memo = /* @__PURE__ */ new Map();
  for (let i = 0; i < BLOCK; i++) {
    const byte = key[i] ?? 0;
    inner[i] = byte ^ 54;
    outer[i] = byte ^ 92;
  }
  return (rawKey) => {
    if (rawKey.length * 3 > MAX_FAST_INPUT) {
      return createHmac("sha256", secret).update(rawKey).digest("hex");
    }
    const length = inner.write(rawKey, BLOCK, "utf8");
    const innerDigest = hash("sha256", inner.subarray(0, BLOCK + length), "binary");
    const known = memo.get(innerDigest);
    if (known !== void 0) return known;
    outer.write(innerDigest, BLOCK, "binary");
    const keyHash = hash("sha256", outer, "hex");
    if (memoEntries > 0) {
      if (memo.size >= memoEntries) memo.delete(memo.keys().next().value);
      memo.set(innerDigest, keyHash);
    }
    return keyHash;
  };
}

// src/organizations/organization-service.ts
import { randomUUID as randomUUID2 } from "crypto";
var UUID2 = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
var OrganizationService = class {
  #store;
  #clock;
  #organizationChanged;
  constructor(options) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#organizationChanged = options.organizationChanged;
  }
  async create(name) {
    const organization = {
      id: randomUUID2(),
      name: parseInput(organizationNameSchema, name),
      status: "active",
      createdAt: new Date(this.#clock.now())
    };
    await this.#store.insertOrganization(organization);
    return organization;
  }
  /** Oldest first, filtered and paged by the store. */
  list(filter = {}) {
    return this.#store.listOrganizations(filter);
  }
  /** Finds an organization by name, or by id. Throws `organization_not_found`. */
  async get(nameOrId) {
    const reference = typeof nameOrId === "string" ? nameOrId.trim() : "";
    const searchable = reference !== "" && reference.length <= MAX_ORGANIZATION_NAME && !hasControlCharacters(reference);
    const found2 = searchable && await this.#store.findOrganizationByName(reference) || (UUID2.test(reference) ? await this.#store.findOrganizationById(reference) : void 0);
    if (!found2) {
      const cut = reference.length > 60 ? `${reference.slice(0, 60)}...` : reference;
      const shown = cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\uFFFD");
      throw new KeyGuardError("organization_not_found", `No organization named "${shown}".`);
    }
    return found2;
  }
  /** Suspends an organization: its keys are refused until it is reactivated. */
  suspend(nameOrId) {
    return this.#setStatus(nameOrId, "suspended");
  }
  reactivate(nameOrId) {
    return this.#setStatus(nameOrId, "active");
  }
  /**
   * A conditional write in the store: only a call that changed the status announces it, so
   * suspending a suspended organization (or two suspensions racing) announces it once.
   */
  async #setStatus(nameOrId, status) {
    const organization = await this.get(nameOrId);
    const result = await this.#store.updateOrganizationStatus(organization.id, status);
    if (!result) throw this.#organizationGone(organization);
    if (result.changed) await this.#organizationChanged(organization.id);
    return result.organization;
  }
  #organizationGone(organization) {
    return new KeyGuardError(
      "organization_not_found",
      `Organization "${organization.name}" no longer exists.`
    );
  }
};

// src/pipeline/ip-address.ts
import ipaddr from "ipaddr.js";
var MAX_ADDRESS_TEXT = 100;
var ADDRESS_TEXT = /^[ \t]*("?)(?:\[([0-9A-Fa-f:.]+)(?:%[^\]"]*)?\](?::(\d{1,5}))?|(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?|([0-9A-Fa-f:.]+)(?:%[^"\s]*)?)\1[ \t]*$/;
function parseIpAddress(text) {
  if (text.length > MAX_ADDRESS_TEXT) return void 0;
  const match = ADDRESS_TEXT.exec(text);
  if (match === null) return void 0;
  const port = match[3] ?? match[5];
  if (port !== void 0 && Number(port) > 65535) return void 0;
  const v4 = match[4];
  if (v4 !== void 0) {
    return ipaddr.IPv4.isValidFourPartDecimal(v4) ? ipv4(ipaddr.IPv4.parse(v4).octets) : void 0;
  }
  const v6 = match[2] ?? match[6];
  const parts = v6 === void 0 ? void 0 : parseIpv6Parts(v6);
  return parts === void 0 ? void 0 : canonicalIpv6(parts);
}
var EMBEDDED_IPV4 = /:(\d{1,3}(?:\.\d{1,3}){3})$/;
function parseIpv6Parts(text) {
  let hex = text;
  const embedded = EMBEDDED_IPV4.exec(text);
  if (embedded !== null) {
    const v4 = embedded[1];
    if (!ipaddr.IPv4.isValidFourPartDecimal(v4)) return void 0;
    const [a, b, c, d] = ipaddr.IPv4.parse(v4).octets;
    hex = `${text.slice(0, embedded.index + 1)}${(a << 8 | b).toString(16)}:${(c << 8 | d).toString(16)}`;
  }
  if (hex.includes(".") || !ipaddr.IPv6.isValid(hex)) return void 0;
  return ipaddr.IPv6.parse(hex).parts;
}
function canonicalIpv6(parts) {
  const [a, b, c, d, e, f, g, h] = parts;
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 65535) {
    return { family: 4, value: BigInt(g * 65536 + h) };
  }
  if (a === 100 && b === 65435 && c === 0 && d === 0 && e === 0 && f === 0) {
    return { family: 4, value: BigInt(g * 65536 + h) };
  }
  let value = 0n;
  for (const part of parts) value = value << 16n | BigInt(part);
  return { family: 6, value };
}
function ipv4(octets) {
  let value = 0;
  for (const octet of octets) value = value * 256 + octet;
  return { family: 4, value: BigInt(value) };
}
function formatIpAddress(address) {
  const value = address.value;
  if (address.family === 4) {
    const n = Number(value);
    return `${n >>> 24}.${n >>> 16 & 255}.${n >>> 8 & 255}.${n & 255}`;
  }
  const parts = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) parts.push(Number(value >> shift & 0xffffn));
  return new ipaddr.IPv6(parts).toRFC5952String();
}

// src/pipeline/trusted-proxies.ts
import ipaddr2 from "ipaddr.js";
var NAMED_RANGES = {
  loopback: ["127.0.0.1/8", "::1/128"],
  linklocal: ["169.254.0.0/16", "fe80::/10"],
  uniquelocal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
};
var BITS = { 4: 32n, 6: 128n };
var MAX_PUBLIC_IPV4 = 1n << 24n;
var MAX_PUBLIC_IPV6 = 1n << 112n;
var NOT_PUBLIC = {
  4: [
    "0.0.0.0/8",
    // "this network"
    "10.0.0.0/8",
    "100.64.0.0/10",
    // CGNAT
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    // IETF protocol assignments
    "192.0.2.0/24",
    // documentation
    "192.168.0.0/16",
    "198.18.0.0/15",
    // benchmarking
    "198.51.100.0/24",
    // documentation
    "203.0.113.0/24",
    // documentation
    "224.0.0.0/3"
    // multicast and reserved, up to 255.255.255.255
  ],
  6: [
    "::/127",
    // unspecified and loopback
    "::ffff:0:0/96",
    // IPv4-mapped: IPv4 addresses, counted as such
    "64:ff9b::/96",
    // NAT64: likewise
    "100::/64",
    // discard
    "2001:db8::/32",
    // documentation
    "fc00::/7",
    // unique local
    "fe80::/10",
    // link-local
    "ff00::/8"
    // multicast
  ]
};
var IPV4_IN_IPV6 = [
  { family: 6, first: 0xffffn << 32n, last: 0xffffn << 32n | 0xffffffffn },
  { family: 6, first: 0x64ff9bn << 96n, last: 0x64ff9bn << 96n | 0xffffffffn }
];
function trustsNoProxy(trustProxy) {
  return trustProxy === false || trustProxy === 0;
}
function compileTrust(trustProxy) {
  if (trustsNoProxy(trustProxy)) return void 0;
  if (typeof trustProxy === "number") {
    if (!Number.isInteger(trustProxy) || trustProxy < 0) {
      throw new KeyGuardError(
        "invalid_config",
        "trustProxy must be a whole number of proxy hops, a list of proxy addresses, or false"
      );
    }
    return (_address, hop) => hop < trustProxy;
  }
  if (Array.isArray(trustProxy)) {
    const ranges = trustProxy.flatMap((entry) => parseEntry(entry));
    const ipv42 = ranges.filter((range) => range.family === 4);
    const ipv6 = ranges.filter((range) => range.family === 6);
    const public4 = publicAddresses(ipv42, NOT_PUBLIC_RANGES[4]);
    const public6 = publicAddresses(ipv6, NOT_PUBLIC_RANGES[6]);
    const tooMany = [
      public4 > MAX_PUBLIC_IPV4 ? `${public4.toLocaleString("en-US")} public IPv4 addresses` : "",
      public6 > MAX_PUBLIC_IPV6 ? `about 2^${Math.round(Math.log2(Number(public6)))} public IPv6 addresses` : ""
    ].filter(Boolean);
    if (tooMany.length > 0) {
      const shown = JSON.stringify(trustProxy);
      throw new KeyGuardError(
        "invalid_config",
        `trustProxy: ${shown.length > 100 ? `${shown.slice(0, 96)}...]` : shown} trusts ${tooMany.join(" and ")}, which would let any client among them choose its IP through X-Forwarded-For. Outside private, loopback, link-local, CGNAT and reserved ranges a list may trust at most 16,777,216 IPv4 addresses (a /8's worth) and 2^112 IPv6 addresses (a /16's worth); a CDN's ranges are far smaller. Give the number of proxy hops (e.g. 1) or the proxies' own ranges.`
      );
    }
    return (address) => {
      if (address === void 0) return false;
      const value = address.value;
      for (const range of address.family === 4 ? ipv42 : ipv6) {
        if (value >= range.first && value <= range.last) return true;
      }
      return false;
    };
  }
  throw new KeyGuardError(
    "invalid_config",
    "trustProxy: true would let any client choose its IP through X-Forwarded-For. Give the number of proxy hops (e.g. 1) or the proxies' addresses."
  );
}
function parseEntry(entry) {
  const text = typeof entry === "string" ? entry.trim() : "";
  const name = text.toLowerCase();
  if (Object.hasOwn(NAMED_RANGES, name)) {
    return NAMED_RANGES[name].flatMap((range2) => parseEntry(range2));
  }
  const invalid2 = () => new KeyGuardError(
    "invalid_config",
    `trustProxy: ${JSON.stringify(String(entry)).slice(0, 80)} is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`
  );
  const [addressText = "", prefixText, extra] = text.split("/");
  if (extra !== void 0) throw invalid2();
  let address;
  if (ipaddr2.IPv4.isValidFourPartDecimal(addressText)) address = ipaddr2.IPv4.parse(addressText);
  else {
    const parts = addressText.includes("%") ? void 0 : parseIpv6Parts(addressText);
    if (parts === void 0) throw invalid2();
    address = new ipaddr2.IPv6(parts);
  }
  const family = address.kind() === "ipv4" ? 4 : 6;
  const bits = BITS[family];
  let prefix;
  if (prefixText === void 0) prefix = bits;
  else if (/^\d{1,3}$/.test(prefixText) && BigInt(prefixText) <= bits) prefix = BigInt(prefixText);
  else if (ipaddr2.isValid(prefixText) && ipaddr2.parse(prefixText).kind() === address.kind()) {
    const length = ipaddr2.parse(prefixText).prefixLengthFromSubnetMask();
    if (length === null) throw invalid2();
    prefix = BigInt(length);
  } else throw invalid2();
  let value = 0n;
  for (const byte of address.toByteArray()) value = value << 8n | BigInt(byte);
  const hostMask = (1n << bits - prefix) - 1n;
  const range = { family, first: value & ~hostMask, last: value | hostMask };
  if (family === 4) return [range];
  const ranges = [range];
  for (const block of IPV4_IN_IPV6) {
    let first = range.first;
    if (block.first > first) first = block.first;
    let last = range.last;
    if (block.last < last) last = block.last;
    if (first <= last) {
      ranges.push({ family: 4, first: first - block.first, last: last - block.first });
    }
  }
  return ranges;
}
function merged(ranges) {
  const sorted = [...ranges].sort((a, b) => a.first < b.first ? -1 : a.first > b.first ? 1 : 0);
  const out = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last !== void 0 && range.first <= last.last + 1n) {
      if (range.last > last.last) out[out.length - 1] = { ...last, last: range.last };
    } else out.push(range);
  }
  return out;
}
function publicAddresses(ranges, excluded) {
  let count = 0n;
  for (const range of merged(ranges)) {
    count += range.last - range.first + 1n;
    for (const hole of excluded) {
      let first = range.first;
      if (hole.first > first) first = hole.first;
      let last = range.last;
      if (hole.last < last) last = hole.last;
      if (first <= last) count -= last - first + 1n;
    }
  }
  return count;
}
var NOT_PUBLIC_RANGES = {
  4: merged(NOT_PUBLIC[4].flatMap((cidr) => parseEntry(cidr))),
  6: merged(NOT_PUBLIC[6].flatMap((cidr) => parseEntry(cidr).filter((r) => r.family === 6)))
};

// src/pipeline/client-address.ts
var UNKNOWN_CLIENT = "unknown";
var MAX_FORWARDED_HOPS = 32;
var MAX_FORWARDED_TEXT = 4096;
var MEMO_ENTRIES = 1e4;
function createClientAddressResolver(options = {}) {
  const trusted = compileTrust(options.trustProxy ?? false);
  const subnet = options.ipv6Subnet ?? 64;
  if (subnet !== false && !(Number.isInteger(subnet) && subnet >= 1 && subnet <= 128)) {
    throw new KeyGuardError(
      "invalid_config",
      "ipv6Subnet must be a prefix length from 1 to 128, or false"
    );
  }
  const prefixMask = subnet === false || subnet === 128 ? void 0 : (1n << BigInt(subnet)) - 1n << BigInt(128 - subnet);
  const memo = /* @__PURE__ */ new Map();
  const known = (text) => {
    if (text.length > MAX_ADDRESS_TEXT) return void 0;
    let entry = memo.get(text);
    if (entry === void 0) {
      const address = parseIpAddress(text);
      entry = address === void 0 ? null : { address, identity: identityOf(address, prefixMask, subnet) };
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      memo.set(detachString(text), entry);
    }
    return entry ?? void 0;
  };
  if (trusted === void 0) {
    return (socketAddress) => (socketAddress === void 0 ? void 0 : known(socketAddress))?.identity ?? UNKNOWN_CLIENT;
  }
  return (socketAddress, forwardedFor) => {
    let current = socketAddress === void 0 ? void 0 : known(socketAddress);
    if (forwardedFor === void 0) return current?.identity ?? UNKNOWN_CLIENT;
    let position = forwardedFor.length;
    let floor = 0;
    if (position > MAX_FORWARDED_TEXT) {
      const cut = forwardedFor.indexOf(",", position - MAX_FORWARDED_TEXT);
      if (cut === -1) return current?.identity ?? UNKNOWN_CLIENT;
      floor = cut + 1;
    }
    for (let hop = 0; hop < MAX_FORWARDED_HOPS && position >= floor; hop++) {
      if (!trusted(current?.address, hop)) break;
      const comma = position === 0 ? -1 : forwardedFor.lastIndexOf(",", position - 1);
      const next = position - comma - 1 > MAX_ADDRESS_TEXT ? void 0 : known(forwardedFor.slice(comma + 1, position));
      if (next === void 0) break;
      current = next;
      position = comma;
    }
    return current?.identity ?? UNKNOWN_CLIENT;
  };
}
function identityOf(address, prefixMask, subnet) {
  if (address.family === 4 || prefixMask === void 0) return formatIpAddress(address);
  return `${formatIpAddress({ family: 6, value: address.value & prefixMask })}/${subnet}`;
}
function forwardedForOf(header) {
  const forwarded = header("x-forwarded-for");
  return Array.isArray(forwarded) ? forwarded.join(",") : forwarded;
}

// src/limits/lockout-end.ts
var CLOCK_TIME = /^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$/i;
function lockoutEnd(lockout, timeZone) {
  if (typeof lockout === "string") {
    const clock = CLOCK_TIME.exec(lockout.trim());
    if (clock !== null && (clock[2] !== void 0 || clock[3] !== void 0)) {
      let hour = Number(clock[1]);
      const minute = Number(clock[2] ?? 0);
      const meridiem = clock[3]?.toLowerCase();
      if (meridiem !== void 0 && (hour < 1 || hour > 12)) throw badLockout(lockout);
      if (meridiem === "pm" && hour !== 12) hour += 12;
      if (meridiem === "am" && hour === 12) hour = 0;
      if (hour > 23 || minute > 59) throw badLockout(lockout);
      return (now) => nextWallClockTime(now, hour, minute, timeZone);
    }
  }
  let ms;
  try {
    ms = parseDuration(lockout, "lockout");
  } catch {
    throw badLockout(lockout);
  }
  return (now) => now + ms;
}
function badLockout(lockout) {
  return new KeyGuardError(
    "invalid_config",
    `lockout ${JSON.stringify(lockout)} is not seconds, a duration ("1 hour") or a clock time ("4:00 PM", "16:00")`
  );
}
var formatters = /* @__PURE__ */ new Map();
function wallClock(instant, timeZone) {
  let format = formatters.get(timeZone);
  if (format === void 0) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric"
    });
    formatters.set(timeZone, format);
  }
  const parts = {};
  for (const part of format.formatToParts(instant)) parts[part.type] = Number(part.value);
  return Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0
  ) + instant % 1e3;
}
function nextWallClockTime(now, hour, minute, timeZone) {
  const wallNow = wallClock(now, timeZone);
  const day = new Date(wallNow);
  let target = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour, minute);
  if (target <= wallNow) target += 864e5;
  let instant = now + (target - wallNow);
  for (let i = 0; i < 2; i++) instant += target - wallClock(instant, timeZone);
  return instant;
}

// src/pipeline/with-header.ts
function withHeader(headers, name, value) {
  const result = Object.assign({}, headers);
  result[name] = value;
  return result;
}

// src/pipeline/problem-details.ts
var PROBLEM_CONTENT_TYPE = "application/problem+json";
function problemFor(code, detail) {
  return {
    type: `urn:keyguard:problem:${code}`,
    title: titleFor(code),
    status: httpStatusFor(code),
    detail,
    code
  };
}
function problemResponse(code, detail, headers = {}) {
  const problem = problemFor(code, detail);
  return {
    status: problem.status,
    headers: withHeader(headers, "content-type", PROBLEM_CONTENT_TYPE),
    problem
  };
}
function retryAfterSeconds(ms) {
  return String(Math.max(1, Math.ceil(ms / 1e3)));
}
function blockedDetail(untilMs, now) {
  return `This client is blocked for another ${retryAfterSeconds(untilMs - now)} s.`;
}

// src/pipeline/ip-rate-limit.ts
var IpRateLimit = class {
  #kg;
  #limit;
  #windowMs;
  #lockoutEnd;
  #scope;
  #algorithm;
  constructor(kg, rule) {
    if (!Number.isInteger(rule.limit) || rule.limit < 1) {
      throw new KeyGuardError(
        "invalid_config",
        "rateLimitByIp: limit must be a whole number of requests, at least 1"
      );
    }
    const windowMs = rule.windowMs ?? 6e4;
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new KeyGuardError(
        "invalid_config",
        "rateLimitByIp: windowMs must be a positive number of milliseconds"
      );
    }
    if (rule.scope !== void 0 && rule.scope !== "path" && rule.scope !== "global") {
      throw new KeyGuardError("invalid_config", 'rateLimitByIp: scope must be "path" or "global"');
    }
    this.#kg = kg;
    this.#limit = rule.limit;
    this.#windowMs = windowMs;
    this.#lockoutEnd = rule.lockout === void 0 ? void 0 : lockoutEnd(rule.lockout, kg.config.timeZone);
    this.#scope = rule.scope ?? "path";
    this.#algorithm = rule.algorithm ?? "sliding-window-log";
    void kg.syncBlocks();
  }
  /** Checks one request. Never throws: a limiter failure is a 503 problem. */
  async check(request) {
    const kg = this.#kg;
    const now = kg.clock.now();
    const path = normalizePath(request.path);
    const client = kg.clientOf(request);
    try {
      await kg.syncBlocks();
      const block = await kg.findBlock(client, path, now);
      if (block !== void 0) {
        return refuse("ip_blocked", blockedDetail(block.untilMs, now), {
          "retry-after": retryAfterSeconds(block.untilMs - now)
        });
      }
      const bucket = `ip-rule:${this.#limit}/${this.#windowMs}:${path}:${client}`;
      const decision = await kg.limiter.hit(
        bucket,
        now,
        this.#limit,
        this.#windowMs,
        this.#algorithm
      );
      const headers = {
        "x-ratelimit-limit": String(this.#limit),
        "x-ratelimit-remaining": String(decision.remaining),
        "x-ratelimit-reset": String(Math.ceil(decision.resetAtMs / 1e3))
      };
      if (decision.allowed) return { allowed: true, headers };
      if (this.#lockoutEnd === void 0) {
        return refuse(
          "rate_limited",
          `Too many requests: ${this.#limit} allowed per ${retryAfterSeconds(this.#windowMs)} s.`,
          withHeader(headers, "retry-after", retryAfterSeconds(decision.retryAfterMs))
        );
      }
      const untilMs = this.#lockoutEnd(now);
      await kg.blockAutomatically({
        client,
        scope: this.#scope,
        ...this.#scope === "path" ? { path } : {},
        untilMs,
        reason: "lockout",
        automatic: true
      });
      await kg.limiter.reset(bucket);
      return refuse("ip_blocked", blockedDetail(untilMs, now), {
        "retry-after": retryAfterSeconds(untilMs - now)
      });
    } catch (error) {
      kg.reportError(
        new KeyGuardError(
          "service_unavailable",
          `A rateLimitByIp request was answered 503: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error }
        )
      );
      return refuse(
        "service_unavailable",
        "The request could not be checked right now. Retry shortly.",
        {
          "retry-after": "5"
        }
      );
    }
  }
};
function refuse(code, detail, headers) {
  return { allowed: false, ...problemResponse(code, detail, headers) };
}

// src/errors/quota-seed-lost.ts
var QuotaSeedLostError = class extends Error {
  constructor(keyId) {
    super(
      `The limiter lost the monthly count of key ${keyId} (Redis lost its data); seed it again.`
    );
    this.keyId = keyId;
  }
  keyId;
  name = "QuotaSeedLostError";
  code = "quota_seed_lost";
};
function isQuotaSeedLost(error) {
  return error instanceof Error && error.name === "QuotaSeedLostError";
}

// src/limits/monthly-quota.ts
var lastMonth = { start: 0, end: 0 };
function calendarMonth(now) {
  const last = lastMonth;
  if (now >= last.start && now < last.end) return last;
  const date = new Date(now);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  const computed = { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
  lastMonth = computed;
  return computed;
}
function monthlyQuota(state, now, limit) {
  const { start, end } = calendarMonth(now);
  if (state.monthStart !== start) {
    state.monthStart = start;
    state.used = 0;
  }
  if (state.used < limit) {
    state.used++;
    return { allowed: true, limit, remaining: limit - state.used, resetAtMs: end, retryAfterMs: 0 };
  }
  return { allowed: false, limit, remaining: 0, resetAtMs: end, retryAfterMs: end - now };
}
function peekMonthlyQuota(state, now, limit) {
  const { start, end } = calendarMonth(now);
  const remaining = Math.max(0, limit - (state.monthStart === start ? state.used : 0));
  if (remaining > 0) return { allowed: true, limit, remaining, resetAtMs: end, retryAfterMs: 0 };
  return { allowed: false, limit, remaining: 0, resetAtMs: end, retryAfterMs: end - now };
}
function isQuotaExhausted(state, now, limit) {
  return state.monthStart === calendarMonth(now).start && state.used >= limit;
}

// src/pipeline/auth-failures.ts
var DEFAULT_FAILURE_WINDOW_MS = 36e5;
var DEFAULT_FAILURE_BLOCK_MS = 24 * 36e5;
function countsAsFailure(method, wrongKey) {
  return wrongKey && method !== "OPTIONS";
}
async function countAuthFailure(limiter, client, now, policy, record = (block) => limiter.block(block, now)) {
  const bucket = `auth-failures:${client}`;
  const counted = await limiter.hit(
    bucket,
    now,
    policy.threshold,
    policy.windowMs,
    "sliding-window-counter"
  );
  if (counted.allowed && counted.remaining > 0) return false;
  await record({
    client,
    scope: "global",
    untilMs: now + policy.blockMs,
    reason: "auth_failures",
    automatic: true
  });
  await limiter.reset(bucket);
  return true;
}

// src/pipeline/rate-limit-headers.ts
function rateLimitHeaders(rate, quota, now, style) {
  const headers = {};
  if (style === false) return headers;
  const resetSeconds = Math.max(0, Math.ceil((rate.resetAtMs - now) / 1e3));
  if (style === "legacy" || style === "both") {
    headers["x-ratelimit-limit"] = String(rate.limit);
    headers["x-ratelimit-remaining"] = String(rate.remaining);
    headers["x-ratelimit-reset"] = String(Math.ceil(rate.resetAtMs / 1e3));
  }
  if (style === "draft-8" || style === "both") {
    const minutePolicy = `"minute";q=${rate.limit};w=60`;
    const minuteState = `"minute";r=${rate.remaining};t=${resetSeconds}`;
    if (quota === void 0) {
      headers["ratelimit-policy"] = minutePolicy;
      headers.ratelimit = minuteState;
    } else {
      const quotaReset = Math.max(0, Math.ceil((quota.resetAtMs - now) / 1e3));
      headers["ratelimit-policy"] = `${minutePolicy}, "month";q=${quota.limit};w=2592000`;
      headers.ratelimit = `${minuteState}, "month";r=${quota.remaining};t=${quotaReset}`;
    }
  }
  return headers;
}

// src/pipeline/request-guard.ts
var KEY_REFUSAL_DETAIL = {
  malformed: "The API key is not a valid KeyGuard key. Check that it was copied whole.",
  unknown: "The API key is not valid.",
  revoked: "The API key has been revoked.",
  expired: "The API key has expired.",
  organization_suspended: "The API key's organization is suspended."
};
var WRONG_KEY = {
  missing: false,
  malformed: true,
  unknown: true,
  revoked: true,
  expired: true,
  organization_suspended: false
};
var RequestGuard = class {
  #kg;
  #limiter;
  #keyHeader;
  #bearer;
  #algorithm;
  #failureWindowMs;
  #blockDurationMs;
  #headerStyle;
  #failOpen;
  /** `WWW-Authenticate` for every 401 (RFC 9110 §11.6.1 requires a challenge). */
  #challenge;
  /** The detail of a `missing_api_key` refusal, naming the configured header. */
  #missingDetail;
  /** Until the stored manual blocks are loaded, requests wait for them. */
  #blocksLoaded;
  constructor(kg, limiter, options = {}) {
    this.#kg = kg;
    this.#limiter = limiter;
    this.#keyHeader = (options.keyHeader ?? "x-api-key").toLowerCase();
    this.#bearer = options.bearer ?? true;
    this.#algorithm = options.algorithm ?? "sliding-window-log";
    this.#failureWindowMs = options.failureWindowMs ?? DEFAULT_FAILURE_WINDOW_MS;
    this.#blockDurationMs = options.blockDurationMs ?? DEFAULT_FAILURE_BLOCK_MS;
    this.#headerStyle = options.rateLimitHeaders ?? "both";
    this.#failOpen = options.failOpen ?? false;
    const headerName = this.#keyHeader.toUpperCase();
    this.#challenge = {
      "www-authenticate": `ApiKey realm="keyguard", header="${headerName}"${this.#bearer ? ', Bearer realm="keyguard"' : ""}`
    };
    this.#missingDetail = `Send an API key in the ${headerName} header${this.#bearer ? " or as Authorization: Bearer" : ""}.`;
    limiter.onStateLost?.(() => this.#quotaSeeded.clear());
    this.#blocksLoaded = kg.syncBlocks().then(() => {
      this.#blocksLoaded = void 0;
    });
  }
  /** The client identity limits and blocks apply to (IP, or IPv6 /64): `KeyGuard.clientOf`. */
  clientOf(request) {
    return this.#kg.clientOf(request);
  }
  /** Runs the pipeline for one request. Never throws: failures become 503 problems. */
  async check(request) {
    const startedAt = this.#kg.clock.now();
    const client = this.clientOf(request);
    const blockPath = normalizePath(request.path);
    const guarded = {
      client,
      method: request.method,
      path: blockPath,
      startedAt
    };
    try {
      if (this.#blocksLoaded !== void 0) await this.#blocksLoaded;
      const manual = this.#kg.findManualBlock(client, blockPath, startedAt);
      if (manual !== void 0) {
        return this.#refuse("ip_blocked", blockedDetail(manual.untilMs, startedAt), guarded, {
          "retry-after": retryAfterSeconds(manual.untilMs - startedAt)
        });
      }
      const rawKey = this.#extractKey(request);
      const verified = rawKey.ok ? await this.#kg.verifyKey(rawKey.value) : void 0;
      if (verified === void 0 || verified.outcome !== "valid") {
        let block;
        try {
          block = await this.#limiter.findBlock(client, blockPath, startedAt);
          const wrongKey = verified === void 0 || WRONG_KEY[verified.outcome];
          if (block === void 0 && countsAsFailure(request.method, wrongKey)) {
            await this.#countFailure(client, startedAt);
          }
        } catch (error) {
          this.#kg.reportError(error);
        }
        if (block !== void 0) {
          return this.#refuse("ip_blocked", blockedDetail(block.untilMs, startedAt), guarded, {
            "retry-after": retryAfterSeconds(block.untilMs - startedAt)
          });
        }
        const challenge = this.#challenge;
        if (verified === void 0) {
          const { detail } = rawKey;
          return this.#refuse("invalid_api_key", detail, guarded, challenge);
        }
        if (verified.outcome === "missing") {
          return this.#refuse("missing_api_key", this.#missingDetail, guarded, challenge);
        }
        return this.#refuse(
          verified.code,
          KEY_REFUSAL_DETAIL[verified.outcome],
          guarded,
          httpStatusFor(verified.code) === 401 ? challenge : {}
        );
      }
      const apiKey = verified.key;
      if (apiKey.monthlyLimit !== null && this.#quotaSeedDue(apiKey.quotaId, startedAt)) {
        await this.#seedOnce(apiKey.quotaId, startedAt);
      }
      const limitRequest = {
        now: startedAt,
        client,
        path: blockPath,
        algorithm: this.#algorithm,
        key: apiKey
        // has the id and limits the port reads; no copy per request
      };
      let decision;
      try {
        decision = await this.#limiter.decide(limitRequest);
      } catch (lost) {
        try {
          if (!isQuotaSeedLost(lost)) throw lost;
          await this.#seedOnce(apiKey.quotaId, startedAt);
          decision = await this.#limiter.decide(limitRequest);
        } catch (error) {
          if (!this.#failOpen) throw error;
          this.#kg.reportError(
            new KeyGuardError(
              "service_unavailable",
              `The limiter failed, so a request was let through unlimited (failOpen): ${messageOf(error)}`,
              { cause: error }
            )
          );
          return { allowed: true, apiKey, headers: {}, request: guarded };
        }
      }
      const headers = rateLimitHeaders(decision, decision.quota, startedAt, this.#headerStyle);
      if (decision.allowed) return { allowed: true, apiKey, headers, request: guarded };
      const wait = withHeader(headers, "retry-after", retryAfterSeconds(decision.retryAfterMs));
      if (decision.refusal === "ip_blocked") {
        return this.#refuse(
          "ip_blocked",
          blockedDetail(decision.resetAtMs, startedAt),
          guarded,
          wait,
          apiKey
        );
      }
      if (decision.refusal === "quota_exceeded") {
        return this.#refuse(
          "quota_exceeded",
          `The key's monthly quota of ${decision.quota?.limit} requests is used up until the 1st of next month (UTC).`,
          guarded,
          wait,
          apiKey
        );
      }
      return this.#refuse(
        "rate_limited",
        `The key allows ${decision.limit} requests per minute. Retry after ${wait["retry-after"]} s.`,
        guarded,
        wait,
        apiKey
      );
    } catch (error) {
      this.#kg.reportError(
        new KeyGuardError(
          "service_unavailable",
          `A protected request was answered 503: ${messageOf(error)}`,
          { cause: error }
        )
      );
      const code = "service_unavailable";
      const detail = isKeyGuardError(error, "database_unavailable") ? "API keys cannot be verified right now. Retry shortly." : "The request could not be checked right now. Retry shortly.";
      return this.#refuse(code, detail, guarded, { "retry-after": "5" });
    }
  }
  /** Logs the usage of a request whose key was identified, once its response is done. */
  complete(result, statusCode) {
    const apiKey = result.apiKey;
    if (apiKey === void 0) return;
    const { client, method, path, startedAt } = result.request;
    this.#kg.recordUsage({
      keyId: apiKey.id,
      path,
      method,
      statusCode,
      latencyMs: this.#kg.clock.now() - startedAt,
      ipAddress: client,
      timestamp: new Date(startedAt),
      // Only requests let through count toward the quota (a key's 429s and IP-blocked
      // 403s do not), whatever status the application then answered.
      charged: result.allowed
    });
  }
  /**
   * The first time this process sees a quota (each month), its count starts from what the
   * store recorded: a restart must not hand out a fresh quota. A quota is spent by every
   * key of one rotation lineage (`quotaId`), so the seed adds up the month's usage of the
   * lineage's keys used this month (usually one, two during a grace period): one query
   * for the lineage, one count per such key, per quota per month; nothing on later
   * requests, nothing for limiters without `seedQuota`.
   */
  async #seedQuota(quotaId, now) {
    const seed = this.#limiter.seedQuota;
    if (seed === void 0) return;
    const { start } = calendarMonth(now);
    const since = new Date(start);
    const store = this.#kg.store;
    const keyIds = await store.listQuotaKeyIds(quotaId, since);
    const counts = await Promise.all(keyIds.map((id) => store.countAllowedRequests(id, since)));
    const used = counts.reduce((sum, count) => sum + count, 0);
    await seed.call(this.#limiter, quotaId, start, used);
    this.#quotaSeeded.set(quotaId, start);
  }
  /**
   * `#seedQuota`, shared by the key's requests while one is under way: after Redis lost its
   * data (or reconnected) every request of a busy key finds its seed due at once, and each
   * asking the store would put a query per request on the database just then.
   */
  #seedOnce(quotaId, now) {
    const pending = this.#seeding.get(quotaId);
    if (pending !== void 0) return pending;
    const seeding = this.#seedQuota(quotaId, now).finally(() => this.#seeding.delete(quotaId));
    this.#seeding.set(quotaId, seeding);
    return seeding;
  }
  /** Seeds under way, by quota id (bounded by the keys in use at once). */
  #seeding = /* @__PURE__ */ new Map();
  /** Whether `#seedQuota` has work to do for this quota this month. */
  #quotaSeedDue(quotaId, now) {
    return this.#limiter.seedQuota !== void 0 && this.#quotaSeeded.get(quotaId) !== calendarMonth(now).start;
  }
  /** Automatic blocks are stored, so a restart does not lift them. */
  #recordBlock = (block) => this.#kg.blockAutomatically(block);
  /** Quotas whose count was seeded from the store, and for which month. */
  #quotaSeeded = /* @__PURE__ */ new Map();
  async #countFailure(client, now) {
    await countAuthFailure(
      this.#limiter,
      client,
      now,
      {
        threshold: this.#kg.config.ipBlockThreshold,
        windowMs: this.#failureWindowMs,
        blockMs: this.#blockDurationMs
      },
      this.#recordBlock
    );
  }
  #extractKey(request) {
    const sent = request.header(this.#keyHeader);
    const header = sent === "" ? void 0 : sent;
    if (Array.isArray(header)) {
      return { ok: false, detail: `Send exactly one ${this.#keyHeader.toUpperCase()} header.` };
    }
    let bearer;
    if (this.#bearer) {
      const authorization = request.header("authorization");
      const value = Array.isArray(authorization) ? void 0 : authorization;
      if (value !== void 0 && /^bearer\s+/i.test(value))
        bearer = value.replace(/^bearer\s+/i, "") || void 0;
    }
    if (header !== void 0 && bearer !== void 0 && header !== bearer) {
      return {
        ok: false,
        detail: `Two different API keys were sent (${this.#keyHeader.toUpperCase()} and Authorization).`
      };
    }
    return { ok: true, value: header ?? bearer };
  }
  #refuse(code, detail, request, headers = {}, apiKey) {
    return {
      allowed: false,
      ...problemResponse(code, detail, headers),
      request,
      ...apiKey === void 0 ? {} : { apiKey }
    };
  }
};
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

// src/secrets/secret-fingerprint.ts
import { createHmac as createHmac2 } from "crypto";
var FINGERPRINT_MESSAGE = "keyguard secret fingerprint v1";
function secretFingerprint(secret) {
  return createHmac2("sha256", secret).update(FINGERPRINT_MESSAGE).digest("hex");
}
function shortFingerprint(fingerprint) {
  return fingerprint.slice(0, 12);
}

// src/secrets/secret-check.ts
async function checkSecrets(store, secret, previousSecrets, now) {
  if (store.readSecretFingerprints === void 0 || store.adoptSecretFingerprint === void 0) {
    return void 0;
  }
  const fingerprint = secretFingerprint(secret);
  let fingerprints = await store.readSecretFingerprints();
  let adopted = false;
  if (fingerprints.current === void 0) {
    fingerprints = await store.adoptSecretFingerprint(fingerprint, now);
    adopted = fingerprints.current?.fingerprint === fingerprint;
  }
  const current = fingerprints.current;
  if (current !== void 0 && current.fingerprint !== fingerprint) {
    throw mismatch(fingerprint, fingerprints, previousSecrets);
  }
  for (const previous of previousSecrets) {
    const known = secretFingerprint(previous);
    if (!fingerprints.previous.some((retired) => retired.fingerprint === known)) {
      throw new KeyGuardError(
        "secret_mismatch",
        `previousSecretKeys holds a secret (fingerprint ${shortFingerprint(known)}) this database's keys were never hashed with: only secrets a rotation retired belong there (${retiredList(fingerprints)}).`,
        { details: { field: "previousSecretKeys" } }
      );
    }
  }
  return { adopted, fingerprints };
}
function mismatch(fingerprint, fingerprints, previousSecrets) {
  const expected = shortFingerprint(fingerprints.current?.fingerprint ?? "");
  const mine = shortFingerprint(fingerprint);
  const details = { field: "secretKey" };
  if (previousSecrets.some(
    (previous) => secretFingerprint(previous) === fingerprints.current?.fingerprint
  )) {
    return new KeyGuardError(
      "secret_mismatch",
      `The database's keys are hashed with a secret listed in previousSecretKeys (fingerprint ${expected}), not with secretKey (${mine}): rotate the secret first (rotateSecret), so the database expects the new one.`,
      { details }
    );
  }
  const retired = fingerprints.previous.find((entry) => entry.fingerprint === fingerprint);
  if (retired !== void 0) {
    return new KeyGuardError(
      "secret_mismatch",
      `secretKey (fingerprint ${mine}) was retired by a secret rotation on ${retired.retiredAt.toISOString()}; the database now expects the secret with fingerprint ${expected}. Use that one, and keep this one among the previous secrets while keys made with it remain.`,
      { details }
    );
  }
  return new KeyGuardError(
    "secret_mismatch",
    `secretKey (fingerprint ${mine}) is not the secret this database's keys are hashed with (fingerprint ${expected}): keys made with it would be refused by every server using the database's secret. Use the database's secret, or change secrets deliberately with a secret rotation (rotateSecret).`,
    { details: { ...details, rotation: true } }
  );
}
function retiredList(fingerprints) {
  if (fingerprints.previous.length === 0) return "this database has none";
  return `retired: ${fingerprints.previous.map((entry) => shortFingerprint(entry.fingerprint)).join(", ")}`;
}

// src/usage/usage-maintenance.ts
import { setImmediate as nextTurn } from "timers/promises";
var HOUR_MS = 36e5;
var DAY_MS = 24 * HOUR_MS;
var UsageMaintenance = class {
  #options;
  #timer;
  #running;
  #stopped = false;
  constructor(options) {
    this.#options = options;
  }
  /** Runs a pass now and then every `maintenanceIntervalMs` (unref'd). Idempotent. */
  start() {
    if (this.#timer !== void 0 || this.#stopped) return;
    if (this.#options.store.maintainUsage === void 0) return;
    this.#timer = setInterval(() => this.#background(), this.#options.maintenanceIntervalMs);
    this.#timer.unref();
    this.#background();
  }
  /** Stops the interval and waits for a pass under way (it ends after its current step). */
  async stop() {
    this.#stopped = true;
    if (this.#timer !== void 0) clearInterval(this.#timer);
    this.#timer = void 0;
    await this.#running?.catch(() => {
    });
  }
  /**
   * One full pass, until nothing is left to roll up or delete; concurrent calls share it.
   * Rejects with the store's error.
   */
  run() {
    this.#running ??= this.#pass().finally(() => {
      this.#running = void 0;
    });
    return this.#running;
  }
  #background() {
    if (this.#running !== void 0) return;
    this.run().catch((error) => this.#options.onError(error));
  }
  async #pass() {
    const { store, clock } = this.#options;
    const totals = { rolledUp: 0, deletedRows: 0, deletedRollups: 0 };
    if (store.maintainUsage === void 0) return totals;
    const now = clock.now();
    const rollUpBefore = Math.floor((now - this.#options.rollupAfterHours * HOUR_MS) / HOUR_MS) * HOUR_MS;
    const step = {
      rollUpBefore: new Date(rollUpBefore),
      deleteRowsBefore: new Date(now - this.#options.retentionDays * DAY_MS),
      deleteRollupsBefore: new Date(now - this.#options.rollupRetentionDays * DAY_MS),
      limit: this.#options.maintenanceBatchSize
    };
    for (; ; ) {
      const done = await store.maintainUsage(step);
      totals.rolledUp += done.rolledUp;
      totals.deletedRows += done.deletedRows;
      totals.deletedRollups += done.deletedRollups;
      if (done.rolledUp + done.deletedRows + done.deletedRollups === 0 || this.#stopped) {
        return totals;
      }
      await nextTurn();
    }
  }
};

// src/domain/usage-event.ts
function isCharged(event) {
  return event.charged ?? event.statusCode !== 429;
}

// src/util/time-ordered-id.ts
import { randomUUID as randomUUID3 } from "crypto";
function timeOrderedId(at) {
  const time = Math.max(0, Math.floor(at)).toString(16).padStart(12, "0").slice(-12);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${randomUUID3().slice(15)}`;
}

// src/usage/usage-recorder.ts
var StoreUnavailable = class {
  constructor(error, unwritten) {
    this.error = error;
    this.unwritten = unwritten;
  }
  error;
  unwritten;
};
var countOf = (event) => event.requestCount ?? 1;
var UsageRecorder = class {
  #options;
  #pending = /* @__PURE__ */ new Map();
  /**
   * Each key's most recent row: consecutive requests of one key usually share method, path,
   * status, client and second, and comparing those fields is much cheaper than building and
   * hashing the composite id (the aggregation was a measurable part of a request's cost).
   */
  #latestByKey = /* @__PURE__ */ new Map();
  #queue = [];
  #timer;
  #writing;
  #closed = false;
  #written = 0;
  #dropped = 0;
  #failedWrites = 0;
  /** Whether the current overflow was reported (reset once a write succeeds). */
  #overflowReported = false;
  constructor(options) {
    this.#options = options;
  }
  /** Counts one request (or an already aggregated event). Never throws, never waits. */
  record(event) {
    const requests = countOf(event);
    if (this.#closed) {
      this.#dropped += requests;
      return;
    }
    const second = Math.floor(event.timestamp.getTime() / 1e3);
    const charged = isCharged(event);
    const latest = this.#latestByKey.get(event.keyId);
    if (latest !== void 0 && latest.second === second && latest.statusCode === event.statusCode && latest.path === event.path && latest.method === event.method && latest.ipAddress === event.ipAddress && latest.charged === charged) {
      this.#add(latest, event, requests);
      return;
    }
    const id = `${event.keyId}\0${second}\0${event.statusCode}\0${charged ? 1 : 0}\0${event.method}\0${event.ipAddress ?? ""}\0${event.path}`;
    const row = this.#pending.get(id);
    if (row !== void 0) {
      this.#add(row, event, requests);
      this.#latestByKey.set(event.keyId, row);
      return;
    }
    if (this.#pending.size + this.#queue.length >= this.#options.maxBuffered) {
      this.#drop(requests);
      return;
    }
    const created = {
      keyId: event.keyId,
      // Kept until written, maybe long (the store down): never a view into a request target.
      path: detachString(event.path),
      method: event.method,
      statusCode: event.statusCode,
      ipAddress: event.ipAddress,
      charged,
      second,
      timestamp: event.timestamp,
      requestCount: requests,
      latencyTotal: event.latencyMs * requests
    };
    this.#pending.set(id, created);
    this.#latestByKey.set(event.keyId, created);
    if (this.#pending.size >= this.#options.batchSize) {
      void this.#drain();
    } else {
      this.#startTimer();
    }
  }
  /**
   * Writes everything recorded so far. Resolves when it is written; rejects with the
   * store's error if a write fails (the rows stay queued for the next attempt).
   */
  async flush() {
    this.#takePending();
    while (this.#writing !== void 0 || this.#queue.length > 0) {
      if (this.#writing !== void 0) await this.#writing;
      else await this.#writeNextBatch();
    }
  }
  /** Flushes and stops the timer. Requests recorded after this are counted as dropped. */
  async close() {
    this.#closed = true;
    this.#stopTimer();
    await this.flush();
  }
  get stats() {
    let buffered = 0;
    for (const row of this.#pending.values()) buffered += row.requestCount;
    for (const event of this.#queue) buffered += countOf(event);
    return {
      buffered,
      written: this.#written,
      dropped: this.#dropped,
      failedWrites: this.#failedWrites
    };
  }
  #add(row, event, requests) {
    row.requestCount += requests;
    row.latencyTotal += event.latencyMs * requests;
    if (event.timestamp > row.timestamp) row.timestamp = event.timestamp;
  }
  /**
   * After `close()` failed (the store unreachable): every row not written, each with the id
   * it was (or would have been) written under, handed over to be kept elsewhere (the
   * spool). The recorder holds nothing afterwards.
   */
  takeUnwritten() {
    this.#takePending();
    const rows = this.#queue;
    this.#queue = [];
    return rows;
  }
  /**
   * Moves the rows being filled into the write queue, each given its id now, before any
   * attempt to write it: a retry (after a failure, or a lost reply to a COMMIT that did
   * happen) writes the same ids, which the store writes at most once.
   */
  #takePending() {
    if (this.#pending.size === 0) return;
    for (const row of this.#pending.values()) {
      this.#queue.push({
        id: timeOrderedId(row.timestamp.getTime()),
        keyId: row.keyId,
        path: row.path,
        method: row.method,
        statusCode: row.statusCode,
        ipAddress: row.ipAddress,
        timestamp: row.timestamp,
        requestCount: row.requestCount,
        latencyMs: row.latencyTotal / row.requestCount,
        charged: row.charged
      });
    }
    this.#pending = /* @__PURE__ */ new Map();
    this.#latestByKey = /* @__PURE__ */ new Map();
  }
  async #drain() {
    if (this.#writing !== void 0) return;
    try {
      for (this.#takePending(); this.#queue.length > 0; this.#takePending()) {
        if (this.#writing !== void 0) return;
        await this.#writeNextBatch();
      }
    } catch {
    }
    if (this.#queue.length === 0 && this.#pending.size === 0) this.#stopTimer();
  }
  async #writeNextBatch() {
    const batch = this.#queue.splice(0, this.#options.batchSize);
    const write = this.#writeDroppingRefusedRows(batch);
    this.#writing = write.then(
      () => {
      },
      () => {
      }
    );
    try {
      await write;
      this.#overflowReported = false;
    } catch (failure) {
      const { error, unwritten } = failure instanceof StoreUnavailable ? failure : { error: failure, unwritten: batch };
      this.#failedWrites++;
      this.#queue = unwritten.concat(this.#queue);
      const overflow = this.#queue.length - this.#options.maxBuffered;
      if (overflow > 0) {
        for (const event of this.#queue.splice(0, overflow)) this.#drop(countOf(event));
      }
      if (!this.#closed) this.#startTimer();
      this.#options.onError?.(error);
      throw error;
    } finally {
      this.#writing = void 0;
    }
  }
  /**
   * Writes `rows`. A store that refuses them for what they hold (not for being unavailable)
   * would refuse them on every retry and hold back every row queued behind them, so the
   * batch is halved until the refused rows are alone, and those are dropped (counted and
   * reported). An unavailable store's error comes back with the rows not yet written.
   */
  async #writeDroppingRefusedRows(rows) {
    try {
      await this.#options.write(rows);
      for (const event of rows) this.#written += countOf(event);
      return;
    } catch (error) {
      if (isKeyGuardError(error, "database_unavailable")) throw new StoreUnavailable(error, rows);
      if (rows.length === 1) {
        this.#dropped += countOf(rows[0]);
        this.#options.onError?.(
          new Error("The store refused a usage row; it was dropped.", { cause: error })
        );
        return;
      }
    }
    const half = Math.ceil(rows.length / 2);
    try {
      await this.#writeDroppingRefusedRows(rows.slice(0, half));
    } catch (failure) {
      if (!(failure instanceof StoreUnavailable)) throw failure;
      throw new StoreUnavailable(failure.error, failure.unwritten.concat(rows.slice(half)));
    }
    await this.#writeDroppingRefusedRows(rows.slice(half));
  }
  #drop(requests) {
    this.#dropped += requests;
    if (this.#overflowReported) return;
    this.#overflowReported = true;
    this.#options.onError?.(
      new Error(
        `Usage buffer full (${this.#options.maxBuffered} rows waiting for the store): usage of further requests is dropped until the store catches up. See usageStats.dropped (${this.#dropped} so far).`
      )
    );
  }
  #startTimer() {
    if (this.#timer !== void 0) return;
    this.#timer = setInterval(() => void this.#drain(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }
  #stopTimer() {
    if (this.#timer !== void 0) {
      clearInterval(this.#timer);
      this.#timer = void 0;
    }
  }
};

// src/util/clock.ts
var systemClock = { now: () => Date.now() };

// src/util/background-error.ts
function warnBackgroundError(error) {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof SuppressedErrors ? error.code : "KEYGUARD_BACKGROUND_ERROR";
  process.emitWarning(`KeyGuard: ${message}`, { code });
}
var SuppressedErrors = class extends Error {
  constructor(kind, count, periodMs, lastMessage) {
    super(
      `${count} more error${count === 1 ? "" : "s"} of kind ${kind} in the last ${Math.max(1, Math.round(periodMs / 1e3))} s (reported once per kind and interval; last: ${lastMessage.slice(0, 300)})`
    );
    this.kind = kind;
    this.count = count;
    this.periodMs = periodMs;
  }
  kind;
  count;
  periodMs;
  name = "SuppressedErrors";
  code = "KEYGUARD_ERRORS_SUPPRESSED";
};
var RATE_LIMITED = /* @__PURE__ */ Symbol.for("keyguard.rateLimitedErrors");
function rateLimitErrors(report, options = {}) {
  const existing = report;
  if (existing[RATE_LIMITED] === true) return report;
  const intervalMs = options.intervalMs ?? 6e4;
  const clock = options.clock ?? systemClock;
  const maxKinds = options.maxKinds ?? 32;
  const kinds = /* @__PURE__ */ new Map();
  let nextRollMs = Number.POSITIVE_INFINITY;
  let timer;
  const send = (error) => {
    try {
      report(error);
    } catch {
    }
  };
  const roll = (now) => {
    nextRollMs = Number.POSITIVE_INFINITY;
    for (const [kind, state] of kinds) {
      if (now >= state.windowEndMs) {
        if (state.suppressed === 0) {
          kinds.delete(kind);
          continue;
        }
        send(
          new SuppressedErrors(
            kind,
            state.suppressed,
            now - state.windowStartMs,
            state.lastMessage
          )
        );
        state.suppressed = 0;
        state.windowStartMs = now;
        state.windowEndMs = now + intervalMs;
      }
      nextRollMs = Math.min(nextRollMs, state.windowEndMs);
    }
  };
  const schedule = () => {
    if (timer !== void 0 || kinds.size === 0) return;
    timer = setTimeout(() => {
      timer = void 0;
      roll(clock.now());
      schedule();
    }, intervalMs);
    timer.unref();
  };
  const reporter = ((error) => {
    const now = clock.now();
    if (now >= nextRollMs) roll(now);
    let kind = errorKindOf(error);
    if (!kinds.has(kind) && kinds.size >= maxKinds) kind = "other";
    const state = kinds.get(kind);
    if (state !== void 0) {
      state.suppressed++;
      state.lastMessage = messageOf2(error);
      return;
    }
    const windowEndMs = now + intervalMs;
    kinds.set(kind, { windowStartMs: now, windowEndMs, suppressed: 0, lastMessage: "" });
    nextRollMs = Math.min(nextRollMs, windowEndMs);
    schedule();
    send(error);
  });
  reporter.close = () => {
    if (timer !== void 0) clearTimeout(timer);
    timer = void 0;
    const now = clock.now();
    for (const [kind, state] of kinds) {
      if (state.suppressed > 0) {
        const periodMs = now - state.windowStartMs;
        send(new SuppressedErrors(kind, state.suppressed, periodMs, state.lastMessage));
      }
    }
    kinds.clear();
    nextRollMs = Number.POSITIVE_INFINITY;
  };
  reporter[RATE_LIMITED] = true;
  return reporter;
}
function errorKindOf(error) {
  return kindOf(error, 0);
}
function kindOf(error, depth) {
  if (isKeyGuardError(error)) {
    const cause = error.cause;
    if (cause === void 0 || depth >= 2) return error.code;
    return `${error.code}/${kindOf(cause, depth + 1)}`;
  }
  if (typeof error !== "object" || error === null) return typeof error;
  const { code, name, message } = error;
  if (typeof code === "string" && /^[A-Za-z0-9_.-]{1,40}$/.test(code)) return code;
  const className = typeof name === "string" && /^\w{1,40}$/.test(name) ? name : "Error";
  const word = typeof message === "string" ? /^([A-Z][A-Z_]{1,20})\b/.exec(message) : null;
  if (className === "ReplyError" && word !== null) return `redis:${word[1]}`;
  if (/^Command timed out/.test(typeof message === "string" ? message : "")) return "timeout";
  return className;
}
function messageOf2(error) {
  return error instanceof Error ? error.message : String(error);
}

// src/keyguard.ts
var REFUSALS = {
  missing: { outcome: "missing", code: "missing_api_key" },
  malformed: { outcome: "malformed", code: "invalid_api_key" },
  unknown: { outcome: "unknown", code: "invalid_api_key" },
  revoked: { outcome: "revoked", code: "revoked_api_key" },
  expired: { outcome: "expired", code: "expired_api_key" },
  organization_suspended: { outcome: "organization_suspended", code: "organization_suspended" }
};
var REFUSED = {
  missing: Promise.resolve(REFUSALS.missing),
  malformed: Promise.resolve(REFUSALS.malformed)
};
var HOUR_MS2 = 60 * 60 * 1e3;
var MAX_USAGE_REPORT_MS = 366 * 24 * HOUR_MS2;
var KeyGuard = class {
  config;
  store;
  clock;
  /** Turns a socket address and `X-Forwarded-For` into the client limits apply to. */
  clientAddress;
  /**
   * The client a request is identified as (IP, or IPv6 prefix), per `trustProxy`. Every
   * entry point (`guard()`, `rateLimitByIp`, `blockRequest`, the admin API) asks here, so
   * ignored forwarded headers are noticed whichever of them an app uses.
   */
  clientOf = (request) => {
    const forwardedFor = forwardedForOf((name) => request.header(name));
    if (forwardedFor !== void 0 && !this.#forwardedForNoticed) {
      this.#forwardedForNoticed = true;
      this.#warn(
        "KEYGUARD_UNTRUSTED_FORWARDED_FOR",
        `Requests carry X-Forwarded-For but trustProxy is off, so clients are identified by the socket address (${this.clientAddress(request.remoteAddress, void 0)}). Behind a proxy or load balancer every client then shares one IP's limits and blocks: set trustProxy to the number of proxy hops or their addresses.`
      );
    }
    return this.clientAddress(request.remoteAddress, forwardedFor);
  };
  /** Whether there is nothing (left) to warn about forwarded headers: once per KeyGuard. */
  #forwardedForNoticed;
  #warn;
  #limiter;
  #ipBlocks;
  #reportBackgroundError;
  #hash;
  /** Hashers of `previousSecretKeys`, tried in order for a key the current secret does not know. */
  #previousHashes;
  #cache;
  /** Keys in other systems' formats (imported); undefined when the store cannot hold them. */
  #importedKeys;
  #usage;
  #usageSpool;
  #usageMaintenance;
  #organizations;
  #keys;
  #changeFeed;
  #stopListening;
  #closing;
  constructor(options) {
    this.config = options.config;
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.#limiter = options.limiter;
    this.clientAddress = createClientAddressResolver(options.config);
    this.#forwardedForNoticed = !trustsNoProxy(options.config.trustProxy);
    this.#warn = options.onWarning ?? ((code, message) => process.emitWarning(message, { code }));
    this.#reportBackgroundError = rateLimitErrors(
      options.onBackgroundError ?? warnBackgroundError,
      {
        clock: this.clock
      }
    );
    const secret = options.config.secretKey;
    this.#hash = secret === void 0 ? secretMissing : createKeyHasher(secret, options.config.cache.maxEntries);
    this.#previousHashes = (options.config.previousSecretKeys ?? []).map(
      (previous) => createKeyHasher(previous, options.config.cache.maxEntries)
    );
    this.#cache = new VerificationCache({
      ...options.config.cache,
      clock: this.clock,
      // A refresh cut short by close() (the store shutting down) is not worth reporting.
      onRefreshError: (error) => {
        if (this.#closing === void 0) this.#reportBackgroundError(error);
      }
    });
    this.#importedKeys = ImportedKeyLookup.supports(this.store) ? new ImportedKeyLookup({
      store: this.store,
      hash: this.#hash,
      legacySecret: options.config.legacySecret,
      clock: this.clock,
      refreshMs: options.config.cache.ttlMs,
      retryMs: options.config.cache.negativeTtlMs
    }) : void 0;
    this.#ipBlocks = new IpBlockService({
      store: this.store,
      clock: this.clock,
      clientAddress: this.clientAddress,
      clientOf: this.clientOf,
      limiter: this.#limiter,
      publish: (change) => this.#publish(change),
      syncIntervalMs: this.config.blockSyncIntervalMs,
      onBackgroundError: (error) => this.#reportBackgroundError(error)
    });
    this.#usage = new UsageRecorder({
      ...options.config.usage,
      write: (events) => this.store.insertUsageEvents(events),
      onError: (error) => this.#reportBackgroundError(error)
    });
    this.#usageSpool = options.usageSpool;
    this.#usageMaintenance = new UsageMaintenance({
      ...options.config.usage,
      store: this.store,
      clock: this.clock,
      onError: (error) => this.#reportBackgroundError(error)
    });
    this.#organizations = new OrganizationService({
      store: this.store,
      clock: this.clock,
      organizationChanged: (id) => {
        this.#cache.invalidateOrganization(id);
        return this.#publish({ kind: "organization", id });
      }
    });
    this.#keys = new ApiKeyService({
      store: this.store,
      clock: this.clock,
      config: this.config,
      hash: this.#hash,
      previousHashes: this.#previousHashes,
      organizations: this.#organizations,
      forget: (keyHash) => this.#cache.invalidate(keyHash),
      keyChanged: (keyHash) => this.#keyChanged(keyHash),
      findImported: (rawKey) => this.#findImported(rawKey)
    });
    this.#changeFeed = options.changeFeed;
    this.#stopListening = this.#changeFeed?.subscribe((change) => this.#hear(change));
  }
  /** Another process (or this one) changed something this process may have cached. */
  #hear(change) {
    if (change.kind === "api-key") this.#cache.invalidate(change.keyHash);
    else if (change.kind === "organization") this.#cache.invalidateOrganization(change.id);
    else if (change.kind === "ip-blocks") this.#ipBlocks.hear(change);
    else {
      this.#cache.clear();
      this.#ipBlocks.resync();
    }
  }
  /**
   * Tells every process. The change itself is already stored, so a notice that cannot be
   * sent is reported, not thrown: the others then catch up when their caches expire.
   */
  async #publish(change) {
    if (this.#changeFeed === void 0) return;
    try {
      await this.#changeFeed.publish(change);
    } catch (error) {
      this.#reportBackgroundError(error);
    }
  }
  /** Forgets a key's cached verification here and in every other process. */
  #keyChanged(keyHash) {
    this.#cache.invalidate(keyHash);
    return this.#publish({ kind: "api-key", keyHash });
  }
  /**
   * Creates or upgrades the database schema (the seed's `init_db`); then, with a secret
   * configured, checks it is the one the database's keys are hashed with (a database that
   * records none adopts it, and says so through `onWarning` when it already holds keys):
   * `secret_mismatch` otherwise; then writes usage a previous process spooled because the
   * store was unreachable when it stopped. Safe to repeat.
   */
  async init() {
    await this.store.migrate();
    await this.checkSecret();
    await this.#importedKeys?.prime();
    await this.#replayUsageSpool();
  }
  /**
   * Checks the configured secret (and `previousSecretKeys`) against the fingerprints the
   * database records; see {@link init}. `undefined` without a secret or without store
   * support.
   */
  async checkSecret() {
    const secret = this.config.secretKey;
    if (secret === void 0) return void 0;
    const now = new Date(this.clock.now());
    const check = await checkSecrets(this.store, secret, this.config.previousSecretKeys ?? [], now);
    if (check?.adopted) {
      const hmacKeys = await this.#countHmacKeys(now);
      if (hmacKeys > 0) {
        this.#warn(
          "KEYGUARD_SECRET_ADOPTED",
          `This database recorded no secret; it now records the configured one (fingerprint ${shortFingerprint(secretFingerprint(secret))}) and refuses any other from now on. Its ${hmacKeys} existing key(s) work only if they were made with this secret.`
        );
      }
    }
    return check;
  }
  /**
   * Keys whose stored hash is an HMAC under some secret: the ones a newly adopted secret
   * may not match. Imported keyguard-python and plain SHA-256 hashes do not depend on it.
   */
  async #countHmacKeys(now) {
    const bySchemes = await this.store.countKeysByHashScheme?.();
    if (bySchemes === void 0) return (await this.store.countStats(now, now)).totalKeys;
    return bySchemes.filter(({ scheme }) => scheme === "hmac-sha256" || scheme === "imported-hmac-sha256").reduce((sum, { keys }) => sum + keys, 0);
  }
  /**
   * Changes the secret that hashes new keys, deliberately. A stored key hash cannot be
   * recomputed (the raw key is never kept), so keys made until now keep working only where
   * the old secret is configured as a previous one (`previousSecretKeys`, tried after the
   * new secret) until each is rotated (`rotateApiKey`). The database then expects
   * `newSecret`: servers still configured with the old one refuse to start (and to create
   * keys) until their configuration is changed. This KeyGuard keeps its configuration:
   * create a new one with the new secret to go on.
   */
  async rotateSecret(newSecret) {
    const secret = this.config.secretKey;
    if (secret === void 0) {
      throw new KeyGuardError(
        "invalid_config",
        "Rotating the secret needs the current secret key.",
        {
          details: { field: "secretKey" }
        }
      );
    }
    if (typeof newSecret !== "string" || newSecret.length < 8) {
      throw new KeyGuardError(
        "invalid_input",
        "newSecret must be at least 8 characters; use a long random value",
        { details: { field: "newSecret" } }
      );
    }
    if (newSecret === secret) {
      throw new KeyGuardError("invalid_input", "newSecret is the current secret already", {
        details: { field: "newSecret" }
      });
    }
    const store = this.store;
    if (store.rotateSecretFingerprint === void 0) {
      throw new KeyGuardError(
        "invalid_config",
        `This store (${store.dialect}) records no secret fingerprints.`
      );
    }
    await this.checkSecret();
    const previous = secretFingerprint(secret);
    const next = secretFingerprint(newSecret);
    const rotatedAt = new Date(this.clock.now());
    if (!await store.rotateSecretFingerprint(previous, next, rotatedAt)) {
      throw new KeyGuardError(
        "secret_mismatch",
        "The database's secret changed while rotating (another rotation ran at the same time): nothing was changed here."
      );
    }
    const counts = await store.countStats(rotatedAt, rotatedAt);
    return {
      fingerprint: next,
      previousFingerprint: previous,
      rotatedAt,
      keysToRotate: counts.activeKeys
    };
  }
  /** Spooled usage into the store, exactly once (the rows keep their ids); one log line. */
  async #replayUsageSpool() {
    const spool = this.#usageSpool;
    if (spool === void 0) return;
    try {
      const replayed = await spool.replay(
        (events) => this.store.insertUsageEvents(events),
        this.config.usage.batchSize
      );
      if (replayed.ignoredFiles > 0) {
        this.#reportBackgroundError(
          new Error(
            `${replayed.ignoredFiles} usage spool file(s) not replayed: not written by this user, or writable by others (${spool.location}): give them to this user with mode 0600 to have them replayed, or remove them.`
          )
        );
      }
      if (replayed.files === 0) return;
      this.#warn(
        "KEYGUARD_USAGE_SPOOL_REPLAYED",
        `Usage spool replayed: ${replayed.rows} rows (${replayed.requests} requests) from ${replayed.files} file(s) written to the store${replayed.skippedLines > 0 ? `, ${replayed.skippedLines} unreadable line(s) skipped` : ""}${replayed.refusedRows > 0 ? `, ${replayed.refusedRows} row(s) the store refused were dropped` : ""} (${spool.location}).`
      );
    } catch (error) {
      this.#reportBackgroundError(
        new Error(`Spooled usage could not be written yet (${spool.location}).`, {
          cause: error
        })
      );
    }
  }
  // ---- organizations (see organizations/organization-service.ts) --------------------
  createOrganization(name) {
    return this.#organizations.create(name);
  }
  /** Oldest first; optionally of one status, and a page at a time (see `ListPage`). */
  listOrganizations(filter = {}) {
    return this.#organizations.list(filter);
  }
  /** Finds an organization by name, or by id. Throws `organization_not_found`. */
  getOrganization(nameOrId) {
    return this.#organizations.get(nameOrId);
  }
  /** Suspends an organization: its keys are refused until it is reactivated. */
  suspendOrganization(nameOrId) {
    return this.#organizations.suspend(nameOrId);
  }
  reactivateOrganization(nameOrId) {
    return this.#organizations.reactivate(nameOrId);
  }
  // ---- keys (see keys/api-key-service.ts) ------------------------------------------------
  /**
   * Creates a key. The returned `rawKey` is the only copy: show it once, then drop it.
   * Refused (`secret_mismatch`) if another process rotated the secret since this one
   * started: a key hashed with a retired secret would work only as long as it is kept.
   */
  async createApiKey(input) {
    await this.#secretStillCurrent();
    return this.#keys.create(input);
  }
  /**
   * Issues a new raw key with the settings and monthly quota of an existing one (the new
   * key continues the month's count); the old key is revoked at once or, with
   * `gracePeriodMs`, expires when the grace period ends. One transaction, decided by the
   * database: a key is rotated once, and a second rotation (also one racing the first, from
   * any process) throws `key_already_rotated`; a revoked or expired key, `conflict`.
   *
   * @example
   * const { rawKey, key, previous } = await kg.rotateApiKey(id, { gracePeriodMs: 86_400_000 });
   */
  async rotateApiKey(reference, options = {}) {
    await this.#secretStillCurrent();
    return this.#keys.rotate(reference, options);
  }
  /** One read before a new key is hashed (never on the request path). */
  async #secretStillCurrent() {
    const secret = this.config.secretKey;
    if (secret === void 0 || this.store.readSecretFingerprints === void 0) return;
    const { current } = await this.store.readSecretFingerprints();
    if (current !== void 0 && current.fingerprint !== secretFingerprint(secret)) {
      await this.checkSecret();
    }
  }
  /**
   * Keys, masked (no hash, no raw key), oldest first; optionally of one organization (name
   * or id), in one state now, and a page at a time (see `ListPage`).
   */
  listApiKeys(filter = {}) {
    return this.#keys.list(filter);
  }
  /**
   * Finds a key by id, by display prefix (`kg_live_4Gk9`, or any start of it) or by the
   * raw key itself. A prefix that fits several keys is an `ambiguous_key_reference` error
   * listing them: KeyGuard never guesses which key you meant.
   */
  getApiKey(reference) {
    return this.#keys.get(reference);
  }
  /**
   * Changes a key's label, limits, scopes or expiry. Takes effect in this process at once,
   * and in every other at once with a change feed (Redis), else within `cache.ttlMs`.
   * A revoked key throws `conflict`, a rotated one `key_already_rotated`.
   */
  updateApiKey(reference, input) {
    return this.#keys.update(reference, input);
  }
  /**
   * Revokes a key: refused from now on (everywhere at once with a change feed). Revoking a
   * revoked key changes nothing and returns it as it is; {@link revokeApiKeyOutcome} says
   * which happened.
   */
  async revokeApiKey(reference) {
    return (await this.#keys.revoke(reference)).key;
  }
  /**
   * {@link revokeApiKey}, telling whether the key was already revoked (then nothing was
   * written or announced). The database decides: of several revocations at once, exactly
   * one reports `alreadyRevoked: false`.
   *
   * @example
   * const { key, alreadyRevoked } = await kg.revokeApiKeyOutcome("kg_live_4Gk9");
   */
  revokeApiKeyOutcome(reference) {
    return this.#keys.revoke(reference);
  }
  // ---- verification ------------------------------------------------------------------
  /**
   * Decides whether a raw key may be used. Junk (wrong length, bad checksum, control
   * characters) is refused without hashing; a key seen recently is answered from the
   * cache without I/O. Throws `database_unavailable` only when the store must be asked
   * and cannot answer.
   */
  verifyKey(rawKey) {
    if (rawKey === void 0 || rawKey === null || rawKey === "") return REFUSED.missing;
    if (!isWellFormedKey(rawKey)) {
      return this.#importedKeys === void 0 ? REFUSED.malformed : this.#verifyImported(rawKey);
    }
    let keyHash;
    try {
      keyHash = this.#hash(rawKey);
    } catch (error) {
      return Promise.reject(error);
    }
    const cached = this.#cache.lookup(keyHash, this.#loadByHash);
    if (this.#previousHashes.length === 0) {
      if (cached !== void 0) return Promise.resolve(this.#decide(cached));
      return this.#cache.resolve(keyHash, this.#loadByHash).then(this.#decide);
    }
    if (cached?.key !== void 0) return Promise.resolve(this.#decide(cached));
    const current = cached === void 0 ? this.#cache.resolve(keyHash, this.#loadByHash) : Promise.resolve(cached);
    return current.then(
      (lookup) => lookup.key !== void 0 ? this.#decide(lookup) : this.#verifyPrevious(rawKey)
    );
  }
  /**
   * The key's hash under each previous secret, newest first, each looked up through the
   * cache like the current one: a key of a retired secret, once found, costs one more HMAC
   * and cache read per request (and one query per `negativeTtlMs` for its unknown current
   * hash); an unknown key one query per secret, each answer remembered as unknown. Hashes
   * are looked up by index, never compared byte by byte, so nothing is timed against them.
   */
  async #verifyPrevious(rawKey) {
    for (const hash2 of this.#previousHashes) {
      const keyHash = hash2(rawKey);
      const lookup = this.#cache.lookup(keyHash, this.#loadByHash) ?? await this.#cache.resolve(keyHash, this.#loadByHash);
      if (lookup.key !== void 0) return this.#decide(lookup);
    }
    return REFUSALS.unknown;
  }
  #loadByHash = (keyHash) => this.store.findApiKeyByHash(keyHash);
  // ---- imported keys (keys/imported-key-lookup.ts): raw keys not in KeyGuard's format ----
  /**
   * A key without KeyGuard's checksum: malformed, unless keys imported from another
   * system may have this form. Then it goes through the same cache as any key, under its
   * HMAC (what the key is re-stored as on first use), so a known or unknown one costs no
   * query after its first look-up.
   */
  #verifyImported(rawKey) {
    const lookup = this.#importedKeys;
    try {
      const candidates = lookup.candidates(rawKey);
      if (candidates === void 0) return REFUSED.malformed;
      if (candidates instanceof Promise) {
        return candidates.then(
          (found2) => found2 === void 0 ? REFUSALS.malformed : this.#resolveImported(rawKey, found2)
        );
      }
      return this.#resolveImported(rawKey, candidates);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  #resolveImported(rawKey, candidates) {
    const lookup = this.#importedKeys;
    const cached = this.#cache.peek(candidates.keyHash);
    if (cached !== void 0) return Promise.resolve(this.#decide(cached));
    return this.#cache.resolve(candidates.keyHash, () => lookup.load(rawKey, candidates)).then(this.#decide);
  }
  /** The stored key an imported raw key names (for references: revoke, update, usage). */
  async #findImported(rawKey) {
    const lookup = this.#importedKeys;
    if (lookup === void 0) return void 0;
    const candidates = await lookup.candidates(rawKey);
    return candidates === void 0 ? void 0 : lookup.load(rawKey, candidates);
  }
  // ---- end of imported keys ----------------------------------------------------------
  #decide = (lookup) => {
    const { key, info } = lookup;
    if (key === void 0) return REFUSALS.unknown;
    if (!key.isActive) return REFUSALS.revoked;
    if (key.expiresAt !== null && key.expiresAt.getTime() <= this.clock.now()) {
      return REFUSALS.expired;
    }
    if (key.organizationStatus !== "active") return REFUSALS.organization_suspended;
    return { outcome: "valid", key: info };
  };
  // ---- usage and stats -----------------------------------------------------------------
  /** Queues a usage event; it is written with the next batch. Never waits, never throws. */
  recordUsage(event) {
    this.#usage.record(event);
  }
  /** Writes every queued usage event now. */
  flushUsage() {
    return this.#usage.flush();
  }
  /**
   * Rolls up and deletes old usage now (servers also do it every
   * `usage.maintenanceIntervalMs`, see `UsageMaintenance`); what it did, in rows.
   */
  maintainUsage() {
    return this.#usageMaintenance.run();
  }
  get usageStats() {
    return this.#usage.stats;
  }
  /**
   * A key's requests per UTC hour since `since` (queued usage is written first), with
   * hours that saw no requests filled in as zeros.
   */
  async usage(reference, options) {
    const since = options.since;
    const sinceMs = since instanceof Date ? since.getTime() : Number.NaN;
    if (Number.isNaN(sinceMs))
      throw new KeyGuardError("invalid_input", "since must be a valid date");
    if (sinceMs > this.clock.now()) {
      throw new KeyGuardError("invalid_input", "since must not be in the future");
    }
    if (this.clock.now() - sinceMs > MAX_USAGE_REPORT_MS) {
      throw new KeyGuardError("invalid_input", "since must be within the last 366 days");
    }
    const key = await this.#keys.find(reference);
    await this.#usage.flush();
    const rows = await this.store.usageByHour(key.id, since);
    const byHour = new Map(rows.map((row) => [row.hour.getTime(), row]));
    const buckets = [];
    const first = Math.floor(since.getTime() / HOUR_MS2) * HOUR_MS2;
    for (let hour = first; hour <= this.clock.now(); hour += HOUR_MS2) {
      buckets.push(
        byHour.get(hour) ?? {
          hour: new Date(hour),
          total: 0,
          status2xx: 0,
          status3xx: 0,
          status4xx: 0,
          status5xx: 0
        }
      );
    }
    return { key: toApiKeyInfo(key), since, buckets };
  }
  /** The seed's statistics. Queued usage is written first, so the numbers are current. */
  async stats() {
    await this.#usage.flush();
    const now = this.clock.now();
    const counts = await this.store.countStats(new Date(now - HOUR_MS2), new Date(now));
    return {
      organizations: counts.organizations,
      totalKeys: counts.totalKeys,
      activeKeys: counts.activeKeys,
      totalRequests: counts.totalRequests,
      requestsLastHour: counts.requestsSince,
      errorRate: counts.totalRequests === 0 ? 0 : counts.errorRequests / counts.totalRequests,
      legacyHashKeys: await this.#countLegacyHashKeys()
    };
  }
  /** Unrevoked keys still under another system's hash (0 for a store without imported keys). */
  async #countLegacyHashKeys() {
    if (this.store.countKeysByHashScheme === void 0) return 0;
    const counts = await this.store.countKeysByHashScheme();
    let total = 0;
    for (const count of counts) if (isLegacyHashScheme(count.scheme)) total += count.unrevokedKeys;
    return total;
  }
  /** The limiter behind the request pipeline (throws if none was configured). */
  get limiter() {
    if (this.#limiter === void 0) {
      throw new KeyGuardError(
        "invalid_config",
        "This KeyGuard has no limiter: create it with createKeyGuard(), or pass `limiter` (e.g. new MemoryLimiter() from @keyguard/limiter-memory)."
      );
    }
    return this.#limiter;
  }
  /**
   * The request pipeline for a set of routes: what every adapter runs. Options are
   * checked here, once, so a misconfiguration fails at start-up.
   */
  guard(options = {}) {
    const guard = new RequestGuard(this, this.limiter, options);
    this.#usageMaintenance.start();
    return guard;
  }
  // ---- IP blocks (see blocks/ip-block-service.ts) ------------------------------------------
  /**
   * Blocks a client: everywhere KeyGuard protects (`scope: "global"`, the default) or on one
   * path. Stored in the database, so it survives restarts and reaches every process.
   *
   * @example
   * ```ts
   * await kg.blockIp("203.0.113.7", { duration: "1 hour" });
   * await kg.blockIp("203.0.113.7", { duration: 600, scope: "path", path: "/api/withdraw" });
   * ```
   */
  blockIp(ip, options = {}) {
    return this.#ipBlocks.blockIp(ip, options);
  }
  /** Blocks the client of a request (the seed's `block_request`), as the pipeline sees it. */
  blockRequest(request, options = {}) {
    return this.#ipBlocks.blockRequest(request, options);
  }
  /** Lifts every block on an IP (manual, automatic and lockouts); true if there was one. */
  unblockIp(ip) {
    return this.#ipBlocks.unblockIp(ip);
  }
  /**
   * Records a block KeyGuard decided on by itself (failed authentications past the
   * threshold, a lockout): in the limiter, and stored with `automatic: true`, so a restart
   * does not lift it. `unblockIp` lifts it like any other.
   */
  blockAutomatically(block) {
    return this.#ipBlocks.blockAutomatically(block);
  }
  /** Blocks in force: stored ones (manual and automatic) and the limiter's, each once. */
  listBlocks() {
    return this.#ipBlocks.listBlocks();
  }
  /**
   * The block in force on `client` at `path` (already normalised): a manual one from
   * memory first, else the limiter's (automatic blocks, lockouts).
   */
  async findBlock(client, path, now) {
    return this.findManualBlock(client, path, now) ?? this.limiter.findBlock(client, path, now);
  }
  /** The stored block (manual or automatic) covering `client` on `path` now, from memory (no I/O). */
  findManualBlock(client, path, now) {
    return this.#ipBlocks.findManualBlock(client, path, now);
  }
  /** Starts keeping manual blocks in step with the store; resolves once loaded. Idempotent. */
  syncBlocks() {
    return this.#ipBlocks.sync();
  }
  /**
   * A per-client limit for routes without API keys (the seed's `rate_limit_by_ip`), with
   * optional lockouts. Adapters wrap it as `rateLimitByIp(kg, rule)`.
   */
  ipRateLimit(rule) {
    return new IpRateLimit(this, rule);
  }
  /**
   * Writes queued usage; with the store unreachable, hands it to the spool (one log line
   * saying how many rows), so `close()` succeeds and the next start writes it.
   */
  async #closeUsage() {
    try {
      await this.#usage.close();
      return;
    } catch (error) {
      const spool = this.#usageSpool;
      if (spool === void 0 || !isKeyGuardError(error, "database_unavailable")) throw error;
      const rows = this.#usage.takeUnwritten();
      let saved;
      try {
        saved = await spool.save(rows);
      } catch (spoolError) {
        const requests = rows.reduce((sum, row) => sum + (row.requestCount ?? 1), 0);
        throw new KeyGuardError(
          "database_unavailable",
          `${error instanceof Error ? error.message : String(error)} The usage spool could not be written either (${spoolError instanceof Error ? spoolError.message : String(spoolError)}): ${rows.length} usage rows (${requests} requests) were lost.`,
          { cause: error }
        );
      }
      this.#warn(
        "KEYGUARD_USAGE_SPOOLED",
        `The store is unreachable: ${saved.rows} usage rows (${saved.requests} requests) were spooled to ${saved.file ?? spool.location}; the next start writes them${saved.droppedRows > 0 ? `. ${saved.droppedRows} rows (${saved.droppedRequests} requests) were dropped: the spool is full (usage.maxSpoolBytes)` : ""}.`
      );
    }
  }
  /**
   * Reports a failure through `onBackgroundError`, rate limited per kind of error, so a
   * flood (Redis out of memory under load) is a few lines, not one per request. The
   * request pipeline reports every store and limiter error it answers 503 for here.
   */
  reportError(error) {
    this.#reportBackgroundError(error);
  }
  /** Writes queued usage and closes the store, limiter and change feed. Safe to repeat. */
  close() {
    this.#ipBlocks.stopSync();
    this.#stopListening?.();
    this.#closing ??= (async () => {
      const steps = [
        () => this.#usageMaintenance.stop(),
        () => this.#closeUsage(),
        () => this.#changeFeed?.close(),
        () => this.#limiter?.close(),
        () => this.store.close()
      ];
      let failure;
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          failure ??= { error };
        }
      }
      this.#reportBackgroundError.close();
      await new Promise((resolve3) => setImmediate(resolve3));
      if (failure !== void 0) throw failure.error;
    })();
    return this.#closing;
  }
};
var secretMissing = () => {
  throw new KeyGuardError(
    "invalid_config",
    "This needs the secret key (it hashes raw keys): set KEYGUARD_SECRET_KEY or pass --secret."
  );
};

// src/usage/usage-spool.ts
import { createHash as createHash3 } from "crypto";
import { lstat, mkdir, open, readdir, readFile, rename, stat, unlink } from "fs/promises";
import { basename, dirname, join, resolve as resolve2 } from "path";
var HEADER = '{"keyguard_usage_spool":1}';
var SUFFIX = ".jsonl";
var INTERRUPTED_SAVE_MS = 6e4;
var UUID3 = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
var UsageSpool = class {
  #options;
  constructor(options) {
    this.#options = options;
  }
  /** Where files are written, for messages. */
  get location() {
    return join(this.#options.directory, `${this.#options.name}.usage-spool-*${SUFFIX}`);
  }
  /** Writes `events` to a new spool file, within what is left of `maxBytes`. */
  async save(events) {
    let budget = this.#options.maxBytes - await this.#existingBytes() - HEADER.length - 1;
    const lines = [HEADER];
    let rows = 0;
    let requests = 0;
    let droppedRows = 0;
    let droppedRequests = 0;
    for (const event of events) {
      const line = JSON.stringify(toLine(event));
      const size = Buffer.byteLength(line) + 1;
      if (size > budget) {
        droppedRows++;
        droppedRequests += event.requestCount ?? 1;
        continue;
      }
      budget -= size;
      lines.push(line);
      rows++;
      requests += event.requestCount ?? 1;
    }
    if (rows === 0) return { file: void 0, rows, requests, droppedRows, droppedRequests };
    const file = join(
      this.#options.directory,
      `${this.#options.name}.usage-spool-${timeOrderedId(Date.now())}${SUFFIX}`
    );
    const temporary = `${file}.tmp`;
    await mkdir(this.#options.directory, { recursive: true, mode: 448 });
    const handle = await open(temporary, "wx", 384);
    try {
      await handle.writeFile(`${lines.join("\n")}
`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
    return { file, rows, requests, droppedRows, droppedRequests };
  }
  /**
   * Writes every spool file's rows through `write` (batches of `batchSize`), oldest file
   * first, deleting each file once all its rows are written. A batch the store refuses for
   * what it holds (not for being unavailable) is halved until the refused rows are alone,
   * and those are dropped and counted: it would be refused at every start. Rejects with the
   * first write the store was unavailable for; that file and the later ones stay for the
   * next start.
   */
  async replay(write, batchSize) {
    let files = 0;
    let rows = 0;
    let requests = 0;
    let skippedLines = 0;
    let refusedRows = 0;
    let refusedRequests = 0;
    const writeTaken = async (events) => {
      try {
        await write(events);
        return;
      } catch (error) {
        if (isKeyGuardError(error, "database_unavailable")) throw error;
        if (events.length === 1) {
          refusedRows++;
          refusedRequests += events[0]?.requestCount ?? 1;
          return;
        }
      }
      const half = Math.ceil(events.length / 2);
      await writeTaken(events.slice(0, half));
      await writeTaken(events.slice(half));
    };
    let ignoredFiles = 0;
    await this.#recoverInterruptedSaves();
    for (const file of await this.#files()) {
      let text;
      try {
        if (!await writtenByThisUser(file)) {
          ignoredFiles++;
          continue;
        }
        if ((await stat(file)).size > this.#options.maxBytes) {
          throw new Error(`${file} is larger than usage.maxSpoolBytes; it was not replayed`);
        }
        text = await readFile(file, "utf8");
      } catch (error) {
        if (error.code === "ENOENT") continue;
        throw error;
      }
      const events = [];
      for (const line of text.split("\n")) {
        if (line === "" || line === HEADER) continue;
        const event = fromLine(line);
        if (event === void 0) skippedLines++;
        else events.push(event);
      }
      for (let start = 0; start < events.length; start += batchSize) {
        await writeTaken(events.slice(start, start + batchSize));
      }
      await unlink(file).catch((error) => {
        if (error.code !== "ENOENT") throw error;
      });
      files++;
      rows += events.length;
      for (const event of events) requests += event.requestCount ?? 1;
    }
    return {
      files,
      rows: rows - refusedRows,
      requests: requests - refusedRequests,
      skippedLines,
      refusedRows,
      ignoredFiles
    };
  }
  /**
   * A save killed before its rename leaves `<file>.tmp`: never listed, never counted, never
   * deleted, so each such crash would leave up to `maxBytes` on disk for good. One older
   * than {@link INTERRUPTED_SAVE_MS} (a save takes milliseconds; a younger one may be
   * another process saving now) is given its final name, and replayed like any file: a
   * line cut short is skipped, and the ids keep rows that were also written from counting
   * twice.
   */
  async #recoverInterruptedSaves() {
    let names;
    try {
      names = await readdir(this.#options.directory);
    } catch (error) {
      if (error.code === "ENOENT") return;
      throw error;
    }
    const prefix = `${this.#options.name}.usage-spool-`;
    const temporary = `${SUFFIX}.tmp`;
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith(temporary)) continue;
      const file = join(this.#options.directory, name);
      try {
        const status = await lstat(file);
        if (!status.isFile() || Date.now() - status.mtimeMs < INTERRUPTED_SAVE_MS) continue;
        await rename(file, file.slice(0, -".tmp".length));
      } catch (error) {
        if (error.code !== "ENOENT") throw error;
      }
    }
  }
  async #files() {
    let names;
    try {
      names = await readdir(this.#options.directory);
    } catch (error) {
      if (error.code === "ENOENT") return [];
      throw error;
    }
    const prefix = `${this.#options.name}.usage-spool-`;
    return names.filter((name) => name.startsWith(prefix) && name.endsWith(SUFFIX)).sort().map((name) => join(this.#options.directory, name));
  }
  async #existingBytes() {
    let total = 0;
    for (const file of await this.#files()) {
      total += await stat(file).then(
        (s) => s.size,
        () => 0
      );
    }
    return total;
  }
};
function usageSpoolFor(database, settings) {
  if (database.dialect === "sqlite") {
    if (database.filename === ":memory:") return void 0;
    const directory = settings.spoolDirectory;
    return new UsageSpool({
      directory: directory ?? dirname(database.filename),
      name: directory === void 0 ? basename(database.filename) : `${basename(database.filename)}-${digest(resolve2(database.filename))}`,
      maxBytes: settings.maxSpoolBytes
    });
  }
  return new UsageSpool({
    directory: settings.spoolDirectory ?? process.cwd(),
    name: `keyguard-postgres-${digest(withoutPassword(database.connectionString))}`,
    maxBytes: settings.maxSpoolBytes
  });
}
function digest(text) {
  return createHash3("sha256").update(text).digest("hex").slice(0, 16);
}
function withoutPassword(connectionString) {
  try {
    const url = new URL(connectionString);
    url.password = "";
    url.searchParams.delete("password");
    return url.href;
  } catch {
    return connectionString.replace(/(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/gi, "$1");
  }
}
async function writtenByThisUser(file) {
  if (process.platform === "win32") return true;
  const status = await lstat(file);
  if (!status.isFile() || (status.mode & 18) !== 0) return false;
  const uid = process.getuid?.();
  return uid === void 0 || status.uid === uid;
}
function toLine(event) {
  return {
    id: event.id,
    keyId: event.keyId,
    path: event.path,
    method: event.method,
    statusCode: event.statusCode,
    latencyMs: event.latencyMs,
    ipAddress: event.ipAddress,
    timestamp: event.timestamp.getTime(),
    requestCount: event.requestCount ?? 1,
    charged: event.charged ?? event.statusCode !== 429
  };
}
function fromLine(line) {
  let value;
  try {
    value = JSON.parse(line);
  } catch {
    return void 0;
  }
  if (typeof value !== "object" || value === null || typeof value.id !== "string" || !UUID3.test(value.id) || typeof value.keyId !== "string" || value.keyId.length > 64 || typeof value.path !== "string" || value.path.length > MAX_KEYED_PATH_LENGTH || typeof value.method !== "string" || value.method.length > 16 || !Number.isInteger(value.statusCode) || value.statusCode < 100 || value.statusCode > 999 || typeof value.latencyMs !== "number" || !Number.isFinite(value.latencyMs) || value.ipAddress !== null && (typeof value.ipAddress !== "string" || value.ipAddress.length > 64) || !Number.isSafeInteger(value.timestamp) || !Number.isSafeInteger(value.requestCount) || value.requestCount < 1 || typeof value.charged !== "boolean") {
    return void 0;
  }
  return {
    id: value.id,
    keyId: value.keyId,
    path: value.path,
    method: value.method,
    statusCode: value.statusCode,
    latencyMs: value.latencyMs,
    ipAddress: value.ipAddress ?? null,
    timestamp: new Date(value.timestamp),
    requestCount: value.requestCount,
    charged: value.charged
  };
}

// src/util/load-optional-module.ts
async function loadOptionalModule(packageName, neededBy, load) {
  try {
    return await load();
  } catch (error) {
    if (isModuleNotFound(error, packageName)) {
      throw new KeyGuardError(
        "driver_missing",
        `${neededBy} needs the "${packageName}" package, which is not installed. Install it with: npm install ${packageName}`,
        { cause: error }
      );
    }
    throw error;
  }
}
function isModuleNotFound(error, packageName) {
  if (!(error instanceof Error)) return false;
  const code = error.code;
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && error.message.includes(packageName);
}

// src/create-keyguard.ts
var STORE_PACKAGE = "@keyguard/store-kysely";
var MEMORY_LIMITER_PACKAGE = "@keyguard/limiter-memory";
var REDIS_LIMITER_PACKAGE = "@keyguard/limiter-redis";
async function createKeyGuard(config = {}, options = {}) {
  const resolved = resolveConfig(config, options.env, { requireSecret: options.requireSecret });
  let store = options.store;
  const usageSpool = store === void 0 ? usageSpoolFor(resolved.database, resolved.usage) : void 0;
  if (store === void 0) {
    const { createKyselyStore } = await loadOptionalModule(
      STORE_PACKAGE,
      `databaseUrl ${resolved.database.dialect === "sqlite" ? "(SQLite)" : "(PostgreSQL)"}`,
      () => import(STORE_PACKAGE)
    );
    store = await createKyselyStore({
      database: resolved.database,
      ...resolved.postgres,
      onError: options.onBackgroundError ?? warnBackgroundError
    });
  }
  const report = rateLimitErrors(options.onBackgroundError ?? warnBackgroundError, {
    clock: options.clock
  });
  let limiter = options.limiter;
  let changeFeed = options.changeFeed;
  if (limiter === void 0 && resolved.redisUrl !== void 0) {
    const { createRedisBackend } = await loadOptionalModule(
      REDIS_LIMITER_PACKAGE,
      "redisUrl (rate limits shared through Redis)",
      () => import(REDIS_LIMITER_PACKAGE)
    );
    const backend = await createRedisBackend({
      url: resolved.redisUrl,
      prefix: resolved.redisPrefix,
      onError: report
    });
    limiter = backend.limiter;
    changeFeed ??= backend.changeFeed;
  }
  if (limiter === void 0) {
    const { MemoryLimiter } = await loadOptionalModule(
      MEMORY_LIMITER_PACKAGE,
      "Rate limiting in one process",
      () => import(MEMORY_LIMITER_PACKAGE)
    );
    limiter = new MemoryLimiter();
  }
  const kg = new KeyGuard({
    config: resolved,
    store,
    limiter,
    changeFeed,
    clock: options.clock,
    onBackgroundError: report,
    onWarning: options.onWarning,
    usageSpool
  });
  if (options.migrate ?? true) {
    try {
      await kg.init();
    } catch (error) {
      await kg.close().catch(() => {
      });
      throw error;
    }
  }
  return kg;
}

// src/limits/gcra.ts
function gcra(state, now, limit, windowMs) {
  const interval = windowMs / limit;
  const tat = Math.max(state.tat, now);
  const newTat = tat + interval;
  const allowAt = newTat - windowMs;
  if (now < allowAt) {
    return {
      allowed: false,
      limit,
      remaining: 0,
      resetAtMs: Math.ceil(tat),
      retryAfterMs: Math.ceil(allowAt - now)
    };
  }
  state.tat = newTat;
  return {
    allowed: true,
    limit,
    remaining: Math.max(0, Math.floor((windowMs - (newTat - now)) / interval)),
    resetAtMs: Math.ceil(newTat),
    retryAfterMs: 0
  };
}

// src/limits/sliding-window-counter.ts
function slidingWindowCounter(state, now, limit, windowMs) {
  const windowStart = now - now % windowMs;
  if (windowStart !== state.windowStart) {
    state.previous = windowStart - state.windowStart === windowMs ? state.current : 0;
    state.current = 0;
    state.windowStart = windowStart;
  }
  const overlap = 1 - (now - windowStart) / windowMs;
  const estimated = state.previous * overlap + state.current;
  if (estimated + 1 <= limit) {
    state.current++;
    return {
      allowed: true,
      limit,
      remaining: Math.max(0, Math.floor(limit - estimated - 1)),
      resetAtMs: windowStart + windowMs,
      retryAfterMs: 0
    };
  }
  let retryAfterMs = windowStart + windowMs - now;
  if (state.previous > 0 && state.current + 1 <= limit) {
    const neededOverlap = (limit - state.current - 1) / state.previous;
    retryAfterMs = Math.max(1, Math.ceil((1 - neededOverlap) * windowMs - (now - windowStart)));
  }
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAtMs: windowStart + windowMs,
    retryAfterMs
  };
}

// src/limits/sliding-window-log.ts
function slidingWindowLog(state, now, limit, windowMs) {
  const hits = state.hits;
  const horizon = now - windowMs;
  let head = state.head ?? 0;
  while (head < hits.length && hits[head] <= horizon) head++;
  if (head > 1024 && head * 2 > hits.length) {
    hits.splice(0, head);
    head = 0;
  } else if (head === hits.length && head > 0) {
    hits.length = 0;
    head = 0;
  }
  state.head = head;
  const counted = hits.length - head;
  if (counted < limit) {
    hits.push(now);
    return {
      allowed: true,
      limit,
      remaining: limit - counted - 1,
      resetAtMs: hits[head] + windowMs,
      retryAfterMs: 0
    };
  }
  const oldest = hits[head];
  return {
    allowed: false,
    limit,
    remaining: 0,
    resetAtMs: oldest + windowMs,
    retryAfterMs: oldest + windowMs - now
  };
}

// src/node-http/complete-on-close.ts
function completeOnClose(res, guard, result) {
  if (result.apiKey === void 0) return;
  res.once("close", () => guard.complete(result, res.statusCode));
}

// src/node-http/node-guard-request.ts
function nodeGuardRequest(req, path) {
  const headers = req.headers;
  return {
    method: req.method ?? "GET",
    path,
    remoteAddress: req.socket.remoteAddress,
    header: (name) => headers[name]
  };
}

// src/node-http/write-problem.ts
function writeProblem(res, status, headers, problem) {
  const body = JSON.stringify(problem);
  res.statusCode = status;
  setHeaders(res, headers);
  res.setHeader("content-type", PROBLEM_CONTENT_TYPE);
  res.setHeader("content-length", Buffer.byteLength(body));
  res.end(body);
}
function setHeaders(res, headers) {
  for (const name in headers) res.setHeader(name, headers[name]);
}

// src/pipeline/client-error.ts
var ANSWERS = {
  HPE_HEADER_OVERFLOW: {
    code: "headers_too_large",
    reason: "Request Header Fields Too Large",
    detail: "The request headers are larger than this server accepts."
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    code: "payload_too_large",
    reason: "Payload Too Large",
    detail: "The request's chunk extensions are larger than this server accepts."
  },
  // The server's `headersTimeout` or `requestTimeout` ran out while the request was still
  // arriving (a client sending headers or a body slowly, or stalling).
  ERR_HTTP_REQUEST_TIMEOUT: {
    code: "request_timeout",
    reason: "Request Timeout",
    detail: "The request was not received in time."
  }
};
var BAD_REQUEST = {
  code: "bad_request",
  reason: "Bad Request",
  detail: "The request is not valid HTTP (for example, a header contains a control character)."
};
function answerClientError(error, socket) {
  if (!socket.writable || error.code === "ECONNRESET" || socket._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const answer = (error.code === void 0 ? void 0 : ANSWERS[error.code]) ?? BAD_REQUEST;
  const body = JSON.stringify(problemFor(answer.code, answer.detail));
  socket.end(
    `HTTP/1.1 ${httpStatusFor(answer.code)} ${answer.reason}\r
Content-Type: ${PROBLEM_CONTENT_TYPE}\r
Content-Length: ${Buffer.byteLength(body)}\r
Connection: close\r
\r
${body}`
  );
}

// src/pipeline/error-problem.ts
var CLIENT_ERROR_CODES = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  409: "conflict",
  410: "gone",
  411: "length_required",
  412: "precondition_failed",
  413: "payload_too_large",
  414: "uri_too_long",
  415: "unsupported_media_type",
  416: "range_not_satisfiable",
  422: "unprocessable_content",
  429: "rate_limited",
  431: "headers_too_large"
};
var GENERIC_DETAILS = {
  bad_request: "The request could not be read (for example, a malformed body or URL).",
  unauthorized: "This request needs authentication.",
  forbidden: "This request is not allowed.",
  not_found: "Nothing was found at this path.",
  method_not_allowed: "This method is not allowed on this path.",
  not_acceptable: "No representation of this resource matches the Accept header.",
  request_timeout: "The request was not received in time.",
  conflict: "The request conflicts with the current state of the resource.",
  gone: "This resource is no longer available.",
  length_required: "Send the body's length (Content-Length).",
  precondition_failed: "A precondition in the request headers does not hold.",
  payload_too_large: "The request body is larger than this server accepts.",
  uri_too_long: "The request URL is longer than this server accepts.",
  unsupported_media_type: "This endpoint does not accept the body's media type.",
  range_not_satisfiable: "The requested range cannot be served.",
  unprocessable_content: "The request body is well-formed but cannot be processed.",
  rate_limited: "Too many requests. Retry later.",
  headers_too_large: "The request headers are larger than this server accepts.",
  service_unavailable: "The service is unavailable right now. Retry shortly.",
  database_unavailable: "The service is unavailable right now. Retry shortly.",
  internal_error: "The server could not answer this request. The error has been logged."
};
var HEADERS_DROPPED_ON_ERROR = [
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-range"
];
var PASSED_HEADERS = ["allow", "retry-after", "www-authenticate"];
function problemForError(error) {
  const code = codeFor(error);
  const status = httpStatusFor(code);
  let detail = GENERIC_DETAILS[code] ?? GENERIC_DETAILS.internal_error ?? "";
  if (status < 500 && isKeyGuardError(error)) detail = error.message;
  const headers = { "content-type": PROBLEM_CONTENT_TYPE };
  if (status < 500 || status === 503) {
    const shape = error;
    copySafeHeaders(shape?.headers, headers);
    copySafeHeaders(isKeyGuardError(error) ? error.details : void 0, headers);
  }
  if (status === 503 && headers["retry-after"] === void 0) headers["retry-after"] = "5";
  return { status, headers, problem: problemFor(code, detail), unexpected: status >= 500 };
}
function codeFor(error) {
  if (isKeyGuardError(error)) {
    const status2 = httpStatusFor(error.code);
    return status2 < 500 || status2 === 503 ? error.code : "internal_error";
  }
  if (typeof error !== "object" || error === null) return "internal_error";
  const { status, statusCode } = error;
  const value = typeof status === "number" ? status : statusCode;
  if (typeof value !== "number" || !Number.isInteger(value)) return "internal_error";
  if (value >= 400 && value < 500) return CLIENT_ERROR_CODES[value] ?? "bad_request";
  return value === 503 ? "service_unavailable" : "internal_error";
}
function copySafeHeaders(from, to) {
  if (typeof from !== "object" || from === null) return;
  for (const [key, value] of Object.entries(from)) {
    const name = key.includes("-") ? key.toLowerCase() : key.replace(/(?<=[a-z])[A-Z]/g, (c) => `-${c}`).toLowerCase();
    if (!PASSED_HEADERS.includes(name)) continue;
    if (typeof value === "string" && /^[\t\x20-\x7e]{1,200}$/.test(value)) to[name] = value;
  }
}
function reportUnexpectedError(report, error, context) {
  try {
    report(error, context);
  } catch (reporterError) {
    console.error(error);
    console.error(reporterError);
  }
}

// src/pipeline/require-scopes.ts
function missingScopes(key, required) {
  if (key === null || key === void 0) {
    return problemFor(
      "missing_api_key",
      "This route needs an API key, but the KeyGuard middleware did not run before it."
    );
  }
  if (key.scopes.includes("*")) return void 0;
  const missing = required.filter((scope) => !key.scopes.includes(scope));
  if (missing.length === 0) return void 0;
  return problemFor(
    "insufficient_scope",
    `This route needs the scope${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, which the key does not have.`
  );
}

// src/wire/wire-format.ts
var iso = (date) => date.toISOString();
var isoOrNull = (date) => date === null ? null : date.toISOString();
function toOrganizationWire(organization) {
  return {
    id: organization.id,
    name: organization.name,
    status: organization.status,
    created_at: iso(organization.createdAt)
  };
}
function keyStatus(key, now) {
  if (!key.isActive) return "revoked";
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return "expired";
  return "active";
}
function toApiKeyWire(key, now) {
  return {
    id: key.id,
    org_id: key.orgId,
    org_name: key.organizationName,
    label: key.label,
    prefix: key.prefix,
    status: keyStatus(key, now),
    is_active: key.isActive,
    scopes: [...key.scopes],
    rate_limit_per_minute: key.rateLimitPerMinute,
    monthly_limit: key.monthlyLimit,
    created_at: iso(key.createdAt),
    expires_at: isoOrNull(key.expiresAt),
    last_used_at: isoOrNull(key.lastUsedAt)
  };
}
function toStatsWire(stats) {
  return {
    organizations: stats.organizations,
    total_keys: stats.totalKeys,
    active_keys: stats.activeKeys,
    total_requests: stats.totalRequests,
    requests_last_hour: stats.requestsLastHour,
    error_rate: stats.errorRate,
    legacy_hash_keys: stats.legacyHashKeys
  };
}
function toUsageWire(usage) {
  return {
    key_id: usage.key.id,
    since: iso(usage.since),
    hours: usage.buckets.map((bucket) => ({
      hour: iso(bucket.hour),
      total: bucket.total,
      status_2xx: bucket.status2xx,
      status_3xx: bucket.status3xx,
      status_4xx: bucket.status4xx,
      status_5xx: bucket.status5xx
    }))
  };
}
function toIpBlockWire(block) {
  return {
    client: block.client,
    scope: block.scope,
    path: block.path ?? null,
    until: new Date(block.untilMs).toISOString(),
    reason: block.reason,
    automatic: block.automatic === true
  };
}
export {
  ApiKeyService,
  CONFIG_ENV_VARS,
  DEFAULT_FAILURE_BLOCK_MS,
  DEFAULT_FAILURE_WINDOW_MS,
  DISPLAY_PREFIX_LENGTH,
  ERROR_CODES,
  FOREIGN_KEY_MAX_LENGTH,
  FOREIGN_KEY_MIN_LENGTH,
  HEADERS_DROPPED_ON_ERROR,
  IpBlockList,
  IpBlockService,
  IpRateLimit,
  KEY_HASH_SCHEMES,
  KeyGuard,
  KeyGuardError,
  LEGACY_HASH_SCHEMES,
  MAX_KEYED_PATH_LENGTH,
  OrganizationService,
  PROBLEM_CONTENT_TYPE,
  QuotaSeedLostError,
  RAW_KEY_LENGTH,
  RequestGuard,
  SuppressedErrors,
  UNKNOWN_CLIENT,
  UsageRecorder,
  UsageSpool,
  VerificationCache,
  answerClientError,
  blockedDetail,
  calendarMonth,
  checkSecrets,
  completeOnClose,
  countAuthFailure,
  countsAsFailure,
  createClientAddressResolver,
  createKeyGuard,
  createKeyHasher,
  createPathMatcher,
  detachString,
  errorKindOf,
  forwardedForOf,
  gcra,
  generateRawKey,
  httpStatusFor,
  isCharged,
  isErrorCode,
  isKeyGuardError,
  isKeyHashScheme,
  isKeyguardPythonKey,
  isLegacyHashScheme,
  isPlausibleForeignKey,
  isProtectedPath,
  isQuotaExhausted,
  isQuotaSeedLost,
  isWellFormedKey,
  keyEnvironmentOf,
  legacyHashOf,
  loadOptionalModule,
  lockoutEnd,
  messageWithFieldNames,
  missingScopes,
  monthlyQuota,
  nodeGuardRequest,
  normalizePath,
  parseDatabaseUrl,
  parseDuration,
  pathOf,
  peekMonthlyQuota,
  problemFor,
  problemForError,
  problemResponse,
  rateLimitErrors,
  rateLimitHeaders,
  redactUrl,
  reportUnexpectedError,
  resolveConfig,
  retryAfterSeconds,
  secretFingerprint,
  setHeaders,
  shortFingerprint,
  slidingWindowCounter,
  slidingWindowLog,
  systemClock,
  timeOrderedId,
  titleFor,
  toApiKeyInfo,
  toApiKeyWire,
  toIpBlockWire,
  toOrganizationWire,
  toStatsWire,
  toUsageWire,
  usageSpoolFor,
  warnBackgroundError,
  writeProblem
};
//# sourceMappingURL=index.js.map