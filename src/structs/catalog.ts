import type { HealthStatus, ServiceDetails } from "./service.js";

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
  /** A node's addresses by tag, where it was registered with them (an external node); absent: lan and wan are Address. */
  TaggedAddresses?: Record<string, string>;
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
  /** Consul's details of a registered service (Weights, EnableTagOverride, TaggedAddresses, Proxy, Kind); absent: Consul's defaults. */
  details?: ServiceDetails;
  /** The allocation whose `service` block it is (Nomad's view of the catalog, `/v1/service/:name`, names it); absent for a service registered directly. */
  alloc?: { ID: string; JobID: string; Namespace: string };
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
  /** The nodes' agents' own APIs (their HTTPAddr, host:port): Ruche's, so never a router's backend. */
  nodeApis?: readonly string[];
}

/** The worst of the checks: passing only when every one passes. */
export function aggregate(checks: readonly { Status: HealthStatus }[]): HealthStatus {
  if (checks.some((c) => c.Status === "critical")) return "critical";
  if (checks.some((c) => c.Status === "warning")) return "warning";
  return "passing";
}

const HEALTH: readonly string[] = ["passing", "warning", "critical"];

/**
 * What is wrong with a catalog instance, field by field, or null when every field the
 * catalog's readers use (the Consul-compatible API, DNS, the router) has its type: what a
 * view checks before it trusts an instance it did not make itself, so that one malformed
 * instance is left out instead of failing the whole answer.
 */
export function instanceProblem(x: unknown): string | null {
  if (!isObject(x)) return "not an object";
  for (const f of ["ID", "Service", "Address"] as const) if (typeof x[f] !== "string") return `${f}: must be a string`;
  if (x.ID === "" || x.Service === "") return "ID and Service must not be empty";
  if (!isStrings(x.Tags)) return "Tags: must be a list of strings";
  if (typeof x.Port !== "number" || !Number.isInteger(x.Port) || x.Port < 0 || x.Port > 65535) return "Port: must be a port number";
  if (!isStringMap(x.Meta)) return "Meta: must map strings to strings";
  if (!isIndexed(x)) return "CreateIndex and ModifyIndex: must be numbers";
  const node = catalogNodeProblem(x.node);
  if (node !== null) return `node.${node}`;
  if (!Array.isArray(x.checks)) return "checks: must be a list";
  for (const [i, c] of (x.checks as unknown[]).entries()) {
    const p = healthCheckProblem(c);
    if (p !== null) return `checks[${i}].${p}`;
  }
  return null;
}

/** What is wrong with a catalog node, or null. */
export function catalogNodeProblem(x: unknown): string | null {
  if (!isObject(x)) return "not an object";
  for (const f of ["ID", "Node", "Address", "Datacenter"] as const) if (typeof x[f] !== "string") return `${f}: must be a string`;
  if (!isStringMap(x.Meta)) return "Meta: must map strings to strings";
  if (!isIndexed(x)) return "CreateIndex and ModifyIndex: must be numbers";
  return null;
}

function healthCheckProblem(x: unknown): string | null {
  if (!isObject(x)) return "not an object";
  for (const f of ["Node", "CheckID", "Name", "Notes", "Output", "ServiceID", "ServiceName", "Type"] as const) if (typeof x[f] !== "string") return `${f}: must be a string`;
  if (typeof x.Status !== "string" || !HEALTH.includes(x.Status)) return "Status: must be passing, warning or critical";
  if (!isStrings(x.ServiceTags)) return "ServiceTags: must be a list of strings";
  if (!isIndexed(x)) return "CreateIndex and ModifyIndex: must be numbers";
  return null;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isStrings(x: unknown): boolean {
  return Array.isArray(x) && x.every((s) => typeof s === "string");
}

function isStringMap(x: unknown): boolean {
  return isObject(x) && Object.values(x).every((s) => typeof s === "string");
}

function isIndexed(x: Record<string, unknown>): boolean {
  return typeof x.CreateIndex === "number" && typeof x.ModifyIndex === "number";
}
