import type { CatalogNode, HealthCheck, ServiceInstance } from "../structs/index.js";

// The catalog's data model is in structs/ (the router, and the API client that serves it
// remotely, read the same shapes); the catalog's public face names it too.
export { aggregate, type CatalogNode, type CatalogSnapshot, type HealthCheck, type HealthStatus, type ServiceInstance } from "../structs/index.js";

/**
 * What readers of the catalog (the Consul-compatible API, DNS, the router) may ask of it.
 * Every answer is the catalog at `index()`; `wait` is a blocking query.
 */
export interface CatalogReader {
  /** The catalog's index: never 0, never goes backwards. */
  index(): number;
  datacenter(): string;
  /** Every instance of a service, whatever its health. */
  instances(service: string): ServiceInstance[];
  /** Every service name with the union of its instances' tags. */
  services(): Record<string, string[]>;
  nodes(): CatalogNode[];
  /** The index of a service's last change (its instances, their checks, their nodes); absent: `index()` stands in. */
  serviceIndex?(name: string): number;
  /** Every check: each node's own (`serfHealth`, whether or not the node runs a service), then the instances'. */
  checks?(): HealthCheck[];
  /** The nodes' agents' own APIs (host:port), where the catalog knows them: never a backend. */
  nodeApis?(): readonly string[];
  /** Resolves with the index once the catalog moved past `minIndex`, or when the wait ends. */
  wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number>;
}
