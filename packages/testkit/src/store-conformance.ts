import { describe } from "vitest";
import { describeAuditConformance } from "./store-conformance/audit.js";
import { describeCreditStorage } from "./store-conformance/credits.js";
import { describeIpBlockStorage } from "./store-conformance/ip-blocks.js";
import { describeIpRuleStorage } from "./store-conformance/ip-rules.js";
import { describeKeyStorage } from "./store-conformance/keys.js";
import { describeLimitStorage } from "./store-conformance/limits.js";
import { describeMigrations } from "./store-conformance/migrations.js";
import { describeOrganizationStorage } from "./store-conformance/organizations.js";
import { describeStoreRaces } from "./store-conformance/races.js";
import { describeRotationStorage } from "./store-conformance/rotation.js";
import { describeSecretHandling } from "./store-conformance/secret-handling.js";
import { type CreateDatabase, storeHarness } from "./store-conformance/support.js";
import { describeUsageRollups } from "./store-conformance/usage-rollups.js";
import { describeUsageAndStats } from "./store-conformance/usage-stats.js";
import { describeVerification } from "./store-conformance/verification.js";

export type { TestDatabase } from "./store-conformance/support.js";

/**
 * The behaviour every Store must have, exercised through the KeyGuard service the way an
 * application uses it, by capability (one file each under `store-conformance/`, sharing
 * `support.ts`). A backend's test file is a few lines:
 *
 * ```ts
 * describeStoreConformance("sqlite", async () => createSqliteTestDatabase());
 * ```
 */
export function describeStoreConformance(name: string, createDatabase: CreateDatabase): void {
  describe(`Store conformance: ${name}`, () => {
    const { setup } = storeHarness(createDatabase);
    describeMigrations(createDatabase);
    describeOrganizationStorage(createDatabase);
    describeKeyStorage(createDatabase);
    describeLimitStorage(createDatabase);
    describeRotationStorage(createDatabase);
    describeStoreRaces(() => setup());
    describeIpRuleStorage(() => setup());
    describeVerification(createDatabase);
    describeUsageAndStats(createDatabase);
    describeIpBlockStorage(createDatabase);
    describeSecretHandling(createDatabase);
    describeUsageRollups(createDatabase);
    describeAuditConformance(createDatabase);
    describeCreditStorage(createDatabase);
  });
}
