import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failoverOrder, KVService, LockDelays, parseRegistration, PreparedQueries, serviceQueryMatches, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { loadAclPolicyParser, parseAclPolicy } from "../jobspec/index.js";
import { Server, type ClusterView, type Federation, type FederationMember, type ServerInfo } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { compileAcl, mock, silentLogger, type Acl } from "../structs/index.js";
import { Router, startHttp, type RunningHttp } from "./http.js";
import { startConsulApi, type CatalogApi } from "./index.js";
import { QueryExecutor, type QueryExecuteResponse } from "./prepared-query.js";
import { queryRoutes } from "./routes/query.js";

/**
 * Three datacenters of one server each, real HTTP on 127.0.0.1 over their own stores:
 * europe-west1 (where the queries are asked), asia-east1 (20 ms away) and us-west-2 (50 ms),
 * each told of the others by a federation built here, as `federation-forward.test.ts` does.
 */
interface Dc {
  info: ServerInfo;
  status: FederationMember["Status"];
  store: StateStore;
  registry: ServiceRegistry;
  consul: RunningHttp;
  node: string;
}

const dcs: Record<string, Dc> = {};
const RTT: Record<string, number> = { "europe-west1": 0, "asia-east1": 20, "us-west-2": 50 };
const closers: (() => Promise<void>)[] = [];

function federationOf(self: string): Federation {
  const all = (): FederationMember[] => Object.values(dcs).map((d) => ({ ...d.info, Status: d.status, Leader: true, ...(d.info.Name === self ? {} : { RTT: RTT[d.info.Datacenter] ?? 0 }) }));
  const others = (): FederationMember[] => all().filter((m) => m.Name !== self);
  return {
    regions: () => [...new Set(all().map((m) => m.Region))].sort(),
    datacenters: () => [...new Set(all().map((m) => m.Datacenter))].sort(),
    members: all,
    serverIn: (region) => others().find((m) => m.Region === region && m.Status === "alive"),
    serverInDatacenter: (dc) => others().find((m) => m.Datacenter === dc && m.Status === "alive"),
  };
}

function viewOf(info: ServerInfo): ClusterView {
  return {
    get self() {
      return info;
    },
    isLeader: () => true,
    leader: () => info,
    members: () => [{ ...info, Status: "alive" as const, Leader: true }],
    lastContact: () => 0,
    barrier: () => Promise.resolve(),
    forceLeave: () => Promise.resolve(),
    etcdMembers: () => Promise.resolve(null),
    etcdRemove: () => Promise.resolve(),
  };
}

async function startDc(name: string, region: string, dc: string): Promise<void> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  server.start();
  const node = mock.node({ name: `${dc}-node`, datacenter: dc, meta: { rack: "r1" } });
  await store.write((tx) => {
    tx.put("nodes", node);
  });
  const info: ServerInfo = { Name: name, Region: region, Datacenter: dc, HTTPAddr: "", ConsulAddr: "", Build: "0.15.0", EtcdMember: "" };
  const cluster = viewOf(info);
  const federation = federationOf(name);
  const catalog = new StoreCatalog(store, dc);
  const queries = new QueryExecutor({ queries: new PreparedQueries(store), catalog, federation, cluster, localNode: () => node.ID, log: silentLogger });
  const registry = new ServiceRegistry(store, Date.now);
  const consul: CatalogApi = { catalog, localNode: () => node.ID, version: "1.17.0", registry, allowScriptChecks: false, kv: new KVService(store, { now: Date.now, delays: new LockDelays() }), queries };
  const consulApi = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul, cluster, federation });
  info.ConsulAddr = consulApi.address;
  info.HTTPAddr = consulApi.address;
  dcs[dc] = { info, status: "alive", store, registry, consul: consulApi, node: node.ID };
  closers.push(async () => {
    await consulApi.close();
    await server.stop();
    await store.close();
  });
}

function dc(name: string): Dc {
  const d = dcs[name];
  if (d === undefined) throw new Error(`no datacenter ${name}`);
  return d;
}

