import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { startApi, startConsulApi, startNodeApi, type CatalogApi, type NodeLocal, type RunningHttp } from "./index.js";

/**
 * A web page on another site makes its visitor's browser send a "simple" write (a POST with a
 * text/plain body, which needs no preflight) to the agent on 127.0.0.1: each listener refuses
 * it, and still takes the same bytes from a client that is not a browser.
 */

let store: StateStore;
let server: Server;
let api: RunningHttp;
let consul: RunningHttp;
let node: RunningHttp;
const execs: string[][] = [];

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store);
  server.start();
  const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
  const catalog: CatalogApi = { catalog: new StoreCatalog(store, "dc1"), localNode: () => "n1", version: "1.17.0", registry: new ServiceRegistry(store, Date.now), allowScriptChecks: false, kv };
  api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, consul: catalog });
  consul = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul: catalog });
  // The node agent's side, stood in for: what matters is whether a command reaches it.
  const local: NodeLocal = {
    has: () => true,
    tasks: () => ["web"],
    logs: () => {
      throw new Error("no logs here");
    },
    exec: (_alloc, _task, cmd) => {
      execs.push(cmd);
      return Promise.resolve({ exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut: false });
    },
  };
  node = await startNodeApi({ host: "127.0.0.1", port: 0, log: silentLogger, local, ids: () => ["a1"] });
});

afterAll(async () => {
  await Promise.all([api.close(), consul.close(), node.close()]);
  await server.stop();
});

/** One request with exactly these headers (fetch adds its own). */
function send(to: RunningHttp, method: string, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: to.port, method, path, headers: { "content-length": Buffer.byteLength(body), ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const job = (id: string): string => JSON.stringify({ Job: { ID: id, Name: id, Datacenters: ["dc1"], TaskGroups: [{ Name: "g", Count: 1, Tasks: [{ Name: "t", Driver: "mock" }] }] } });
const TEXT = { "content-type": "text/plain;charset=UTF-8" };
const EVIL = { ...TEXT, origin: "http://evil.example" };

describe("cross-site writes", () => {
  it("refuse a job a page on another site posts as text/plain, and register it from a client that is no browser", async () => {
    const refused = await send(api, "POST", "/v1/jobs", job("evil"), EVIL);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text)).toEqual({
      error: {
        code: "RUCHE_FORBIDDEN",
        message:
          "cross-site write refused: POST /v1/jobs came from a web page on another site (Origin: http://evil.example); only the dashboard served by this agent may write from a browser. Clients outside a browser send no Origin header.",
      },
    });
    expect(store.job("default", "evil")).toBeNull();

    // The same request from curl (no Origin, no Sec-Fetch-Site), whatever its content type.
    expect((await send(api, "POST", "/v1/jobs", job("plain"), TEXT)).status).toBe(200);
    expect(store.job("default", "plain")).not.toBeNull();
  });

  it("refuse a write another site sent without Origin, a null Origin, and another port or scheme of the same host", async () => {
    const self = `http://127.0.0.1:${api.port}`;
    for (const headers of [
      { ...TEXT, "sec-fetch-site": "cross-site" },
      { ...TEXT, "sec-fetch-site": "same-site", origin: `http://127.0.0.1:${api.port + 1}` },
      { ...TEXT, origin: "null" },
      { ...TEXT, origin: `http://127.0.0.1:${api.port + 1}` },
      { ...TEXT, origin: `http://localhost:${api.port}` },
      { ...TEXT, origin: `https://127.0.0.1:${api.port}` },
      { ...TEXT, origin: "not a url" },
    ]) {
      const r = await send(api, "POST", "/v1/jobs", job("evil"), headers);
      expect({ headers, status: r.status }).toEqual({ headers, status: 403 });
    }
    for (const method of ["PUT", "DELETE", "PATCH"]) expect((await send(api, method, "/v1/job/plain", "", EVIL)).status).toBe(403);
    expect(store.job("default", "evil")).toBeNull();
    expect(store.job("default", "plain")?.Stop).not.toBe(true);

    // The dashboard's own page: its origin is the scheme, host and port the request came to.
    expect((await send(api, "POST", "/v1/jobs", job("dashboard"), { "content-type": "application/json", origin: self, "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect((await send(api, "POST", "/v1/jobs", job("named"), { "content-type": "application/json", origin: `http://LocalHost:${api.port}`, host: `localhost:${api.port}` })).status).toBe(200);
    expect(store.job("default", "dashboard")).not.toBeNull();
    expect(store.job("default", "named")).not.toBeNull();
    // A read is no write: the browser keeps its answer from the other site's page.
    expect((await send(api, "GET", "/v1/jobs", "", EVIL)).status).toBe(200);
  });

  it("refuse KV writes and service registrations on the Consul-compatible listener, and take raw values from Consul's clients", async () => {
    expect((await send(consul, "PUT", "/v1/kv/app/config", "stolen", EVIL)).status).toBe(403);
    expect((await send(consul, "PUT", "/v1/agent/service/register", JSON.stringify({ Name: "evil" }), EVIL)).status).toBe(403);
    expect((await send(api, "PUT", "/v1/kv/app/config", "stolen", EVIL)).status).toBe(403);
    expect((await send(consul, "GET", "/v1/kv/app/config", "", {})).status).toBe(404);

    // `curl --data`, python-consul and Nomad's Go client: form data, text, no content type at all.
    expect((await send(consul, "PUT", "/v1/kv/app/config", "v1", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(200);
    expect((await send(consul, "PUT", "/v1/kv/app/other", "v2", {})).status).toBe(200);
    const read = await send(consul, "GET", "/v1/kv/app/config?raw", "", {});
    expect(read).toEqual({ status: 200, text: "v1" });
  });

  it("refuse a command posted to a node's allocation from another site before it reaches the task", async () => {
    const body = JSON.stringify({ Task: "web", Cmd: ["sh", "-c", "id"] });
    expect((await send(node, "PUT", "/v1/client/allocation/a1/exec", body, EVIL)).status).toBe(403);
    expect((await send(node, "POST", "/v1/client/allocation/a1/exec", body, { ...TEXT, "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect(execs).toEqual([]);
  });
});
