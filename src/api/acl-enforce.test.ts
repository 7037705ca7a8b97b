import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog, UserEvents } from "../catalog/index.js";
import { createCa } from "../pki/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, silentLogger, type AclPolicy, type AclToken } from "../structs/index.js";
import { routeEntry, unlistedRoutes } from "./acl-routes-table.js";
import { startApi, startConsulApi, startNodeApi, type NodeLocal, type RunningHttp } from "./index.js";

/**
 * ACLs at the door, through real HTTP on 127.0.0.1 (port 0) with ACLs on: the Ruche/Nomad API
 * and the Consul-compatible listener of one server on a memory store, tokens and policies
 * written to the store as the ACL routes write them.
 */
let store: StateStore;
let server: Server;
let api: RunningHttp;
let consul: RunningHttp;
let nodeApi: RunningHttp;
// Their agents are nowhere (port 1 refuses): a request the door lets through to them ends in 502.
const nodeA = { ...mock.node({ name: "node-a" }), HTTPAddr: "127.0.0.1:1" };
const nodeB = { ...mock.node({ name: "node-b" }), HTTPAddr: "127.0.0.1:1" };

let version = 1;
async function policy(name: string, rules: string): Promise<void> {
  const p: AclPolicy = { Name: name, Description: "", Rules: rules, CreateIndex: 1, ModifyIndex: ++version };
  await store.write((tx) => {
    tx.put("aclPolicies", p);
  });
}

async function token(o: { type?: "client" | "management"; policies?: string[]; expires?: string; accessor?: string }): Promise<string> {
  const t: AclToken = {
    AccessorID: o.accessor ?? randomUUID(),
    SecretID: randomUUID(),
    Name: "test",
    Type: o.type ?? "client",
    Policies: o.policies ?? [],
    Global: false,
    CreateTime: new Date().toISOString(),
    ...(o.expires === undefined ? {} : { ExpirationTime: o.expires }),
    CreateIndex: 1,
    ModifyIndex: ++version,
  };
  await store.write((tx) => {
    tx.put("aclTokens", t);
  });
  return t.SecretID;
}

async function call(base: RunningHttp, method: string, path: string, o: { token?: string; header?: string; body?: string } = {}): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers[o.header ?? "x-ruche-token"] = o.header === "authorization" ? `Bearer ${o.token}` : o.token;
  const res = await fetch(`http://${base.address}${path}`, { method, headers, ...(o.body === undefined ? {} : { body: o.body }) });
  return { status: res.status, text: await res.text() };
}

let management: string;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger });
  server.start();
  const registry = new ServiceRegistry(store, Date.now);
  const ca = await createCa({ region: "global" });
  const catalogApi = {
    catalog: new StoreCatalog(store, "dc1", silentLogger),
    localNode: () => nodeA.ID,
    version: "1.17.0",
    registry,
    allowScriptChecks: false,
    kv: new KVService(store, { now: Date.now, delays: new LockDelays() }),
    events: new UserEvents(store),
    coordinates: server.coordinates,
  };
  // Every optional route is registered, so that the walk below sees them all.
  api = await startApi(server, store, {
    host: "127.0.0.1",
    port: 0,
    log: silentLogger,
    consul: catalogApi,
    reload: () => Promise.resolve(),
    routerOverview: () => ({ routes: [] }),
    etcdJoin: { peer: () => Promise.resolve({}), join: () => Promise.resolve({}) },
    pki: { region: "global", ca: () => ca },
    acl: { enabled: true },
  });
  consul = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul: catalogApi, reload: () => Promise.resolve(), acl: { enabled: true, state: store } });
  // A client-only agent's node API, to walk its routes: it runs no allocation here.
  const noAllocs: NodeLocal = {
    has: () => false,
    tasks: () => [],
    logs: async function* () {},
    exec: () => Promise.reject(new Error("this agent runs no allocation")),
  };
  nodeApi = await startNodeApi({ host: "127.0.0.1", port: 0, log: silentLogger, local: noAllocs, ids: () => [] });
  await server.registerNode(nodeA);
  await server.registerNode(nodeB);
  management = await token({ type: "management" });
  for (const [k, v] of [
    ["app/config", "a"],
    ["app/db/url", "b"],
    ["secret/password", "c"],
  ] as const) {
    expect((await call(api, "PUT", `/v1/kv/${k}`, { token: management, body: v })).status).toBe(200);
  }
});

afterAll(async () => {
  await nodeApi.close();
  await consul.close();
  await api.close();
  await server.stop();
});

