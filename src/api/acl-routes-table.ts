import { AclPrefixKind, AclResource, NamespaceCap, parseQueryBody } from "../structs/index.js";
import type { Request } from "./http.js";
import { CHECK_DEFINITION, consulBody, COORDINATE_UPDATE, DEREGISTER_REQUEST, nodeServiceName, REGISTER_REQUEST, SERVICE_DEFINITION, SESSION, type ConsulShape } from "./consul-body.js";

/**
 * What each route of the API checks: one entry per route every listener registers (the
 * Ruche/Nomad API, the Consul-compatible one, a client-only agent's node API, the dashboard),
 * keyed `METHOD /pattern` as the router holds it. `acl-routes.test.ts` walks the routes the
 * listeners register and fails on one without an entry; at run time a route without one is
 * refused to every token but a management token (`acl-authorize.ts`).
 *
 * The capabilities are Nomad's ("ACL Required" in Nomad's HTTP API docs) for the Nomad face and
 * Consul's for the Consul face; where a route is Ruche's own, the nearest of theirs.
 */

/** What a request must be allowed to pass the door. */
export type Need =
  /** Anyone, with or without a token (the leader, the dashboard's files, ACL bootstrap). */
  | { kind: "open" }
  /** Any token that resolves: a known, unexpired one, or none (the anonymous token); `/v1/acl/token/self` answers for it. */
  | { kind: "token" }
  | { kind: "management" }
  /** A node agent's endpoint: the node's identity (its secret) is checked by the route itself, not an ACL token. */
  | { kind: "node-identity" }
  /** Server to server (the etcd join): the servers' identity is the TLS layer's; no ACL token is asked for. */
  | { kind: "server" }
  /** An agent of this cluster: the request shows a certificate of the cluster's PKI (a joined node's, a router's, a server's). */
  | { kind: "agent" }
  /** Any token passes; the route leaves out of its answer what the token may not read (Consul's lists, KV trees, the event stream). */
  | { kind: "filtered" }
  /** `job`: the job the request touches, when the route names one (a workload identity reads its own job only). */
  | { kind: "namespace"; cap: NamespaceCap; job?: string }
  | { kind: "resource"; resource: AclResource; level: "read" | "write" }
  | { kind: "prefix"; prefix: AclPrefixKind; name: string; level: "read" | "list" | "write" }
  | { kind: "all"; of: readonly Need[] }
  | { kind: "any"; of: readonly Need[] };

/** Which API the route belongs to: whose refusals it answers with (Nomad's, in Ruche's JSON error body; Consul's plain text). */
export type Face = "nomad" | "consul";

/** What the table's rules look up in the state to name what a request touches. */
export interface AclLookups {
  /** The drivers of an allocation's tasks (`task` given: that task's only); [] when unknown. */
  allocDrivers(allocId: string, task: string | undefined): readonly string[];
  /** The service a registered service ID belongs to (its name), on this agent's node. */
  serviceName(serviceId: string): string | undefined;
  /** A check's service name, or its node's name for a node check. */
  checkOwner(checkId: string): { service: string } | { node: string } | undefined;
  /** The node a session was made on. */
  sessionNode(sessionId: string): string | undefined;
  /** This agent's node name (Consul's sessions and checks default to it). */
  localNodeName(): string;
  /** The same lookups for a write another server forwarded for its node (`Request.receivedBy`'s, "" for none): "this agent's node" is that one. */
  forAgentNode(node: string): AclLookups;
  /** The job of an allocation, by its ID or a unique prefix of it; undefined when unknown. */
  allocJob?(allocId: string): string | undefined;
  /** The namespace of an allocation (by its ID or a unique prefix), an evaluation or a deployment; undefined when unknown. */
  namespaceOf?(kind: "alloc" | "eval" | "deployment", id: string): string | undefined;
}

export interface RouteEntry {
  face: Face;
  need: Need | ((req: Request, look: AclLookups) => Need);
}

