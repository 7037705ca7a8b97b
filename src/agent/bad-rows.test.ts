/**
 * One bad row in the store — written straight into it, past the API's validation — must
 * not take down service discovery: the catalog, health and agent endpoints on the API and
 * on the Consul port, DNS over real UDP, the catalog snapshot and the router all go on
 * answering with the good rows, and the bad row is logged once. Wired as `startAgent`
 * wires a server with a router, in one process, on a memory store: the test writes the
 * rows itself.
 */
import { createSocket } from "node:dgram";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as packet from "dns-packet";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, startConsulApi, type RunningHttp } from "../api/index.js";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { startDns, type DnsServer } from "../dns/index.js";
import { DEFAULT_ROUTER_CONFIG, startRouter, type RunningRouter } from "../router/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { runRegisteredChecks } from "./registered-checks.js";
import { mock, type Allocation, type Logger, type Node, type RegisteredService } from "../structs/index.js";

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}
const lines: Line[] = [];
const capture: Logger = {
  debug: (fields, msg) => lines.push({ level: "debug", fields, msg }),
  info: (fields, msg) => lines.push({ level: "info", fields, msg }),
  warn: (fields, msg) => lines.push({ level: "warn", fields, msg }),
  error: (fields, msg) => lines.push({ level: "error", fields, msg }),
};
/** Lines at warn or above that mention `text` in their message or fields (errors by their message). */
const mentioning = (text: string): Line[] =>
  lines.filter((l) => (l.level === "warn" || l.level === "error") && `${l.msg} ${JSON.stringify(l.fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`.includes(text));

let store: StateStore;
let server: Server;
let api: RunningHttp;
let consul: RunningHttp;
let dns: DnsServer;
let router: RunningRouter;
let stopChecks: () => void;
const backends: HttpServer[] = [];
const goodNode = mock.node({ name: "good-node" });
const badNode: Node = { ...mock.node({ name: "bad-node" }), Resources: null, Attributes: "not an object" } as unknown as Node;

async function backend(name: string): Promise<number> {
  const s = createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  backends.push(s);
  return (s.address() as AddressInfo).port;
}

function service(id: string, port: number): RegisteredService {
  return { ID: id, Name: id, Tags: [], Address: "127.0.0.1", Port: port, Meta: {}, NodeID: goodNode.ID, Checks: [], CreateIndex: 0, ModifyIndex: 0 };
}

async function getJson(base: string, path: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://${base}${path}`);
  const text = await res.text();
  return { status: res.status, json: res.headers.get("content-type")?.includes("json") === true ? (JSON.parse(text) as unknown) : text };
}