/** A path for a route's pattern: each `:name` and `*rest` filled in. */
function pathOf(pattern: string): string {
  return pattern.replace(/:(\w+)/g, "x-$1").replace(/\*(\w+)$/, "x-$1");
}

describe("the route table", () => {
  it("has an entry for every route each listener registers, so that none is served unchecked", () => {
    expect(api.routes.length).toBeGreaterThan(60);
    expect(unlistedRoutes(api.routes)).toEqual([]);
    expect(unlistedRoutes(consul.routes, "consul")).toEqual([]);
    expect(unlistedRoutes(nodeApi.routes)).toEqual([]);
  });

  it("lists every path of /v1/openapi.json", async () => {
    const doc = JSON.parse((await call(api, "GET", "/v1/openapi.json")).text) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ":$1")}`));
    expect(routes.length).toBeGreaterThan(60);
    expect(routes.filter((r) => routeEntry(r) === undefined)).toEqual([]);
  });
});

describe("anonymous requests", () => {
  const OPEN = new Set(["open", "node-identity", "server", "token"]);

  it("are refused on every route but the open ones, with Nomad's words on Nomad's routes and Consul's on Consul's", async () => {
    const leaks: string[] = [];
    for (const [listener, running] of [
      ["api", api],
      ["consul", consul],
    ] as const) {
      for (const route of running.routes) {
        const [method = "GET", pattern = "/"] = route.split(" ");
        const entry = routeEntry(route, listener);
        // A need of the request's: the join path without ?address= is the node join, open (paid for with a join token).
        const need = typeof entry?.need === "function" ? (pattern === "/v1/agent/join" ? { kind: "open" as const } : undefined) : entry?.need;
        const r = await call(running, method, pathOf(pattern), method === "GET" ? {} : { body: "{}" });
        if (need !== undefined && OPEN.has(need.kind)) {
          // The door's refusal; Consul's bootstrap, done already, answers "Permission denied: ACL bootstrap no longer allowed …" itself, as Consul's does.
          expect(r.text, route).not.toMatch(/^Permission denied$|"message":"Permission denied"/);
          continue;
        }
        if (need?.kind === "filtered") {
          // Lists answer with nothing the anonymous token may read: 403, 404, an empty list or object, or a refused transaction.
          if (!(r.status === 403 || r.status === 404 || r.status === 400 || ["[]", "{}"].includes(r.text.trim()))) leaks.push(`${listener} ${route}: ${r.status} ${r.text.slice(0, 80)}`);
          continue;
        }
        if (r.status !== 403) {
          leaks.push(`${listener} ${route}: ${r.status} ${r.text.slice(0, 80)}`);
          continue;
        }
        const face = listener === "consul" ? "consul" : entry?.face;
        if (face === "consul") expect(r.text, route).toBe("Permission denied");
        else expect(JSON.parse(r.text), route).toEqual({ error: { code: "RUCHE_FORBIDDEN", message: "Permission denied" } });
      }
    }
    expect(leaks).toEqual([]);
  });

  it("still read the leader and the peers, as Nomad and Consul let them", async () => {
    expect((await call(api, "GET", "/v1/status/leader")).status).toBe(200);
    expect((await call(consul, "GET", "/v1/status/peers")).status).toBe(200);
  });
});

describe("tokens", () => {
  it("an unknown secret is refused as Nomad and Consul refuse it, whatever header carries it", async () => {
    for (const header of ["x-ruche-token", "x-nomad-token", "x-consul-token", "authorization"]) {
      const r = await call(api, "GET", "/v1/jobs", { token: randomUUID(), header });
      expect(r.status, header).toBe(403);
      expect(JSON.parse(r.text), header).toEqual({ error: { code: "RUCHE_FORBIDDEN", message: "ACL token not found" } });
    }
    const c = await call(consul, "GET", "/v1/kv/app/config", { token: randomUUID(), header: "x-consul-token" });
    expect(c).toEqual({ status: 403, text: "ACL not found" });
    const q = await call(consul, "GET", `/v1/kv/app/config?token=${randomUUID()}`);
    expect(q).toEqual({ status: 403, text: "ACL not found" });
  });

  it("an expired token is refused with Nomad's words", async () => {
    const secret = await token({ type: "management", expires: new Date(Date.now() - 1000).toISOString() });
    const r = await call(api, "GET", "/v1/jobs", { token: secret });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toEqual({ error: { code: "RUCHE_FORBIDDEN", message: "ACL token expired" } });
  });

  it("a management token may do everything", async () => {
    expect((await call(api, "GET", "/v1/nodes", { token: management })).status).toBe(200);
    expect((await call(api, "PUT", "/v1/system/gc", { token: management })).status).toBe(200);
    expect((await call(consul, "GET", "/v1/kv/secret/password?raw", { token: management, header: "x-consul-token" })).text).toBe("c");
  });

  it("a read-only token reads but cannot write", async () => {
    await policy("readonly", 'namespace "default" { policy = "read" }\nnode { policy = "read" }\nkey_prefix "" { policy = "read" }');
    const ro = await token({ policies: ["readonly"] });
    expect((await call(api, "GET", "/v1/jobs", { token: ro })).status).toBe(200);
    expect((await call(api, "GET", "/v1/nodes", { token: ro })).status).toBe(200);
    expect((await call(api, "GET", "/v1/allocations", { token: ro })).status).toBe(200);
    const job = mock.job();
    for (const [method, path, body] of [
      ["PUT", "/v1/jobs", JSON.stringify({ Job: job })],
      ["DELETE", `/v1/job/${job.ID}`, undefined],
      ["PUT", `/v1/node/${nodeA.ID}/eligibility`, JSON.stringify({ Eligibility: "ineligible" })],
      ["PUT", "/v1/system/gc", undefined],
      ["PUT", "/v1/kv/app/config", "changed"],
      ["DELETE", "/v1/kv/app?recurse", undefined],
    ] as const) {
      const r = await call(api, method, path, { token: ro, ...(body === undefined ? {} : { body }) });
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    const txn = await call(consul, "PUT", "/v1/txn", { token: ro, header: "x-consul-token", body: JSON.stringify([{ KV: { Verb: "set", Key: "app/config", Value: Buffer.from("x").toString("base64") } }]) });
    expect(txn.status).toBe(409);
    expect(JSON.parse(txn.text)).toEqual({ Results: null, Errors: [{ OpIndex: 0, What: "Permission denied" }] });
    expect((await call(api, "GET", "/v1/kv/app/config?raw", { token: management })).text).toBe("a");
  });

  it('a key_prefix "app/" token cannot read secret/, and its recursive read of "" lists only app/', async () => {
    await policy("app", 'key_prefix "app/" { policy = "read" }');
    const app = await token({ policies: ["app"] });
    for (const base of [api, consul]) {
      expect(await call(base, "GET", "/v1/kv/secret/password", { token: app, header: "x-consul-token" })).toEqual({ status: 403, text: "Permission denied" });
      expect((await call(base, "GET", "/v1/kv/app/config?raw", { token: app, header: "x-consul-token" })).text).toBe("a");
      const tree = JSON.parse((await call(base, "GET", "/v1/kv/?recurse", { token: app, header: "x-consul-token" })).text) as { Key: string }[];
      expect(tree.map((e) => e.Key)).toEqual(["app/config", "app/db/url"]);
      const keys = JSON.parse((await call(base, "GET", "/v1/kv/?keys&separator=/", { token: app, header: "x-consul-token" })).text) as string[];
      expect(keys).toEqual(["app/"]);
      // Consul's ?token= on its routes.
      expect((await call(base, "GET", `/v1/kv/secret/password?token=${app}`)).status).toBe(403);
      expect((await call(base, "GET", `/v1/kv/app/config?raw&token=${app}`)).text).toBe("a");
    }
    // A tree only secret/ holds reads as empty: Consul's 404.
    expect((await call(consul, "GET", "/v1/kv/secret/?recurse", { token: app, header: "x-consul-token" })).status).toBe(404);
  });

  it("a changed policy takes effect on the next request", async () => {
    await policy("grows", 'key_prefix "app/" { policy = "read" }');
    const t = await token({ policies: ["grows"] });
    expect((await call(consul, "PUT", "/v1/kv/app/new", { token: t, header: "x-consul-token", body: "n" })).status).toBe(403);
    await policy("grows", 'key_prefix "app/" { policy = "write" }');
    expect((await call(consul, "PUT", "/v1/kv/app/new", { token: t, header: "x-consul-token", body: "n" })).status).toBe(200);
    await policy("grows", 'key_prefix "app/" { policy = "deny" }');
    expect((await call(consul, "GET", "/v1/kv/app/new", { token: t, header: "x-consul-token" })).status).toBe(403);
  });

  it("the anonymous token's policies apply to a request without a token", async () => {
    expect((await call(api, "GET", "/v1/nodes")).status).toBe(403);
    await policy("anon", 'node { policy = "read" }');
    await token({ accessor: "anonymous", policies: ["anon"] });
    expect((await call(api, "GET", "/v1/nodes")).status).toBe(200);
    expect((await call(api, "GET", "/v1/jobs")).status).toBe(403);
    await store.write((tx) => {
      tx.delete("aclTokens", "anonymous");
    });
    expect((await call(api, "GET", "/v1/nodes")).status).toBe(403);
  });
});

describe("the node agent's endpoints", () => {
  it("a node's secret cannot read or update another node's allocations", async () => {
    const read = await fetch(`http://${api.address}/v1/client/allocations/${nodeB.ID}`, { headers: { "x-ruche-node-secret": nodeA.SecretID } });
    expect(read.status).toBe(403);
    const update = await fetch(`http://${api.address}/v1/client/allocations/${nodeB.ID}`, {
      method: "PUT",
      headers: { "x-ruche-node-secret": nodeA.SecretID },
      body: JSON.stringify({ Allocs: [{ ID: randomUUID(), ClientStatus: "running" }] }),
    });
    expect(update.status).toBe(403);
    const own = await fetch(`http://${api.address}/v1/client/allocations/${nodeA.ID}`, { headers: { "x-ruche-node-secret": nodeA.SecretID } });
    expect(own.status).toBe(200);
    // A user's token is no node's identity, not even a management token.
    const byToken = await fetch(`http://${api.address}/v1/client/allocations/${nodeB.ID}`, { headers: { "x-ruche-token": management } });
    expect(byToken.status).toBe(401);
  });
});

