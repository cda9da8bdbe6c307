import type { AdminWire } from "@keyguard/admin";

/**
 * The admin API's wire format, as the admin package's schemas define it (type-only: the
 * bundle holds none of it), under the names the screens use.
 */

export type LimitWire = AdminWire["Limit"];
export type CreditsWire = AdminWire["Credits"];
export type OrganizationWire = AdminWire["Organization"];
/** An organization in `GET /orgs`: with its keys counted. */
export type ListedOrganizationWire = AdminWire["ListedOrganization"];
export type ApiKeyWire = AdminWire["ApiKey"];
/** A key from `GET /keys/{id}`: with where each of its policies stands. */
export type ApiKeyDetailWire = AdminWire["ApiKeyDetail"];
export type PolicyStatusWire = AdminWire["PolicyStatus"];
export type CreatedApiKeyWire = AdminWire["CreatedApiKey"];
export type RotatedApiKeyWire = AdminWire["RotatedApiKey"];
export type StatsWire = AdminWire["Stats"];
export type UsageWire = AdminWire["Usage"];
export type UsageHourWire = UsageWire["hours"][number];
export type UsageOverviewWire = AdminWire["UsageOverview"];
export type IpBlockWire = AdminWire["IpBlock"];
export type IpRuleWire = AdminWire["IpRule"];
export type AuditEventWire = AdminWire["AuditEvent"];
export type EventValue = AuditEventWire["changes"]["after"][string];
