import { describeStoreConformance } from "@keyguard/testkit";
import { createSqliteTestDatabase } from "./sqlite-test-database.js";

describeStoreConformance("SQLite (better-sqlite3)", async () => createSqliteTestDatabase());
