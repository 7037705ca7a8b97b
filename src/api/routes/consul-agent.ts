import { createHash } from "node:crypto";
import {
  aggregate,
  eventIndex,
  type ConsulSnapshots,
  NODE_CHECK,
  NODE_CHECKS_ID,
  parseCheckRegistration,
  parseRegistration,
  type CatalogNode,
  type CatalogReader,
  type HealthCheck,
  type RegisteredCheck,
  type RegisteredService,
  type ServiceInstance,
  type ServiceRegistry,
  type UserEvent,
  type UserEvents,
} from "../../catalog/index.js";
import type { ClusterView, NodeCoordinates } from "../../server/index.js";
import { AclPrefixKind, NS, type ExternalNode, type NodeCoordinate } from "../../structs/index.js";
import { CHECK_DEFINITION, consulBody, COORDINATE_UPDATE, DEREGISTER_REQUEST, nodeServiceName, REGISTER_REQUEST } from "../consul-body.js";
import { blockingParams, type Reply, type Request, type Router } from "../http.js";
import { agentNodeOf, allInstances, consulFilter, consulHeaders, localService } from "./consul.js";

/**
 * Consul's agent endpoints beyond the catalog's reads — one service, its health as a status
 * code, checks registered on their own, maintenance mode — and `/v1/catalog/register|
 * deregister` (external services and nodes) and user events (`/v1/event/fire|list`).
 * Served on the Consul listener and under the main API, beside `consul.ts`.
 */
export interface ConsulAgentOptions {
  catalog: CatalogReader;
  localNode(): string | undefined;
  registry?: ServiceRegistry;
  allowScriptChecks?: boolean;
  /** Consul's user events, in the store; absent where the listener has no store (no event routes). */
  events?: UserEvents;
  /** Consul's snapshots of the KV and the registrations; absent where the listener has no store (no snapshot routes). */
  snapshots?: ConsulSnapshots;
  /** The nodes' coordinates: an external node deregistered takes its coordinate with it. */
  coordinates?: NodeCoordinates;
}

/** Consul's check ID of node maintenance, and the prefix of a service's. */
export const NODE_MAINT = "_node_maintenance";
export const SERVICE_MAINT_PREFIX = "_service_maintenance:";
const NODE_MAINT_REASON = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
const SERVICE_MAINT_REASON = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";

const text = (status: number, body: string): Reply => ({ status, body, headers: { "content-type": "text/plain; charset=utf-8" } });


