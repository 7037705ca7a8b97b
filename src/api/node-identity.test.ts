/**
 * Only a joined node registers and speaks for itself, through real HTTPS on 127.0.0.1 with
 * certificates of the cluster's CA (src/pki): a leader and a follower API over one memory
 * store (the follower forwards every write to the leader, with the certificate the write
 * came with); an API with ACLs on and no TLS; the agent's own key; a real -dev agent.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../agent/index.js";
import { ApiClient, fetchOver, tlsDispatcher } from "../apiclient/index.js";
import { agentConfigFromArgs } from "../cli/commands/agent.js";
import { createCa, createKeyAndCsr, issueServerCert, signCsr, type Ca, type NodeIdentity } from "../pki/index.js";
import { Server, type ClusterView, type ServerInfo } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { loadAclPolicyParser } from "../jobspec/index.js";
import { mock, silentLogger, type AclPolicy, type AclToken, type DialTls, type Node } from "../structs/index.js";
import { encodeRequests, FORWARD_BATCH_PATH } from "./forward.js";
import { startApi, type RunningHttp } from "./index.js";
import { encodePeer, type ListenerTls } from "./tls-listener.js";

interface Cert {
  cert: string;
  key: string;
}

let ca: Ca;
let store: StateStore;
let server: Server;
let leader: RunningHttp;
let follower: RunningHttp;
const closers: (() => Promise<unknown>)[] = [];

async function nodeCert(id: NodeIdentity): Promise<Cert> {
  const { csrPem, keyPem } = await createKeyAndCsr(id);
  return { cert: await signCsr(ca, csrPem, id), key: keyPem };
}

function info(name: string, addr: string): ServerInfo {
  return { Name: name, Region: "global", Datacenter: "dc1", HTTPAddr: addr, ConsulAddr: "", Build: "", EtcdMember: "" };
}

/** Two servers of one region as a follower sees them: the leader is the other one. */
function view(self: ServerInfo, lead: () => ServerInfo): ClusterView {
  return {
    self,
    isLeader: () => lead().Name === self.Name,
    leader: lead,
    members: () => [],
    lastContact: () => 0,
    barrier: () => Promise.resolve(),
  } as unknown as ClusterView;
}

const dispatchers = new Map<Cert | undefined, ReturnType<typeof tlsDispatcher>>();

/** A request over HTTPS, showing `as` (none: no client certificate). */
async function call(http: RunningHttp, method: string, path: string, o: { as?: Cert; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; text: string }> {
  let d = dispatchers.get(o.as);
  if (d === undefined) {
    const tls: DialTls = { ca: ca.certPem, ...(o.as === undefined ? {} : { cert: o.as.cert, key: o.as.key }) };
    d = tlsDispatcher(tls);
    dispatchers.set(o.as, d);
  }
  const res = await fetchOver(d)(new URL(`https://${http.address}${path}`), {
    method,
    headers: { "content-type": "application/json", ...o.headers },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
  return { status: res.status, text: await res.text() };
}

const register = (http: RunningHttp, node: Node, as?: Cert): Promise<{ status: number; text: string }> => call(http, "PUT", "/v1/client/register", { ...(as === undefined ? {} : { as }), body: { Node: node } });
const secretOf = (node: Node): Record<string, string> => ({ "x-ruche-node-secret": node.SecretID });

let certA: Cert;
let certB: Cert;
let nodeA: Node;
let nodeB: Node;

beforeAll(async () => {
  ca = await createCa({ region: "global" });
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger });
  server.start();
  const s1 = await issueServerCert(ca, { region: "global", name: "s1" });
  const s2 = await issueServerCert(ca, { region: "global", name: "s2" });
  // As an agent with the operator's certificates and no verify_server_hostname: no `mayForward`, the default trust.
  const tls = (c: { certPem: string; keyPem: string }): ListenerTls => ({ cert: c.certPem, key: c.keyPem, ca: ca.certPem, requestClientCert: true });
  let leaderInfo = info("s1", "");
  leader = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, cluster: view(leaderInfo, () => leaderInfo), wire: { tls: tls(s1) } });
  leaderInfo = info("s1", leader.address);
  const toLeader = tlsDispatcher({ ca: ca.certPem, cert: s2.certPem, key: s2.keyPem, serverName: "server.global.ruche" });
  follower = await startApi(server, store, {
    host: "127.0.0.1",
    port: 0,
    log: silentLogger,
    cluster: view(info("s2", ""), () => leaderInfo),
    wire: { tls: tls(s2), dial: { scheme: "https", dispatcher: toLeader } },
  });
  closers.push(() => follower.close(), () => leader.close(), () => toLeader.close(), () => server.stop());
  certA = await nodeCert({ region: "global", role: "client", name: "node-a" });
  certB = await nodeCert({ region: "global", role: "client", name: "node-b" });
  nodeA = mock.node({ name: "node-a" });
  nodeB = mock.node({ name: "node-b" });
  expect((await register(leader, nodeA, certA)).status).toBe(200);
  expect((await register(leader, nodeB, certB)).status).toBe(200);
});

