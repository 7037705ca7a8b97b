import { aggregate, parseRegistration, type CatalogNode, type CatalogReader, type HealthCheck, type HealthStatus, type ServiceInstance, type ServiceRegistry } from "../../catalog/index.js";
import { AclPrefixKind, ErrorCode, RucheError, type Acl } from "../../structs/index.js";
import { blockingParams, JsonText, type Reply, type Request, type Router } from "../http.js";
import { RenderCache } from "../render-cache.js";

export interface ConsulOptions {
  catalog: CatalogReader;
  /** The node of this agent, for /v1/agent/*: undefined when the agent runs no client. */
  localNode(): string | undefined;
  version: string;
  /** Services registered directly; absent where registration is not offered. */
  registry?: ServiceRegistry;
  /** Script checks from the API run any command the caller sends: off unless the agent enables them. */
  allowScriptChecks?: boolean;
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
  const read = async (req: Request, body: () => unknown): Promise<Reply> => {
    // `?dc=` of another datacenter never comes here: the listener sends it there (`federation-forward.ts`).
    // Lists leave out what the token may not read: an answer is shared only by requests with the same ACL.
    const b = blockingParams(req.query);
    const index = b === null ? catalog.index() : await catalog.wait(b.index, b.waitMs, req.signal);
    return { body: rendered.get(catalog.index(), `${aclKey(req.acl)} ${o.localNode() ?? ""} ${req.path}`, req.query, () => new JsonText(JSON.stringify(body()))), index, headers: consulHeaders(index) };
  };
  const svcOk = (req: Request, name: string): boolean => req.acl.prefix(AclPrefixKind.Service, name, "read");
  const nodeOk = (req: Request, node: string): boolean => req.acl.prefix(AclPrefixKind.ConsulNode, node, "read");
  /** A check is read with its node's read, and its service's for a service check (Consul's filter). */
  const checkOk = (req: Request, c: HealthCheck): boolean => nodeOk(req, c.Node) && (c.ServiceName === "" || svcOk(req, c.ServiceName));
  const instanceOk = (req: Request, i: ServiceInstance): boolean => svcOk(req, i.Service) && nodeOk(req, i.node.Node);
  const tagged = (req: Request, list: ServiceInstance[]): ServiceInstance[] => {
    const tags = req.query.getAll("tag");
    return tags.length === 0 ? list : list.filter((i) => tags.every((t) => i.Tags.includes(t)));
  };

