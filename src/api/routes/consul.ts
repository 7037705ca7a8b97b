import { aggregate, FilterEvalError, filterErrorText, filterItems, NODE_CHECK, parseFilter, parseRegistration, waitPast, type CatalogNode, type CatalogReader, type HealthCheck, type HealthStatus, type ServiceInstance, type ServiceRegistry } from "../../catalog/index.js";
import { AclPrefixKind, ErrorCode, RucheError, sortByDistance, type Acl } from "../../structs/index.js";
import type { NodeCoordinates } from "../../server/index.js";
import { blockingParams, JsonText, type Reply, type Request, type Router } from "../http.js";
import { RenderCache } from "../render-cache.js";
import { CHECK_UPDATE, consulBody, SERVICE_DEFINITION } from "../consul-body.js";

export interface ConsulOptions {
  catalog: CatalogReader;
  /** The node of this agent, for /v1/agent/*: undefined when the agent runs no client. */
  localNode(): string | undefined;
  version: string;
  /** Services registered directly; absent where registration is not offered. */
  registry?: ServiceRegistry;
  /** Script checks from the API run any command the caller sends: off unless the agent enables them. */
  allowScriptChecks?: boolean;
  /** The nodes' network coordinates (the store's): `/v1/coordinate/*` and `?near=`; absent, they are not measured (Consul's `disable_coordinates`). */
  coordinates?: NodeCoordinates;
}

/**
 * The catalog and health endpoints of Consul's HTTP API, with Consul's field names, its
 * blocking queries (`?index=&wait=`, `X-Consul-Index`) and its errors, so that existing
 * Consul clients work unchanged. Served on the Consul port and under the main API.
 */
