// The public API of @keyguard/core, semver-stable: what an application calls (createKeyGuard,
// the KeyGuard service, configuration, errors, webhook signature checks, metrics bridges) and
// the types those take and return. What only KeyGuard's own packages need is in ./internal.ts
// (`@keyguard/core/internal`), which may change in any release.
export type { BlockOptions } from "./blocks/ip-block-service.js";
export type { DatabaseTarget } from "./config/database-url.js";
export {
  CONFIG_ENV_VARS,
  type KeyGuardConfig,
  type KeyGuardConfigInput,
  type ResolveConfigOptions,
  resolveConfig,
} from "./config/keyguard-config.js";
export { type CreateKeyGuardOptions, createKeyGuard } from "./create-keyguard.js";
export type { ApiKeyInfo } from "./domain/api-key.js";
export type { IpRule, IpRuleAction } from "./domain/ip-rule.js";
export type { CreditBalance, CreditRefill, KeyCredits } from "./domain/key-credits.js";
export type { Organization, OrganizationStatus } from "./domain/organization.js";
export type { KeyGuardStats, StoreCounts } from "./domain/stats.js";
export type { UsageBucket } from "./domain/usage-bucket.js";
export type { UsageEvent } from "./domain/usage-event.js";
export { ERROR_CODES, type ErrorCode } from "./errors/error-codes.js";
export { isKeyGuardError, KeyGuardError } from "./errors/keyguard-error.js";
export type { AuditEventQuery } from "./events/audit-event-query.js";
export type { EventAction, EventTargetType } from "./events/event-actions.js";
export type { EventActor, EventActorType } from "./events/event-actor.js";
export type { EventListener } from "./events/event-subscribers.js";
export type { EventChanges, EventValue, KeyGuardEvent } from "./events/keyguard-event.js";
export type { IpRuleInput } from "./ip-rules/ip-rule-service.js";
export {
  KeyGuard,
  type KeyGuardOptions,
  type SecretRotation,
} from "./keyguard.js";
export type {
  ApiKeyListing,
  CreateApiKeyInput,
  CreatedApiKey,
  CreditsInput,
  RevokeOutcome,
  RotatedApiKey,
  UpdateApiKeyInput,
} from "./keys/api-key-service.js";
export type { VerifyOutcome, VerifyResult } from "./keys/key-verifier.js";
export type { RefillInterval } from "./limits/credit-balance.js";
export type { ConcurrencySpec, LimitSpec } from "./limits/limit-policy.js";
export type { KeyLimitStatus, PolicyStatus } from "./limits/live-limits.js";
export type { ShadowRefusal } from "./limits/shadow-refusal.js";
export type { KeyGuardInstruments } from "./metrics/keyguard-instruments.js";
export type { MetricsEndpointOptions } from "./metrics/metrics-endpoint.js";
export { METER_NAME, reportToOpenTelemetry } from "./metrics/open-telemetry-bridge.js";
export { answerClientError } from "./pipeline/client-error.js";
export type { GuardRequest } from "./pipeline/guard-request.js";
export type { IpRateLimit, IpRateLimitResult, IpRateLimitRule } from "./pipeline/ip-rate-limit.js";
export type { ProblemDetails } from "./pipeline/problem-details.js";
export type { RequestCost } from "./pipeline/request-cost.js";
export type {
  GuardAllowed,
  GuardOptions,
  GuardRefused,
  GuardResult,
  RequestGuard,
} from "./pipeline/request-guard.js";
export type { ChangeFeed, KeyGuardChange } from "./ports/change-feed.js";
export type { IpBlock, Limiter } from "./ports/limiter.js";
export type { OrganizationKeyCounts, OrganizationListFilter, Store } from "./ports/store.js";
export type { WebhookDelivery } from "./ports/webhook-store.js";
export type { SecretCheck } from "./secrets/secret-check.js";
export type { KeyUsage } from "./usage/key-usage.js";
export type { UsageMaintenanceTotals } from "./usage/usage-maintenance.js";
export type { UsageOverview, UsageOverviewHour } from "./usage/usage-overview.js";
export type { UsageRecorderStats } from "./usage/usage-recorder.js";
export {
  type ErrorReporter,
  type RateLimitErrorsOptions,
  rateLimitErrors,
  SuppressedErrors,
} from "./util/background-error.js";
export type { Clock } from "./util/clock.js";
export type { WebhookAttemptResult } from "./webhooks/webhook-dispatcher.js";
export { WEBHOOK_EVENT_TYPES } from "./webhooks/webhook-event-types.js";
export {
  DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  signWebhookPayload,
  type VerifyWebhookSignatureOptions,
  verifyWebhookSignature,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookEventPayload,
  WebhookSignatureError,
  type WebhookSignatureFailure,
} from "./webhooks/webhook-signature.js";
export type { CreatedWebhookEndpoint, WebhookEndpoint, Webhooks } from "./webhooks/webhooks.js";
