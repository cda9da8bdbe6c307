import { existsSync } from "node:fs";
import { type DatabaseTarget, KeyGuard, KeyGuardError, resolveConfig } from "@keyguard/core";
import { parseDatabaseUrl, redactUrl } from "@keyguard/core/internal";
import type { RedisBackend } from "@keyguard/limiter-redis";
import { createKyselyStore } from "@keyguard/store-kysely";
import { cliActor } from "./cli-actor.js";
import type { CliIo } from "./cli-io.js";
import { type Colors, colorsFor } from "./output/colors.js";
import { toJson } from "./output/format.js";
import { propagationNote } from "./output/propagation-note.js";
import { rawOption, rawOptions } from "./raw-options.js";

export interface OpenOptions {
  /** The command hashes raw keys (create, rotate): without a secret it fails up front. */
  readonly needsSecret: boolean;
  /** `init` may create the database; every other command refuses to invent one. */
  readonly create?: boolean;
  /**
   * The command changes what running servers cache (key validity, organization status) or
   * reads or changes IP blocks: with Redis configured it goes through Redis, and refuses to
   * run if Redis does not answer. Other commands only use the database.
   */
  readonly shared?: boolean;
  /**
   * Work on an empty in-memory database instead of the configured one (a `--dry-run` whose
   * target does not exist yet: what it would add is everything, and nothing is created).
   */
  readonly standIn?: boolean;
}

/** What every command gets: the global options, output helpers and the database. */
export class CliContext {
  readonly io: CliIo;
  readonly argv: readonly string[];
  readonly colors: Colors;
  /** How soon running servers see a change made through the KeyGuard opened last. */
  #propagation = "";

  constructor(io: CliIo, argv: readonly string[]) {
    this.io = io;
    this.argv = argv;
    this.colors = colorsFor(io);
  }

  /** The exact text typed for `--name`, if given (see `rawOption`). */
  option(name: string): string | undefined {
    return rawOption(this.argv, name);
  }

  /** Every value typed for a repeatable `--name`, in order. */
  options(name: string): string[] {
    return rawOptions(this.argv, name);
  }

  get json(): boolean {
    return this.argv.includes("--json");
  }

  get databaseUrl(): string {
    return this.option("db") || this.io.env.KEYGUARD_DATABASE_URL || "sqlite:keyguard.db";
  }