export function consulRoutes(r: Router, o: ConsulOptions): void {
  const { catalog } = o;
  const rendered = new RenderCache<JsonText>();
  /**
   * Runs a read as a Consul blocking query, and answers with Consul's headers. An answer is
   * a function of the catalog's index and the request's path and query: the blocking
   * queries one change wakes, asking the same thing, share one answer, made once.
   */
  const read = async (req: Request, body: () => unknown, indexOf: () => number = () => catalog.index()): Promise<Reply> => {
    // `?dc=` of another datacenter never comes here: the listener sends it there (`federation-forward.ts`).
    // Lists leave out what the token may not read: an answer is shared only by requests with the same ACL.
    // With `indexOf` (a service's), the query answers when what it watches changes, with its index; other changes only make it look again.
    const b = blockingParams(req.query);
    checkFilter(req);
    const index = Math.max(1, b === null ? indexOf() : await waitPast(indexOf, () => catalog.index(), b.index, b.waitMs, (since, ms) => catalog.wait(since, ms, req.signal)));
    // With `?near=`, the order follows the coordinates too: their index is part of what the answer is a function of.
    const near = req.query.has("near") && o.coordinates !== undefined ? ` near@${o.coordinates.index()}` : "";
    return { body: rendered.get(catalog.index(), `${aclKey(req.acl)} ${o.localNode() ?? ""} ${req.path}${near}`, req.query, () => new JsonText(JSON.stringify(body()))), index, headers: consulHeaders(index) };
  };
  /** A service's index (`CatalogReader.serviceIndex`), the catalog's where the reader has none. */
  const serviceIndex = (name: string) => (): number => catalog.serviceIndex?.(name) ?? catalog.index();
  /** `?filter=` on the answer's elements, each seen as it is answered (Consul's bexpr filters the same shapes). */
  const filtered = <T>(req: Request, list: readonly T[], view: (t: T) => unknown): T[] => consulFilter(req, list, view);
  const svcOk = (req: Request, name: string): boolean => req.acl.prefix(AclPrefixKind.Service, name, "read");
  /** Consul's `?near=NODE` (`_agent`: this agent's node): nearest first by estimated round trip; unsorted when that node has no coordinate. */
  const nearest = <T>(req: Request, list: T[], nodeOf: (t: T) => string): T[] => {
    const near = req.query.get("near");
    if (near === null || near === "" || o.coordinates === undefined) return list;
    const from = near === "_agent" ? catalog.nodes().find((n) => n.ID === o.localNode())?.Node : near;
    const coords = new Map(o.coordinates.list().map((c) => [c.Node, c.Coord]));
    return sortByDistance(list, from === undefined ? undefined : coords.get(from), nodeOf, coords);
  };
  const nodeOk = (req: Request, node: string): boolean => req.acl.prefix(AclPrefixKind.ConsulNode, node, "read");
  /** A check is read with its node's read, and its service's for a service check (Consul's filter). */
  const checkOk = (req: Request, c: HealthCheck): boolean => nodeOk(req, c.Node) && (c.ServiceName === "" || svcOk(req, c.ServiceName));
  const instanceOk = (req: Request, i: ServiceInstance): boolean => svcOk(req, i.Service) && nodeOk(req, i.node.Node);
  const tagged = (req: Request, list: ServiceInstance[]): ServiceInstance[] => {
    const tags = req.query.getAll("tag");
    return tags.length === 0 ? list : list.filter((i) => tags.every((t) => i.Tags.includes(t)));
  };

  r.get("/v1/catalog/services", (req) =>
    read(req, () => {
      // A filter keeps the services one of whose instances (as a ServiceNode) passes it, with those instances' tags.
      if (!req.query.has("filter")) return Object.fromEntries(Object.entries(catalog.services()).filter(([name]) => svcOk(req, name)));
      const out: Record<string, string[]> = {};
      for (const i of filtered(req, allInstances(catalog), catalogService)) if (svcOk(req, i.Service)) out[i.Service] = [...new Set([...(out[i.Service] ?? []), ...i.Tags])];
      return out;
    }),
  );
  r.get("/v1/catalog/service/:name", (req) => read(req, () => nearest(req, filtered(req, tagged(req, catalog.instances(req.params.name ?? "")).filter((i) => instanceOk(req, i)), catalogService), (i) => i.node.Node).map(catalogService), serviceIndex(req.params.name ?? "")));
  r.get("/v1/catalog/nodes", (req) => read(req, () => nearest(req, filtered(req, catalog.nodes().filter((n) => nodeOk(req, n.Node)), nodeJson), (n) => n.Node).map(nodeJson)));
  const nodeNamed = (name: string): CatalogNode | undefined => catalog.nodes().find((x) => x.Node === name || (x.ID !== "" && x.ID === name));
  const nodeServices = (req: Request, n: CatalogNode): ServiceInstance[] => filtered(req, allInstances(catalog).filter((i) => i.node.Node === n.Node && svcOk(req, i.Service)), agentService);
  r.get("/v1/catalog/node/:node", (req) =>
    read(req, () => {
      const n = nodeNamed(req.params.node ?? "");
      if (n === undefined) return null;
      return { Node: nodeJson(n), Services: Object.fromEntries(nodeServices(req, n).map((i) => [i.ID, agentService(i)])) };
    }),
  );
  // Consul 1.7's list form of a node's services: null for an unknown node, as Consul answers.
  r.get("/v1/catalog/node-services/:node", (req) =>
    read(req, () => {
      const n = nodeNamed(req.params.node ?? "");
      if (n === undefined) return null;
      return { Node: nodeJson(n), Services: nodeServices(req, n).map(agentService) };
    }),
  );
  r.get("/v1/health/service/:name", (req) =>
    read(req, () => {
      let list = tagged(req, catalog.instances(req.params.name ?? "")).filter((i) => instanceOk(req, i));
      if (req.query.has("passing") && req.query.get("passing") !== "false") list = list.filter((i) => aggregate(i.checks) === "passing");
      return filtered(req, nearest(req, list, (i) => i.node.Node).map((i) => ({ Node: nodeJson(i.node), Service: agentService(i), Checks: i.checks })), (x) => x);
    }, serviceIndex(req.params.name ?? "")),
  );
  r.get("/v1/health/checks/:name", (req) => read(req, () => filtered(req, catalog.instances(req.params.name ?? "").flatMap((i) => i.checks.filter((c) => c.ServiceID !== "" && checkOk(req, c))), (c) => c), serviceIndex(req.params.name ?? "")));
  r.get("/v1/health/node/:node", (req) => read(req, () => filtered(req, allChecks(catalog).filter((c) => c.Node === req.params.node && checkOk(req, c)), (c) => c)));
  r.get("/v1/health/state/:state", (req) => {
    const state = req.params.state ?? "";
    if (!["any", "passing", "warning", "critical"].includes(state)) throw new RucheError(ErrorCode.BadRequest, `Invalid state "${state}": any, passing, warning or critical`, { path: "state" });
    return read(req, () => filtered(req, allChecks(catalog).filter((c) => (state === "any" || c.Status === state) && checkOk(req, c)), (c) => c));
  });
  r.get("/v1/agent/services", (req) =>
    read(req, () => {
      const mine = allInstances(catalog).filter((i) => i.node.ID === o.localNode() && svcOk(req, i.Service));
      return Object.fromEntries(filtered(req, mine, (i) => localService(i, catalog.datacenter())).map((i) => [i.ID, localService(i, catalog.datacenter())]));
    }),
  );
  r.get("/v1/agent/checks", (req) =>
    read(req, () => {
      const local = catalog.nodes().find((n) => n.ID === o.localNode())?.Node;
      // The agent's checks: its services' and its node's own (node-level checks, maintenance), not serfHealth, which is the cluster's.
      const mine = allChecks(catalog).filter((c) => c.Node === local && c.CheckID !== NODE_CHECK.CheckID && checkOk(req, c));
      const out: Record<string, HealthCheck> = {};
      for (const c of filtered(req, mine, (x) => x)) out[c.CheckID] = c;
      return out;
    }),
  );
  r.get("/v1/agent/self", () => {
    const n = catalog.nodes().find((x) => x.ID === o.localNode());
    return {
      body: {
        Config: { Datacenter: catalog.datacenter(), NodeName: n?.Node ?? "", NodeID: o.localNode() ?? "", Server: true, Version: o.version, Revision: "ruche" },
        Member: { Name: n?.Node ?? "", Addr: n?.Address ?? "", Port: 8301, Tags: { dc: catalog.datacenter(), role: "consul" }, Status: 1 },
      },
    };
  });

  const registry = o.registry;
  if (registry === undefined) return;
  // The node of the agent asked: a write a follower forwarded acts on the follower's.
  const self = (req: Request): string => agentNodeOf(req, () => o.localNode()) ?? "";
  r.put("/v1/agent/service/register", async (req) => {
    // Keys in any case and Consul's snake_case aliases (`enable_tag_override`, a check's `deregister_critical_service_after`), as Consul's decoder reads them.
    const parsed = parseRegistration(consulBody(req.body, SERVICE_DEFINITION) ?? null, { nodeId: self(req), now: Date.now(), allowScriptChecks: o.allowScriptChecks === true });
    if (!parsed.ok) return { status: 400, body: `Invalid service registration: ${parsed.errors.join("; ")}`, headers: { "content-type": "text/plain; charset=utf-8" } };
    await registry.register(parsed.service);
    return { body: null };
  });
  r.put("/v1/agent/service/deregister/:id", async (req) => {
    const id = req.params.id ?? "";
    if (!(await registry.deregister(self(req), id))) return { status: 404, body: `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`, headers: { "content-type": "text/plain; charset=utf-8" } };
    return { body: null };
  });
  const ttl = (status: HealthStatus) => async (req: Request): Promise<Reply> => {
    await checkUpdate(registry, self(req), req.params.id ?? "", status, req.query.get("note") ?? "");
    return { body: null };
  };
  r.put("/v1/agent/check/pass/:id", ttl("passing"));
  r.put("/v1/agent/check/warn/:id", ttl("warning"));
  r.put("/v1/agent/check/fail/:id", ttl("critical"));
  r.put("/v1/agent/check/update/:id", async (req) => {
    const b = consulBody(req.body, CHECK_UPDATE) ?? {};
    // Consul's words for a status that is none of the three (its `AgentCheckUpdate`).
    if (b.Status !== "passing" && b.Status !== "warning" && b.Status !== "critical") return { status: 400, body: `Invalid check status: '${typeof b.Status === "string" ? b.Status : ""}'`, headers: { "content-type": "text/plain; charset=utf-8" } };
    await checkUpdate(registry, self(req), req.params.id ?? "", b.Status, typeof b.Output === "string" ? b.Output : "");
    return { body: null };
  });
}