export function consulAgentRoutes(r: Router, o: ConsulAgentOptions): void {
  const { catalog, events } = o;
  const localNode = (): CatalogNode | undefined => catalog.nodes().find((n) => n.ID === o.localNode());
  const localInstances = (): ServiceInstance[] => allInstances(catalog).filter((i) => i.node.ID === o.localNode());
  const svcOk = (req: Request, name: string): boolean => req.acl.prefix(AclPrefixKind.Service, name, "read");

  // One service of this agent, with its ContentHash; `?hash=` blocks until the service differs from that hash (Consul's hash-based blocking).
  r.get("/v1/agent/service/:id", async (req) => {
    const id = req.params.id ?? "";
    const shown = (): { body: Record<string, unknown>; hash: string } | undefined => {
      const i = localInstances().find((x) => x.ID === id);
      if (i === undefined || !svcOk(req, i.Service)) return undefined;
      const body = localService(i, catalog.datacenter());
      const hash = createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 16);
      return { body: { ...body, ContentHash: hash }, hash };
    };
    let cur = shown();
    const asked = req.query.get("hash");
    if (asked !== null && cur?.hash === asked) {
      const waitMs = waitOf(req);
      const until = Date.now() + waitMs;
      let index = catalog.index();
      while (cur?.hash === asked && Date.now() < until && !req.signal.aborted) {
        index = await catalog.wait(index, until - Date.now(), req.signal);
        cur = shown();
      }
    }
    if (cur === undefined) return text(404, `unknown service ID: ${id}`);
    return { body: cur.body, headers: { "x-consul-contenthash": cur.hash } };
  });

  // The health of this agent's services as a status code: 200 passing, 429 warning, 503 critical or in maintenance (Consul's).
  const health = (i: ServiceInstance): { code: number; status: string; checks: HealthCheck[] } => {
    const checks = i.checks.filter((c) => c.CheckID !== NODE_CHECK.CheckID);
    const status = checks.some((c) => c.CheckID === NODE_MAINT || c.CheckID.startsWith(SERVICE_MAINT_PREFIX)) ? "maintenance" : aggregate(checks);
    return { code: status === "passing" ? 200 : status === "warning" ? 429 : 503, status, checks };
  };
  const plain = (req: Request): boolean => req.query.get("format") === "text";
  r.get("/v1/agent/health/service/id/:id", (req) => {
    const id = req.params.id ?? "";
    const i = localInstances().find((x) => x.ID === id && svcOk(req, x.Service));
    if (i === undefined) return text(404, `ServiceId ${id} not found`);
    const h = health(i);
    if (plain(req)) return text(h.code, h.status);
    return { status: h.code, body: { AggregatedStatus: h.status, Service: localService(i, catalog.datacenter()), Checks: h.checks } };
  });
  r.get("/v1/agent/health/service/name/:name", (req) => {
    const name = req.params.name ?? "";
    const mine = svcOk(req, name) ? localInstances().filter((x) => x.Service === name) : [];
    if (mine.length === 0) return plain(req) ? text(404, `ServiceName ${name} Not Found`) : { status: 404, body: [] };
    let worst = { code: 200, status: "passing" };
    const out = mine.map((i) => {
      const h = health(i);
      if (h.code > worst.code) worst = { code: h.code, status: h.status };
      return { AggregatedStatus: h.status, Service: localService(i, catalog.datacenter()), Checks: h.checks };
    });
    if (plain(req)) return text(worst.code, worst.status);
    return { status: worst.code, body: out };
  });

  if (events !== undefined) eventRoutes(r, events, localNode, localInstances);

  const snapshots = o.snapshots;
  if (snapshots !== undefined) {
    r.get("/v1/snapshot", (_req, res) => {
      const { archive, index } = snapshots.save();
      res.writeHead(200, { ...consulHeaders(index), "content-type": "application/x-gzip", "content-length": archive.length });
      res.end(archive);
      return { streamed: true };
    });
    r.put("/v1/snapshot", async (req) => {
      await snapshots.restore(req.rawBody ?? Buffer.alloc(0));
      return { body: null };
    });
  }

  const registry = o.registry;
  if (registry === undefined) return;
  // The node of the agent asked: a write a follower forwarded acts on the follower's.
  const self = (req: Request): string => agentNodeOf(req, () => o.localNode()) ?? "";
  const scripts = o.allowScriptChecks === true;

  r.put("/v1/agent/check/register", async (req) => {
    const parsed = parseCheckRegistration(consulBody(req.body, CHECK_DEFINITION) ?? null, { nodeId: self(req), now: Date.now(), allowScriptChecks: scripts });
    if (!parsed.ok) return text(400, `Invalid check: ${parsed.errors.join("; ")}`);
    const { check, serviceId } = parsed;
    if (serviceId !== "") {
      const svc = registry.get(self(req), serviceId);
      if (svc === undefined || svc.NodeLevel === true) return text(400, `ServiceID "${serviceId}" does not exist`);
      await registry.register({ ...svc, Checks: [...svc.Checks.filter((c) => c.CheckID !== check.CheckID), check] });
    } else {
      await putNodeCheck(registry, self(req), check);
    }
    return { body: null };
  });
  r.put("/v1/agent/check/deregister/:id", async (req) => {
    const id = req.params.id ?? "";
    if (!(await registry.removeCheck(self(req), id))) return text(404, `Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`);
    return { body: null };
  });

  r.put("/v1/agent/maintenance", async (req) => {
    const enable = maintenanceFlag(req);
    if (typeof enable === "object") return enable;
    if (enable) await putNodeCheck(registry, self(req), maintenanceCheck(NODE_MAINT, "Node Maintenance Mode", req.query.get("reason") || NODE_MAINT_REASON));
    else await registry.removeCheck(self(req), NODE_MAINT);
    return { body: null };
  });
  r.put("/v1/agent/service/maintenance/:id", async (req) => {
    const id = req.params.id ?? "";
    if (id === "") return text(400, "Missing service ID");
    const enable = maintenanceFlag(req);
    if (typeof enable === "object") return enable;
    const svc = registry.get(self(req), id);
    if (svc === undefined || svc.NodeLevel === true) return text(404, `Unknown service ID "${id}"`);
    const checkId = `${SERVICE_MAINT_PREFIX}${id}`;
    const others = svc.Checks.filter((c) => c.CheckID !== checkId);
    await registry.register({ ...svc, Checks: enable ? [...others, maintenanceCheck(checkId, "Service Maintenance Mode", req.query.get("reason") || SERVICE_MAINT_REASON)] : others });
    return { body: null };
  });

  // External services: a node no Ruche agent runs (or a Ruche node, by its name), its services and checks, kept until deregistered.
  r.put("/v1/catalog/register", async (req) => {
    const b = consulBody(req.body, REGISTER_REQUEST) ?? {};
    const node = b.Node;
    const address = b.Address;
    if (typeof node !== "string" || node === "" || typeof address !== "string" || address === "") return text(400, "Must provide node and address");
    const dc = typeof b.Datacenter === "string" ? b.Datacenter : "";
    if (dc !== "" && dc !== catalog.datacenter()) return text(400, `Datacenter "${dc}" is not this server's (${catalog.datacenter()}): send the registration with ?dc=${dc}`);
    const tagged = stringMap(b.TaggedAddresses, "TaggedAddresses");
    const meta = stringMap(b.NodeMeta, "NodeMeta");
    if (typeof tagged === "string") return text(400, tagged);
    if (typeof meta === "string") return text(400, meta);
    const ruche = catalog.nodes().find((n) => n.Node === node && n.ID !== "");
    const nodeId = ruche?.ID ?? `external:${node}`;
    const external: ExternalNode | undefined = ruche === undefined ? { Node: node, Address: address, Datacenter: catalog.datacenter(), TaggedAddresses: tagged, Meta: meta } : undefined;
    const now = Date.now();
    let service: RegisteredService | undefined;
    if (b.Service !== undefined && b.Service !== null) {
      const s = b.Service as Record<string, unknown>;
      // Consul's NodeService names the service `Service`; the agent's registration `Name`.
      const parsed = parseRegistration({ ...s, Name: nodeServiceName(s), Check: undefined, Checks: undefined }, { nodeId, now, allowScriptChecks: false });
      if (!parsed.ok) return text(400, `Invalid service: ${parsed.errors.join("; ")}`);
      service = { ...parsed.service, ...(external === undefined ? {} : { ExternalNode: external }) };
    }
    const rawChecks = [...(b.Check === undefined || b.Check === null ? [] : [b.Check]), ...(Array.isArray(b.Checks) ? (b.Checks as unknown[]) : [])];
    const nodeChecks: RegisteredCheck[] = [];
    const serviceChecks: RegisteredCheck[] = [];
    for (const [i, raw] of rawChecks.entries()) {
      const c = (raw ?? {}) as Record<string, unknown>;
      const check = externalCheck(c, now);
      if (typeof check === "string") return text(400, `Checks[${i}]: ${check}`);
      const sid = typeof c.ServiceID === "string" ? c.ServiceID : "";
      if (sid === "") nodeChecks.push(check);
      else if (service !== undefined && sid === service.ID) serviceChecks.push(check);
      else {
        const other = registry.get(nodeId, sid);
        if (other === undefined || other.NodeLevel === true) return text(400, `Checks[${i}]: ServiceID "${sid}" is not registered on node "${node}"`);
        await registry.register({ ...other, Checks: [...other.Checks.filter((x) => x.CheckID !== check.CheckID), check] });
      }
    }
    if (service !== undefined) {
      const old = registry.get(nodeId, service.ID);
      const kept = old === undefined ? [] : old.Checks.filter((c) => !serviceChecks.some((x) => x.CheckID === c.CheckID));
      await registry.register({ ...service, Checks: [...kept, ...serviceChecks] });
    }
    // The node itself: its row of node checks holds an external node even without a service.
    if (nodeChecks.length > 0 || external !== undefined) {
      const old = registry.get(nodeId, NODE_CHECKS_ID);
      const kept = old === undefined ? [] : old.Checks.filter((c) => !nodeChecks.some((x) => x.CheckID === c.CheckID));
      await registry.register(nodeRow(nodeId, [...kept, ...nodeChecks], external));
    }
    return { body: true };
  });
  r.put("/v1/catalog/deregister", async (req) => {
    const b = consulBody(req.body, DEREGISTER_REQUEST) ?? {};
    const node = b.Node;
    if (typeof node !== "string" || node === "") return text(400, "Must provide node");
    const ruche = catalog.nodes().find((n) => n.Node === node && n.ID !== "");
    const nodeId = ruche?.ID ?? `external:${node}`;
    const serviceId = typeof b.ServiceID === "string" ? b.ServiceID : "";
    const checkId = typeof b.CheckID === "string" ? b.CheckID : "";
    if (serviceId !== "") await registry.deregister(nodeId, serviceId);
    else if (checkId !== "") await registry.removeCheck(nodeId, checkId);
    else if (ruche !== undefined) return text(400, `Node "${node}" is a Ruche agent's: it leaves the catalog when its agent stops or is marked down, not by deregistration; name a ServiceID or CheckID`);
    else {
      await registry.removeNode(nodeId);
      await o.coordinates?.remove(node);
    }
    return { body: true };
  });
}

