import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCa, type TestCa, type TestCert } from "../../test/tls-certs.js";
import { fetchOver, tlsDispatcher } from "../apiclient/index.js";
import { silentLogger, tlsFailure, type DialTls } from "../structs/index.js";
import type { ClusterView, ServerInfo } from "../server/index.js";
import { AGENT_NODE_HEADER, decodeAnswers, encodeRequests, FORWARD_BATCH_PATH, type AgentNodes } from "./forward.js";
import { Router, startHttp, type RunningHttp } from "./http.js";
import type { ListenerTls } from "./tls-listener.js";

// Real HTTPS on 127.0.0.1: the listener of every API (Ruche's, the Consul port, a node's), with certificates made by a test CA.

let ca: TestCa;
let server: TestCert;
let client: TestCert;
let stranger: TestCert;
let follower: TestCert;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ca = await testCa();
  server = await ca.issue("server.global.nomad", ["server.global.nomad", "localhost", "127.0.0.1"]);
  client = await ca.issue("node-1", ["spiffe://ruche/node/node-1"]);
  stranger = await (await testCa("Another CA")).issue("node-1", ["spiffe://ruche/node/node-1"]);
  follower = await ca.issue("server.global.nomad", ["server.global.nomad", "127.0.0.1"]);
});
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A listener whose one route answers with the client certificate it saw. */
async function listen(tls: Partial<ListenerTls> = {}, maxConnsPerClient?: number): Promise<RunningHttp> {
  const router = new Router().get("/whoami", (req) => ({ body: req.peerCert ?? null })).get("/v1/agent/ca", () => ({ body: "the CA" }));
  const http = await startHttp({
    host: "127.0.0.1",
    port: 0,
    router,
    authorize: () => undefined,
    log: silentLogger,
    tls: { cert: server.cert, key: server.key, ca: ca.cert, requestClientCert: true, ...tls },
    ...(maxConnsPerClient === undefined ? {} : { maxConnsPerClient }),
  });
  closers.push(() => http.close());
  return http;
}

async function get(http: RunningHttp, tls: DialTls, path = "/whoami"): Promise<{ status: number; body: unknown }> {
  const dispatcher = tlsDispatcher(tls);
  try {
    const res = await fetchOver(dispatcher)(new URL(`https://${http.address}${path}`), {});
    return { status: res.status, body: await res.json() };
  } finally {
    await dispatcher.close();
  }
}

describe("an HTTPS listener", () => {
  it("serves a client that trusts its CA, and shows no client certificate when none is given", async () => {
    const http = await listen();
    expect(await get(http, { ca: ca.cert })).toEqual({ status: 200, body: null });
  });

  it("shows handlers the client certificate, verified, with its names", async () => {
    const http = await listen();
    const r = await get(http, { ca: ca.cert, cert: client.cert, key: client.key });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ subject: "node-1", uris: ["spiffe://ruche/node/node-1"] });
  });

  it("is refused by a client that does not trust its CA, which says why", async () => {
    const http = await listen();
    const err = await get(http, {}).catch((e: unknown) => e);
    expect(tlsFailure(err)).toMatch(/^the server's certificate is signed by a CA this client does not trust/);
  });

  it("refuses a client certificate signed by another CA (403, saying so)", async () => {
    const http = await listen();
    const r = await get(http, { ca: ca.cert, cert: stranger.cert, key: stranger.key });
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toMatch(/client certificate \(node-1\) is not trusted/);
  });

  it("with requireClientCert, refuses a request without a client certificate (401), but for the CA a joining node asks for", async () => {
    const http = await listen({ requireClientCert: true });
    const r = await get(http, { ca: ca.cert });
    expect(r.status).toBe(401);
    expect(JSON.stringify(r.body)).toMatch(/requires a client certificate/);
    expect((await get(http, { ca: ca.cert, cert: client.cert, key: client.key })).status).toBe(200);
    expect(await get(http, { ca: ca.cert }, "/v1/agent/ca")).toEqual({ status: 200, body: "the CA" });
  });

  it("answers plain HTTP sent to it with 400 and closes the connection, as Go's servers do", async () => {
    const http = await listen();
    const answer = await new Promise<string>((resolve, reject) => {
      const s = netConnect({ host: "127.0.0.1", port: http.port });
      let text = "";
      const t = setTimeout(() => {
        reject(new Error(`no close within 5 s; got ${JSON.stringify(text)}`));
      }, 5_000);
      s.on("data", (b: Buffer) => (text += b.toString("latin1")));
      s.once("close", () => {
        clearTimeout(t);
        resolve(text);
      });
      s.once("error", () => undefined);
      s.write("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n");
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(answer).toContain("Client sent an HTTP request to an HTTPS server.");
    // And a plain fetch gets that answer, not a hang.
    const res = await fetch(`http://${http.address}/whoami`);
    expect(res.status).toBe(400);
  });

  it("keeps the limit on connections per client, answering the one over it 429 over TLS", async () => {
    const http = await listen({}, 2);
    const sockets = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<ReturnType<typeof tlsConnect>>((resolve, reject) => {
            const s = tlsConnect({ host: "127.0.0.1", port: http.port, ca: ca.cert }, () => {
              resolve(s);
            });
            s.once("error", reject);
          }),
      ),
    );
    const third = await new Promise<string>((resolve, reject) => {
      let text = "";
      const s = tlsConnect({ host: "127.0.0.1", port: http.port, ca: ca.cert });
      const t = setTimeout(() => {
        reject(new Error(`no close within 5 s; got ${JSON.stringify(text)}`));
      }, 5_000);
      s.on("data", (b: Buffer) => (text += b.toString("latin1")));
      s.once("close", () => {
        clearTimeout(t);
        resolve(text);
      });
      s.once("error", () => undefined);
    });
    expect(third).toMatch(/^HTTP\/1\.1 429 Too Many Requests/);
    for (const s of sockets) s.destroy();
  });
});