/**
 * The node an agent endpoint acts on: the agent's own (`localNode`), or for a write another
 * server forwarded, that server's (`Request.receivedBy`: none when it runs none).
 */
export function agentNodeOf(req: Request, localNode: () => string | undefined): string | undefined {
  const by = req.receivedBy;
  if (by === undefined) return localNode();
  if (by.missing === true) throw new RucheError(ErrorCode.Unavailable, `this write was forwarded by ${by.server} for its node ${by.node}, which is not in the state (its agent is registering it, or it was purged): nothing was written; try again`);
  return by.node === "" ? undefined : by.node;
}

/** Which ACL an answer was made for: "" for one that may read everything, else a number per compiled ACL (the resolver keeps one per token version). */
const aclIds = new WeakMap<Acl, number>();
let nextAclId = 1;
function aclKey(acl: Acl): string {
  if (acl.management) return "";
  let id = aclIds.get(acl);
  if (id === undefined) {
    id = nextAclId++;
    aclIds.set(acl, id);
  }
  return `acl${id}`;
}

/** Refuses a `?filter=` that does not parse, before the request waits: 400 saying where, in go-bexpr's words. */
function checkFilter(req: Request): void {
  const text = req.query.get("filter");
  if (text === null || text.trim() === "") return;
  const p = parseFilter(text);
  if (!p.ok) throw new RucheError(ErrorCode.BadRequest, `Failed to create result filter: ${filterErrorText(p.error)}`, { path: "filter" });
}