afterAll(async () => {
  for (const d of dispatchers.values()) await d.close();
  for (const c of closers.reverse()) await c();
});

describe("over TLS, a node registers with its certificate of the cluster's CA", () => {
  it("refuses a registration without a client certificate, and writes nothing", async () => {
    const rogue = mock.node({ name: "rogue" });
    const r = await register(leader, rogue);
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/over TLS a node registers with its client certificate, signed by the cluster's CA, and none came with this request/);
    expect(store.node(rogue.ID)).toBeUndefined();
  });

  it("refuses a registration under another name than the certificate's, naming both", async () => {
    const r = await register(leader, { ...mock.node({ name: "node-b" }) }, certA);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toMatchObject({ error: { code: "RUCHE_FORBIDDEN" } });
    expect(r.text).toContain('the client certificate speaks for node \\"node-a\\" (spiffe://ruche/global/client/node-a), not for node \\"node-b\\"');
  });

  it("refuses a certificate of another region", async () => {
    const eu = await nodeCert({ region: "eu", role: "client", name: "node-e" });
    const r = await register(leader, mock.node({ name: "node-e" }), eu);
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/region \\"eu\\".*this server is of region \\"global\\"/);
  });

  it("lets a server's certificate register the node of its own agent (a server and client agent), under its name only", async () => {
    const s3 = await issueServerCert(ca, { region: "global", name: "s3" });
    const as = { cert: s3.certPem, key: s3.keyPem };
    expect((await register(leader, mock.node({ name: "s3" }), as)).status).toBe(200);
    expect((await register(leader, mock.node({ name: "node-c" }), as)).status).toBe(403);
  });

  it("refuses the node's ID registered again with another secret, as Nomad does", async () => {
    const r = await register(leader, { ...nodeA, SecretID: randomUUID() }, certA);
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/node secret ID does not match\. Not registering node/);
    expect(store.node(nodeA.ID)?.SecretID).toBe(nodeA.SecretID);
  });
});

describe("over TLS, node A's certificate does not speak for node B, even with B's secret", () => {
  it("cannot heartbeat, read or update B's allocations; B's own certificate can", async () => {
    const asB = { headers: secretOf(nodeB) };
    const beat = await call(leader, "PUT", `/v1/client/heartbeat/${nodeB.ID}`, { ...asB, as: certA, body: {} });
    expect(beat.status).toBe(403);
    expect(beat.text).toContain('speaks for node \\"node-a\\"');
    expect(beat.text).toContain(`not for node \\"node-b\\" (${nodeB.ID}): it may not heartbeat for it`);
    const read = await call(leader, "GET", `/v1/client/allocations/${nodeB.ID}`, { ...asB, as: certA });
    expect(read.status).toBe(403);
    expect(read.text).toMatch(/may not read the allocations of it/);
    const update = await call(leader, "PUT", `/v1/client/allocations/${nodeB.ID}`, { ...asB, as: certA, body: { Allocs: [{ ID: randomUUID(), ClientStatus: "running" }] } });
    expect(update.status).toBe(403);
    expect(update.text).toMatch(/may not update the allocations of it/);
    // Without a certificate at all, B's secret is not enough either.
    expect((await call(leader, "PUT", `/v1/client/heartbeat/${nodeB.ID}`, { ...asB, body: {} })).status).toBe(403);

    expect((await call(leader, "PUT", `/v1/client/heartbeat/${nodeB.ID}`, { ...asB, as: certB, body: {} })).status).toBe(200);
    expect((await call(leader, "GET", `/v1/client/allocations/${nodeB.ID}`, { ...asB, as: certB })).status).toBe(200);
    expect((await call(leader, "PUT", `/v1/client/allocations/${nodeB.ID}`, { ...asB, as: certB, body: { Allocs: [] } })).status).toBe(200);
    // B's certificate with A's secret on A's routes: the certificate is B's, the secret does not make it A.
    expect((await call(leader, "PUT", `/v1/client/heartbeat/${nodeA.ID}`, { headers: secretOf(nodeA), as: certB, body: {} })).status).toBe(403);
  });
});