const OPEN: Need = { kind: "open" };
const FILTERED: Need = { kind: "filtered" };
const NODE_IDENTITY: Need = { kind: "node-identity" };
const ns = (cap: NamespaceCap): Need => ({ kind: "namespace", cap });
const res = (resource: AclResource, level: "read" | "write"): Need => ({ kind: "resource", resource, level });
const prefix = (kind: AclPrefixKind, level: "read" | "list" | "write", name: (req: Request, look: AclLookups) => string) => (req: Request, look: AclLookups): Need => ({ kind: "prefix", prefix: kind, name: name(req, look), level });
const param = (name: string) => (req: Request): string => req.params[name] ?? "";
/** `cap` on the job the route names (`:id`). */
const onJob = (cap: NamespaceCap) => (req: Request): Need => ({ kind: "namespace", cap, job: req.params.id ?? "" });
/** `cap` on the job of the allocation the route names (`:id`). */
const onAllocJob = (cap: NamespaceCap) => (req: Request, look: AclLookups): Need => {
  const job = look.allocJob?.(req.params.id ?? "");
  return job === undefined ? ns(cap) : { kind: "namespace", cap, job };
};

const nomad = (need: RouteEntry["need"]): RouteEntry => ({ face: "nomad", need });
const consul = (need: RouteEntry["need"]): RouteEntry => ({ face: "consul", need });

/** Nomad's `alloc exec`: alloc-exec, and alloc-node-exec too when a task runs without isolation (raw_exec). */
function execNeed(req: Request, look: AclLookups): Need {
  // The task: in the body (Ruche's PUT), in the query (Nomad's WebSocket).
  const body = req.body as { Task?: unknown } | undefined;
  const task = typeof body?.Task === "string" && body.Task !== "" ? body.Task : (req.query.get("task") ?? "");
  const drivers = look.allocDrivers(req.params.alloc ?? "", task === "" ? undefined : task);
  if (drivers.includes("raw_exec")) return { kind: "all", of: [ns(NamespaceCap.AllocExec), ns(NamespaceCap.AllocNodeExec)] };
  return ns(NamespaceCap.AllocExec);
}

/** A check's TTL update: write on its service, or on its node for a node check (Consul). */
function checkNeed(req: Request, look: AclLookups): Need {
  const owner = look.checkOwner(req.params.id ?? "");
  // An unknown check: the route answers 404; any write on services lets the request find that out.
  if (owner === undefined) return { kind: "prefix", prefix: AclPrefixKind.Service, name: "", level: "write" };
  return "service" in owner ? { kind: "prefix", prefix: AclPrefixKind.Service, name: owner.service, level: "write" } : { kind: "prefix", prefix: AclPrefixKind.ConsulNode, name: owner.node, level: "write" };
}

/** A KV read: the key itself; a tree or its keys are filtered by the route (Consul's default, without `enable_key_list_policy`). */
function kvReadNeed(req: Request): Need {
  if (req.query.has("recurse") || req.query.has("keys")) return FILTERED;
  return { kind: "prefix", prefix: AclPrefixKind.Key, name: req.params.key ?? "", level: "read" };
}

/** A string field of a body read with a route's own shape; "" when it is absent or not a string. */
function shapedString(body: unknown, shape: ConsulShape, field: string): string {
  const v = consulBody(body, shape)?.[field];
  return typeof v === "string" ? v : "";
}

/** Creating a prepared query: `query` write on its name when it has one or is a template (Consul's `GetACLPrefix`), else any token. */
function queryCreateNeed(req: Request): Need {
  // Read by the route's own reader (fields in any case, as Go's decoder: python-consul sends `name`); a body it refuses creates nothing.
  const parsed = parseQueryBody(req.body);
  const name = parsed.ok ? parsed.query.Name : "";
  const template = parsed.ok && parsed.query.Template.Type !== "";
  return name !== "" || template ? { kind: "prefix", prefix: AclPrefixKind.Query, name, level: "write" } : { kind: "token" };
}

