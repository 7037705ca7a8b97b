/**
 * Sessions bound to health, and blocking queries that answer for what they watch: the KV,
 * session and catalog routes over a memory store on real HTTP (127.0.0.1:0), the catalog
 * built from real node rows and services registered through the registry.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Router, startHttp, type RunningHttp } from "../api/http.js";
import { consulRoutes } from "../api/routes/consul.js";
import { kvRoutes } from "../api/routes/kv.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, silentLogger, type Node } from "../structs/index.js";
import { StoreCatalog } from "./catalog.js";
import { KVService } from "./kv-service.js";
import { parseRegistration } from "./registration.js";
import { ServiceRegistry } from "./registry.js";
import { LockDelays, newSession, SessionReaper, sessionHealthProblem, type SessionRequest } from "./sessions.js";

let store: StateStore;
let http: RunningHttp;
let base = "";
let node: Node;
let catalog: StoreCatalog;
let registry: ServiceRegistry;
let kv: KVService;
let reaper: SessionReaper;

async function register(body: object): Promise<void> {
  const parsed = parseRegistration(body, { nodeId: node.ID, now: Date.now(), allowScriptChecks: false });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  await registry.register(parsed.service);
}

async function call(method: string, path: string, body?: object): Promise<{ status: number; json: unknown; text: string; index: string | null }> {
  const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, index: res.headers.get("x-consul-index") };
}

beforeEach(async () => {
  store = await StateStore.open(memoryBackend());
  node = mock.node({ name: "n1", datacenter: "dc1" });
  await store.write((tx) => {
    tx.put("nodes", node);
  });
  catalog = new StoreCatalog(store, "dc1", silentLogger);
  registry = new ServiceRegistry(store, Date.now);
  const delays = new LockDelays();
  kv = new KVService(store, { now: Date.now, delays, catalog, nodeName: () => "n1", servers: () => ["server-1"] });
  reaper = new SessionReaper(store, { now: Date.now, delays, catalog, servers: () => ["server-1"], intervalMs: 60_000 });
  reaper.start();
  const router = new Router();
  kvRoutes(router, kv);
  consulRoutes(router, { catalog, localNode: () => node.ID, version: "1.17.0", registry });
  http = await startHttp({ host: "127.0.0.1", port: 0, router, authorize: () => undefined, log: silentLogger });
  base = `http://127.0.0.1:${http.port}`;
});
afterEach(async () => {
  await reaper.stop();
  await http.close();
  await store.close();
});

const until = async (ok: () => boolean | Promise<boolean>, what: string): Promise<void> => {
  const end = Date.now() + 5000;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("a session's checks", () => {
  it("combine NodeChecks and the older Checks as Consul's fixupEmptySessionChecks does", () => {
    const checks = (req: SessionRequest): string[] => newSession(req, "n1", 0).NodeChecks;
    expect(checks({})).toEqual(["serfHealth"]);
    expect(checks({ Checks: [] })).toEqual([]);
    expect(checks({ NodeChecks: [] })).toEqual([]);
    expect(checks({ Checks: ["serfHealth"], NodeChecks: ["disk"] })).toEqual(["disk"]);
    expect(checks({ Checks: ["service:web"] })).toEqual(["serfHealth", "service:web"]);
    expect(checks({ Checks: ["a", "a"], NodeChecks: ["a", "b"] })).toEqual(["a", "b"]);
    expect(newSession({ ServiceChecks: [{ ID: "service:web" }] }, "n1", 0).ServiceChecks).toEqual([{ ID: "service:web", Namespace: "" }]);
    expect(newSession({ Node: "" }, "n1", 0).Node).toBe("n1");
  });

  it("hold while the node is there and no check is critical or missing", () => {
    const health = { nodes: new Set(["n1"]), checks: new Map([["n1\0serfHealth", "passing" as const], ["n1\0svc", "warning" as const], ["n1\0bad", "critical" as const]]) };
    expect(sessionHealthProblem({ Node: "n1", NodeChecks: ["serfHealth"], ServiceChecks: [{ ID: "svc", Namespace: "" }] }, health)).toBeNull();
    expect(sessionHealthProblem({ Node: "n2", NodeChecks: [], ServiceChecks: null }, health)).toBe("Missing node registration");
    expect(sessionHealthProblem({ Node: "n1", NodeChecks: ["bad"], ServiceChecks: null }, health)).toBe("Check 'bad' is in critical state");
    expect(sessionHealthProblem({ Node: "n1", NodeChecks: [], ServiceChecks: [{ ID: "gone", Namespace: "" }] }, health)).toBe("Missing check 'gone' registration");
  });
});

describe("sessions bound to health", () => {
  it("reads a lower-case body, puts the session on the agent's node, bound to serfHealth by default", async () => {
    const created = await call("PUT", "/v1/session/create", { name: "lock", ttl: "15s", behavior: "delete", lockdelay: "1s" });
    expect(created.status).toBe(200);
    const id = (created.json as { ID: string }).ID;
    const info = await call("GET", `/v1/session/info/${id}`);
    expect(info.json).toEqual([expect.objectContaining({ ID: id, Name: "lock", Node: "n1", TTL: "15s", Behavior: "delete", LockDelay: 1e9, NodeChecks: ["serfHealth"], ServiceChecks: null })]);
    const onNode = await call("GET", "/v1/session/node/n1");
    expect((onNode.json as { ID: string }[]).map((s) => s.ID)).toEqual([id]);
    expect((await call("GET", "/v1/session/node/n2")).json).toEqual([]);
  });

  it("refuses a session on an unknown node or check, or a critical check, in Consul's words", async () => {
    await register({ Name: "web", Check: { TTL: "30s" } });
    const unknownNode = await call("PUT", "/v1/session/create", { Node: "nowhere" });
    expect([unknownNode.status, unknownNode.text]).toEqual([500, "Missing node registration"]);
    const unknownCheck = await call("PUT", "/v1/session/create", { Checks: ["serfHealth", "nope"] });
    expect([unknownCheck.status, unknownCheck.text]).toEqual([500, "Missing check 'nope' registration"]);
    const critical = await call("PUT", "/v1/session/create", { ServiceChecks: [{ ID: "service:web" }] });
    expect([critical.status, critical.text]).toEqual([500, "Check 'service:web' is in critical state"]);
    // A server of the cluster is a node with a passing serfHealth, though it runs no client.
    expect((await call("PUT", "/v1/session/create", { Node: "server-1" })).status).toBe(200);
    expect((await call("PUT", "/v1/session/create", { checks: [] , node: "nowhere-but-no-checks" })).text).toBe("Missing node registration");
  });

  it("ends a session at once when a check it is bound to goes critical, deleting its keys per Behavior", async () => {
    await register({ Name: "web", Check: { TTL: "30s", Status: "passing" } });
    const created = await call("PUT", "/v1/session/create", { name: "holder", behavior: "delete", lockdelay: 0, checks: ["serfHealth", "service:web"] });
    expect(created.status).toBe(200);
    const id = (created.json as { ID: string }).ID;
    expect((await call("GET", `/v1/session/info/${id}`)).json).toEqual([expect.objectContaining({ NodeChecks: ["serfHealth", "service:web"] })]);
    expect((await call("PUT", `/v1/kv/leader?acquire=${id}`, { me: 1 })).json).toBe(true);
    // A check update with lower-case keys, as python-consul sends it.
    expect((await call("PUT", "/v1/agent/check/update/service:web", { status: "critical", output: "down" })).status).toBe(200);
    await until(async () => ((await call("GET", `/v1/session/info/${id}`)).json as unknown[]).length === 0, "the session to end");
    expect((await call("GET", "/v1/kv/leader")).status).toBe(404);
  });

  it("ends a session whose node goes down, releasing its keys", async () => {
    const id = ((await call("PUT", "/v1/session/create", { LockDelay: "0s" })).json as { ID: string }).ID;
    await call("PUT", `/v1/kv/leader?acquire=${id}`, { me: 1 });
    await store.write((tx) => {
      tx.put("nodes", { ...node, Status: "disconnected" });
    });
    await until(async () => !((await call("GET", "/v1/kv/leader")).json as { Session?: string }[])[0]?.Session, "the lock to be released");
    expect((await call("GET", `/v1/session/info/${id}`)).json).toEqual([]);
  });

  it("refuses a check update with a status that is none of Consul's", async () => {
    await register({ Name: "web", Check: { TTL: "30s" } });
    const r = await call("PUT", "/v1/agent/check/update/service:web", { status: "fine" });
    expect([r.status, r.text]).toEqual([400, "Invalid check status: 'fine'"]);
  });
});

describe("blocking queries answer for what they watch", () => {
  it("a watch on one key does not answer for writes to others; its index is the key's ModifyIndex", async () => {
    await call("PUT", "/v1/kv/watched", { v: 0 });
    const first = await call("GET", "/v1/kv/watched");
    const modify = (first.json as { ModifyIndex: number }[])[0]!.ModifyIndex;
    expect(first.index).toBe(String(modify));
    let answers = 0;
    const watching = (async () => {
      const r = await call("GET", `/v1/kv/watched?index=${modify}&wait=2s`);
      answers++;
      return r;
    })();
    for (let i = 0; i < 8; i++) await call("PUT", `/v1/kv/other/${i}`, { i });
    await new Promise((r) => setTimeout(r, 200));
    expect(answers).toBe(0);
    const put = await call("PUT", "/v1/kv/watched", { v: 1 });
    const woke = await watching;
    expect(answers).toBe(1);
    expect(Number(woke.index)).toBeGreaterThan(modify);
    expect(Number(woke.index)).toBe((woke.json as { ModifyIndex: number }[])[0]!.ModifyIndex);
    expect(put.status).toBe(200);
  });

  it("a 404 carries X-Consul-Index, and a deleted key's index does not go back", async () => {
    const missing = await call("GET", "/v1/kv/nothing-here");
    expect(missing.status).toBe(404);
    expect(Number(missing.index)).toBeGreaterThanOrEqual(1);
    await call("PUT", "/v1/kv/gone", { v: 1 });
    const before = Number((await call("GET", "/v1/kv/gone")).index);
    await call("DELETE", "/v1/kv/gone");
    const after = await call("GET", "/v1/kv/gone");
    expect(after.status).toBe(404);
    expect(Number(after.index)).toBeGreaterThan(before);
    // A prefix's index is the highest of its keys' and of those deleted under it.
    await call("PUT", "/v1/kv/p/a", { v: 1 });
    const a = Number((await call("GET", "/v1/kv/p/a")).index);
    await call("PUT", "/v1/kv/q", { v: 1 });
    expect(Number((await call("GET", "/v1/kv/p/?recurse")).index)).toBe(a);
  });

  it("a health/service watch does not answer when another service changes", async () => {
    await register({ Name: "web", Port: 80 });
    const first = await call("GET", "/v1/health/service/web");
    const idx = Number(first.index);
    let answers = 0;
    const watching = (async () => {
      const r = await call("GET", `/v1/health/service/web?index=${idx}&wait=2s`);
      answers++;
      return r;
    })();
    await register({ Name: "db", Port: 5432 });
    await register({ Name: "cache", Port: 6379 });
    await new Promise((r) => setTimeout(r, 200));
    expect(answers).toBe(0);
    await register({ Name: "web", ID: "web-2", Port: 81 });
    const woke = await watching;
    expect(answers).toBe(1);
    expect(Number(woke.index)).toBeGreaterThan(idx);
    expect((woke.json as unknown[]).length).toBe(2);
    // The same query again: the same index, never lower.
    expect(Number((await call("GET", "/v1/health/service/web")).index)).toBe(Number(woke.index));
  });
});
