import { describeWebhookConformance } from "@keyguard/testkit";
import { createSqliteTestDatabase } from "./sqlite-test-database.js";

describeWebhookConformance("SQLite (better-sqlite3)", async () => createSqliteTestDatabase());