/** The Consul-compatible routes, as served on its own listener and under the main API. */
const CONSUL: Readonly<Record<string, RouteEntry>> = {
  "GET /v1/catalog/services": consul(FILTERED),
  "GET /v1/catalog/service/:name": consul(prefix(AclPrefixKind.Service, "read", param("name"))),
  "GET /v1/catalog/nodes": consul(FILTERED),
  "GET /v1/catalog/node/:node": consul(prefix(AclPrefixKind.ConsulNode, "read", param("node"))),
  "GET /v1/health/service/:name": consul(prefix(AclPrefixKind.Service, "read", param("name"))),
  "GET /v1/health/checks/:name": consul(prefix(AclPrefixKind.Service, "read", param("name"))),
  "GET /v1/health/node/:node": consul(prefix(AclPrefixKind.ConsulNode, "read", param("node"))),
  "GET /v1/health/state/:state": consul(FILTERED),
  "GET /v1/agent/services": consul(FILTERED),
  "GET /v1/agent/checks": consul(FILTERED),
  "GET /v1/agent/self": consul(res(AclResource.Agent, "read")),
  "PUT /v1/agent/service/register": consul(
    prefix(AclPrefixKind.Service, "write", (req) => {
      // The name the route registers: read as the route reads it (any case, the later of two spellings).
      return shapedString(req.body, SERVICE_DEFINITION, "Name");
    }),
  ),
  "PUT /v1/agent/service/deregister/:id": consul(prefix(AclPrefixKind.Service, "write", (req, look) => look.serviceName(req.params.id ?? "") ?? "")),
  "PUT /v1/agent/check/pass/:id": consul(checkNeed),
  "PUT /v1/agent/check/warn/:id": consul(checkNeed),
  "PUT /v1/agent/check/fail/:id": consul(checkNeed),
  "PUT /v1/agent/check/update/:id": consul(checkNeed),
  "PUT /v1/agent/reload": consul(res(AclResource.Agent, "write")),
  "GET /v1/catalog/node-services/:node": consul(prefix(AclPrefixKind.ConsulNode, "read", param("node"))),
  "GET /v1/agent/service/:id": consul(prefix(AclPrefixKind.Service, "read", (req, look) => look.serviceName(req.params.id ?? "") ?? "")),
  "GET /v1/agent/health/service/id/:id": consul(prefix(AclPrefixKind.Service, "read", (req, look) => look.serviceName(req.params.id ?? "") ?? "")),
  "GET /v1/agent/health/service/name/:name": consul(prefix(AclPrefixKind.Service, "read", param("name"))),
  // A check of a service: write on the service; of the node itself: write on the node (Consul's vetCheckRegister).
  "PUT /v1/agent/check/register": consul((req, look) => {
    const sid = shapedString(req.body, CHECK_DEFINITION, "ServiceID");
    return sid !== "" ? { kind: "prefix", prefix: AclPrefixKind.Service, name: look.serviceName(sid) ?? "", level: "write" } : { kind: "prefix", prefix: AclPrefixKind.ConsulNode, name: look.localNodeName(), level: "write" };
  }),
  "PUT /v1/agent/check/deregister/:id": consul(checkNeed),
  "PUT /v1/agent/maintenance": consul(prefix(AclPrefixKind.ConsulNode, "write", (_req, look) => look.localNodeName())),
  "PUT /v1/agent/service/maintenance/:id": consul(prefix(AclPrefixKind.Service, "write", (req, look) => look.serviceName(req.params.id ?? "") ?? "")),
  // Consul's catalog writes: node write on the node, and service write on the service it registers.
  "PUT /v1/catalog/register": consul((req) => {
    // Read as the route reads it: the same shape, and the service's name as the route takes it.
    const b = consulBody(req.body, REGISTER_REQUEST);
    const node: Need = { kind: "prefix", prefix: AclPrefixKind.ConsulNode, name: typeof b?.Node === "string" ? b.Node : "", level: "write" };
    const svc = b?.Service;
    if (svc === undefined || svc === null) return node;
    const name = nodeServiceName(svc as Record<string, unknown>);
    return { kind: "all", of: [node, { kind: "prefix", prefix: AclPrefixKind.Service, name: typeof name === "string" ? name : "", level: "write" }] };
  }),
  "PUT /v1/catalog/deregister": consul((req) => ({ kind: "prefix", prefix: AclPrefixKind.ConsulNode, name: shapedString(req.body, DEREGISTER_REQUEST, "Node"), level: "write" })),
  "PUT /v1/event/fire/:name": consul(prefix(AclPrefixKind.Event, "write", param("name"))),
  // Events the token may not read (event read on their name) are left out.
  "GET /v1/event/list": consul(FILTERED),
  "GET /v1/operator/raft/configuration": consul(res(AclResource.Operator, "read")),
  // Consul's snapshots take a management token.
  "GET /v1/snapshot": consul({ kind: "management" }),
  "PUT /v1/snapshot": consul({ kind: "management" }),
  // Consul 1.11's answer to the legacy ACL API: 410 Gone to anyone, token or not (it touches nothing).
  "PUT /v1/acl/create": consul(OPEN),
  "PUT /v1/acl/update": consul(OPEN),
  "PUT /v1/acl/destroy/:id": consul(OPEN),
  "PUT /v1/acl/clone/:id": consul(OPEN),
  "GET /v1/acl/info/:id": consul(OPEN),
  "GET /v1/acl/list": consul(OPEN),
  // Consul's coordinates: the list leaves out the nodes the token may not read (its filterACL); an update is node write on the node it names.
  "GET /v1/coordinate/nodes": consul(FILTERED),
  "GET /v1/coordinate/node/:node": consul(prefix(AclPrefixKind.ConsulNode, "read", param("node"))),
  "PUT /v1/coordinate/update": consul((req) => ({ kind: "prefix", prefix: AclPrefixKind.ConsulNode, name: shapedString(req.body, COORDINATE_UPDATE, "Node"), level: "write" })),
  "GET /v1/kv/*key": consul(kvReadNeed),
  "PUT /v1/kv/*key": consul(prefix(AclPrefixKind.Key, "write", param("key"))),
  // With ?recurse the route checks write on every key under the prefix too (Consul's KeyWritePrefix).
  "DELETE /v1/kv/*key": consul(prefix(AclPrefixKind.Key, "write", param("key"))),
  "PUT /v1/session/create": consul(
    prefix(AclPrefixKind.Session, "write", (req, look) => {
      // The node the route puts the session on: read as the route reads it (`node` as python-consul sends it).
      const node = shapedString(req.body, SESSION, "Node");
      return node !== "" ? node : look.localNodeName();
    }),
  ),
  "PUT /v1/session/destroy/:id": consul(prefix(AclPrefixKind.Session, "write", (req, look) => look.sessionNode(req.params.id ?? "") ?? "")),
  "PUT /v1/session/renew/:id": consul(prefix(AclPrefixKind.Session, "write", (req, look) => look.sessionNode(req.params.id ?? "") ?? "")),
  "GET /v1/session/info/:id": consul(prefix(AclPrefixKind.Session, "read", (req, look) => look.sessionNode(req.params.id ?? "") ?? "")),
  "GET /v1/session/list": consul(FILTERED),
  // Consul's NodeSessions filters by session read on the node: the route leaves out what the token may not read.
  "GET /v1/session/node/:node": consul(FILTERED),
  // Each operation is checked by the route: a refused one fails the transaction (409, "Permission denied").
  "PUT /v1/txn": consul(FILTERED),
  "GET /v1/status/leader": consul(OPEN),
  "GET /v1/status/peers": consul(OPEN),
  "GET /v1/agent/members": consul(res(AclResource.Node, "read")),
  "PUT /v1/agent/force-leave/:node": consul(res(AclResource.Operator, "write")),
  // Consul's WAN join is agent:write; its datacenters and their coordinates need no ACL.
  "PUT /v1/agent/join/:address": consul(res(AclResource.Agent, "write")),
  "GET /v1/catalog/datacenters": consul(OPEN),
  // Consul's prepared queries: creating a named one (or a template) is `query` write on its name, an unnamed one any token's;
  // the routes check the rest against the query they find (its name's `query` read or write; execute filters the
  // instances by service and node read, as Consul's).
  "PUT /v1/query": consul(queryCreateNeed),
  "GET /v1/query": consul(FILTERED),
  "GET /v1/query/:id": consul(FILTERED),
  "PUT /v1/query/:id": consul(FILTERED),
  "DELETE /v1/query/:id": consul(FILTERED),
  "GET /v1/query/:id/execute": consul(FILTERED),
  "GET /v1/query/:id/explain": consul(FILTERED),
  // Another datacenter's server sends a failing-over query's definition: its instances are filtered by the token it sends.
  "PUT /v1/internal/query/execute": consul(FILTERED),
  "GET /v1/coordinate/datacenters": consul(OPEN),
  // Ruche's own, served beside Consul's routes, what a remote router follows: the whole catalog, so every service and node.
  // A router agent joined to the cluster shows its certificate; anyone else needs a token that reads all of it.
  "GET /v1/catalog/snapshot": nomad({
    kind: "any",
    of: [
      { kind: "agent" },
      {
        kind: "all",
        of: [
          { kind: "prefix", prefix: AclPrefixKind.Service, name: "", level: "read" },
          { kind: "prefix", prefix: AclPrefixKind.ConsulNode, name: "", level: "read" },
        ],
      },
    ],
  }),
};