  r.get("/v1/catalog/services", (req) => read(req, () => Object.fromEntries(Object.entries(catalog.services()).filter(([name]) => svcOk(req, name)))));
  r.get("/v1/catalog/service/:name", (req) => read(req, () => tagged(req, catalog.instances(req.params.name ?? "")).filter((i) => instanceOk(req, i)).map(catalogService)));
  r.get("/v1/catalog/nodes", (req) => read(req, () => catalog.nodes().filter((n) => nodeOk(req, n.Node)).map(nodeJson)));
  r.get("/v1/catalog/node/:node", (req) =>
    read(req, () => {
      const n = catalog.nodes().find((x) => x.Node === req.params.node || x.ID === req.params.node);
      if (n === undefined) return null;
      const services: Record<string, unknown> = {};
      for (const i of allInstances(catalog)) if (i.node.ID === n.ID && svcOk(req, i.Service)) services[i.ID] = agentService(i);
      return { Node: nodeJson(n), Services: services };
    }),
  );
  r.get("/v1/health/service/:name", (req) =>
    read(req, () => {
      let list = tagged(req, catalog.instances(req.params.name ?? "")).filter((i) => instanceOk(req, i));
      if (req.query.has("passing") && req.query.get("passing") !== "false") list = list.filter((i) => aggregate(i.checks) === "passing");
      return list.map((i) => ({ Node: nodeJson(i.node), Service: agentService(i), Checks: i.checks }));
    }),
  );
  r.get("/v1/health/checks/:name", (req) => read(req, () => catalog.instances(req.params.name ?? "").flatMap((i) => i.checks.filter((c) => c.ServiceID !== "" && checkOk(req, c)))));
  r.get("/v1/health/node/:node", (req) => read(req, () => allChecks(catalog).filter((c) => c.Node === req.params.node && checkOk(req, c))));
  r.get("/v1/health/state/:state", (req) => {
    const state = req.params.state ?? "";
    if (!["any", "passing", "warning", "critical"].includes(state)) throw new RucheError(ErrorCode.BadRequest, `Invalid state "${state}": any, passing, warning or critical`, { path: "state" });
    return read(req, () => allChecks(catalog).filter((c) => (state === "any" || c.Status === state) && checkOk(req, c)));
  });
  r.get("/v1/agent/services", (req) =>
    read(req, () => {
      const out: Record<string, unknown> = {};
      for (const i of allInstances(catalog)) if (i.node.ID === o.localNode() && svcOk(req, i.Service)) out[i.ID] = { ...agentService(i), Datacenter: catalog.datacenter() };
      return out;
    }),
  );
  r.get("/v1/agent/checks", (req) =>
    read(req, () => {
      const out: Record<string, HealthCheck> = {};
      for (const c of allChecks(catalog)) if (c.ServiceID !== "" && catalog.nodes().find((n) => n.Node === c.Node)?.ID === o.localNode() && checkOk(req, c)) out[c.CheckID] = c;
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
  const self = (): string => o.localNode() ?? "";
  r.put("/v1/agent/service/register", async (req) => {
    const parsed = parseRegistration(req.body, { nodeId: self(), now: Date.now(), allowScriptChecks: o.allowScriptChecks === true });
    if (!parsed.ok) return { status: 400, body: `Invalid service registration: ${parsed.errors.join("; ")}`, headers: { "content-type": "text/plain; charset=utf-8" } };
    await registry.register(parsed.service);
    return { body: null };
  });
  r.put("/v1/agent/service/deregister/:id", async (req) => {
    const id = req.params.id ?? "";
    if (!(await registry.deregister(self(), id))) return { status: 404, body: `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`, headers: { "content-type": "text/plain; charset=utf-8" } };
    return { body: null };
  });
  const ttl = (status: HealthStatus) => async (req: Request): Promise<Reply> => {
    await checkUpdate(registry, self(), req.params.id ?? "", status, req.query.get("note") ?? "");
    return { body: null };
  };
  r.put("/v1/agent/check/pass/:id", ttl("passing"));
  r.put("/v1/agent/check/warn/:id", ttl("warning"));
  r.put("/v1/agent/check/fail/:id", ttl("critical"));
  r.put("/v1/agent/check/update/:id", async (req) => {
    const b = (req.body ?? {}) as { Status?: unknown; Output?: unknown };
    if (b.Status !== "passing" && b.Status !== "warning" && b.Status !== "critical") throw new RucheError(ErrorCode.BadRequest, "Status must be passing, warning or critical", { path: "Status" });
    await checkUpdate(registry, self(), req.params.id ?? "", b.Status, typeof b.Output === "string" ? b.Output : "");
    return { body: null };
  });
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

function allInstances(catalog: CatalogReader): ServiceInstance[] {
  return Object.keys(catalog.services()).flatMap((s) => catalog.instances(s));
}

/** Every node's health check, then every instance's own checks. */
function allChecks(catalog: CatalogReader): HealthCheck[] {
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
  return { ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, TaggedAddresses: { lan: n.Address, wan: n.Address }, Meta: n.Meta, CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex };
}

/** An instance as Consul's health endpoint and agent show it (`Service` of a health entry). */
export function agentService(i: ServiceInstance): Record<string, unknown> {
  return { ID: i.ID, Service: i.Service, Tags: i.Tags, Address: i.Address, Meta: i.Meta, Port: i.Port, Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, CreateIndex: i.CreateIndex, ModifyIndex: i.ModifyIndex };
}

function catalogService(i: ServiceInstance): Record<string, unknown> {
  return {
    ID: i.node.ID,
    Node: i.node.Node,
    Address: i.node.Address,
    Datacenter: i.node.Datacenter,
    TaggedAddresses: { lan: i.node.Address, wan: i.node.Address },
    NodeMeta: i.node.Meta,
    ServiceKind: "",
    ServiceID: i.ID,
    ServiceName: i.Service,
    ServiceTags: i.Tags,
    ServiceAddress: i.Address,
    ServicePort: i.Port,
    ServiceMeta: i.Meta,
    ServiceWeights: { Passing: 1, Warning: 1 },
    ServiceEnableTagOverride: false,
    CreateIndex: i.CreateIndex,
    ModifyIndex: i.ModifyIndex,
  };
}