  print(text: string): void {
    this.io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  /** `--json` output: the admin API's wire format (`toApiKeyWire` and the rest, in core). */
  printJson(value: unknown): void {
    this.io.stdout.write(toJson(value));
  }

  /**
   * The outcome of a change running servers cache, then how soon they will see it (text
   * output only: `--json` prints the record alone).
   */
  printChange(text: string): void {
    this.print(this.#propagation === "" ? text : `${text}\n${this.#propagation}`);
  }

  /**
   * A whole listing, shaped like one page of the admin API's (`{items, next_cursor}`):
   * the CLI lists everything, so there is never a next page.
   */
  printList(items: readonly unknown[]): void {
    this.printJson({ items, next_cursor: null });
  }

  /** Opens KeyGuard on the configured database, runs `use`, and always closes it. */
  async withKeyGuard<T>(options: OpenOptions, use: (kg: KeyGuard) => Promise<T>): Promise<T> {
    const secretKey = this.option("secret") || this.io.env.KEYGUARD_SECRET_KEY || undefined;
    if (options.needsSecret && secretKey === undefined) {
      throw new KeyGuardError(
        "invalid_config",
        "This command needs the secret key that hashes API keys: pass --secret <key> or set KEYGUARD_SECRET_KEY.",
      );
    }
    const config = resolveConfig(
      {
        databaseUrl: this.databaseUrl,
        redisUrl: this.option("redis") || this.io.env.KEYGUARD_REDIS_URL || undefined,
        redisPrefix: this.io.env.KEYGUARD_REDIS_PREFIX || undefined,
        secretKey,
        previousSecretKeys: this.io.env.KEYGUARD_PREVIOUS_SECRET_KEYS || undefined,
        // Raw keys imported from keyguard-python name their key only with its old secret.
        legacySecret: this.io.env.KEYGUARD_LEGACY_SECRET || undefined,
      },
      {},
      { requireSecret: options.needsSecret },
    );
    const database: DatabaseTarget = options.standIn
      ? { dialect: "sqlite", filename: ":memory:" }
      : config.database;
    if (
      database.dialect === "sqlite" &&
      database.filename !== ":memory:" &&
      !options.create &&
      !existsSync(database.filename)
    ) {
      throw new KeyGuardError(
        "database_unavailable",
        `No KeyGuard database at ${database.filename}. Create it with "keyguard init", or point --db at the database your app uses.`,
      );
    }
    const store = await createKyselyStore({ database, ...config.postgres });
    // An empty database (a new PostgreSQL database or schema, an empty SQLite file) is
    // refused like a missing SQLite file: only init creates KeyGuard's tables.
    if (!options.create) {
      const ready = await store.hasSchema().catch(async (error: unknown) => {
        await store.close();
        throw error;
      });
      if (!ready) {
        await store.close();
        throw new KeyGuardError(
          "database_unavailable",
          `No KeyGuard tables in the database at ${this.displayDatabaseUrl}. Create them with "keyguard init", or point --db at the database your app uses.`,
        );
      }
    }
    const redis =
      config.redisUrl === undefined || !options.shared
        ? undefined
        : await this.#connectRedis(config).catch(async (error: unknown) => {
            await store.close();
            throw error;
          });
    const kg = new KeyGuard({
      config,
      store,
      limiter: redis?.limiter,
      changeFeed: redis?.changeFeed,
      // Said once, on stderr, so --json output stays parseable (a database adopting the secret).
      onWarning: (_code, message) => this.io.stderr.write(`keyguard: ${message}\n`),
    });
    this.#propagation = propagationNote(database, redis !== undefined);
    try {
      await kg.init();
      // Every change a command makes is recorded as the CLI's, with the OS user's name.
      return await use(kg.withActor(cliActor(this.io.env)));
    } finally {
      await kg.close();
    }
  }

  /**
   * Whether the configured database already has KeyGuard's tables, creating nothing (a
   * missing SQLite file is not created). A `--dry-run` into a database that does not exist
   * yet works on an empty stand-in instead, so it writes nothing anywhere.
   */
  async hasKeyGuardDatabase(): Promise<boolean> {
    const database = parseDatabaseUrl(this.databaseUrl, this.io.cwd);
    if (
      database.dialect === "sqlite" &&
      database.filename !== ":memory:" &&
      !existsSync(database.filename)
    ) {
      return false;
    }
    const store = await createKyselyStore({ database });
    try {
      return await store.hasSchema();
    } finally {
      await store.close();
    }
  }

  /**
   * With Redis configured, blocks go to Redis and revocations are announced to every
   * running server, so Redis must answer before anything is written: a half-done change
   * (stored, but not announced) is worse than a clear failure.
   */
  async #connectRedis(config: { redisUrl?: string; redisPrefix: string }): Promise<RedisBackend> {
    const url = config.redisUrl as string;
    // Loaded only here: ioredis is a tenth of a second of start-up every other command skips.
    const { createRedisBackend } = await import("@keyguard/limiter-redis");
    const backend = await createRedisBackend({
      url,
      prefix: config.redisPrefix,
      onError: () => {},
    });
    if (!backend.connected) {
      await backend.changeFeed.close();
      await backend.limiter.close();
      throw new KeyGuardError(
        "service_unavailable",
        `Redis at ${redactUrl(url)} is not answering. Start it, or leave out --redis / KEYGUARD_REDIS_URL.`,
      );
    }
    return backend;
  }

  /** The database URL with any password hidden, for messages. */
  get displayDatabaseUrl(): string {
    return redactUrl(this.databaseUrl);
  }
}
