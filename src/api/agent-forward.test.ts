import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService, LockDelays, NODE_CHECKS_ID, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { Server, soloCluster } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, silentLogger, type AclPolicy, type AclToken } from "../structs/index.js";
import { AGENT_NODE_HEADER, decodeAnswers, encodeRequests, FORWARD_BATCH_PATH, type ForwardedAnswer } from "./forward.js";
import { startConsulApi, type RunningHttp } from "./index.js";

/**
 * The leader's side of a follower's forwarded agent writes, over real HTTP on 127.0.0.1: a
 * Consul listener that leads (a cluster of one), sent batches of writes as a follower sends
 * them (`/v1/internal/forward`, the follower's name and its node in the headers). Consul's
 * agent endpoints act on the node of the server that received the write; a server names its
 * own node only. Two servers on etcd, through python-consul: test/e2e/consul-agent-follower.test.ts.
 */
let store: StateStore;
let server: Server;
let open: RunningHttp;
let guarded: RunningHttp;
let registry: ServiceRegistry;
// The leader's own node, the follower's (named as the follower is), and a client node.
const leaderNode = mock.node({ name: "srv-a" });
const followerNode = mock.node({ name: "srv-b" });
const clientNode = mock.node({ name: "worker-1" });

let version = 1;
async function aclRows(name: string, rules: string): Promise<string> {
  const p: AclPolicy = { Name: name, Description: "", Rules: rules, CreateIndex: 1, ModifyIndex: ++version };
  const t: AclToken = { AccessorID: randomUUID(), SecretID: randomUUID(), Name: name, Type: "client", Policies: [name], Global: false, CreateTime: new Date().toISOString(), CreateIndex: 1, ModifyIndex: ++version };
  await store.write((tx) => {
    tx.put("aclPolicies", p);
    tx.put("aclTokens", t);
  });
  return t.SecretID;
}

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger });
  server.start();
  registry = new ServiceRegistry(store, Date.now);
  const consul = {
    catalog: new StoreCatalog(store, "dc1", silentLogger),
    localNode: () => leaderNode.ID,
    version: "1.17.0",
    registry,
    allowScriptChecks: false,
    kv: new KVService(store, { now: Date.now, delays: new LockDelays() }),
  };
  const cluster = soloCluster({ Name: "srv-a", Region: "global", Datacenter: "dc1", HTTPAddr: "", ConsulAddr: "", Build: "test", EtcdMember: "" });
  open = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul, cluster });
  guarded = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul, cluster, acl: { enabled: true, state: store } });
  for (const n of [leaderNode, followerNode, clientNode]) await server.registerNode(n);
});

afterAll(async () => {
  await open.close();
  await guarded.close();
  await server.stop();
});

interface Write {
  path: string;
  body?: unknown;
  token?: string;
}

/** One batch, as the follower `by` sends it, each write naming `node` (undefined: no node header, as a server of an older build). */
async function batch(to: RunningHttp, by: string, node: string | undefined, writes: Write[]): Promise<ForwardedAnswer[]> {
  const items = writes.map((w) => ({
    method: "PUT",
    url: w.path,
    headers: { ...(node === undefined ? {} : { [AGENT_NODE_HEADER]: node }), ...(w.token === undefined ? {} : { "x-consul-token": w.token }) },
    body: Buffer.from(w.body === undefined ? "" : JSON.stringify(w.body)),
  }));
  const res = await fetch(`http://${to.address}${FORWARD_BATCH_PATH}`, { method: "POST", headers: { "x-ruche-forwarded-by": by, "content-type": "application/octet-stream" }, body: encodeRequests(items) });
  expect(res.status).toBe(200);
  return decodeAnswers(Buffer.from(await res.arrayBuffer()));
}

const nodeOf = (serviceId: string): string | undefined => registry.list().find((s) => s.ID === serviceId && s.NodeLevel !== true)?.NodeID;
const nodeChecks = (nodeId: string): string[] => (registry.get(nodeId, NODE_CHECKS_ID)?.Checks ?? []).map((c) => c.CheckID);