describe("Consul's catalog and health", () => {
  it("leave out the services and nodes the token may not read, and refuse a service it may not read", async () => {
    for (const name of ["web", "db"]) {
      const r = await call(consul, "PUT", "/v1/agent/service/register", { token: management, header: "x-consul-token", body: JSON.stringify({ Name: name, Port: 8080 }) });
      expect(r.status, name).toBe(200);
    }
    await policy("web-reader", 'service_prefix "web" { policy = "read" }\nnode_prefix "" { policy = "read" }');
    const web = await token({ policies: ["web-reader"] });
    const services = JSON.parse((await call(consul, "GET", "/v1/catalog/services", { token: web, header: "x-consul-token" })).text) as Record<string, string[]>;
    expect(Object.keys(services)).toEqual(["web"]);
    expect((await call(consul, "GET", "/v1/health/service/web", { token: web, header: "x-consul-token" })).status).toBe(200);
    expect(await call(consul, "GET", "/v1/health/service/db", { token: web, header: "x-consul-token" })).toEqual({ status: 403, text: "Permission denied" });
    const agentServices = JSON.parse((await call(consul, "GET", "/v1/agent/services", { token: web, header: "x-consul-token" })).text) as Record<string, { Service: string }>;
    expect(Object.values(agentServices).map((x) => x.Service)).toEqual(["web"]);
    // The same question asked with a token that reads everything is answered in full: answers are not shared across ACLs.
    const all = JSON.parse((await call(consul, "GET", "/v1/catalog/services", { token: management, header: "x-consul-token" })).text) as Record<string, string[]>;
    expect(Object.keys(all).sort()).toEqual(["db", "web"]);
    expect((await call(consul, "GET", "/v1/catalog/services")).text).toBe("{}");
    // Registering needs write on the service's name.
    expect((await call(consul, "PUT", "/v1/agent/service/register", { token: web, header: "x-consul-token", body: JSON.stringify({ Name: "web", Port: 1 }) })).status).toBe(403);
  });
});