/** The Ruche/Nomad API's own routes, the node agent's, the dashboard's. */
const NOMAD: Readonly<Record<string, RouteEntry>> = {
  // The dashboard's files: its data comes from the API, checked route by route; its token prompt must load.
  "GET /": nomad(OPEN),
  "GET /ui/*path": nomad(OPEN),

  "GET /v1/jobs": nomad(ns(NamespaceCap.ListJobs)),
  "PUT /v1/jobs": nomad(ns(NamespaceCap.SubmitJob)),
  "PUT /v1/job/:id": nomad(ns(NamespaceCap.SubmitJob)),
  "GET /v1/job/:id": nomad(onJob(NamespaceCap.ReadJob)),
  "DELETE /v1/job/:id": nomad(ns(NamespaceCap.SubmitJob)),
  "GET /v1/job/:id/versions": nomad(onJob(NamespaceCap.ReadJob)),
  "GET /v1/job/:id/summary": nomad(onJob(NamespaceCap.ReadJob)),
  "GET /v1/job/:id/allocations": nomad(onJob(NamespaceCap.ReadJob)),
  "GET /v1/job/:id/evaluations": nomad(onJob(NamespaceCap.ReadJob)),
  "GET /v1/job/:id/deployments": nomad(onJob(NamespaceCap.ReadJob)),
  "GET /v1/job/:id/deployment": nomad(onJob(NamespaceCap.ReadJob)),
  "PUT /v1/job/:id/plan": nomad(ns(NamespaceCap.SubmitJob)),
  "PUT /v1/job/:id/dispatch": nomad(ns(NamespaceCap.DispatchJob)),
  /** Nomad asks for any of dispatch-job, submit-job and force-periodic-job (a capability Ruche's policies do not have). */
  "PUT /v1/job/:id/periodic/force": nomad({ kind: "any", of: [ns(NamespaceCap.DispatchJob), ns(NamespaceCap.SubmitJob)] }),
  "PUT /v1/job/:id/revert": nomad(ns(NamespaceCap.SubmitJob)),
  "PUT /v1/job/:id/scale": nomad({ kind: "any", of: [ns(NamespaceCap.ScaleJob), ns(NamespaceCap.SubmitJob)] }),
  // Nomad's: parsing a job file takes parse-job (which submit-job and read-job imply there); validating one, read-job.
  "PUT /v1/jobs/parse": nomad({ kind: "any", of: [ns(NamespaceCap.ParseJob), ns(NamespaceCap.SubmitJob), ns(NamespaceCap.ReadJob)] }),
  "PUT /v1/validate/job": nomad(ns(NamespaceCap.ReadJob)),

  "GET /v1/deployments": nomad(ns(NamespaceCap.ReadJob)),
  "GET /v1/deployment/:id": nomad(ns(NamespaceCap.ReadJob)),
  "GET /v1/deployment/allocations/:id": nomad(ns(NamespaceCap.ReadJob)),
  "PUT /v1/deployment/promote/:id": nomad(ns(NamespaceCap.SubmitJob)),
  "PUT /v1/deployment/fail/:id": nomad(ns(NamespaceCap.SubmitJob)),
  "PUT /v1/deployment/pause/:id": nomad(ns(NamespaceCap.SubmitJob)),
  "PUT /v1/deployment/unblock/:id": nomad(ns(NamespaceCap.SubmitJob)),
  "GET /v1/evaluations": nomad(ns(NamespaceCap.ReadJob)),
  "GET /v1/evaluation/:id": nomad(ns(NamespaceCap.ReadJob)),
  "GET /v1/evaluation/:id/allocations": nomad(ns(NamespaceCap.ReadJob)),
  "GET /v1/allocations": nomad(ns(NamespaceCap.ReadJob)),
  "PUT /v1/allocation/:id/stop": nomad(onAllocJob(NamespaceCap.AllocLifecycle)),
  "GET /v1/allocation/:id": nomad(onAllocJob(NamespaceCap.ReadJob)),

  // Nomad's: a token lists the namespaces it has a capability in (the route filters) and reads one it has a capability in; writes are management's.
  "GET /v1/namespaces": nomad(FILTERED),
  "GET /v1/namespace/:name": nomad(FILTERED),
  "PUT /v1/namespace": nomad({ kind: "management" }),
  "PUT /v1/namespace/:name": nomad({ kind: "management" }),
  "DELETE /v1/namespace/:name": nomad({ kind: "management" }),
  // Nomad's dynamic host volumes, in the namespace the request acts in (the query's, else the volume's).
  "PUT /v1/volume/host/create": nomad(ns(NamespaceCap.HostVolumeCreate)),
  "PUT /v1/volume/host/register": nomad(ns(NamespaceCap.HostVolumeRegister)),
  "GET /v1/volumes": nomad(ns(NamespaceCap.HostVolumeRead)),
  "GET /v1/volume/host/:id": nomad(ns(NamespaceCap.HostVolumeRead)),
  "DELETE /v1/volume/host/:id": nomad(ns(NamespaceCap.HostVolumeDelete)),
  "DELETE /v1/volume/host/:id/delete": nomad(ns(NamespaceCap.HostVolumeDelete)),

  "GET /v1/nodes": nomad(res(AclResource.Node, "read")),
  "GET /v1/node/:id": nomad(res(AclResource.Node, "read")),
  "GET /v1/node/:id/allocations": nomad({ kind: "all", of: [res(AclResource.Node, "read"), ns(NamespaceCap.ReadJob)] }),
  "PUT /v1/node/:id/drain": nomad(res(AclResource.Node, "write")),
  "PUT /v1/node/:id/eligibility": nomad(res(AclResource.Node, "write")),

  // The node agent's own endpoints: it proves who it is with its certificate (or its agent's
  // key) and its node's secret, which the routes check (node-identity.ts). Registering without
  // either takes a token with node:write, Nomad's right for node writes: the door resolves the
  // token for the route, which decides.
  "PUT /v1/client/register": nomad({ kind: "any", of: [NODE_IDENTITY, res(AclResource.Node, "write")] }),
  "PUT /v1/client/heartbeat/:id": nomad(NODE_IDENTITY),
  "GET /v1/client/allocations/:id": nomad(NODE_IDENTITY),
  "PUT /v1/client/allocations/:id": nomad(NODE_IDENTITY),
  "PUT /v1/client/checks/:id": nomad(NODE_IDENTITY),
  "GET /v1/client/host-volumes/:id": nomad(NODE_IDENTITY),
  "PUT /v1/client/host-volumes/:id": nomad(NODE_IDENTITY),
  // A user's: an allocation's logs and commands in it.
  "GET /v1/client/fs/logs/:alloc": nomad(ns(NamespaceCap.ReadLogs)),
  "PUT /v1/client/allocation/:alloc/exec": nomad(execNeed),
  "GET /v1/client/allocation/:alloc/exec": nomad(execNeed),
  /** Nomad's `job action`: read-job and the exec capabilities of the allocation named (alloc-node-exec too for raw_exec). */
  "GET /v1/job/:id/action": nomad((req, look) => {
    const drivers = look.allocDrivers(req.query.get("allocID") ?? "", req.query.get("task") ?? undefined);
    return { kind: "all", of: [ns(NamespaceCap.ReadJob), ns(NamespaceCap.AllocExec), ...(drivers.includes("raw_exec") ? [ns(NamespaceCap.AllocNodeExec)] : [])] };
  }),
  "GET /v1/client/fs/ls/:alloc": nomad(ns(NamespaceCap.ReadFs)),
  "GET /v1/client/fs/stat/:alloc": nomad(ns(NamespaceCap.ReadFs)),
  "GET /v1/client/fs/cat/:alloc": nomad(ns(NamespaceCap.ReadFs)),
  "GET /v1/client/fs/readat/:alloc": nomad(ns(NamespaceCap.ReadFs)),
  "GET /v1/client/fs/stream/:alloc": nomad(ns(NamespaceCap.ReadFs)),
  "PUT /v1/client/allocation/:alloc/signal": nomad(ns(NamespaceCap.AllocLifecycle)),
  "PUT /v1/client/allocation/:alloc/restart": nomad(ns(NamespaceCap.AllocLifecycle)),
  "GET /v1/client/allocation/:alloc/checks": nomad(ns(NamespaceCap.ReadJob)),
  "GET /v1/client/allocation/:alloc/stats": nomad(ns(NamespaceCap.ReadJob)),

  "GET /v1/metrics": nomad(OPEN),
  // The public keys that verify workload identities: no secret in them (Nomad's is open too).
  "GET /.well-known/jwks.json": nomad(OPEN),
  "GET /v1/openapi.json": nomad(OPEN),
  "GET /v1/event/stream": nomad(FILTERED),
  "PUT /v1/system/gc": nomad({ kind: "management" }),
  "PUT /v1/system/reconcile/summaries": nomad({ kind: "management" }),
  "GET /v1/status/leader": nomad(OPEN),
  "GET /v1/status/peers": nomad(OPEN),
  "GET /v1/agent/members": nomad(res(AclResource.Node, "read")),
  // Nomad's agent/self (agent:read) before Consul's on the main API; the regions are open, as Nomad's.
  "GET /v1/agent/self": nomad(res(AclResource.Agent, "read")),
  "GET /v1/regions": nomad(OPEN),
  // Nomad's variables: every token passes the door, and the route checks the token's variable
  // capability on the path (Acl.variable: list filters the list, read, write, destroy refuse 403).
  "GET /v1/vars": nomad(FILTERED),
  "GET /v1/var/*path": nomad(FILTERED),
  "PUT /v1/var/*path": nomad(FILTERED),
  "DELETE /v1/var/*path": nomad(FILTERED),
  // Nomad's service discovery: the lists leave out what the token may not read (read-job in the
  // namespace, or Consul's service read); a delete checks submit-job in the namespace it names.
  "GET /v1/services": nomad(FILTERED),
  "GET /v1/service/:name": nomad(FILTERED),
  "DELETE /v1/service/:name/:id": nomad(FILTERED),
  "PUT /v1/agent/force-leave": nomad(res(AclResource.Agent, "write")),
  "GET /v1/operator/scheduler/configuration": nomad(res(AclResource.Operator, "read")),
  "PUT /v1/operator/scheduler/configuration": nomad(res(AclResource.Operator, "write")),
  "POST /v1/operator/scheduler/configuration": nomad(res(AclResource.Operator, "write")),
  "GET /v1/operator/etcd/members": nomad(res(AclResource.Operator, "read")),
  "DELETE /v1/operator/etcd/member/:id": nomad(res(AclResource.Operator, "write")),
  // Join tokens make nodes, and a server token makes servers: a management token's (routes/join.ts).
  "PUT /v1/operator/join-token": nomad({ kind: "management" }),
  "PUT /v1/operator/join-token/rotate": nomad({ kind: "management" }),
  "DELETE /v1/operator/join-token/:id": nomad({ kind: "management" }),
  "GET /v1/operator/join-tokens": nomad(res(AclResource.Operator, "read")),
  "GET /v1/operator/tls/ca": nomad(res(AclResource.Operator, "read")),
  "PUT /v1/operator/tls/ca/rotate": nomad({ kind: "management" }),
  "PUT /v1/operator/tls/ca/finish": nomad({ kind: "management" }),
  // The CA's certificate is public; a join is paid for with a join token, a renewal with the node's certificate, each checked by the route.
  "GET /v1/agent/ca": nomad(OPEN),
  // Nomad's `server join` shares the path (`?address=`): agent:write, as Nomad's (its token read at the door); the node join without it, open.
  "PUT /v1/agent/join": nomad((req) => (req.query.has("address") ? res(AclResource.Agent, "write") : OPEN)),
  "PUT /v1/agent/renew": nomad(OPEN),
  "GET /v1/operator/servers": nomad(res(AclResource.Operator, "read")),
  "GET /v1/router": nomad(res(AclResource.Operator, "read")),
  "GET /v1/internal/etcd/peer": nomad({ kind: "server" }),
  "PUT /v1/internal/etcd/join": nomad({ kind: "server" }),
  // The federation's exchange between regions' servers (served only with TLS off: over TLS federation is refused at start).
  "PUT /v1/internal/federation": nomad({ kind: "server" }),
  "GET /v1/internal/multiregion/deployments": nomad({ kind: "server" }),
};

