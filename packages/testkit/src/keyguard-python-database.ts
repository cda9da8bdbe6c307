import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  dropSchema,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "./postgres-test-database.js";

/** A key as keyguard-python issued it, with the raw key the test may present. */
export interface KeyguardPythonKey {
  readonly id: string;
  readonly orgId: string;
  readonly rawKey: string;
  readonly keyHash: string;
  readonly label: string;
  readonly prefix: string;
  readonly isActive: boolean;
  readonly scopes: readonly string[];
  readonly rateLimitPerMinute: number;
  readonly monthlyLimit: number | null;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly lastUsedAt: Date | null;
}

export interface KeyguardPythonOrganization {
  readonly id: string;
  readonly name: string;
  readonly status: "active" | "suspended";
  readonly createdAt: Date;
}

export interface KeyguardPythonUsageLog {
  readonly id: string;
  readonly keyId: string;
  readonly path: string;
  readonly method: string;
  readonly statusCode: number;
  readonly latencyMs: number;
  readonly ipAddress: string | null;
  readonly timestamp: Date;
}

/** What to put in the database. */
export interface KeyguardPythonContents {
  readonly organizations: readonly KeyguardPythonOrganization[];
  readonly keys: readonly KeyguardPythonKey[];
  readonly usageLogs: readonly KeyguardPythonUsageLog[];
}

/** A keyguard-python database on disk or in PostgreSQL, and how to throw it away. */
export interface KeyguardPythonDatabase extends KeyguardPythonContents {
  /** Its URL in the spelling keyguard-python's users have (`sqlite+aiosqlite:///...`, `postgresql+asyncpg://...`). */
  readonly url: string;
  /** SQLite: the file. */
  readonly filename?: string;
  /** PostgreSQL: the schema its tables are in (on the search path of `url`). */
  readonly schema?: string;
  dispose(): Promise<void>;
}

/** keyguard-python's key: `kg_live_` + `secrets.token_urlsafe(32)` (32 random bytes, base64url, no padding). */
export function keyguardPythonRawKey(): string {
  return `kg_live_${randomBytes(32).toString("base64url")}`;
}

/** keyguard-python's stored hash: hex SHA-256 of the raw key followed by SECRET_KEY. */
export function keyguardPythonHash(rawKey: string, secret: string): string {
  return createHash("sha256")
    .update(rawKey + secret)
    .digest("hex");
}

export interface KeyguardPythonFixtureOptions {
  /** keyguard-python's SECRET_KEY. */
  readonly secret: string;
  readonly organizations?: number;
  readonly keysPerOrganization?: number;
  readonly usageLogsPerKey?: number;
  /** Every n-th key is revoked (`is_active` false); 0 for none. Default 4. */
  readonly revokeEvery?: number;
  /** The time "now" is for the generated rows (default: the real time). */
  readonly now?: number;
}

/**
 * Rows the way keyguard-python writes them: uuid4 ids, keys from `token_urlsafe(32)`
 * hashed SHA-256(raw + SECRET_KEY), display prefix the first 12 characters, scopes as a
 * JSON list, one usage log row per request.
 */