/** Registers an instance of `service` on the datacenter's node, with a TTL check in `status`. */
async function instance(where: string, id: string, service: string, o: { tags?: string[]; meta?: Record<string, string>; status?: "passing" | "warning" | "critical"; port?: number } = {}): Promise<void> {
  const d = dc(where);
  const parsed = parseRegistration({ ID: id, Name: service, Tags: o.tags ?? [], Meta: o.meta ?? {}, Port: o.port ?? 8080, Address: "10.1.0.1", Check: { CheckID: `${id}-ttl`, TTL: "1h" } }, { nodeId: d.node, now: Date.now(), allowScriptChecks: false });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  await d.registry.register(parsed.service);
  await d.registry.setCheck(d.node, `${id}-ttl`, o.status ?? "passing", "");
}

async function call(where: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: unknown; headers: Headers }> {
  const res = await fetch(`http://${dc(where).info.ConsulAddr}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // Consul's errors are plain text.
  }
  return { status: res.status, text, json, headers: res.headers };
}

async function create(where: string, body: unknown): Promise<string> {
  const r = await call(where, "POST", "/v1/query", body);
  expect(r.status, r.text).toBe(200);
  return (r.json as { ID: string }).ID;
}

async function execute(where: string, name: string, query = ""): Promise<QueryExecuteResponse> {
  const r = await call(where, "GET", `/v1/query/${name}/execute${query}`);
  expect(r.status, r.text).toBe(200);
  return r.json as QueryExecuteResponse;
}

beforeAll(async () => {
  await startDc("eu-1", "europe", "europe-west1");
  await startDc("asia-1", "asia", "asia-east1");
  await startDc("us-1", "us", "us-west-2");
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe("prepared queries: create, read, update, delete (Consul's shapes)", () => {
  it("creates a query and answers its ID; reads it back in Consul's PreparedQuery shape, listed and by ID", async () => {
    const id = await create("europe-west1", { Name: "shape", Service: { Service: "shape-svc", Failover: { NearestN: 2, Datacenters: ["us-west-2"] }, OnlyPassing: true, Tags: ["v2", "!canary"] }, DNS: { TTL: "10s" } });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const got = await call("europe-west1", "GET", `/v1/query/${id}`);
    expect(Number(got.headers.get("x-consul-index"))).toBeGreaterThan(0);
    expect(got.json).toEqual([
      {
        ID: id,
        Name: "shape",
        Session: "",
        Token: "",
        Template: { Type: "", Regexp: "", RemoveEmptyTags: false },
        Service: { Service: "shape-svc", Near: "", Failover: { NearestN: 2, Datacenters: ["us-west-2"] }, IgnoreCheckIDs: null, OnlyPassing: true, Tags: ["v2", "!canary"], NodeMeta: null, ServiceMeta: null, Connect: false },
        DNS: { TTL: "10s" },
        CreateIndex: expect.any(Number) as number,
        ModifyIndex: expect.any(Number) as number,
      },
    ]);
    expect((await call("europe-west1", "GET", "/v1/query")).json).toEqual(expect.arrayContaining([expect.objectContaining({ ID: id, Name: "shape" })]));
    // Field names in any case, as Go's decoder reads them (python-consul sends them in lower case); map keys as sent.
    const lower = await create("europe-west1", { name: "lower", service: { service: "lower-svc", failover: { nearestn: 1 }, onlypassing: true, nodemeta: { Rack: "r1" } }, dns: { ttl: "5s" } });
    expect((await call("europe-west1", "GET", `/v1/query/${lower}`)).json).toMatchObject([{ Name: "lower", Service: { Service: "lower-svc", Failover: { NearestN: 1 }, OnlyPassing: true, NodeMeta: { Rack: "r1" } }, DNS: { TTL: "5s" } }]);
    await call("europe-west1", "DELETE", `/v1/query/${lower}`);

    // PUT replaces it whole; DELETE removes it, and it is not found any more.
    const put = await call("europe-west1", "PUT", `/v1/query/${id}`, { Name: "shape", Service: { Service: "other-svc" } });
    expect(put.status, put.text).toBe(200);
    expect((await call("europe-west1", "GET", `/v1/query/${id}`)).json).toMatchObject([{ Service: { Service: "other-svc", OnlyPassing: false, Tags: null }, DNS: { TTL: "" } }]);
    expect((await call("europe-west1", "DELETE", `/v1/query/${id}`)).status).toBe(200);
    const gone = await call("europe-west1", "GET", `/v1/query/${id}`);
    expect([gone.status, gone.text]).toEqual([404, "Query not found"]);
    expect((await call("europe-west1", "GET", "/v1/query/nope/execute")).text).toBe("Query not found");
  });

  it("refuses what Consul refuses, in its words, and what Ruche does not have, by name", async () => {
    const refused = async (body: unknown): Promise<string> => {
      const r = await call("europe-west1", "POST", "/v1/query", body);
      expect(r.status).toBe(400);
      return r.text;
    };
    expect(await refused({ Service: { Service: "x" } })).toBe("Invalid prepared query: Must be bound to a session");
    expect(await refused({ Name: "n" })).toBe("Invalid prepared query: Must provide a Service name to query");
    expect(await refused({ Name: "n", Service: { Service: "x", Failover: { NearestN: -1 } } })).toBe("Invalid prepared query: Bad NearestN '-1', must be >= 0");
    expect(await refused({ Name: "n", Service: { Service: "x" }, DNS: { TTL: "soon" } })).toMatch(/^Invalid prepared query: Bad DNS TTL 'soon'/);
    expect(await refused({ Name: "n", Service: { Service: "x", Failover: { Targets: [{ Peer: "p" }] } } })).toMatch(/Service\.Failover\.Targets: failover targets \(cluster peers\) are not offered by Ruche/);
    expect(await refused({ Name: "n", Service: { Service: "x", Connect: true } })).toMatch(/Service\.Connect: Ruche has no service mesh/);
    expect(await refused({ Name: "n", Service: { Service: "x", Tags: "v1" } })).toBe("Request decode failed: Service.Tags: must be a list of strings");
    expect(await refused({ Name: "n", Session: "4f1c0ea5-6d42-4c37-9d4a-8a8a8a8a8a8a", Service: { Service: "x" } })).toBe('invalid session "4f1c0ea5-6d42-4c37-9d4a-8a8a8a8a8a8a"');
    const id = await create("europe-west1", { Name: "taken", Service: { Service: "x" } });
    expect(await refused({ Name: "taken", Service: { Service: "y" } })).toBe("name 'taken' aliases an existing query name");
    expect(await refused({ Name: id, Service: { Service: "y" } })).toBe(`name '${id}' aliases an existing query ID`);
    expect(await refused({ Template: { Type: "name_prefix_match", Regexp: "(" }, Service: { Service: "x" } })).toMatch(/^Invalid prepared query: Bad Regexp/);
    const missing = await call("europe-west1", "PUT", "/v1/query/4f1c0ea5-6d42-4c37-9d4a-000000000000", { Name: "n", Service: { Service: "x" } });
    expect([missing.status, missing.text]).toEqual([404, "Cannot modify non-existent prepared query: '4f1c0ea5-6d42-4c37-9d4a-000000000000'"]);
    await call("europe-west1", "DELETE", `/v1/query/${id}`);
  });

  it("deletes a query bound to a session when the session ends", async () => {
    const s = await call("europe-west1", "PUT", "/v1/session/create", { Name: "holder", Checks: [] });
    const session = (s.json as { ID: string }).ID;
    const id = await create("europe-west1", { Session: session, Service: { Service: "x" } });
    expect((await call("europe-west1", "GET", `/v1/query/${id}`)).status).toBe(200);
    expect((await call("europe-west1", "PUT", `/v1/session/destroy/${session}`)).status).toBe(200);
    expect((await call("europe-west1", "GET", `/v1/query/${id}`)).status).toBe(404);
  });
});

describe("prepared queries: execute here", () => {
  it("answers the healthy instances as /v1/health/service does, filtered by tags (and !tags), OnlyPassing, IgnoreCheckIDs and meta; ?limit cuts", async () => {
    await instance("europe-west1", "api-1", "api", { tags: ["v2"], meta: { env: "prod" } });
    await instance("europe-west1", "api-2", "api", { tags: ["v2", "canary"], meta: { env: "prod" } });
    await instance("europe-west1", "api-3", "api", { tags: ["V2"], status: "warning", meta: { env: "dev" } });
    await instance("europe-west1", "api-4", "api", { tags: ["v2"], status: "critical" });
    await create("europe-west1", { Name: "api-any", Service: { Service: "api" } });
    await create("europe-west1", { Name: "api-stable", Service: { Service: "api", Tags: ["v2", "!canary"], OnlyPassing: true } });
    await create("europe-west1", { Name: "api-prod", Service: { Service: "api", ServiceMeta: { env: "prod" }, NodeMeta: { rack: "r1" } } });
    await create("europe-west1", { Name: "api-ignore", Service: { Service: "api", IgnoreCheckIDs: ["api-4-ttl"] } });

    const any = await execute("europe-west1", "api-any");
    expect(any).toMatchObject({ Service: "api", Datacenter: "europe-west1", Failovers: 0, DNS: { TTL: "" } });
    expect(any.Nodes.map((n) => n.Service.ID).sort()).toEqual(["api-1", "api-2", "api-3"]);
    const health = (await call("europe-west1", "GET", "/v1/health/service/api")).json as { Service: { ID: string } }[];
    expect(any.Nodes.find((n) => n.Service.ID === "api-1")).toEqual(health.find((h) => h.Service.ID === "api-1"));
    expect((await execute("europe-west1", "api-stable")).Nodes.map((n) => n.Service.ID)).toEqual(["api-1"]);
    expect((await execute("europe-west1", "api-prod")).Nodes.map((n) => n.Service.ID).sort()).toEqual(["api-1", "api-2"]);
    expect((await execute("europe-west1", "api-ignore")).Nodes.map((n) => n.Service.ID).sort()).toEqual(["api-1", "api-2", "api-3", "api-4"]);
    expect((await execute("europe-west1", "api-any", "?limit=2")).Nodes).toHaveLength(2);
    expect((await call("europe-west1", "GET", "/v1/query/api-any/execute?limit=two")).status).toBe(400);
    // By ID as by name; explain shows the query.
    const list = (await call("europe-west1", "GET", "/v1/query")).json as { ID: string; Name: string }[];
    const byId = list.find((q) => q.Name === "api-stable")?.ID ?? "";
    expect((await execute("europe-west1", byId)).Nodes.map((n) => n.Service.ID)).toEqual(["api-1"]);
    expect((await call("europe-west1", "GET", "/v1/query/api-stable/explain")).json).toMatchObject({ Query: { ID: byId, Name: "api-stable", Service: { Tags: ["v2", "!canary"] } } });
  });

  it("renders a name_prefix_match template for the name asked: ${name.suffix} and ${match(N)}, the longest prefix winning", async () => {
    await instance("europe-west1", "geo-1", "geo-db", { tags: ["primary"] });
    await instance("europe-west1", "geo-2", "geo-db", { tags: ["replica"] });
    await create("europe-west1", { Name: "geo-", Template: { Type: "name_prefix_match" }, Service: { Service: "${name.suffix}" } });
    await create("europe-west1", { Name: "geo-db-", Template: { Type: "name_prefix_match", Regexp: "^geo-db-(.*)$", RemoveEmptyTags: true }, Service: { Service: "geo-db", Tags: ["${match(1)}"] } });
    expect((await execute("europe-west1", "geo-geo-db")).Nodes.map((n) => n.Service.ID).sort()).toEqual(["geo-1", "geo-2"]);
    expect((await execute("europe-west1", "geo-db-replica")).Nodes.map((n) => n.Service.ID)).toEqual(["geo-2"]);
    expect((await call("europe-west1", "GET", "/v1/query/geo-db-primary/explain")).json).toMatchObject({ Query: { Name: "geo-db-", Service: { Service: "geo-db", Tags: ["primary"] } } });
    // A second catch-all template (empty Name) is refused.
    await create("europe-west1", { Template: { Type: "name_prefix_match" }, Service: { Service: "${name.full}" } });
    const again = await call("europe-west1", "POST", "/v1/query", { Template: { Type: "name_prefix_match" }, Service: { Service: "x" } });
    expect([again.status, again.text]).toEqual([400, "a query template with an empty name already exists"]);
  });

  it("puts the node ?near= names (or _agent's) first", async () => {
    const d = dc("europe-west1");
    const other = mock.node({ name: "europe-west1-b", datacenter: "europe-west1" });
    await d.store.write((tx) => {
      tx.put("nodes", other);
    });
    for (const [i, node] of [d.node, other.ID, d.node, other.ID].entries()) {
      const parsed = parseRegistration({ ID: `near-${i}`, Name: "near", Port: 9000 + i }, { nodeId: node, now: Date.now(), allowScriptChecks: false });
      if (!parsed.ok) throw new Error(parsed.errors.join("; "));
      await d.registry.register(parsed.service);
    }
    await create("europe-west1", { Name: "near", Service: { Service: "near" } });
    for (let i = 0; i < 5; i++) {
      expect((await execute("europe-west1", "near", "?near=europe-west1-b")).Nodes[0]?.Node.Node).toBe("europe-west1-b");
      expect((await execute("europe-west1", "near", "?near=_agent")).Nodes[0]?.Node.Node).toBe("europe-west1-node");
    }
  });
});

describe("prepared queries: failover across datacenters", () => {
  it("orders the datacenters as Consul: NearestN nearest first, then Datacenters in order, each once, unknown ones left out", () => {
    const nearest = ["asia-east1", "us-west-2", "sa-east1"];
    expect(failoverOrder({ NearestN: 1, Datacenters: ["sa-east1", "asia-east1"] }, nearest)).toEqual(["asia-east1", "sa-east1"]);
    expect(failoverOrder({ NearestN: 0, Datacenters: ["us-west-2", "mars", "asia-east1"] }, nearest)).toEqual(["us-west-2", "asia-east1"]);
    expect(failoverOrder({ NearestN: 5, Datacenters: null }, nearest)).toEqual(nearest);
    expect(failoverOrder({ NearestN: 0, Datacenters: null }, nearest)).toEqual([]);
  });

  it("answers from the nearest datacenter that has healthy instances, counting the datacenters tried; the query is defined here only", async () => {
    await instance("us-west-2", "pay-us", "pay");
    await instance("asia-east1", "pay-asia", "pay", { status: "critical" });
    await instance("europe-west1", "pay-eu", "pay", { status: "critical" });
    await create("europe-west1", { Name: "pay", Service: { Service: "pay", Failover: { NearestN: 2 } } });
    await create("europe-west1", { Name: "pay-listed", Service: { Service: "pay", Failover: { Datacenters: ["us-west-2", "asia-east1"] } } });
    await create("europe-west1", { Name: "pay-nowhere", Service: { Service: "pay", Failover: { Datacenters: ["mars"] } } });
    await create("europe-west1", { Name: "pay-local", Service: { Service: "pay" } });
    // Neither asia nor us has the query: each runs its service part from the definition sent.
    expect((await call("us-west-2", "GET", "/v1/query/pay/execute")).status).toBe(404);

    // asia (20 ms) first, nothing healthy there; then us (50 ms).
    const pay = await execute("europe-west1", "pay");
    expect(pay).toMatchObject({ Service: "pay", Datacenter: "us-west-2", Failovers: 2 });
    expect(pay.Nodes.map((n) => `${String(n.Service.ID)} ${String(n.Node.Datacenter)}`)).toEqual(["pay-us us-west-2"]);
    expect(await execute("europe-west1", "pay-listed")).toMatchObject({ Datacenter: "us-west-2", Failovers: 1 });
    expect(await execute("europe-west1", "pay-nowhere")).toMatchObject({ Datacenter: "europe-west1", Failovers: 0, Nodes: [] });
    expect(await execute("europe-west1", "pay-local")).toMatchObject({ Datacenter: "europe-west1", Failovers: 0, Nodes: [] });

    // Healthy here again: answered here, no failover.
    await dc("europe-west1").registry.setCheck(dc("europe-west1").node, "pay-eu-ttl", "passing", "");
    expect(await execute("europe-west1", "pay")).toMatchObject({ Datacenter: "europe-west1", Failovers: 0, Nodes: [expect.objectContaining({ Service: expect.objectContaining({ ID: "pay-eu" }) as unknown })] });
    await dc("europe-west1").registry.setCheck(dc("europe-west1").node, "pay-eu-ttl", "critical", "");

    // us's server gone: tried and counted, and nothing found anywhere.
    dc("us-west-2").status = "failed";
    try {
      expect(await execute("europe-west1", "pay")).toMatchObject({ Failovers: 2, Nodes: [] });
    } finally {
      dc("us-west-2").status = "alive";
    }
    // asia healthy: nearest wins.
    await dc("asia-east1").registry.setCheck(dc("asia-east1").node, "pay-asia-ttl", "passing", "");
    expect(await execute("europe-west1", "pay")).toMatchObject({ Datacenter: "asia-east1", Failovers: 1 });
    // ?limit= goes along.
    await instance("asia-east1", "pay-asia-2", "pay");
    expect((await execute("europe-west1", "pay", "?limit=1")).Nodes).toHaveLength(1);
  });

  it("?dc= executes the query another datacenter defines, there", async () => {
    await instance("us-west-2", "only-us-1", "only-us");
    await create("us-west-2", { Name: "only-us", Service: { Service: "only-us" } });
    // Here the name falls to europe's catch-all template (made above), which finds nothing here.
    expect(await execute("europe-west1", "only-us")).toMatchObject({ Datacenter: "europe-west1", Nodes: [] });
    expect(await execute("europe-west1", "only-us", "?dc=us-west-2")).toMatchObject({ Datacenter: "us-west-2", Failovers: 0, Nodes: [expect.anything()] });
  });
});

describe("prepared queries: ACLs (Consul's rules)", () => {
  let http: RunningHttp;
  let acl: Acl;
  let base = "";
  let store: StateStore;

  beforeAll(async () => {
    await loadAclPolicyParser();
    store = await StateStore.open(memoryBackend());
    const router = new Router();
    const info: ServerInfo = { Name: "s", Region: "global", Datacenter: "dc1", HTTPAddr: "", ConsulAddr: "", Build: "", EtcdMember: "" };
    const catalog = new StoreCatalog(store, "dc1");
    // A query's own Token is resolved as the server's tokens would be: "reader" reads every service and node, anything else nothing.
    const tokenAcl = (secret: string): Acl => (secret === "reader" ? compileAcl([parseAclPolicy('service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }', "reader.hcl")]) : compileAcl([]));
    const exec = new QueryExecutor({ queries: new PreparedQueries(store), catalog, federation: federationOf("none"), cluster: viewOf(info), localNode: () => undefined, log: silentLogger, tokenAcl });
    queryRoutes(router, exec.queries, exec);
    http = await startHttp({
      host: "127.0.0.1",
      port: 0,
      router,
      authorize: (req) => {
        req.acl = acl;
        return undefined;
      },
      log: silentLogger,
    });
    base = `http://${http.address}`;
  });

  afterAll(async () => {
    await http.close();
    await store.close();
  });

  const as = (rules: string): void => {
    acl = compileAcl([parseAclPolicy(rules, "p.hcl")]);
  };
  const send = async (method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> => {
    const res = await fetch(base + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, text: await res.text() };
  };

  it("accepts query and query_prefix rules: write on a name to create or change its query, read to see it; the Token hidden", async () => {
    as('query_prefix "web-" { policy = "write" }\nquery "db" { policy = "read" }');
    const made = await send("POST", "/v1/query", { Name: "web-a", Service: { Service: "web" }, Token: "s3cret" });
    expect(made.status, made.text).toBe(200);
    const id = (JSON.parse(made.text) as { ID: string }).ID;
    expect(await send("POST", "/v1/query", { Name: "db", Service: { Service: "db" } })).toEqual({ status: 403, text: "Permission denied" });
    // The token is hidden from any but a management token.
    expect(JSON.parse((await send("GET", `/v1/query/${id}`)).text)).toMatchObject([{ Name: "web-a", Token: "<hidden>" }]);
    as('query_prefix "" { policy = "deny" }');
    expect(await send("GET", `/v1/query/${id}`)).toEqual({ status: 403, text: "Permission denied" });
    expect(await send("DELETE", `/v1/query/${id}`)).toEqual({ status: 403, text: "Permission denied" });
    expect(JSON.parse((await send("GET", "/v1/query")).text)).toEqual([]);
    as('service_prefix "" { policy = "read" }');
    // A template is guarded by its name, the empty one too.
    expect(await send("POST", "/v1/query", { Template: { Type: "name_prefix_match" }, Service: { Service: "x" } })).toEqual({ status: 403, text: "Permission denied" });
    as('query "web-a" { policy = "write" }');
    expect((await send("PUT", `/v1/query/${id}`, { Name: "web-a", Service: { Service: "web2" } })).status).toBe(200);
    // Renaming it to a name the token may not write is refused.
    expect((await send("PUT", `/v1/query/${id}`, { Name: "other", Service: { Service: "web2" } })).status).toBe(403);
    expect((await send("DELETE", `/v1/query/${id}`)).status).toBe(200);
  });

  it("executes with the instances the token may read only (the query's own Token when it has one)", async () => {
    const node = mock.node({ name: "n1", datacenter: "dc1" });
    await store.write((tx) => {
      tx.put("nodes", node);
    });
    const registry = new ServiceRegistry(store, Date.now);
    const parsed = parseRegistration({ ID: "secret-1", Name: "secret", Port: 1 }, { nodeId: node.ID, now: Date.now(), allowScriptChecks: false });
    if (!parsed.ok) throw new Error("bad registration");
    await registry.register(parsed.service);
    as('query "secret" { policy = "write" }\nnode_prefix "" { policy = "read" }');
    expect((await send("POST", "/v1/query", { Name: "secret", Service: { Service: "secret" } })).status).toBe(200);
    expect(JSON.parse((await send("GET", "/v1/query/secret/execute")).text)).toMatchObject({ Nodes: [] });
    as('service "secret" { policy = "read" }\nnode_prefix "" { policy = "read" }');
    expect(JSON.parse((await send("GET", "/v1/query/secret/execute")).text)).toMatchObject({ Nodes: [{ Service: { ID: "secret-1" } }] });
    // A query with its own Token executes with it, whoever asks.
    as('query_prefix "" { policy = "write" }');
    expect((await send("POST", "/v1/query", { Name: "as-reader", Token: "reader", Service: { Service: "secret" } })).status).toBe(200);
    expect((await send("POST", "/v1/query", { Name: "as-nobody", Token: "nobody", Service: { Service: "secret" } })).status).toBe(200);
    expect(JSON.parse((await send("GET", "/v1/query/as-reader/execute")).text)).toMatchObject({ Nodes: [{ Service: { ID: "secret-1" } }] });
    expect(JSON.parse((await send("GET", "/v1/query/as-nobody/execute")).text)).toMatchObject({ Nodes: [] });
  });
});

