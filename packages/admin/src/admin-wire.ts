import type { z } from "zod";
import type { ipRuleWire } from "./ip-rule-routes.js";
import type {
  apiKeyDetailWire,
  apiKeyWire,
  auditEventWire,
  createdApiKeyWire,
  creditsWire,
  ipBlockWire,
  limitWire,
  listedOrganizationWire,
  organizationWire,
  policyStatusWire,
  problemWire,
  rotatedApiKeyWire,
  statsWire,
  usageOverviewWire,
  usageWire,
} from "./wire-format.js";

/**
 * The admin API's bodies as TypeScript types, derived from the schemas that validate and
 * document them: what a typed client (the dashboard) reads, so it never restates them.
 * Type-only: importing it adds nothing to a bundle.
 *
 * @example
 * ```ts
 * import type { AdminWire } from "@keyguard/admin";
 * const key: AdminWire["ApiKeyDetail"] = await (await fetch(`/admin/keys/${id}`)).json();
 * ```
 */
export interface AdminWire {
  readonly Limit: z.infer<typeof limitWire>;
  readonly Credits: z.infer<typeof creditsWire>;
  readonly Organization: z.infer<typeof organizationWire>;
  readonly ListedOrganization: z.infer<typeof listedOrganizationWire>;
  readonly ApiKey: z.infer<typeof apiKeyWire>;
  readonly ApiKeyDetail: z.infer<typeof apiKeyDetailWire>;
  readonly CreatedApiKey: z.infer<typeof createdApiKeyWire>;
  readonly RotatedApiKey: z.infer<typeof rotatedApiKeyWire>;
  readonly PolicyStatus: z.infer<typeof policyStatusWire>;
  readonly Stats: z.infer<typeof statsWire>;
  readonly Usage: z.infer<typeof usageWire>;
  readonly UsageOverview: z.infer<typeof usageOverviewWire>;
  readonly IpBlock: z.infer<typeof ipBlockWire>;
  readonly IpRule: z.infer<typeof ipRuleWire>;
  readonly AuditEvent: z.infer<typeof auditEventWire>;
  readonly Problem: z.infer<typeof problemWire>;
}