export function keyguardPythonContents(
  options: KeyguardPythonFixtureOptions,
): KeyguardPythonContents {
  const now = options.now ?? Date.now();
  const organizations: KeyguardPythonOrganization[] = [];
  const keys: KeyguardPythonKey[] = [];
  const usageLogs: KeyguardPythonUsageLog[] = [];
  const revokeEvery = options.revokeEvery ?? 4;
  let keyNumber = 0;
  for (let o = 0; o < (options.organizations ?? 2); o++) {
    const org: KeyguardPythonOrganization = {
      id: randomUUID(),
      name: o === 0 ? "Acme Corp" : `Team ${o}`,
      status: "active",
      createdAt: new Date(now - 90 * 86_400_000 + o * 1000),
    };
    organizations.push(org);
    for (let k = 0; k < (options.keysPerOrganization ?? 3); k++) {
      keyNumber++;
      const rawKey = keyguardPythonRawKey();
      const key: KeyguardPythonKey = {
        id: randomUUID(),
        orgId: org.id,
        rawKey,
        keyHash: keyguardPythonHash(rawKey, options.secret),
        label: `key-${keyNumber}`,
        prefix: rawKey.slice(0, 12),
        isActive: revokeEvery === 0 || keyNumber % revokeEvery !== 0,
        scopes: k % 2 === 0 ? ["read", "write"] : ["read"],
        rateLimitPerMinute: 5 + keyNumber,
        monthlyLimit: k === 1 ? 100_000 : null,
        createdAt: new Date(now - 60 * 86_400_000 + keyNumber * 1000),
        expiresAt: null,
        lastUsedAt: new Date(now - 3_600_000),
      };
      keys.push(key);
      for (let u = 0; u < (options.usageLogsPerKey ?? 5); u++) {
        usageLogs.push({
          id: randomUUID(),
          keyId: key.id,
          path: Math.floor(u / 2) % 3 === 0 ? "/api/profile" : "/api/data",
          method: "GET",
          statusCode: Math.floor(u / 2) % 3 === 2 ? 429 : 200,
          latencyMs: 3 + (u % 7),
          ipAddress: "203.0.113.7",
          // Two logs share each second: KeyGuard aggregates them into one usage row.
          timestamp: new Date(now - 7_200_000 + Math.floor(u / 2) * 1000 + keyNumber * 60_000),
        });
      }
    }
  }
  return { organizations, keys, usageLogs };
}

/** SQLAlchemy's DATETIME text on SQLite: naive UTC, microseconds. */
function sqliteDate(value: Date | null): string | null {
  if (value === null) return null;
  return `${value.toISOString().slice(0, 23).replace("T", " ")}000`;
}

/** keyguard-python's three tables in SQLite, as SQLAlchemy's create_all makes them. */
const SQLITE_SCHEMA = `
CREATE TABLE organizations (
  id VARCHAR(36) NOT NULL, name VARCHAR, status VARCHAR, created_at DATETIME, PRIMARY KEY (id)
);
CREATE TABLE api_keys (
  id VARCHAR(36) NOT NULL, org_id VARCHAR(36), label VARCHAR, prefix VARCHAR, key_hash VARCHAR,
  is_active BOOLEAN, scopes JSON, rate_limit_per_minute INTEGER, monthly_limit BIGINT,
  created_at DATETIME, expires_at DATETIME, last_used_at DATETIME,
  PRIMARY KEY (id), FOREIGN KEY(org_id) REFERENCES organizations (id)
);
CREATE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE TABLE usage_logs (
  id VARCHAR(36) NOT NULL, key_id VARCHAR(36), path VARCHAR, method VARCHAR, status_code INTEGER,
  latency_ms INTEGER, ip_address VARCHAR, timestamp DATETIME,
  PRIMARY KEY (id), FOREIGN KEY(key_id) REFERENCES api_keys (id)
);`;

const POSTGRES_SCHEMA = `
CREATE TABLE organizations (
  id VARCHAR(36) NOT NULL PRIMARY KEY, name VARCHAR, status VARCHAR, created_at TIMESTAMP WITHOUT TIME ZONE
);
CREATE TABLE api_keys (
  id VARCHAR(36) NOT NULL PRIMARY KEY, org_id VARCHAR(36) REFERENCES organizations (id),
  label VARCHAR, prefix VARCHAR, key_hash VARCHAR, is_active BOOLEAN, scopes JSON,
  rate_limit_per_minute INTEGER, monthly_limit BIGINT, created_at TIMESTAMP WITHOUT TIME ZONE,
  expires_at TIMESTAMP WITHOUT TIME ZONE, last_used_at TIMESTAMP WITHOUT TIME ZONE
);
CREATE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE TABLE usage_logs (
  id VARCHAR(36) NOT NULL PRIMARY KEY, key_id VARCHAR(36) REFERENCES api_keys (id), path VARCHAR,
  method VARCHAR, status_code INTEGER, latency_ms INTEGER, ip_address VARCHAR,
  timestamp TIMESTAMP WITHOUT TIME ZONE
);`;