describe("an allocation's logs and commands", () => {
  it("exec needs alloc-exec, and alloc-node-exec too into a raw_exec task; logs need read-logs", async () => {
    const raw = mock.job({ driver: "raw_exec" });
    const isolated = mock.job({ driver: "docker" });
    const rawAlloc = mock.alloc(raw, nodeA, 0);
    const dockerAlloc = mock.alloc(isolated, nodeA, 0);
    await store.write((tx) => {
      tx.put("allocs", rawAlloc);
      tx.put("allocs", dockerAlloc);
    });
    await policy("exec", 'namespace "default" { capabilities = ["alloc-exec"] }');
    await policy("node-exec", 'namespace "default" { capabilities = ["alloc-exec", "alloc-node-exec"] }');
    const execOnly = await token({ policies: ["exec"] });
    const nodeExec = await token({ policies: ["node-exec"] });
    const exec = (id: string, secret: string) => call(api, "PUT", `/v1/client/allocation/${id}/exec`, { token: secret, body: JSON.stringify({ Cmd: ["true"] }) });
    expect((await exec(rawAlloc.ID, execOnly)).status).toBe(403);
    // Past the door, the request goes on to the node's agent, which is not there: 502, not 403.
    expect((await exec(rawAlloc.ID, nodeExec)).status).toBe(502);
    expect((await exec(dockerAlloc.ID, execOnly)).status).toBe(502);
    expect((await call(api, "GET", `/v1/client/fs/logs/${dockerAlloc.ID}`, { token: execOnly })).status).toBe(403);
    // Nomad's WebSocket exec: the same capabilities, checked before the upgrade.
    const ws = (id: string, secret: string) => call(api, "GET", `/v1/client/allocation/${id}/exec?task=web&command=${encodeURIComponent('["sh"]')}`, { token: secret });
    expect((await ws(rawAlloc.ID, execOnly)).status).toBe(403);
    expect((await ws(rawAlloc.ID, nodeExec)).status).not.toBe(403);
    expect((await ws(dockerAlloc.ID, execOnly)).status).not.toBe(403);
    // Its files need read-fs.
    expect((await call(api, "GET", `/v1/client/fs/ls/${dockerAlloc.ID}?path=/`, { token: execOnly })).status).toBe(403);
  });
});