describe("through a follower, which forwards writes to the leader with the certificate they came with", () => {
  it("checks the certificate the follower saw: A's cannot register B's name or heartbeat for B; A's own calls pass", async () => {
    const r = await register(follower, mock.node({ name: "node-b" }), certA);
    expect(r.status).toBe(403);
    expect(r.text).toContain('speaks for node \\"node-a\\"');
    const beat = await call(follower, "PUT", `/v1/client/heartbeat/${nodeB.ID}`, { headers: secretOf(nodeB), as: certA, body: {} });
    expect(beat.status).toBe(403);
    expect(beat.text).toContain('not for node \\"node-b\\"');
    expect((await register(follower, mock.node({ name: "rogue-2" }))).status).toBe(403);

    expect((await register(follower, nodeA, certA)).status).toBe(200);
    expect((await call(follower, "PUT", `/v1/client/heartbeat/${nodeA.ID}`, { headers: secretOf(nodeA), as: certA, body: {} })).status).toBe(200);
    expect((await call(follower, "GET", `/v1/client/allocations/${nodeA.ID}`, { headers: secretOf(nodeA), as: certA })).status).toBe(200);
  });

  it("does not let a node's certificate send the leader a batch saying its writes came with another node's certificate", async () => {
    const claimed = { subject: "node-b", uris: ["spiffe://ruche/global/client/node-b"], dnsNames: [], ips: [], fingerprint256: "", validTo: new Date(Date.now() + 3_600_000) };
    const body = encodeRequests([{ method: "PUT", url: `/v1/client/heartbeat/${nodeB.ID}`, headers: { ...secretOf(nodeB), "x-ruche-peer-cert": encodePeer(claimed), "content-type": "application/json" }, body: Buffer.from("{}") }]);
    const d = tlsDispatcher({ ca: ca.certPem, cert: certA.cert, key: certA.key });
    try {
      const res = await fetchOver(d)(new URL(`https://${leader.address}${FORWARD_BATCH_PATH}`), { method: "POST", headers: { "x-ruche-forwarded-by": "s9", "content-type": "application/octet-stream" }, body });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/node-a is not a server's: only servers forward writes/);
    } finally {
      await d.close();
    }
  });
});

describe("without TLS, with ACLs on", () => {
  let aclStore: StateStore;
  let aclServer: Server;
  let api: RunningHttp;
  let version = 1;

  async function tokenWith(rules: string): Promise<string> {
    const name = `p-${++version}`;
    const p: AclPolicy = { Name: name, Description: "", Rules: rules, CreateIndex: 1, ModifyIndex: version };
    const t: AclToken = { AccessorID: randomUUID(), SecretID: randomUUID(), Name: name, Type: "client", Policies: [name], Global: false, CreateTime: new Date().toISOString(), CreateIndex: 1, ModifyIndex: version };
    await aclStore.write((tx) => {
      tx.put("aclPolicies", p);
      tx.put("aclTokens", t);
    });
    return t.SecretID;
  }

  const plain = async (path: string, o: { token?: string; body: unknown; headers?: Record<string, string> }): Promise<{ status: number; text: string }> => {
    const res = await fetch(`http://${api.address}${path}`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...(o.token === undefined ? {} : { "x-nomad-token": o.token }), ...o.headers },
      body: JSON.stringify(o.body),
    });
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    await loadAclPolicyParser();
    aclStore = await StateStore.open(memoryBackend());
    aclServer = new Server(aclStore, { log: silentLogger });
    aclServer.start();
    api = await startApi(aclServer, aclStore, { host: "127.0.0.1", port: 0, log: silentLogger, acl: { enabled: true } });
  });

  afterAll(async () => {
    await api.close();
    await aclServer.stop();
  });

  it("registers a node only with a token with node:write (Nomad's right for node writes); its calls then need its secret, no token", async () => {
    const n = mock.node({ name: "acl-node" });
    const anonymous = await plain("/v1/client/register", { body: { Node: n } });
    expect(anonymous.status).toBe(403);
    expect(JSON.parse(anonymous.text)).toEqual({ error: { code: "RUCHE_FORBIDDEN", message: "Permission denied" } });
    const reader = await plain("/v1/client/register", { token: await tokenWith('node { policy = "read" }'), body: { Node: n } });
    expect(reader.status).toBe(403);
    expect(aclStore.node(n.ID)).toBeUndefined();
    const unknown = await plain("/v1/client/register", { token: randomUUID(), body: { Node: n } });
    expect(unknown.status).toBe(403);
    expect(unknown.text).toMatch(/ACL token not found/);

    expect((await plain("/v1/client/register", { token: await tokenWith('node { policy = "write" }'), body: { Node: n } })).status).toBe(200);
    expect((await plain(`/v1/client/heartbeat/${n.ID}`, { body: {}, headers: secretOf(n) })).status).toBe(200);
  });
});