/** The elements of an answer that pass the request's `?filter=` (all without one); a match the filter cannot make is 400. */
export function consulFilter<T>(req: Request, list: readonly T[], view: (t: T) => unknown): T[] {
  try {
    return filterItems(req.query.get("filter"), list, view);
  } catch (err) {
    if (err instanceof FilterEvalError) throw new RucheError(ErrorCode.BadRequest, err.message, { path: "filter" });
    throw err;
  }
}

/** Sets a check's status: an unknown check is the registry's 404; any other failure is ours (500). */
async function checkUpdate(registry: ServiceRegistry, node: string, id: string, status: HealthStatus, output: string): Promise<void> {
  await registry.setCheck(node, id, status, output);
}

/**
 * The index Consul answers every read with, never 0. Its `X-Consul-KnownLeader` and
 * `X-Consul-LastContact` are set on every read by the listener (`cluster-headers.ts`).
 */
export function consulHeaders(index: number): Record<string, string> {
  return { "x-consul-index": String(Math.max(1, index)) };
}

export function allInstances(catalog: CatalogReader): ServiceInstance[] {
  return Object.keys(catalog.services()).flatMap((s) => catalog.instances(s));
}

/** Every node's health check, then every instance's own checks. */
export function allChecks(catalog: CatalogReader): HealthCheck[] {
  // The catalog's own list has the checks of nodes that run no service too (their serfHealth, node-level checks).
  const listed = catalog.checks?.();
  if (listed !== undefined) return listed;
  const seen = new Set<string>();
  const out: HealthCheck[] = [];
  for (const i of allInstances(catalog)) {
    for (const c of i.checks) {
      const key = `${c.Node}/${c.CheckID}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(c);
    }
  }
  return out;
}

/** A node as Consul's catalog and health endpoints show it. */
export function nodeJson(n: CatalogNode): Record<string, unknown> {
  return { ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, TaggedAddresses: n.TaggedAddresses ?? { lan: n.Address, wan: n.Address }, Meta: n.Meta, CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex };
}

/** Consul's defaults where a registration set none. */
const DEFAULT_WEIGHTS = { Passing: 1, Warning: 1 } as const;
/** An empty `structs.ConnectProxyConfig`, as Consul's catalog and health answers carry one on every service. */
const NO_PROXY = { Mode: "", MeshGateway: {}, Expose: {} } as const;

/** An instance as Consul's health endpoint and catalog node show it (`structs.NodeService`: `Service` of a health entry). */
export function agentService(i: ServiceInstance): Record<string, unknown> {
  const d = i.details;
  return {
    ID: i.ID,
    Service: i.Service,
    Tags: i.Tags,
    Address: i.Address,
    ...(d?.TaggedAddresses === undefined ? {} : { TaggedAddresses: d.TaggedAddresses }),
    Meta: i.Meta,
    Port: i.Port,
    Weights: d?.Weights ?? DEFAULT_WEIGHTS,
    EnableTagOverride: d?.EnableTagOverride === true,
    Kind: d?.Kind ?? "",
    Proxy: d?.Proxy ?? NO_PROXY,
    Connect: {},
    CreateIndex: i.CreateIndex,
    ModifyIndex: i.ModifyIndex,
  };
}

/** An instance as the agent's own endpoints show it (`api.AgentService`: Kind and Proxy only when set, the agent's Datacenter). */
export function localService(i: ServiceInstance, datacenter: string): Record<string, unknown> {
  const d = i.details;
  return {
    ...(d?.Kind === undefined ? {} : { Kind: d.Kind }),
    ID: i.ID,
    Service: i.Service,
    Tags: i.Tags,
    Meta: i.Meta,
    Port: i.Port,
    Address: i.Address,
    ...(d?.TaggedAddresses === undefined ? {} : { TaggedAddresses: d.TaggedAddresses }),
    Weights: d?.Weights ?? DEFAULT_WEIGHTS,
    EnableTagOverride: d?.EnableTagOverride === true,
    ...(d?.Proxy === undefined ? {} : { Proxy: d.Proxy }),
    Datacenter: datacenter,
  };
}

export function catalogService(i: ServiceInstance): Record<string, unknown> {
  return {
    ID: i.node.ID,
    Node: i.node.Node,
    Address: i.node.Address,
    Datacenter: i.node.Datacenter,
    TaggedAddresses: i.node.TaggedAddresses ?? { lan: i.node.Address, wan: i.node.Address },
    NodeMeta: i.node.Meta,
    ServiceKind: i.details?.Kind ?? "",
    ServiceID: i.ID,
    ServiceName: i.Service,
    ServiceTags: i.Tags,
    ServiceAddress: i.Address,
    ServicePort: i.Port,
    ServiceMeta: i.Meta,
    ...(i.details?.TaggedAddresses === undefined ? {} : { ServiceTaggedAddresses: i.details.TaggedAddresses }),
    ServiceWeights: i.details?.Weights ?? DEFAULT_WEIGHTS,
    ServiceEnableTagOverride: i.details?.EnableTagOverride === true,
    ServiceProxy: i.details?.Proxy ?? NO_PROXY,
    CreateIndex: i.CreateIndex,
    ModifyIndex: i.ModifyIndex,
  };
}
