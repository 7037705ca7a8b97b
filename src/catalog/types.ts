import type { HealthStatus } from "../structs/index.js";

export type { HealthStatus };

/** One health check of an instance (or of a node, with empty ServiceID), as Consul's API shows it. */
export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: HealthStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A node of the catalog. */
export interface CatalogNode {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  Meta: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
}

/** One instance of a service: from a running allocation's `service` block, or registered directly. */
export interface ServiceInstance {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  node: CatalogNode;
  /** The instance's checks, and its node's health check first. */
  checks: HealthCheck[];
  CreateIndex: number;
  ModifyIndex: number;
}

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
  /** Resolves with the index once the catalog moved past `minIndex`, or when the wait ends. */
  wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number>;
}

/** The worst of the checks: passing only when every one passes. */
export function aggregate(checks: readonly { Status: HealthStatus }[]): HealthStatus {
  if (checks.some((c) => c.Status === "critical")) return "critical";
  if (checks.some((c) => c.Status === "warning")) return "warning";
  return "passing";
}