describe("the agent's own key", () => {
  it("lets the agent's own nodes register where only they may (-dev), and nobody else", async () => {
    const s = new Server(await StateStore.open(memoryBackend()), { log: silentLogger });
    s.start();
    const key = randomUUID();
    const api = await startApi(s, s.store, { host: "127.0.0.1", port: 0, log: silentLogger, nodes: { localKey: key, ownNodesOnly: true } });
    try {
      const put = (node: Node, headers: Record<string, string> = {}): Promise<Response> =>
        fetch(`http://${api.address}/v1/client/register`, { method: "PUT", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ Node: node }) });
      const foreign = await put(mock.node({ name: "foreign" }));
      expect(foreign.status).toBe(403);
      expect(await foreign.text()).toMatch(/registers only its own node/);
      expect((await put(mock.node({ name: "foreign" }), { "x-ruche-node-key": `${key}x` })).status).toBe(403);
      expect((await put(mock.node({ name: "own" }), { "x-ruche-node-key": key })).status).toBe(200);
    } finally {
      await api.close();
      await s.stop();
    }
  });
});

describe("a client-only agent, with ACLs on and TLS off", () => {
  let dir = "";
  const running: RunningAgent[] = [];

  afterAll(async () => {
    for (const a of running.reverse()) await a.stop();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("registers its node with its token (-token), which needs node:write", async () => {
    dir = mkdtempSync(join(tmpdir(), "ruche-node-token-"));
    const common = ["-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-acl-enabled", "-tls-enabled=false"];
    const { config: sc } = await agentConfigFromArgs(["-server", "-data-dir", join(dir, "server"), ...common], dir);
    const serverAgent = await startAgent({ ...sc, logLevel: "error" }, () => undefined);
    running.push(serverAgent);
    const management = (await new ApiClient(serverAgent.address).aclBootstrap()).body.SecretID ?? "";
    const admin = new ApiClient(serverAgent.address, { token: management });
    await admin.aclPolicyApply("node-writer", { Rules: 'node { policy = "write" }' });
    const nodeToken = (await admin.aclTokenCreate({ Name: "client agent", Type: "client", Policies: ["node-writer"] })).body.SecretID ?? "";
    // Without the token, registering is refused: the route says so to anyone who tries.
    const anonymous = await fetch(`http://${serverAgent.address}/v1/client/register`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ Node: mock.node({ name: "no-token" }) }) });
    expect(anonymous.status).toBe(403);

    const { config: cc } = await agentConfigFromArgs(["-client", "-servers", serverAgent.address, "-data-dir", join(dir, "client"), "-node", "with-token", "-token", nodeToken, ...common.filter((a) => a !== "-acl-enabled")], dir);
    const clientAgent = await startAgent({ ...cc, logLevel: "error" }, () => undefined);
    running.push(clientAgent);
    const nodes = (await admin.nodes()).body;
    expect(nodes.map((n) => [n.Name, n.Status])).toEqual([["with-token", "ready"]]);
  });
});

describe("a -dev agent", () => {
  let dir = "";
  let agent: RunningAgent | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ruche-node-identity-"));
    const { config } = await agentConfigFromArgs(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-etcd-port", "-1"], dir);
    agent = await startAgent({ ...config, logLevel: "error" }, () => undefined);
  });

  afterAll(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a node of another process (403) while its own node is registered and ready", async () => {
    const base = `http://${agent?.address ?? ""}`;
    const foreign = mock.node({ name: "foreign" });
    const res = await fetch(`${base}/v1/client/register`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ Node: foreign }) });
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/this -dev agent registers only its own node/);
    const nodes = (await (await fetch(`${base}/v1/nodes`)).json()) as { ID: string; Status: string }[];
    expect(nodes.map((n) => n.ID)).toEqual([agent?.nodeId]);
    expect(nodes[0]?.Status).toBe("ready");
  });
});