/** A keyguard-python SQLite file in a temporary directory. */
export function createKeyguardPythonSqlite(
  contents: KeyguardPythonContents,
): KeyguardPythonDatabase {
  const directory = mkdtempSync(join(tmpdir(), "keyguard-python-"));
  const filename = join(directory, "keyguard.db");
  const db = new Database(filename);
  try {
    db.exec(SQLITE_SCHEMA);
    const org = db.prepare("INSERT INTO organizations VALUES (?, ?, ?, ?)");
    const key = db.prepare("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    const log = db.prepare("INSERT INTO usage_logs VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    db.transaction(() => {
      for (const o of contents.organizations)
        org.run(o.id, o.name, o.status, sqliteDate(o.createdAt));
      for (const k of contents.keys) {
        key.run(
          k.id,
          k.orgId,
          k.label,
          k.prefix,
          k.keyHash,
          k.isActive ? 1 : 0,
          JSON.stringify(k.scopes).replaceAll(",", ", "), // Python's json.dumps
          k.rateLimitPerMinute,
          k.monthlyLimit,
          sqliteDate(k.createdAt),
          sqliteDate(k.expiresAt),
          sqliteDate(k.lastUsedAt),
        );
      }
      for (const u of contents.usageLogs) {
        log.run(
          u.id,
          u.keyId,
          u.path,
          u.method,
          u.statusCode,
          u.latencyMs,
          u.ipAddress,
          sqliteDate(u.timestamp),
        );
      }
    })();
  } finally {
    db.close();
  }
  return {
    ...contents,
    url: `sqlite+aiosqlite:///${filename}`,
    filename,
    async dispose() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A keyguard-python database in a PostgreSQL schema of its own on the test server. */
export async function createKeyguardPythonPostgres(
  contents: KeyguardPythonContents,
): Promise<KeyguardPythonDatabase> {
  const schema = uniqueSchemaName("kgpy");
  const naive = (value: Date | null) =>
    value === null ? null : value.toISOString().slice(0, 23).replace("T", " ");
  await withPostgresClient(async (client) => {
    await client.query(`create schema ${schema}`);
    await client.query(`set search_path to ${schema}`);
    await client.query(POSTGRES_SCHEMA);
    for (const o of contents.organizations) {
      await client.query("insert into organizations values ($1, $2, $3, $4)", [
        o.id,
        o.name,
        o.status,
        naive(o.createdAt),
      ]);
    }
    for (const k of contents.keys) {
      await client.query(
        "insert into api_keys values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [
          k.id,
          k.orgId,
          k.label,
          k.prefix,
          k.keyHash,
          k.isActive,
          JSON.stringify(k.scopes),
          k.rateLimitPerMinute,
          k.monthlyLimit,
          naive(k.createdAt),
          naive(k.expiresAt),
          naive(k.lastUsedAt),
        ],
      );
    }
    const logs = contents.usageLogs;
    for (let start = 0; start < logs.length; start += 500) {
      const chunk = logs.slice(start, start + 500);
      const values: unknown[] = [];
      const rows = chunk.map((u, i) => {
        values.push(
          u.id,
          u.keyId,
          u.path,
          u.method,
          u.statusCode,
          u.latencyMs,
          u.ipAddress,
          naive(u.timestamp),
        );
        return `(${Array.from({ length: 8 }, (_, j) => `$${i * 8 + j + 1}`).join(", ")})`;
      });
      await client.query(`insert into usage_logs values ${rows.join(", ")}`, values);
    }
  });
  const url = `${TEST_POSTGRES_URL.replace(/^postgres(ql)?:/, "postgresql+asyncpg:")}?options=-c%20search_path%3D${schema}`;
  return { ...contents, url, schema, dispose: () => dropSchema(schema) };
}
