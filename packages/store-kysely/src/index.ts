export { timeOrderedId } from "@keyguard/core";
export { createKyselyStore, type KyselyStoreOptions } from "./create-kysely-store.js";
export type { DatabaseSchema } from "./database-schema.js";
export { KyselyStore } from "./kysely-store.js";
export { MIGRATION_LOCK_TABLE, MIGRATION_TABLE } from "./migrations/migrate.js";
