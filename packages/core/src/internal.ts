// `@keyguard/core/internal`: what KeyGuard's own packages (stores, limiters, adapters, admin,
// CLI, testkit) share beyond the public API in ./index.ts: ports' supporting types, limit
// math, the wire format, the Node HTTP layer, parsers and their bounds. Not semver-stable:
// any release may change it, and packages that use it depend on a matching core version.
export { IpBlockList } from "./blocks/ip-block-list.js";
export { IpBlockService, type IpBlockServiceOptions } from "./blocks/ip-block-service.js";
export { VerificationCache, type VerificationCacheOptions } from "./cache/verification-cache.js";
export { parseDatabaseUrl, redactUrl } from "./config/database-url.js";
export {
  type ApiKey,
  type ApiKeyPatch,
  type StoredApiKey,
  toApiKeyInfo,
} from "./domain/api-key.js";
export type { StoredIpRule } from "./domain/ip-rule.js";
export { creditTerms, storedCreditsJson, topUpCredits } from "./domain/key-credits.js";
export type { SecretFingerprints } from "./domain/secret-fingerprints.js";
export { isCharged } from "./domain/usage-event.js";
export { httpStatusFor, isErrorCode, titleFor } from "./errors/error-codes.js";
export { messageWithFieldNames } from "./errors/keyguard-error.js";
export { isQuotaSeedLost, QuotaSeedLostError } from "./errors/quota-seed-lost.js";
export { MAX_AUDIT_PAGE, parseAuditEventQuery } from "./events/audit-event-query.js";
export {
  EVENT_ACTION_NAMES,
  EVENT_ACTIONS,
  EVENT_TARGET_TYPES,
  isEventAction,
} from "./events/event-actions.js";
export { actorOf, CODE_ACTOR, EVENT_ACTOR_TYPES, KEYGUARD_ACTOR } from "./events/event-actor.js";
export { EventSubscribers } from "./events/event-subscribers.js";
export { type CidrRange, MAX_CIDR_TEXT, parseCidr } from "./ip-rules/cidr.js";
export { type IpRulesConfig, MAX_IP_RULES } from "./ip-rules/ip-rule-service.js";
export { type IpRuleWire, toIpRuleWire } from "./ip-rules/ip-rule-wire.js";
export { MAX_KEY_ALLOWED_IPS, parseAllowedIps } from "./ip-rules/key-allowed-ips.js";
export { ApiKeyService, type ApiKeyServiceOptions } from "./keys/api-key-service.js";
export {
  FOREIGN_KEY_MAX_LENGTH,
  FOREIGN_KEY_MIN_LENGTH,
  isKeyguardPythonKey,
  isPlausibleForeignKey,
} from "./keys/foreign-key-format.js";
export {
  DISPLAY_PREFIX_LENGTH,
  type GeneratedKey,
  generateRawKey,
  isWellFormedKey,
  type KeyEnvironment,
  keyEnvironmentOf,
  RAW_KEY_LENGTH,
} from "./keys/key-format.js";
export {
  isKeyHashScheme,
  isLegacyHashScheme,
  KEY_HASH_SCHEMES,
  type KeyHashScheme,
  LEGACY_HASH_SCHEMES,
  type LegacyHashScheme,
  legacyHashOf,
} from "./keys/key-hash-scheme.js";
export { createKeyHasher, type KeyHasher } from "./keys/key-hasher.js";
export {
  CONCURRENCY_RETRY_MS,
  releasedOnce,
  slotState,
} from "./limits/concurrency-slot.js";
export {
  type CreditPeriod,
  type CreditSpending,
  type CreditTerms,
  checkCredits,
  creditPeriod,
  creditsRemaining,
  MAX_CREDITS,
  REFILL_INTERVALS,
  refillBoundaryAfter,
  refillBoundaryAtOrBefore,
} from "./limits/credit-balance.js";
export { chargeGcra, checkGcra, type GcraState, gcra } from "./limits/gcra.js";
export {
  CONCURRENCY_POLICY_NAME,
  CREDITS_POLICY_NAME,
  creditsPolicy,
  keyPolicies,
  type LimitPolicy,
  MAX_CONCURRENCY,
  MAX_LIMITS,
  MAX_WINDOW_SECONDS,
  MIN_CONCURRENCY,
  MIN_WINDOW_SECONDS,
  MONTH_POLICY_WINDOW_MS,
  ORGANIZATION_POLICY_PREFIX,
  POLICY_NAME_PATTERN,
  type PolicyAlgorithm,
  type PolicyMode,
  type PolicyScope,
  type PolicySource,
  RESERVED_POLICY_NAMES,
  samePolicies,
} from "./limits/limit-policy.js";
export { type LockoutEnd, lockoutEnd } from "./limits/lockout-end.js";
export {
  type CalendarMonth,
  calendarMonth,
  checkMonthlyQuota,
  isQuotaExhausted,
  type MonthlyQuotaState,
  monthlyQuota,
  peekMonthlyQuota,
} from "./limits/monthly-quota.js";
export { policyDecision } from "./limits/policy-decision.js";
export {
  chargeSlidingWindowCounter,
  checkSlidingWindowCounter,
  type SlidingWindowCounterState,
  slidingWindowCounter,
} from "./limits/sliding-window-counter.js";
export {
  chargeSlidingWindowLog,
  checkSlidingWindowLog,
  type SlidingWindowLogState,
  slidingWindowLog,
  slidingWindowLogState,
} from "./limits/sliding-window-log.js";
export type { RateLimitAlgorithm, WindowDecision } from "./limits/window-decision.js";
export { type CountCell, MetricFamily, type MetricLabels } from "./metrics/counter-family.js";
export {
  CALL_DURATION_BUCKETS,
  HistogramFamily,
  type TimingCell,
} from "./metrics/histogram-family.js";
export {
  // The class itself (the public entry has its type): backends' tests build their own.
  KeyGuardInstruments,
  REDIS_SCRIPTS,
  type RedisScript,
  WEBHOOK_DELIVERY_RESULTS,
  type WebhookDeliveryResult,
} from "./metrics/keyguard-instruments.js";
export {
  type MetricsAnswer,
  MetricsEndpoint,
} from "./metrics/metrics-endpoint.js";
export { completeOnClose } from "./node-http/complete-on-close.js";
export { nodeGuardRequest } from "./node-http/node-guard-request.js";
export { setHeaders, writeProblem } from "./node-http/write-problem.js";
export {
  OrganizationService,
  type OrganizationServiceOptions,
} from "./organizations/organization-service.js";
export {
  type AuthFailurePolicy,
  countAuthFailure,
  countsAsFailure,
  DEFAULT_FAILURE_BLOCK_MS,
  DEFAULT_FAILURE_WINDOW_MS,
} from "./pipeline/auth-failures.js";
export {
  type ClientAddressOptions,
  type ClientAddressResolver,
  createClientAddressResolver,
  forwardedForOf,
  type TrustProxy,
  UNKNOWN_CLIENT,
} from "./pipeline/client-address.js";
export {
  type ErrorProblem,
  HEADERS_DROPPED_ON_ERROR,
  problemForError,
  reportUnexpectedError,
} from "./pipeline/error-problem.js";
export { type KeyLimits, KeyLimitsCache } from "./pipeline/key-limits.js";
export {
  blockedDetail,
  PROBLEM_CONTENT_TYPE,
  type ProblemResponse,
  problemFor,
  problemResponse,
  retryAfterSeconds,
} from "./pipeline/problem-details.js";
export {
  createPathMatcher,
  isProtectedPath,
  MAX_KEYED_PATH_LENGTH,
  normalizePath,
  pathOf,
} from "./pipeline/protected-path.js";
export {
  type PolicyHeaderParts,
  policyHeaderParts,
  type RateLimitHeaderStyle,
  rateLimitHeaders,
} from "./pipeline/rate-limit-headers.js";
export { checkCostOption } from "./pipeline/request-cost.js";
export type { GuardedRequest } from "./pipeline/request-guard.js";
export { missingScopes } from "./pipeline/require-scopes.js";
export type { AuditEventFilter, AuditLog, EventRecord } from "./ports/audit-log.js";
export type {
  ConcurrencySlot,
  LimitDecision,
  LimitRefusal,
  LimitRequest,
  LimitSubject,
  PolicyState,
} from "./ports/limiter.js";
export type { ListPage } from "./ports/list-page.js";
export type {
  ApiKeyChange,
  ApiKeyListFilter,
  ApiKeyRotation,
  ApiKeyRotationOutcome,
  ApiKeyStatus,
  IpBlockFilter,
  KeyHashSchemeCount,
  OrganizationChange,
  OrganizationStatusChange,
  RotatedKeys,
  UsageMaintenanceResult,
  UsageMaintenanceStep,
} from "./ports/store.js";
export type {
  ExpiringKey,
  WebhookAttempt,
  WebhookAttemptOutcome,
  WebhookClaimRequest,
  WebhookDeliveryClaim,
  WebhookDeliveryStatus,
  WebhookEndpointRecord,
  WebhookEventRecord,
  WebhookNotice,
  WebhookStore,
} from "./ports/webhook-store.js";
export { checkSecrets } from "./secrets/secret-check.js";
export { secretFingerprint, shortFingerprint } from "./secrets/secret-fingerprint.js";
export {
  type StoredUsageOverview,
  toUsageOverviewWire,
  type UsageOverviewWire,
} from "./usage/usage-overview.js";
export { UsageRecorder, type UsageRecorderOptions } from "./usage/usage-recorder.js";
export {
  UsageSpool,
  type UsageSpoolOptions,
  type UsageSpoolReplayed,
  type UsageSpoolSaved,
  usageSpoolFor,
} from "./usage/usage-spool.js";
export { errorKindOf, warnBackgroundError } from "./util/background-error.js";
export { systemClock } from "./util/clock.js";
export { detachString } from "./util/detach-string.js";
export { parseDuration } from "./util/duration.js";
export { loadOptionalModule } from "./util/load-optional-module.js";
export { timeOrderedId } from "./util/time-ordered-id.js";
export { webhookBackoffMs } from "./webhooks/webhook-backoff.js";
export { type WebhookConfig, webhookConfigSchema } from "./webhooks/webhook-config.js";
export { webhookEvent } from "./webhooks/webhook-event-body.js";
export {
  NOTICE_EVENT_TYPES,
  STREAM_EVENT_TYPES,
  subscribesTo,
} from "./webhooks/webhook-event-types.js";
export {
  MAX_WEBHOOK_ENDPOINTS,
  MAX_WEBHOOK_EVENTS,
  MAX_WEBHOOK_URL_LENGTH,
  parseWebhookEvents,
  parseWebhookUrl,
} from "./webhooks/webhook-inputs.js";
export { webhookEventOf } from "./webhooks/webhook-stream-event.js";
export {
  toWebhookDeliveryWire,
  toWebhookEndpointWire,
  type WebhookAttemptWire,
  type WebhookDeliveryWire,
  type WebhookEndpointWire,
} from "./webhooks/webhook-wire.js";
export type { WebhooksOptions } from "./webhooks/webhooks.js";
export { type AuditEventWire, toAuditEventWire } from "./wire/audit-event-wire.js";
export {
  type ApiKeyWire,
  type CreditsWire,
  fromConcurrencyWire,
  fromLimitsWire,
  type IpBlockWire,
  type LimitWire,
  type OrganizationWire,
  type PolicyStatusWire,
  type StatsWire,
  toApiKeyWire,
  toConcurrencyWire,
  toCreditsWire,
  toIpBlockWire,
  toLimitsWire,
  toOrganizationWire,
  toPolicyStatusWire,
  toStatsWire,
  toUsageWire,
  type UsageWire,
} from "./wire/wire-format.js";
