/**
 * A router without the server role follows the servers' catalog over HTTP: a real store,
 * its catalog served by the real API routes on 127.0.0.1 port 0, and the router reading
 * the whole health view (`/v1/catalog/snapshot`) through the API client by blocking queries.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { afterEach, expect, it } from "vitest";
import { startConsulApi, type RunningHttp } from "../api/index.js";
import { ApiClient, type Indexed, type QueryOptions } from "../apiclient/index.js";
import { catalogSnapshot, KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { DEFAULT_ROUTER_CONFIG } from "./config.js";
import { RemoteCatalog } from "./remote.js";
import { startRouter, type RunningRouter } from "./router.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => {
          r();
        });
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A store, its registry and catalog, served on 127.0.0.1 port 0; and a backend the services point at. */
async function servers(): Promise<{ store: StateStore; registry: ServiceRegistry; catalog: StoreCatalog; api: RunningHttp; reg: (id: string, tags: string[]) => Promise<void> }> {
  const store = await StateStore.open(memoryBackend());
  closers.push(() => store.close());
  const registry = new ServiceRegistry(store, Date.now);
  const catalog = new StoreCatalog(store, "dc1");
  const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
  const api: RunningHttp = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul: { catalog, localNode: () => "n1", version: "1.17.0", registry, allowScriptChecks: false, kv } });
  closers.push(() => api.close());
  const port = await listen(createServer((_req, res) => res.end("remote ok")));
  const reg = (id: string, tags: string[]): Promise<void> => registry.register({ ID: id, Name: id, Tags: tags, Address: "127.0.0.1", Port: port, Meta: {}, NodeID: "n1", Checks: [], CreateIndex: 0, ModifyIndex: 0 });
  return { store, registry, catalog, api, reg };
}

/** The API client, noting the path of every request it sends. */
class RecordingClient extends ApiClient {
  readonly paths: string[] = [];

  override request<T>(method: string, path: string, body?: unknown, q: QueryOptions & { query?: Record<string, string> } = {}): Promise<Indexed<T>> {
    this.paths.push(path);
    return super.request(method, path, body, q);
  }
}

it("routes the services of a remote catalog, and follows its changes by blocking queries", async () => {
  const { registry, api, reg } = await servers();
  await reg("first", ["traefik.frontend.rule=Host:first"]);

  const remote = new RemoteCatalog(new ApiClient(api.address));
  const router: RunningRouter = await startRouter({ catalog: remote, config: { ...DEFAULT_ROUTER_CONFIG, allowLoopbackBackends: true }, host: "127.0.0.1", port: 0, dashboardPort: -1 });
  closers.push(async () => {
    remote.close();
    await router.close();
  });
  const get = async (host: string): Promise<number> => {
    const r = await request(`http://${router.address}/`, { headers: { host } });
    await r.body.dump();
    return r.statusCode;
  };
  const until = async (host: string, want: number): Promise<number> => {
    const t0 = Date.now();
    while ((await get(host)) !== want && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    return Date.now() - t0;
  };
  expect(await until("first", 200)).toBeLessThan(5000);
  expect(router.table().routes.map((r) => r.name)).toEqual(["first"]);
  await reg("second", ["traefik.frontend.rule=Host:second"]);
  expect(await until("second", 200)).toBeLessThan(1000);
  await registry.deregister("n1", "first");
  expect(await until("first", 404)).toBeLessThan(1000);
});

it("follows the catalog through the next server when its own goes away, from the index it had", async () => {
  const { store, registry, catalog, api, reg } = await servers();
  await reg("first", []);
  // A second server: the same catalog at another address, as servers sharing their state on etcd.
  const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
  const other: RunningHttp = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul: { catalog, localNode: () => "n1", version: "1.17.0", registry, allowScriptChecks: false, kv } });
  closers.push(() => other.close());
  const client = new ApiClient([api.address, other.address]);
  const remote = new RemoteCatalog(client);
  closers.push(() => {
    remote.close();
    return Promise.resolve();
  });

  const index = await remote.wait(0, 10_000);
  const next = remote.wait(index, 30_000);
  await api.close();
  await reg("second", []);
  expect(await next).toBe(catalog.index());
  expect(Object.keys(remote.services()).sort()).toEqual(["first", "second"]);
  expect(client.address).toBe(`http://${other.address}`);
});

it("holds the snapshot the in-process router reads, one request per change however many services there are", async () => {
  const { registry, catalog, api, reg } = await servers();
  for (const name of ["a", "b", "c", "d"]) await reg(name, [`traefik.frontend.rule=Host:${name}`]);
  const client = new RecordingClient(api.address);
  const remote = new RemoteCatalog(client);
  closers.push(() => {
    remote.close();
    return Promise.resolve();
  });

  let index = await remote.wait(0, 10_000);
  expect(index).toBe(catalog.index());
  expect(catalogSnapshot(remote)).toEqual(catalogSnapshot(catalog));
  expect(remote.datacenter()).toBe("dc1");
  expect(client.paths).toEqual(["/v1/catalog/snapshot"]);

  const next = remote.wait(index, 10_000);
  await registry.deregister("n1", "b");
  index = await next;
  expect(index).toBe(catalog.index());
  expect(Object.keys(remote.services()).sort()).toEqual(["a", "c", "d"]);
  expect(catalogSnapshot(remote)).toEqual(catalogSnapshot(catalog));
  expect(client.paths).toEqual(["/v1/catalog/snapshot", "/v1/catalog/snapshot"]);
});

it("leaves out an instance the servers' answer does not describe well, keeping the others, and logs each once", async () => {
  const good = { ID: "web-1", Service: "web", Tags: [], Address: "10.0.0.1", Port: 80, Meta: {}, node: { ID: "n1", Node: "n1", Address: "10.0.0.1", Datacenter: "dc2", Meta: {}, CreateIndex: 1, ModifyIndex: 1 }, checks: [{ Status: "passing" }, { Status: "unknown" }], CreateIndex: 1, ModifyIndex: 1 };
  const port = await listen(
    createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "x-ruche-index": "7" });
      res.end(JSON.stringify({ index: 7, instances: [good, { ...good, ID: "web-2", Port: "80" }, { ...good, ID: "web-3", node: null }] }));
    }),
  );
  const warned: unknown[] = [];
  const remote = new RemoteCatalog(new ApiClient(`127.0.0.1:${port}`), { ...silentLogger, warn: (f) => warned.push(f.entry) });
  expect(await remote.wait(0, 1000)).toBe(7);
  expect(remote.instances("web").map((i) => i.ID)).toEqual(["web-1"]);
  // Asked again, the same answer: the same instances left out, and not logged again.
  expect(await remote.wait(0, 1000)).toBe(7);
  expect(warned).toEqual([expect.stringContaining('"web-2"'), expect.stringContaining('"web-3"')]);
  // A status the router does not know is no pass.
  expect(remote.instances("web")[0]?.checks.map((c) => c.Status)).toEqual(["passing", "critical"]);
  expect(remote.datacenter()).toBe("dc2");
  remote.close();
});
