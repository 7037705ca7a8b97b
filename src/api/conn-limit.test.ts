import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { DEFAULT_MAX_CONNS_PER_CLIENT, startApi, startConsulApi, type RunningHttp } from "./index.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A connection from `from` (a loopback address of its own), open once connected. */
function open(http: RunningHttp, from: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port: http.port, localAddress: from });
    s.once("connect", () => {
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** Everything the server sends on a connection until it closes it (bounded: 5 s). */
function readToClose(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const t = setTimeout(() => {
      reject(new Error(`the server did not close the connection; it sent ${JSON.stringify(text)}`));
    }, 5_000);
    s.on("data", (b: Buffer) => {
      text += b.toString("latin1");
    });
    s.once("close", () => {
      clearTimeout(t);
      resolve(text);
    });
    s.once("error", () => undefined);
  });
}

/** A GET from `from`, on a connection of its own; its status. */
function get(http: RunningHttp, path: string, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: http.port, path, localAddress: from, agent: false }, (res) => {
      res.resume();
      res.once("end", () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.once("error", reject);
    req.end();
  });
}

/**
 * The connection limit per client address on a listener: 100 held open from 127.0.0.1, the
 * 101st is answered 429 and closed, as Nomad's and Consul's are; 127.0.0.2 is served all
 * the while; once one of the 100 closes, 127.0.0.1 is served again.
 */
async function checkLimit(http: RunningHttp, path: string): Promise<void> {
  const held = await Promise.all(Array.from({ length: DEFAULT_MAX_CONNS_PER_CLIENT }, () => open(http, "127.0.0.1")));
  try {
    const extra = await open(http, "127.0.0.1");
    const answer = await readToClose(extra);
    expect(answer).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(answer).toContain("Connection: close\r\n");
    expect(answer).toMatch(/\r\n\r\nYour IP is issuing too many concurrent connections, please rate limit your calls\n$/);

    expect(await get(http, path, "127.0.0.2")).toBe(200);

    held.pop()?.destroy();
    await expect.poll(() => get(http, path, "127.0.0.1"), { timeout: 5_000 }).toBe(200);
  } finally {
    for (const s of held) s.destroy();
  }
}

describe("connections per client address", () => {
  it("refuses the 101st concurrent connection from one address on the API with 429, and serves another address", async () => {
    const store = await StateStore.open(memoryBackend());
    const server = new Server(store);
    const http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
    closers.push(() => store.close(), () => server.stop(), () => http.close());
    await checkLimit(http, "/v1/jobs");
  });

  it("refuses the 101st concurrent connection from one address on the Consul-compatible port with 429, and serves another address", async () => {
    const store = await StateStore.open(memoryBackend());
    const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
    const consul = { catalog: new StoreCatalog(store, "dc1"), localNode: () => "n1", version: "1.17.0", registry: new ServiceRegistry(store, Date.now), allowScriptChecks: false, kv };
    const http = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul });
    closers.push(() => store.close(), () => http.close());
    await checkLimit(http, "/v1/catalog/services");
  });

  it("takes its limit from the listener's options; 0 is no limit", async () => {
    const store = await StateStore.open(memoryBackend());
    const server = new Server(store);
    const small = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, maxConnsPerClient: 2 });
    const none = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, maxConnsPerClient: 0 });
    closers.push(() => store.close(), () => server.stop(), () => small.close(), () => none.close());
    const held = [await open(small, "127.0.0.1"), await open(small, "127.0.0.1")];
    expect(await readToClose(await open(small, "127.0.0.1"))).toMatch(/^HTTP\/1\.1 429 /);
    for (const s of held) s.destroy();

    const many = await Promise.all(Array.from({ length: DEFAULT_MAX_CONNS_PER_CLIENT + 1 }, () => open(none, "127.0.0.1")));
    expect(await get(none, "/v1/jobs", "127.0.0.1")).toBe(200);
    for (const s of many) s.destroy();
  });
});