/**
 * `/v1/acl/*` (Nomad's): bootstrap is open (it refuses itself after the first), a token reads
 * itself (no token: the anonymous one), the rest is management's (Nomad lets a client token
 * read its own policies too; here that is management's as well).
 */
function aclRoute(method: string, pattern: string): RouteEntry | undefined {
  if (!pattern.startsWith("/v1/acl/")) return undefined;
  if (pattern === "/v1/acl/bootstrap") return nomad(OPEN);
  if (pattern === "/v1/acl/token/self" && method === "GET") return nomad({ kind: "token" });
  return nomad({ kind: "management" });
}

/**
 * `/v1/acl/*` on the Consul-compatible listener (Consul's, `routes/consul-acl.ts`): bootstrap
 * is open (it refuses itself after the first), a token reads itself, the rest is a management
 * token's (Consul asks `acl:read` or `acl:write`, which no Ruche policy grants).
 */
function consulAclRoute(method: string, pattern: string): RouteEntry | undefined {
  if (!pattern.startsWith("/v1/acl/")) return undefined;
  if (pattern === "/v1/acl/bootstrap") return consul(OPEN);
  if (pattern === "/v1/acl/token/self" && method === "GET") return consul({ kind: "token" });
  return consul({ kind: "management" });
}

/** The list routes where `?namespace=*` asks for every namespace: the door lets it pass, the route keeps what the token may read. */
const ALL_NAMESPACE_LISTS: ReadonlySet<string> = new Set(["GET /v1/jobs", "GET /v1/allocations", "GET /v1/evaluations", "GET /v1/deployments", "GET /v1/volumes"]);