/**
 * User events: fired on any server, kept in the store (the last 256), so every server lists
 * them; listed with Consul's blocking on the last event's ID.
 */
function eventRoutes(r: Router, events: UserEvents, localNode: () => CatalogNode | undefined, localInstances: () => ServiceInstance[]): void {
  r.put("/v1/event/fire/:name", async (req) => {
    const name = req.params.name ?? "";
    if (name === "") return text(400, "Missing name");
    const payload = req.rawBody !== undefined && req.rawBody.length > 0 ? req.rawBody.toString("base64") : null;
    for (const [k, v] of [["node", req.query.get("node")], ["service", req.query.get("service")], ["tag", req.query.get("tag")]] as const) {
      if (v === null) continue;
      try {
        new RegExp(v);
      } catch (err) {
        return text(400, `Invalid ${k} filter ${JSON.stringify(v)}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (req.query.has("tag") && !req.query.has("service")) return text(400, "Cannot provide tag filter without service filter.");
    const ev = await events.fire({ Name: name, Payload: payload, NodeFilter: req.query.get("node") ?? "", ServiceFilter: req.query.get("service") ?? "", TagFilter: req.query.get("tag") ?? "" });
    return { body: ev };
  });
  r.get("/v1/event/list", async (req) => {
    const name = req.query.get("name");
    const forMe = (e: UserEvent): boolean => (name === null || e.Name === name) && req.acl.prefix(AclPrefixKind.Event, e.Name, "read") && eventIsForAgent(e, localNode()?.Node ?? "", localInstances());
    const asked = req.query.get("index");
    if (asked !== null) {
      if (!/^\d+$/.test(asked)) return text(400, `Invalid index: ${JSON.stringify(asked)} is not a whole number`);
      // The index is a 64-bit number (the last event's ID), past what blockingParams takes: only its wait is read there.
      const waitMs = waitOf(req);
      // Consul's list waits while the last event of the answer is the one the caller already has.
      const until = Date.now() + waitMs;
      while (Date.now() < until && !req.signal.aborted) {
        const list = events.list().filter(forMe);
        const last = list.at(-1);
        if ((last === undefined ? 0n : eventIndex(last.ID)) !== BigInt(asked)) break;
        await events.wait(until - Date.now(), req.signal);
      }
    }
    const list = events.list().filter(forMe);
    const last = list.at(-1);
    return { body: list, headers: { "x-consul-index": String(last === undefined ? 0n : eventIndex(last.ID)) } };
  });
}

/** `?wait=` of a blocking query whose index is not the catalog's (a hash, an event's ID): Consul's default of 5 minutes, at most. */
function waitOf(req: Request): number {
  const wait = req.query.get("wait");
  return blockingParams(new URLSearchParams({ index: "0", ...(wait === null ? {} : { wait }) }))?.waitMs ?? 5 * 60_000;
}

/** Whether an event's node, service and tag filters take this agent in (Consul's `shouldProcessUserEvent`). */
function eventIsForAgent(e: UserEvent, nodeName: string, services: readonly ServiceInstance[]): boolean {
  const re = (s: string): RegExp | undefined => {
    try {
      return new RegExp(s);
    } catch {
      return undefined;
    }
  };
  if (e.NodeFilter !== "" && re(e.NodeFilter)?.test(nodeName) !== true) return false;
  if (e.ServiceFilter === "") return true;
  const svc = re(e.ServiceFilter);
  const tag = e.TagFilter === "" ? undefined : re(e.TagFilter);
  return services.some((s) => svc?.test(s.Service) === true && (e.TagFilter === "" || s.Tags.some((t) => tag?.test(t) === true)));
}

/** `?enable=` of the maintenance routes: true or false, or the 400 Consul answers. */
function maintenanceFlag(req: Request): boolean | Reply {
  const v = req.query.get("enable");
  if (v === null || v === "") return text(400, "Missing value for enable");
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return text(400, `Invalid value for enable: "${v}"`);
}

function maintenanceCheck(id: string, name: string, reason: string): RegisteredCheck {
  return { ...passiveCheck(id, name, "maintenance", "critical", Date.now()), Notes: reason };
}

/** A check nothing runs: its status is set by whoever registered it (external, maintenance). */
function passiveCheck(id: string, name: string, type: "external" | "maintenance", status: RegisteredCheck["Status"], now: number): RegisteredCheck {
  return { CheckID: id, Name: name, Type: type, HTTP: "", Method: "", TCP: "", Args: [], Interval: 0, Timeout: 10 * NS.second, TTL: 0, DeregisterCriticalServiceAfter: 0, SuccessBeforePassing: 0, FailuresBeforeCritical: 0, Status: status, Output: "", StatusTime: now };
}

/** A check of `/v1/catalog/register` (`structs.HealthCheck`): its ID defaults to its Name, its status to critical. */
function externalCheck(c: Record<string, unknown>, now: number): RegisteredCheck | string {
  const name = typeof c.Name === "string" ? c.Name : "";
  const id = typeof c.CheckID === "string" && c.CheckID !== "" ? c.CheckID : name;
  if (id === "") return "a check needs a CheckID or a Name";
  const status = c.Status === undefined || c.Status === "" ? "critical" : c.Status;
  if (status !== "passing" && status !== "warning" && status !== "critical") return `Status must be passing, warning or critical, got ${JSON.stringify(status)}`;
  return { ...passiveCheck(id, name === "" ? id : name, "external", status, now), ...(typeof c.Notes === "string" && c.Notes !== "" ? { Notes: c.Notes } : {}), ...(typeof c.Output === "string" ? { Output: c.Output } : {}) };
}

/** The row of a node's own checks (and, for an external node, the node itself). */
function nodeRow(nodeId: string, checks: RegisteredCheck[], external: ExternalNode | undefined): RegisteredService {
  return { ID: NODE_CHECKS_ID, Name: NODE_CHECKS_ID, Tags: [], Address: external?.Address ?? "", Port: 0, Meta: {}, NodeID: nodeId, NodeLevel: true, ...(external === undefined ? {} : { ExternalNode: external }), Checks: checks, CreateIndex: 0, ModifyIndex: 0 };
}

/** Adds (or replaces) one of the node's own checks. */
async function putNodeCheck(registry: ServiceRegistry, nodeId: string, check: RegisteredCheck): Promise<void> {
  const old = registry.get(nodeId, NODE_CHECKS_ID);
  await registry.register(nodeRow(nodeId, [...(old?.Checks ?? []).filter((c) => c.CheckID !== check.CheckID), check], old?.ExternalNode));
}

function stringMap(v: unknown, field: string): Record<string, string> | string {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) return `${field}: must map strings to strings`;
  return { ...(v as Record<string, string>) };
}

/** Consul's `GET /v1/operator/raft/configuration`: the region's servers as its raft peers (Ruche's consensus is etcd's; every server votes). */
export function consulOperatorRoutes(r: Router, cluster: ClusterView, catalog: CatalogReader, coordinates?: NodeCoordinates): void {
  r.get("/v1/operator/raft/configuration", () => {
    const servers = cluster.members().map((m) => ({ ID: m.Name, Node: m.Name, Address: m.ConsulAddr !== "" ? m.ConsulAddr : m.HTTPAddr, Leader: m.Leader, ProtocolVersion: "3", Voter: m.Status === "alive" || m.Status === "failed", LastIndex: 0 }));
    const index = catalog.index();
    return { body: { Servers: servers, Index: index }, headers: consulHeaders(index) };
  });
  consulCoordinateRoutes(r, catalog, coordinates);
}


/**
 * Consul's `/v1/coordinate/nodes|node/:node|update`: the nodes' network coordinates, measured
 * on their heartbeats (`server.NodeCoordinates`), kept in the store. Without them (a listener
 * with no server), Consul's answer when they are disabled.
 */
function consulCoordinateRoutes(r: Router, catalog: CatalogReader, coordinates: NodeCoordinates | undefined): void {
  if (coordinates === undefined) {
    const disabled = (): Reply => text(401, "Coordinate support disabled");
    r.get("/v1/coordinate/nodes", disabled);
    r.get("/v1/coordinate/node/:node", disabled);
    r.put("/v1/coordinate/update", disabled);
    return;
  }
  const shown = (c: NodeCoordinate): Record<string, unknown> => ({ Node: c.Node, Segment: c.Segment, Coord: c.Coord });
  const read = async (req: Request, rows: () => NodeCoordinate[]): Promise<{ list: Record<string, unknown>[]; index: number }> => {
    const b = blockingParams(req.query);
    const index = Math.max(1, b === null ? coordinates.index() : await coordinates.wait(b.index, b.waitMs, req.signal));
    const list = consulFilter(req, rows().filter((c) => req.acl.prefix(AclPrefixKind.ConsulNode, c.Node, "read")).map(shown), (x) => x);
    return { list, index };
  };
  r.get("/v1/coordinate/nodes", async (req) => {
    const { list, index } = await read(req, () => coordinates.list());
    return { body: list, index, headers: consulHeaders(index) };
  });
  r.get("/v1/coordinate/node/:node", async (req) => {
    const { list, index } = await read(req, () => coordinates.list().filter((c) => c.Node === req.params.node));
    // Consul answers 404 (with the index) for a node without a coordinate.
    return list.length === 0 ? { status: 404, body: null, index, headers: consulHeaders(index) } : { body: list, index, headers: consulHeaders(index) };
  });
  r.put("/v1/coordinate/update", (req) => {
    const b = consulBody(req.body, COORDINATE_UPDATE) ?? {};
    const node = b.Node;
    if (typeof node !== "string" || node === "") return text(400, "Missing node name: the body needs Node and Coord");
    if (typeof b.Segment === "string" && b.Segment !== "") return text(400, `Segment "${b.Segment}": network segments are Consul Enterprise's; Ruche has one, ""`);
    if (!catalog.nodes().some((n) => n.Node === node)) return text(400, `Node "${node}" is not in the catalog: register it before its coordinate`);
    if (!req.acl.prefix(AclPrefixKind.ConsulNode, node, "write")) return text(403, `Permission denied: token lacks permission 'node:write' on "${node}"`);
    const problem = coordinates.queue(node, b.Coord);
    if (problem !== null) return text(400, problem);
    return { body: true };
  });
}
