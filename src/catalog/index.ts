export { NODE_CHECK, StoreCatalog } from "./catalog.js";
export { aggregate, type CatalogNode, type CatalogReader, type CatalogSnapshot, type HealthCheck, type HealthStatus, type ServiceInstance } from "./types.js";
export { catalogSnapshot } from "./snapshot.js";
export { applyTxn, KV_MAX_VALUE_BYTES, kvDelete, kvKeys, kvSet, TXN_KV_VERBS, TxnAborted, type KVEnv, type KVResult, type KVSet, type TxnError, type TxnKVOp, type TxnKVVerb } from "./kv.js";
export { KVService, type KVPutOptions, type KVTable, type KVWritten, type TxnOutcome } from "./kv-service.js";
export * from "./sessions.js";
export { parseRegistration, type RegisteredCheck, type RegisteredService } from "./registration.js";
export { ServiceRegistry, serviceKey } from "./registry.js";
export { failoverOrder, PreparedQueries, QUERY_NOT_FOUND, serviceQueryMatches, shuffled, type QueryDefinition } from "./prepared-queries.js";
