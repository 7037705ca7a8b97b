import type { HealthStatus } from "./service.js";

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
 * The whole health view at one index: every instance of every service (services by name,
 * each one's instances in the catalog's order), whatever its health. What the router builds
 * its table from, in process and over HTTP (`GET /v1/catalog/snapshot`) alike.
 */
export interface CatalogSnapshot {
  index: number;
  instances: readonly ServiceInstance[];
}

/** The worst of the checks: passing only when every one passes. */
export function aggregate(checks: readonly { Status: HealthStatus }[]): HealthStatus {
  if (checks.some((c) => c.Status === "critical")) return "critical";
  if (checks.some((c) => c.Status === "warning")) return "warning";
  return "passing";
}
