export {
  type CopiedTable,
  type CopyEndpoint,
  type CopyOptions,
  copyDatabase,
} from "./bulk/copy-database.js";
export type {
  ImportedCreditSpending,
  ImportedIpBlock,
  ImportedUsageRollup,
  ImportedUsageRow,
  ImportOptions,
  ImportRecords,
  ImportResult,
  ImportTableCount,
} from "./bulk/import-records.js";
export { KEYGUARD_TABLES, type KeyGuardTable, migratedTableNames } from "./bulk/keyguard-tables.js";
export { CHANGE_FEED_APPLICATION_NAME } from "./change-feed/open-postgres-change-feed.js";
export {
  changeChannelOf,
  PostgresChangeFeed,
  type PostgresChangeFeedOptions,
} from "./change-feed/postgres-change-feed.js";
export {
  SqliteChangeFeed,
  type SqliteChangeFeedOptions,
} from "./change-feed/sqlite-change-feed.js";
export type { SqlDialect } from "./column-codec.js";
export {
  createKyselyStore,
  type KyselyStoreOptions,
  type PostgresStoreSettings,
} from "./create-kysely-store.js";
export type { DatabaseSchema } from "./database-schema.js";
export type { PostgresTimeouts } from "./dialects/open-postgres.js";
export { openReadOnlyDatabase, type ReadOnlyDatabase } from "./dialects/open-read-only.js";
export { KyselyStore } from "./kysely-store.js";
export { MIGRATION_LOCK_TABLE, MIGRATION_TABLE } from "./migrations/migrate.js";
