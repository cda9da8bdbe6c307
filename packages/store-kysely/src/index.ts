export { timeOrderedId } from "@keyguard/core";
export {
  createKyselyStore,
  type KyselyStoreOptions,
  type PostgresStoreSettings,
} from "./create-kysely-store.js";
export type { DatabaseSchema } from "./database-schema.js";
export type { PostgresTimeouts } from "./dialects/open-postgres.js";
export { KyselyStore } from "./kysely-store.js";
export { MIGRATION_LOCK_TABLE, MIGRATION_TABLE } from "./migrations/migrate.js";