/** One DNS question over UDP to the agent's DNS port; rejects after 2 s without an answer. */
async function dig(name: string, type: "A" | "SRV"): Promise<packet.DecodedPacket> {
  const sock = createSocket("udp4");
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no DNS answer for ${name} within 2s`));
      }, 2000);
      sock.on("message", (msg) => {
        clearTimeout(timer);
        resolve(packet.decode(msg));
      });
      sock.send(packet.encode({ type: "query", id: 7, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] }), dns.port, "127.0.0.1");
    });
  } finally {
    sock.close();
  }
}

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: capture });
  server.start();
  const registry = new ServiceRegistry(store, Date.now);
  stopChecks = runRegisteredChecks(registry, () => goodNode.ID, capture);
  const catalog = new StoreCatalog(store, "dc1", capture);
  const opts = { catalog, localNode: () => goodNode.ID, version: "1.17.0", registry, allowScriptChecks: false, kv: new KVService(store, { now: Date.now, delays: new LockDelays() }) };
  api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: capture, consul: opts });
  consul = await startConsulApi({ host: "127.0.0.1", port: 0, log: capture, consul: opts });
  dns = await startDns({ host: "127.0.0.1", port: 0, catalog, logger: capture });
  await server.registerNode(goodNode);
  await registry.register(service("good", await backend("good")));
  router = await startRouter({ catalog, config: { ...DEFAULT_ROUTER_CONFIG, allowLoopbackBackends: true }, host: "127.0.0.1", port: 0, dashboardPort: -1, logger: capture });
});

afterAll(async () => {
  stopChecks();
  await router.close();
  await dns.close();
  await consul.close();
  await api.close();
  await server.stop();
  for (const s of backends) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe("a bad row in the store", () => {
  it("is skipped and logged once, and every face of the catalog serves the rest; a new healthy service is routed", async () => {
    // A node without resources and with attributes that are not an object; a registered
    // service whose tags and checks are not lists; an allocation whose job has no groups.
    const brokenService = { ...service("broken", 1), Tags: "web", Checks: null } as unknown as RegisteredService;
    const job = mock.job({ id: "lame" });
    const brokenAlloc = { ...mock.alloc(job, goodNode, 0, { ClientStatus: "running" }), Job: { ...job, TaskGroups: null } } as unknown as Allocation;
    await store.write((tx) => {
      tx.put("nodes", badNode);
      tx.put("services", brokenService);
      tx.put("allocs", brokenAlloc);
    });

    // A service registered afterwards, as a Consul client registers it, on the Consul port.
    const freshPort = await backend("fresh");
    const reg = await fetch(`http://${consul.address}/v1/agent/service/register`, { method: "PUT", body: JSON.stringify({ Name: "fresh", Address: "127.0.0.1", Port: freshPort }) });
    expect(reg.status).toBe(200);
    // A TTL check of this agent's, passed while the bad service row is on the same node.
    const ttl = await fetch(`http://${consul.address}/v1/agent/service/register`, { method: "PUT", body: JSON.stringify({ Name: "beat", Port: 1, Check: { TTL: "30s" } }) });
    expect(ttl.status).toBe(200);
    expect((await fetch(`http://${consul.address}/v1/agent/check/pass/service:beat`, { method: "PUT" })).status).toBe(200);

    for (const base of [api.address, consul.address]) {
      const services = await getJson(base, "/v1/catalog/services");
      expect(services.status).toBe(200);
      expect(Object.keys(services.json as object).sort()).toEqual(["beat", "fresh", "good"]);
      const health = await getJson(base, "/v1/health/service/good");
      expect(health.status).toBe(200);
      expect(health.json).toMatchObject([{ Node: { Node: "good-node" }, Service: { ID: "good", Port: expect.any(Number) as number } }]);
      const nodes = await getJson(base, "/v1/catalog/nodes");
      expect(nodes.status).toBe(200);
      expect((nodes.json as { Node: string }[]).map((n) => n.Node)).toEqual(["good-node"]);
      const agent = await getJson(base, "/v1/agent/services");
      expect(agent.status).toBe(200);
      expect(Object.keys(agent.json as object).sort()).toEqual(["beat", "fresh", "good"]);
      const checks = await getJson(base, "/v1/agent/checks");
      expect(checks.status).toBe(200);
      const state = await getJson(base, "/v1/health/state/any");
      expect(state.status).toBe(200);
    }
    const snap = await getJson(api.address, "/v1/catalog/snapshot");
    expect(snap.status).toBe(200);
    expect((snap.json as { instances: { ID: string }[] }).instances.map((i) => i.ID).sort()).toEqual(["beat", "fresh", "good"]);

    const a = await dig("good.service.consul", "A");
    expect((a as { rcode?: unknown }).rcode).toBe("NOERROR");
    expect(a.answers?.map((x) => x.type === "A" && x.data)).toEqual(["127.0.0.1"]);
    const srv = await dig("fresh.service.consul", "SRV");
    expect(srv.answers?.map((x) => x.type === "SRV" && x.data.port)).toEqual([freshPort]);

    // The router's table is built from the same catalog: the new service is routed, not 404.
    const through = async (): Promise<{ status: number; body: string }> => {
      const r = await request(`http://${router.address}/`, { headers: { host: "fresh" } });
      return { status: r.statusCode, body: await r.body.text() };
    };
    const t0 = Date.now();
    let routed = await through();
    while (routed.status !== 200 && Date.now() - t0 < 3000) routed = await through();
    expect(routed).toEqual({ status: 200, body: "fresh" });

    // Logged once each, whatever the number of requests and of the catalog's rebuilds since.
    expect(mentioning(badNode.ID)).toHaveLength(1);
    expect(mentioning(brokenAlloc.ID)).toHaveLength(1);
    expect(mentioning(`${goodNode.ID}/broken`)).toHaveLength(1);
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
  });
});
