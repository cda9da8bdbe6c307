export { describeAdapterConcurrencyConformance } from "./adapter-concurrency-conformance.js";
export {
  type AdapterApp,
  type AdapterConformanceOptions,
  describeAdapterConformance,
  type HandlerRecorder,
  type StartAdapterApp,
} from "./adapter-conformance.js";
export {
  describeAdapterTargetFuzz,
  type FuzzRequest,
  type TargetForm,
  targetSpelling,
} from "./adapter-target-fuzz.js";
export {
  describeAdminBodyTimeout,
  type StartAdminWithBodyTimeout,
} from "./admin-body-timeout-conformance.js";
export {
  type AdminConformanceOptions,
  describeAdminConformance,
  describeAdminConformanceOnDatabases,
  type StartAdminApp,
} from "./admin-conformance.js";
export {
  clientStatusError,
  describeErrorAnswerConformance,
  INTERNAL_MESSAGE,
  type StartErrorAnswerApp,
  unavailableError,
} from "./error-answer-conformance.js";
export { eventually } from "./eventually.js";
export { FakeClock } from "./fake-clock.js";
export { type RawResponse, rawRequest } from "./http-client.js";
export {
  createKeyguardPythonPostgres,
  createKeyguardPythonSqlite,
  type KeyguardPythonContents,
  type KeyguardPythonDatabase,
  type KeyguardPythonFixtureOptions,
  type KeyguardPythonKey,
  type KeyguardPythonOrganization,
  type KeyguardPythonUsageLog,
  keyguardPythonContents,
  keyguardPythonHash,
  keyguardPythonRawKey,
} from "./keyguard-python-database.js";
export {
  keyRequest as limiterKeyRequest,
  month as monthPolicy,
  orgWindow as orgPolicyWindow,
  seedPolicies,
  stateOf as policyStateOf,
  window as policyWindow,
} from "./limiter-conformance/support.js";
export { describeLimiterConformance } from "./limiter-conformance.js";
export {
  describeMetricsConformance,
  type MetricsConformanceOptions,
  parseExposition,
  type StartMetricsApp,
  sampleValue,
} from "./metrics-conformance.js";
export {
  dropSchema,
  dumpKeyGuardTables,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "./postgres-test-database.js";
export { type OwnRedisCluster, startOwnRedisCluster } from "./redis-test-cluster.js";
export {
  cleanedRedisPrefixes,
  deleteRedisKeys,
  freePort,
  type OwnRedisServer,
  recordRedisCommands,
  redisAvailable,
  redisCommandCounts,
  startOwnRedisServer,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
} from "./redis-test-server.js";
export {
  describeRouteCostConformance,
  type RouteCostConformanceOptions,
  type SetUpRouteCost,
  type StartRouteCostApp,
} from "./route-cost-conformance.js";
export { serveNodeServer } from "./serve-node-server.js";
export { describeStoreConformance, type TestDatabase } from "./store-conformance.js";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
export {
  type DisposableStore,
  kyselyTestDatabases,
  type OpenKyselyStore,
} from "./test-databases.js";
export { describeWebhookConformance } from "./webhook-conformance.js";
export {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookAnswer,
  type WebhookReceiver,
} from "./webhook-receiver.js";