describe("writes a follower forwards to the leader's agent endpoints", () => {
  it("act on the follower's node: services, their checks, node checks, maintenance, deregistration", async () => {
    // The writes of one batch are served together: each waits for the one it builds on, as a client does.
    const answers = await batch(open, "srv-b", followerNode.ID, [
      { path: "/v1/agent/service/register", body: { Name: "web", ID: "web-1", Port: 8080, Check: { TTL: "30s" } } },
      { path: "/v1/agent/check/register", body: { Name: "disk", ID: "disk", TTL: "30s" } },
    ]);
    answers.push(...(await batch(open, "srv-b", followerNode.ID, [{ path: "/v1/agent/maintenance?enable=true&reason=upgrade" }])));
    answers.push(...(await batch(open, "srv-b", followerNode.ID, [{ path: "/v1/agent/service/maintenance/web-1?enable=true" }])));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(nodeOf("web-1")).toBe(followerNode.ID);
    expect(nodeChecks(followerNode.ID).sort()).toEqual(["_node_maintenance", "disk"]);
    expect(nodeChecks(leaderNode.ID)).toEqual([]);
    expect(registry.get(followerNode.ID, "web-1")?.Checks.map((c) => c.CheckID).sort()).toEqual(["_service_maintenance:web-1", "service:web-1"]);
    // A service of the follower's node is known by its ID there only: the leader's agent has none by that ID.
    const [pass, passOnLeader] = await Promise.all([batch(open, "srv-b", followerNode.ID, [{ path: "/v1/agent/check/pass/service:web-1?note=ok" }]), batch(open, "srv-a", "", [{ path: "/v1/agent/check/pass/service:web-1" }])]);
    expect(pass[0]?.status).toBe(200);
    expect(registry.get(followerNode.ID, "web-1")?.Checks.find((c) => c.CheckID === "service:web-1")).toMatchObject({ Status: "passing", Output: "ok" });
    expect(passOnLeader[0]?.status).toBe(404);
    const gone: ForwardedAnswer[] = [];
    for (const path of ["/v1/agent/maintenance?enable=false", "/v1/agent/check/deregister/disk", "/v1/agent/service/deregister/web-1"]) gone.push(...(await batch(open, "srv-b", followerNode.ID, [{ path }])));
    expect(gone.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(nodeOf("web-1")).toBeUndefined();
    expect(nodeChecks(followerNode.ID)).toEqual([]);
  });

  it("a session made through the follower is on the follower's node", async () => {
    const [made] = await batch(open, "srv-b", followerNode.ID, [{ path: "/v1/session/create", body: { Name: "lock" } }]);
    expect(made?.status).toBe(200);
    const id = (JSON.parse(made?.body.toString() ?? "{}") as { ID: string }).ID;
    expect(store.session(id)?.Node).toBe("srv-b");
  });

  it("a server names its own node only: another node is refused 403, an unknown one 503 on the agent endpoints, and nothing is written", async () => {
    const [other, unknown] = await Promise.all([
      batch(open, "srv-b", clientNode.ID, [{ path: "/v1/agent/service/register", body: { Name: "api", ID: "api-1" } }]),
      batch(open, "srv-b", randomUUID(), [{ path: "/v1/agent/service/register", body: { Name: "api", ID: "api-2" } }]),
    ]);
    expect(other[0]?.status).toBe(403);
    expect(other[0]?.body.toString()).toMatch(/forwarded by srv-b for node .* \(worker-1\), which is not that server's own node/);
    expect(unknown[0]?.status).toBe(503);
    expect(unknown[0]?.body.toString()).toMatch(/not in the state \(its agent is registering it, or it was purged\)/);
    expect(nodeOf("api-1")).toBeUndefined();
    expect(nodeOf("api-2")).toBeUndefined();
    // A write that is no agent's goes on for a server whose node the state does not have (yet).
    const [kv] = await batch(open, "srv-b", randomUUID(), [{ path: "/v1/kv/fw/key", body: "v" }]);
    expect([kv?.status, kv?.body.toString()]).toEqual([200, "true"]);
  });

  it("the node header means nothing on a request sent directly: it acts on the agent's own node", async () => {
    const res = await fetch(`http://${open.address}/v1/agent/service/register`, { method: "PUT", headers: { [AGENT_NODE_HEADER]: followerNode.ID }, body: JSON.stringify({ Name: "db", ID: "db-1" }) });
    expect(res.status).toBe(200);
    expect(nodeOf("db-1")).toBe(leaderNode.ID);
  });

  it("a follower that names no node (an older build) is served as before, on the leader's node", async () => {
    const [a] = await batch(open, "srv-b", undefined, [{ path: "/v1/agent/service/register", body: { Name: "old", ID: "old-1" } }]);
    expect(a?.status).toBe(200);
    expect(nodeOf("old-1")).toBe(leaderNode.ID);
  });

  it("the ACL rules look at the follower's node, with the caller's token", async () => {
    const mine = await aclRows("srv-b-writer", 'node "srv-b" { policy = "write" }\nservice_prefix "" { policy = "write" }');
    const leaders = await aclRows("srv-a-writer", 'node "srv-a" { policy = "write" }\nservice_prefix "" { policy = "write" }');
    const answers = await batch(guarded, "srv-b", followerNode.ID, [
      { path: "/v1/agent/maintenance?enable=true", token: mine },
      { path: "/v1/agent/check/register", body: { Name: "mem", ID: "mem", TTL: "30s" }, token: leaders },
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 403]);
    expect(answers[1]?.body.toString()).toMatch(/Permission denied/);
    expect(nodeChecks(followerNode.ID)).toEqual(["_node_maintenance"]);
    // A service on the follower's node is found there for its ACL rule: write on its service passes.
    const svc = await aclRows("web-only", 'service "web" { policy = "write" }');
    const reg = await batch(guarded, "srv-b", followerNode.ID, [{ path: "/v1/agent/service/register", body: { Name: "web", ID: "web-9" }, token: svc }]);
    const dereg = [...(await batch(guarded, "srv-b", followerNode.ID, [{ path: "/v1/agent/service/deregister/web-9", token: svc }])), ...(await batch(guarded, "srv-b", followerNode.ID, [{ path: "/v1/agent/maintenance?enable=false", token: mine }]))];
    expect([reg[0]?.status, ...dereg.map((a) => a.status)]).toEqual([200, 200, 200]);
    expect(nodeOf("web-9")).toBeUndefined();
  });
});
