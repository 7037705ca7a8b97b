export { NODE_CHECK, StoreCatalog } from "./catalog.js";
export { aggregate, type CatalogNode, type CatalogReader, type HealthCheck, type HealthStatus, type ServiceInstance } from "./types.js";
