import { createHash } from "node:crypto";
import { lstat, mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { DatabaseTarget } from "../config/database-url.js";
import type { UsageEvent } from "../domain/usage-event.js";
import { isKeyGuardError } from "../errors/keyguard-error.js";
import { MAX_KEYED_PATH_LENGTH } from "../pipeline/protected-path.js";
import { timeOrderedId } from "../util/time-ordered-id.js";

export interface UsageSpoolOptions {
  /** The directory spool files are written to and replayed from. */
  readonly directory: string;
  /** The start of every spool file's name: which database its rows belong to. */
  readonly name: string;
  /** Most bytes this database's spool files may hold together. */
  readonly maxBytes: number;
}

/** What `save` kept, and what it had to drop because the spool was full. */
export interface UsageSpoolSaved {
  readonly file: string | undefined;
  readonly rows: number;
  readonly requests: number;
  readonly droppedRows: number;
  readonly droppedRequests: number;
}

/** What `replay` wrote to the store. */
export interface UsageSpoolReplayed {
  readonly files: number;
  readonly rows: number;
  readonly requests: number;
  /** Lines that were not usage rows (a file cut short, or edited), skipped. */
  readonly skippedLines: number;
  /**
   * Rows the store refused for what they hold (a key id it has no key for, say: an
   * application may record any), dropped so they do not hold back every later start.
   */
  readonly refusedRows: number;
  /**
   * Files with a spool's name that this spool would not have written (not a regular file,
   * another user's, or writable by others), left alone: in a shared directory anyone could
   * plant usage rows (charging a customer's quota) or block the replay with them.
   */
  readonly ignoredFiles: number;
}

const HEADER = '{"keyguard_usage_spool":1}';
const SUFFIX = ".jsonl";
/** How old a save's temporary file must be to count as left by a crash (see `replay`). */
const INTERRUPTED_SAVE_MS = 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Usage that could not be written at shutdown (the store unreachable), kept in local files
 * until the next start writes it. One file per shutdown, `<name>.usage-spool-<id>.jsonl`,
 * mode 0600 (it holds client addresses), written to a temporary name, synced and renamed,
 * so a replay never reads half a file. Every row keeps the id it was first sent under: the
 * store skips ids it already has, so a replay writes each row exactly once even if the
 * lost batch had in fact been committed, or two processes replay the same file. A file is
 * deleted only after all its rows were written.
 */
export class UsageSpool {
  readonly #options: UsageSpoolOptions;

  constructor(options: UsageSpoolOptions) {
    this.#options = options;
  }

  /** Where files are written, for messages. */
  get location(): string {
    return join(this.#options.directory, `${this.#options.name}.usage-spool-*${SUFFIX}`);
  }

  /** Writes `events` to a new spool file, within what is left of `maxBytes`. */
  async save(events: readonly UsageEvent[]): Promise<UsageSpoolSaved> {
    let budget = this.#options.maxBytes - (await this.#existingBytes()) - HEADER.length - 1;
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
    if (rows === 0) return { file: undefined, rows, requests, droppedRows, droppedRequests };
    const file = join(
      this.#options.directory,
      `${this.#options.name}.usage-spool-${timeOrderedId(Date.now())}${SUFFIX}`,
    );
    const temporary = `${file}.tmp`;
    // A configured directory that does not exist yet would otherwise be found out only
    // now, during an outage, by losing the rows: made (0700: it holds client addresses).
    await mkdir(this.#options.directory, { recursive: true, mode: 0o700 });
    const handle = await open(temporary, "wx", 0o600);
    try {
      await handle.writeFile(`${lines.join("\n")}\n`);
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
  async replay(
    write: (events: readonly UsageEvent[]) => Promise<void>,
    batchSize: number,
  ): Promise<UsageSpoolReplayed> {
    let files = 0;
    let rows = 0;
    let requests = 0;
    let skippedLines = 0;
    let refusedRows = 0;
    let refusedRequests = 0;
    const writeTaken = async (events: readonly UsageEvent[]): Promise<void> => {
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
      let text: string;
      try {
        if (!(await writtenByThisUser(file))) {
          ignoredFiles++;
          continue;
        }
        // No file this spool wrote is larger than maxBytes: a larger one is someone else's,
        // and is neither read into memory nor written to the store.
        if ((await stat(file)).size > this.#options.maxBytes) {
          throw new Error(`${file} is larger than usage.maxSpoolBytes; it was not replayed`);
        }
        text = await readFile(file, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // replayed by another process
        throw error;
      }
      const events: UsageEvent[] = [];
      for (const line of text.split("\n")) {
        if (line === "" || line === HEADER) continue;
        const event = fromLine(line);
        if (event === undefined) skippedLines++;
        else events.push(event);
      }
      for (let start = 0; start < events.length; start += batchSize) {
        await writeTaken(events.slice(start, start + batchSize));
      }
      await unlink(file).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
      files++;
      rows += events.length;
      for (const event of events) requests += event.requestCount ?? 1;
    }
    // What was written: the refused rows are counted apart.
    return {
      files,
      rows: rows - refusedRows,
      requests: requests - refusedRequests,
      skippedLines,
      refusedRows,
      ignoredFiles,
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
  async #recoverInterruptedSaves(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#options.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
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
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
  }

  async #files(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#options.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const prefix = `${this.#options.name}.usage-spool-`;
    return names
      .filter((name) => name.startsWith(prefix) && name.endsWith(SUFFIX))
      .sort() // the ids are time-ordered: oldest first
      .map((name) => join(this.#options.directory, name));
  }

  async #existingBytes(): Promise<number> {
    let total = 0;
    for (const file of await this.#files()) {
      total += await stat(file).then(
        (s) => s.size,
        () => 0,
      );
    }
    return total;
  }
}

/**
 * The spool for a database opened from `databaseUrl`: next to a SQLite file (named after
 * it; in `directory`, if given, named after it and a digest of its full path, so two files
 * of one name sharing a spool directory never replay each other's rows); for PostgreSQL in
 * `directory` or the working directory, named by a digest of the connection string without
 * its password (so two databases never replay each other's rows, a password changed at a
 * restart still finds the spool, and the name is no digest a guessed password could be
 * checked against). None for `:memory:`.
 */
export function usageSpoolFor(
  database: DatabaseTarget,
  settings: { readonly spoolDirectory?: string; readonly maxSpoolBytes: number },
): UsageSpool | undefined {
  if (database.dialect === "sqlite") {
    if (database.filename === ":memory:") return undefined;
    const directory = settings.spoolDirectory;
    return new UsageSpool({
      directory: directory ?? dirname(database.filename),
      name:
        directory === undefined
          ? basename(database.filename)
          : `${basename(database.filename)}-${digest(resolve(database.filename))}`,
      maxBytes: settings.maxSpoolBytes,
    });
  }
  return new UsageSpool({
    directory: settings.spoolDirectory ?? process.cwd(),
    name: `keyguard-postgres-${digest(withoutPassword(database.connectionString))}`,
    maxBytes: settings.maxSpoolBytes,
  });
}

function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** A connection string (URL or `key=value` words) with any password left out. */
function withoutPassword(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    url.password = "";
    url.searchParams.delete("password");
    return url.href;
  } catch {
    return connectionString.replace(/(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/gi, "$1");
  }
}

/**
 * Whether `file` could be one this spool wrote: a regular file (not a link), owned by this
 * process's user, writable by no one else (it was made 0600). Not checked on Windows, which
 * has neither owners nor modes in this sense.
 */
async function writtenByThisUser(file: string): Promise<boolean> {
  if (process.platform === "win32") return true;
  const status = await lstat(file);
  if (!status.isFile() || (status.mode & 0o022) !== 0) return false;
  const uid = process.getuid?.();
  return uid === undefined || status.uid === uid;
}

interface SpoolLine {
  id: string | undefined;
  keyId: string;
  path: string;
  method: string;
  statusCode: number;
  latencyMs: number;
  ipAddress: string | null;
  timestamp: number;
  requestCount: number;
  charged: boolean;
  credits?: number;
  creditsPeriodStart?: number;
}

function toLine(event: UsageEvent): SpoolLine {
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
    charged: event.charged ?? event.statusCode !== 429,
    ...(event.credits === undefined || event.creditsPeriodStart === undefined
      ? {}
      : { credits: event.credits, creditsPeriodStart: event.creditsPeriodStart }),
  };
}

/** A line back to an event, or undefined if it is not one this spool wrote. */
function fromLine(line: string): UsageEvent | undefined {
  let value: Partial<SpoolLine>;
  try {
    value = JSON.parse(line) as Partial<SpoolLine>;
  } catch {
    return undefined;
  }
  if (
    typeof value !== "object" ||
    value === null ||
    typeof value.id !== "string" ||
    !UUID.test(value.id) ||
    typeof value.keyId !== "string" ||
    value.keyId.length > 64 ||
    typeof value.path !== "string" ||
    value.path.length > MAX_KEYED_PATH_LENGTH ||
    typeof value.method !== "string" ||
    value.method.length > 16 ||
    !Number.isInteger(value.statusCode) ||
    (value.statusCode as number) < 100 ||
    (value.statusCode as number) > 999 ||
    typeof value.latencyMs !== "number" ||
    !Number.isFinite(value.latencyMs) ||
    (value.ipAddress !== null &&
      (typeof value.ipAddress !== "string" || value.ipAddress.length > 64)) ||
    !Number.isSafeInteger(value.timestamp) ||
    !Number.isSafeInteger(value.requestCount) ||
    (value.requestCount as number) < 1 ||
    typeof value.charged !== "boolean" ||
    (value.credits !== undefined &&
      (!Number.isSafeInteger(value.credits) ||
        (value.credits as number) < 1 ||
        !Number.isSafeInteger(value.creditsPeriodStart)))
  ) {
    return undefined;
  }
  return {
    id: value.id,
    keyId: value.keyId,
    path: value.path,
    method: value.method,
    statusCode: value.statusCode as number,
    latencyMs: value.latencyMs,
    ipAddress: value.ipAddress ?? null,
    timestamp: new Date(value.timestamp as number),
    requestCount: value.requestCount as number,
    charged: value.charged,
    ...(value.credits === undefined
      ? {}
      : { credits: value.credits, creditsPeriodStart: value.creditsPeriodStart as number }),
  };
}
