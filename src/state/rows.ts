import { coordinateProblem, ErrorCode, RucheError, variableRowKey } from "../structs/index.js";
import { TABLES, type Row, type Rows, type TableName } from "./types.js";

/** The key of a job: "ns/id". */
export function jobRowKey(namespace: string, jobId: string): string {
  return `${namespace}/${jobId}`;
}

/** The key of a job version: "ns/id/<version padded to 10 digits>", so keys sort by version. */
export function versionRowKey(namespace: string, jobId: string, version: number): string {
  return `${namespace}/${jobId}/${String(version).padStart(10, "0")}`;
}

/** The key a row is stored under, derived from the row. Throws if the row lacks its key fields. */
export function rowKey<T extends TableName>(table: T, value: Rows[T]): string {
  const problem = keyProblem(table, value);
  if (problem !== null) throw new RucheError(ErrorCode.Internal, `state: cannot put into ${table}: ${problem}`);
  return keyOf(table, value);
}

const byId = (row: { ID: string }): string => row.ID;

/** How each table's key follows from its row. */
const KEY_OF: { [T in TableName]: (row: Rows[T]) => string } = {
  jobs: (j) => jobRowKey(j.Namespace, j.ID),
  jobVersions: (j) => versionRowKey(j.Namespace, j.ID, j.Version),
  nodes: byId,
  allocs: byId,
  evals: byId,
  deployments: byId,
  kv: (e) => e.Key,
  sessions: byId,
  services: (s) => `${s.NodeID}/${s.ID}`,
  aclPolicies: (p) => p.Name,
  aclTokens: (t) => t.AccessorID,
  aclBootstrap: byId,
  joinTokens: byId,
  signingKeys: byId,
  periodicLaunches: (l) => jobRowKey(l.Namespace, l.ID),
  namespaces: (n) => n.Name,
  variables: (v) => variableRowKey(v.Namespace, v.Path),
  preparedQueries: byId,
  kvExpiry: (e) => e.Key,
  coordinates: (c) => c.Node,
  userEvents: byId,
  hostVolumes: (v) => jobRowKey(v.Namespace, v.ID),
  schedulerConfig: byId,
};

function keyOf<T extends TableName>(table: T, value: Rows[T]): string {
  return KEY_OF[table](value);
}

export function isTableName(s: string): s is TableName {
  return (TABLES as readonly string[]).includes(s);
}

/** What is wrong with a row's key fields, or null. */
function keyProblem(table: TableName, v: unknown): string | null {
  if (!isRecord(v)) return "not an object";
  if (table === "kv") return nonEmpty(v.Key) ? null : "Key is missing or empty";
  if (table === "kvExpiry") return nonEmpty(v.Key) && Number.isSafeInteger(v.ExpiresAt) && Number.isSafeInteger(v.TTL) ? null : "Key, TTL or ExpiresAt is missing";
  if (table === "aclPolicies") return nonEmpty(v.Name) ? null : "Name is missing or empty";
  if (table === "coordinates") return nonEmpty(v.Node) ? null : "Node is missing or empty";
  if (table === "variables") return nonEmpty(v.Namespace) && !v.Namespace.includes("/") && nonEmpty(v.Path) ? null : "Namespace or Path is missing or empty, or the Namespace has a '/'";
  if (table === "namespaces") return nonEmpty(v.Name) && !v.Name.includes("/") ? null : "Name is missing, empty or has a '/'";
  if (table === "aclTokens") return nonEmpty(v.AccessorID) && nonEmpty(v.SecretID) ? null : "AccessorID or SecretID is missing or empty";
  if (!nonEmpty(v.ID)) return "ID is missing or empty";
  switch (table) {
    case "jobs":
    case "jobVersions":
    case "periodicLaunches":
    case "hostVolumes":
      if (!nonEmpty(v.Namespace) || v.Namespace.includes("/")) return "Namespace is missing, empty or has a '/'";
      if (table === "jobVersions" && !(Number.isSafeInteger(v.Version) && (v.Version as number) >= 0)) return "Version is not a whole number >= 0";
      return null;
    case "allocs":
      if (!nonEmpty(v.Namespace) || !nonEmpty(v.JobID) || typeof v.NodeID !== "string") return "Namespace, JobID or NodeID is missing";
      return null;
    case "evals":
    case "deployments":
      if (!nonEmpty(v.Namespace) || !nonEmpty(v.JobID)) return "Namespace or JobID is missing";
      return null;
    case "nodes":
    case "sessions":
    case "aclBootstrap":
    case "joinTokens":
    case "signingKeys":
    case "userEvents":
    case "schedulerConfig":
      return null;
    case "preparedQueries":
      return isRecord(v.Service) && nonEmpty(v.Service.Service) ? null : "Service.Service is missing or empty";
    case "services":
      return typeof v.NodeID === "string" ? null : "NodeID is missing";
    default: {
      const never: never = table;
      return `unknown table ${String(never)}`;
    }
  }
}

