import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { SimulatedNode } from "../client/sim.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { startApi, startConsulApi, type CatalogApi, type RunningHttp } from "./index.js";

/**
 * A node's secret (what it proves it is the node with) goes in and never comes out: not in
 * an answer of either API, not in the event stream, not in a log line, not in an error.
 */

let store: StateStore;
let server: Server;
let api: RunningHttp;
let consul: RunningHttp;
let node: SimulatedNode;
const logged: string[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logged.push(chunk.toString("utf8"));
      done();
    },
  });
  const log = pino({ level: "trace" }, sink);
  store = await StateStore.open(memoryBackend(), { log });
  server = new Server(store);
  server.start();
  const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
  const catalog: CatalogApi = { catalog: new StoreCatalog(store, "dc1", log), localNode: () => node.node.ID, version: "1.17.0", registry: new ServiceRegistry(store, Date.now), allowScriptChecks: false, kv };
  api = await startApi(server, store, { host: "127.0.0.1", port: 0, log, consul: catalog });
  consul = await startConsulApi({ host: "127.0.0.1", port: 0, log, consul: catalog });
});

afterAll(async () => {
  await node.kill();
  await Promise.all([api.close(), consul.close()]);
  await server.stop();
});

async function text(to: RunningHttp, path: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${to.address}${path}`, init);
  return { status: res.status, text: await res.text() };
}

describe("a node's secret", () => {
  it("is in no answer, event, error or log line", async () => {
    const events = new AbortController();
    const stream = await fetch(`http://${api.address}/v1/event/stream`, { signal: events.signal });
    const reader = stream.body!.getReader();

    node = new SimulatedNode(httpTransport(new ApiClient(api.address)), { name: "n1" });
    await node.start();
    const { ID: id, SecretID: secret, Name: name } = node.node;
    expect(store.node(id)?.SecretID).toBe(secret);

    let streamed = "";
    while (!streamed.includes(`"Topic":"Node"`)) {
      const chunk = (await reader.read()) as { value: Uint8Array | undefined };
      streamed += new TextDecoder().decode(chunk.value);
    }
    events.abort();

    const answers: Record<string, string> = { "event stream": streamed };
    for (const path of [`/v1/nodes`, `/v1/node/${id}`, `/v1/node/${id}/allocations`, "/v1/agent/self", "/v1/agent/members", "/v1/catalog/nodes", `/v1/catalog/node/${name}`, `/v1/health/node/${name}`, "/v1/metrics", "/v1/status/leader"]) {
      for (const to of path.startsWith("/v1/node") || path === "/v1/metrics" ? [api] : [api, consul]) {
        const r = await text(to, path);
        expect({ path, status: r.status }).toEqual({ path, status: 200 });
        answers[`${to === api ? "api" : "consul"} ${path}`] = r.text;
      }
    }
    // Refusals: another secret for the node, the node's secret on another node's route.
    const wrong = await text(api, `/v1/client/allocations/${id}`, { headers: { "x-ruche-node-secret": `${secret}-not` } });
    expect(wrong.status).toBe(403);
    answers["wrong secret"] = wrong.text;
    const again = await text(api, "/v1/client/register", { method: "PUT", body: JSON.stringify({ Node: { ...node.node, SecretID: "another" } }) });
    expect(again.status).toBe(400);
    answers["registered again with another secret"] = again.text;

    for (const [where, body] of Object.entries(answers)) expect({ where, leaks: body.includes(secret) }).toEqual({ where, leaks: false });
    expect(answers[`api /v1/node/${id}`]).toContain(id);
    const lines = logged.join("");
    expect(lines).toContain("/v1/client/allocations");
    expect(lines.includes(secret)).toBe(false);
  });
});