describe("the event stream", () => {
  /** Reads server-sent events until `until` holds of one, or 10 s pass. */
  async function events(secret: string, query: string, until: (e: { Topic: string }) => boolean, act: () => Promise<void>): Promise<{ Topic: string }[]> {
    const ctl = new AbortController();
    const res = await fetch(`http://${api.address}/v1/event/stream${query}`, { headers: { "x-ruche-token": secret, accept: "text/event-stream" }, signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const seen: { Topic: string }[] = [];
    const timer = setTimeout(() => {
      ctl.abort();
    }, 10_000);
    await act();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += Buffer.from(value).toString("utf8");
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = chunk.split("\n").find((l) => l.startsWith("data: "));
          if (data === undefined) continue;
          const batch = JSON.parse(data.slice(6)) as { Events: { Topic: string }[] };
          seen.push(...batch.Events);
          if (batch.Events.some(until)) return seen;
        }
      }
    } finally {
      clearTimeout(timer);
      ctl.abort();
    }
    return seen;
  }

  it("carries nothing the token may not read: a node:read token sees node events and no job's", async () => {
    await policy("nodes-only", 'node { policy = "read" }');
    const t = await token({ policies: ["nodes-only"] });
    // The job's commits come before the node's: had they passed, they would be seen first.
    const seen = await events(t, "", (e) => e.Topic === "Node", async () => {
      await server.registerJob(mock.job());
      await server.registerNode(mock.node({ name: "node-c" }));
    });
    expect(seen.some((e) => e.Topic === "Node")).toBe(true);
    expect(seen.filter((e) => e.Topic !== "Node")).toEqual([]);
  });

  it("gives a read-job token the jobs' events and no node's; no event, a management token's included, shows a node's secret", async () => {
    await policy("jobs-read", 'namespace "default" { policy = "read" }');
    const t = await token({ policies: ["jobs-read"] });
    const node = mock.node({ name: "node-d" });
    // The node's commit comes before the job's: had it passed, it would be seen first.
    const seen = await events(t, "", (e) => e.Topic === "Job", async () => {
      await server.registerNode(node);
      await server.registerJob(mock.job());
    });
    expect(seen.some((e) => e.Topic === "Job")).toBe(true);
    expect(seen.filter((e) => e.Topic === "Node")).toEqual([]);
    const all = await events(management, "?topic=Node", (e) => e.Topic === "Node", async () => {
      await server.registerNode(mock.node({ name: "node-e" }));
    });
    expect(all.some((e) => e.Topic === "Node")).toBe(true);
    expect(JSON.stringify(all)).not.toContain("SecretID");
    expect(JSON.stringify(all)).not.toContain(node.SecretID);
  });

  it("refuses a topic the token may not read, as Nomad does", async () => {
    await policy("nodes-only-2", 'node { policy = "read" }');
    const t = await token({ policies: ["nodes-only-2"] });
    const r = await call(api, "GET", "/v1/event/stream?topic=Job", { token: t });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toEqual({ error: { code: "RUCHE_FORBIDDEN", message: "Permission denied" } });
  });
});