function nonEmpty(x: unknown): x is string {
  return typeof x === "string" && x !== "";
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Checks a row read back from a backend before the store trusts it: an object, with the
 * table's key fields, stored under the key they give, with its indexes; for allocations,
 * the statuses and resources the store's usage totals read. Returns the row, or throws an
 * error that names the table and key.
 */
export function checkRow(table: string, key: string, value: unknown): Row {
  const fail = (why: string): never => {
    throw new RucheError(ErrorCode.Internal, `state: corrupt row in table ${table}, key ${JSON.stringify(key)}: ${why}`, { path: `${table}/${key}` });
  };
  if (!isTableName(table)) return fail("no such table");
  if (!isRecord(value)) return fail("not an object");
  const problem = keyProblem(table, value);
  if (problem !== null) return fail(problem);
  const row = value as unknown as Row;
  const want = keyOf(table, row);
  if (want !== key) fail(`its fields give the key ${JSON.stringify(want)}`);
  if (!Number.isSafeInteger(value.CreateIndex) || !Number.isSafeInteger(value.ModifyIndex)) fail("CreateIndex or ModifyIndex is not a whole number");
  if (table === "allocs") {
    if (typeof value.DesiredStatus !== "string" || typeof value.ClientStatus !== "string") fail("DesiredStatus or ClientStatus is missing");
    const r = value.Resources;
    if (!isRecord(r) || typeof r.CPU !== "number" || typeof r.MemoryMB !== "number" || typeof r.DiskMB !== "number" || !Array.isArray(r.Networks)) {
      fail("Resources is missing CPU, MemoryMB, DiskMB or Networks");
    }
    for (const n of (r as { Networks: unknown[] }).Networks) {
      if (!isRecord(n) || !Array.isArray(n.ReservedPorts) || !Array.isArray(n.DynamicPorts)) fail("Resources.Networks has an entry without port lists");
      const ports = [...(n as { ReservedPorts: unknown[] }).ReservedPorts, ...(n as { DynamicPorts: unknown[] }).DynamicPorts];
      if (!ports.every((p) => isRecord(p) && typeof p.Value === "number")) fail("Resources.Networks has a port without a numeric Value");
    }
  }
  if (table === "aclTokens") {
    if (value.Type !== "client" && value.Type !== "management") fail('Type is neither "client" nor "management"');
    if (!Array.isArray(value.Policies) || !value.Policies.every((p) => typeof p === "string")) fail("Policies is not a list of names");
    if (value.ExpirationTime !== undefined && (typeof value.ExpirationTime !== "string" || Number.isNaN(Date.parse(value.ExpirationTime)))) fail("ExpirationTime is not a time");
  }
  if (table === "aclPolicies" && typeof value.Rules !== "string") fail("Rules is not a string");
  if (table === "namespaces" && typeof value.Description !== "string") fail("Description is not a string");
  if (table === "variables" && typeof value.Sealed !== "string" && !(isRecord(value.Items) && Object.values(value.Items).every((x) => typeof x === "string"))) fail("neither Sealed items nor Items mapping strings to strings");
  if (table === "preparedQueries") {
    if (typeof value.Name !== "string" || typeof value.Session !== "string" || typeof value.Token !== "string") fail("Name, Session or Token is not a string");
    if (!isRecord(value.Template) || !isRecord(value.DNS) || !isRecord((value.Service as Record<string, unknown>).Failover)) fail("Template, DNS or Service.Failover is missing");
  }
  if (table === "coordinates") {
    const problem = coordinateProblem(value.Coord);
    if (problem !== null || typeof value.Segment !== "string") fail(`Coord: ${problem ?? "fine"}; Segment must be a string`);
  }
  if (table === "userEvents") {
    if (typeof value.Name !== "string" || !Number.isSafeInteger(value.LTime) || (value.Payload !== null && typeof value.Payload !== "string")) fail("Name, LTime or Payload is missing");
  }
  if (table === "hostVolumes" && (typeof value.Name !== "string" || typeof value.NodeID !== "string" || typeof value.State !== "string" || !Array.isArray(value.RequestedCapabilities))) fail("Name, NodeID, State or RequestedCapabilities is missing");
  if (table === "periodicLaunches" && !Number.isSafeInteger(value.Launch)) fail("Launch is not a whole number of milliseconds");
  if (table === "signingKeys") {
    const jwk = value.PublicJwk;
    if (value.Algorithm !== "ES256" || typeof value.PrivateKeyPem !== "string" || !isRecord(jwk) || typeof jwk.x !== "string" || typeof jwk.y !== "string") fail("not an ES256 key with its PublicJwk and PrivateKeyPem");
  }
  return row;
}