/**
 * The namespace a request acts in, which its route's namespace capabilities are checked in (as
 * Nomad checks them): an allocation's, an evaluation's or a deployment's own when the route
 * names one by its ID; else `?namespace=`, or for a job registration the body's (Nomad's
 * `namespaceForJob`); "default" without any. `*` on a list route: every namespace (null: the
 * route filters); anywhere else it is the name "*", which only a `namespace "*"` rule covers.
 */
export function requestNamespace(req: Request, look: AclLookups): string | null {
  const [method = "", pattern = ""] = req.route.split(" ");
  const alloc = req.params.alloc ?? (pattern.startsWith("/v1/allocation/") ? req.params.id : undefined);
  const byId =
    alloc !== undefined
      ? look.namespaceOf?.("alloc", alloc)
      : pattern.startsWith("/v1/evaluation/")
        ? look.namespaceOf?.("eval", req.params.id ?? "")
        : pattern.startsWith("/v1/deployment/")
          ? look.namespaceOf?.("deployment", req.params.id ?? "")
          : undefined;
  if (byId !== undefined) return byId;
  const q = req.query.get("namespace");
  if (q === "*" && ALL_NAMESPACE_LISTS.has(`${method === "POST" ? "PUT" : method} ${pattern}`)) return null;
  if (q !== null && q !== "") return q;
  const body = req.body;
  if (method !== "GET" && typeof body === "object" && body !== null) {
    if ("Namespace" in body && typeof body.Namespace === "string" && body.Namespace !== "") return body.Namespace;
    if ("Job" in body && typeof body.Job === "object" && body.Job !== null && "Namespace" in body.Job && typeof body.Job.Namespace === "string" && body.Job.Namespace !== "") return body.Job.Namespace;
    if ("Volume" in body && typeof body.Volume === "object" && body.Volume !== null && "Namespace" in body.Volume && typeof body.Volume.Namespace === "string" && body.Volume.Namespace !== "") return body.Volume.Namespace;
  }
  return "default";
}

/** Which listener a route is served on: the main API serves both faces, the Consul-compatible listener only Consul's. */
export type Listener = "api" | "consul";

/**
 * The entry of a route (`METHOD /pattern`, as `Request.route` and the router's list name it);
 * undefined when the table has none. A POST route is its PUT twin's (`Router.put` registers both).
 */
export function routeEntry(route: string, listener: Listener = "api"): RouteEntry | undefined {
  const space = route.indexOf(" ");
  const method = route.slice(0, space) === "POST" ? "PUT" : route.slice(0, space);
  const pattern = route.slice(space + 1);
  const key = `${method} ${pattern}`;
  if (listener === "consul") return CONSUL[key] ?? consulAclRoute(method, pattern);
  return NOMAD[key] ?? CONSUL[key] ?? aclRoute(method, pattern);
}

/** The routes of `routes` the table has no entry for: each one is a door left unchecked. */
export function unlistedRoutes(routes: readonly string[], listener: Listener = "api"): string[] {
  return routes.filter((r) => routeEntry(r, listener) === undefined);
}