describe("serviceQueryMatches", () => {
  it("leaves out critical instances always, warning ones with OnlyPassing", () => {
    const n = { ID: "n", Node: "n", Address: "10.0.0.1", Datacenter: "dc1", Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
    const inst = (id: string, status: "passing" | "warning" | "critical") => ({ ID: id, Service: "s", Tags: [], Address: "", Port: 1, Meta: {}, node: n, checks: [{ Node: "n", CheckID: `c-${id}`, Name: "c", Status: status, Notes: "", Output: "", ServiceID: id, ServiceName: "s", ServiceTags: [], Type: "ttl", CreateIndex: 1, ModifyIndex: 1 }], CreateIndex: 1, ModifyIndex: 1 });
    const all = [inst("a", "passing"), inst("b", "warning"), inst("c", "critical")];
    const svc = { Service: "s", Near: "", Failover: { NearestN: 0, Datacenters: null }, IgnoreCheckIDs: null, OnlyPassing: false, Tags: null, NodeMeta: null, ServiceMeta: null, Connect: false };
    expect(serviceQueryMatches(svc, all as never).map((i) => i.ID)).toEqual(["a", "b"]);
    expect(serviceQueryMatches({ ...svc, OnlyPassing: true }, all as never).map((i) => i.ID)).toEqual(["a"]);
  });
});