describe("a write a follower forwards to the leader over mutual TLS", () => {
  const info = (name: string, addr: string): ServerInfo => ({ Name: name, Region: "global", Datacenter: "dc1", HTTPAddr: addr, ConsulAddr: "", Build: "", EtcdMember: "" });
  /** A region of two servers, `leader` and `follower`: only what forwarding reads of the view. */
  function view(self: ServerInfo, leader: () => ServerInfo): ClusterView {
    return { self, isLeader: () => leader().Name === self.Name, leader, barrier: () => Promise.resolve() } as unknown as ClusterView;
  }

  async function region(): Promise<{ leader: RunningHttp; follower: RunningHttp }> {
    const tls = { cert: server.cert, key: server.key, ca: ca.cert, requestClientCert: true, mayForward: (p: { dnsNames: string[] }) => p.dnsNames.includes("server.global.nomad") };
    const router = (): Router => new Router().put("/who", (req) => ({ body: req.peerCert?.subject ?? null })).put("/v1/agent/which", (req) => ({ body: req.receivedBy ?? null }));
    let leaderInfo = info("leader", "");
    const leader = await startHttp({ host: "127.0.0.1", port: 0, router: router(), authorize: () => undefined, log: silentLogger, tls, cluster: { view: view(leaderInfo, () => leaderInfo), flavor: "nomad", nodes: nodes("n-leader") } });
    leaderInfo = info("leader", leader.address);
    const dispatcher = tlsDispatcher({ ca: ca.cert, cert: follower.cert, key: follower.key, serverName: "server.global.nomad" });
    const f = await startHttp({
      host: "127.0.0.1",
      port: 0,
      router: router(),
      authorize: () => undefined,
      log: silentLogger,
      tls,
      cluster: { view: view(info("follower", ""), () => leaderInfo), flavor: "nomad", dial: { scheme: "https", dispatcher }, nodes: nodes("n-follower") },
    });
    closers.push(async () => {
      await f.close();
      await leader.close();
      await dispatcher.close();
    });
    return { leader, follower: f };
  }

  /** Each server's node, named as the server is; and a client node, worker-1. */
  const NAMES: Record<string, string> = { "n-leader": "leader", "n-follower": "follower", "n-worker": "worker-1", "n-srv-x": "srv-x" };
  const nodes = (local: string): AgentNodes => ({ local: () => local, name: (id) => NAMES[id] });

  /** One batch to the leader, as a server would send it, showing `cert`; the node each write is for. */
  async function forwardedBatch(leader: RunningHttp, cert: TestCert, by: string, node: string): Promise<{ status: number; text: string }> {
    const d = tlsDispatcher({ ca: ca.cert, cert: cert.cert, key: cert.key });
    try {
      const body = encodeRequests([{ method: "PUT", url: "/v1/agent/which", headers: { [AGENT_NODE_HEADER]: node }, body: Buffer.from("{}") }]);
      const res = await fetchOver(d)(new URL(`https://${leader.address}${FORWARD_BATCH_PATH}`), { method: "POST", headers: { "x-ruche-forwarded-by": by, "content-type": "application/octet-stream" }, body });
      if (res.status !== 200) return { status: res.status, text: await res.text() };
      const [a] = decodeAnswers(Buffer.from(await res.arrayBuffer()));
      return { status: a?.status ?? 0, text: a?.body.toString() ?? "" };
    } finally {
      await d.close();
    }
  }

  it("carries the follower's node with each write, which the leader believes of a server's certificate for that server's own node only", async () => {
    const { follower: f, leader } = await region();
    const d = tlsDispatcher({ ca: ca.cert });
    try {
      const res = await fetchOver(d)(new URL(`https://${f.address}/v1/agent/which`), { method: "PUT", headers: { [AGENT_NODE_HEADER]: "n-worker" }, body: "{}" });
      // The header a client sends is dropped: the follower names its own node.
      expect(await res.json()).toEqual({ server: "follower", node: "n-follower" });
    } finally {
      await d.close();
    }
    // A server's certificate naming no server: the server the batch says it comes from, for its own node only.
    expect(await forwardedBatch(leader, follower, "follower", "n-follower")).toEqual({ status: 200, text: JSON.stringify({ server: "follower", node: "n-follower" }) });
    const other = await forwardedBatch(leader, follower, "follower", "n-worker");
    expect(other.status).toBe(403);
    expect(other.text).toMatch(/forwarded by follower for node n-worker \(worker-1\), which is not that server's own node/);
    // A certificate naming its server (spiffe://ruche/global/server/srv-x): that server, whatever the batch says.
    const named = await ca.issue("srv-x", ["spiffe://ruche/global/server/srv-x", "server.global.nomad"]);
    expect(await forwardedBatch(leader, named, "follower", "n-srv-x")).toEqual({ status: 200, text: JSON.stringify({ server: "srv-x", node: "n-srv-x" }) });
    expect((await forwardedBatch(leader, named, "follower", "n-follower")).status).toBe(403);
    // A client node's certificate forwards nothing, for no node.
    const node = await forwardedBatch(leader, client, "node-1", "n-worker");
    expect(node.status).toBe(403);
    expect(node.text).toMatch(/not a server's/);
  });

  async function put(http: RunningHttp, tls: DialTls, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
    const d = tlsDispatcher(tls);
    try {
      const res = await fetchOver(d)(new URL(`https://${http.address}/who`), { method: "PUT", headers: { "content-type": "application/json", ...headers }, body: "{}" });
      return { status: res.status, body: await res.json() };
    } finally {
      await d.close();
    }
  }

  it("reaches the leader over TLS, which sees the client certificate the write came to the follower with", async () => {
    const { follower: f } = await region();
    expect(await put(f, { ca: ca.cert, cert: client.cert, key: client.key })).toEqual({ status: 200, body: "node-1" });
    expect(await put(f, { ca: ca.cert })).toEqual({ status: 200, body: null });
  });

  it("does not believe a certificate header a client sends itself", async () => {
    const { follower: f, leader } = await region();
    const forged = Buffer.from(JSON.stringify({ subject: "admin", uris: [], dnsNames: [], ips: [], fingerprint256: "", validTo: new Date().toISOString() })).toString("base64");
    expect(await put(f, { ca: ca.cert }, { "x-ruche-peer-cert": forged })).toEqual({ status: 200, body: null });
    expect(await put(leader, { ca: ca.cert }, { "x-ruche-peer-cert": forged })).toEqual({ status: 200, body: null });
  });

  it("refuses a batch of forwarded writes from a certificate that is not a server's", async () => {
    const { leader } = await region();
    const d = tlsDispatcher({ ca: ca.cert, cert: client.cert, key: client.key });
    try {
      const body = encodeRequests([{ method: "PUT", url: "/who", headers: { "x-ruche-peer-cert": "e30=" }, body: Buffer.from("{}") }]);
      const res = await fetchOver(d)(new URL(`https://${leader.address}${FORWARD_BATCH_PATH}`), { method: "POST", headers: { "x-ruche-forwarded-by": "node-1", "content-type": "application/octet-stream" }, body });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/not a server's/);
    } finally {
      await d.close();
    }
  });
});

describe("certificates renewed while running", () => {
  it("serves new connections with the listener's new certificate, and dials with the client's new one", async () => {
    const http = await listen();
    const renewedServer = await ca.issue("server renewed", ["127.0.0.1"]);
    const renewedClient = await ca.issue("node-1 renewed", ["spiffe://ruche/node/node-1"]);
    let current = { ca: ca.cert, cert: client.cert, key: client.key };
    const d = tlsDispatcher(() => current, { pipelining: 0 });
    const who = async (): Promise<unknown> => {
      const res = await fetchOver(d)(new URL(`https://${http.address}/whoami`), { headers: { connection: "close" } });
      return ((await res.json()) as { subject: string }).subject;
    };
    try {
      expect(await who()).toBe("node-1");
      current = { ...current, cert: renewedClient.cert, key: renewedClient.key };
      http.setTls?.({ cert: renewedServer.cert, key: renewedServer.key, ca: ca.cert });
      expect(await who()).toBe("node-1 renewed");
      const seen = await new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: "127.0.0.1", port: http.port, ca: ca.cert }, () => {
          const cn = s.getPeerCertificate().subject.CN;
          s.destroy();
          resolve(Array.isArray(cn) ? cn.join() : (cn ?? ""));
        });
        s.once("error", reject);
      });
      expect(seen).toBe("server renewed");
    } finally {
      await d.close();
    }
  });
});
