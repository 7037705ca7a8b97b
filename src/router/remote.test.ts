/**
 * A router without the server role follows the servers' catalog over the Consul-compatible
 * API: a real store, its catalog served by the real Consul routes on 127.0.0.1 port 0, and
 * the router reading it by blocking queries.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { afterEach, expect, it } from "vitest";
import { startConsulApi, type RunningHttp } from "../api/index.js";
import { ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { DEFAULT_ROUTER_CONFIG } from "./config.js";
import { RemoteCatalog } from "./remote.js";
import { startRouter, type RunningRouter } from "./router.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

it("routes the services of a remote catalog, and follows its changes by blocking queries", async () => {
  const store = await StateStore.open(memoryBackend());
  closers.push(() => store.close());
  const registry = new ServiceRegistry(store, Date.now);
  const api: RunningHttp = await startConsulApi({ host: "127.0.0.1", port: 0, store, consul: { catalog: new StoreCatalog(store, "dc1"), localNode: () => "n1", version: "1.17.0", registry, allowScriptChecks: false } });
  closers.push(() => api.close());
  const backend: Server = createServer((_req, res) => res.end("remote ok"));
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise((r) => { backend.closeAllConnections(); backend.close(() => { r(); }); }));
  const port = (backend.address() as AddressInfo).port;
  const reg = (id: string, tags: string[]) => registry.register({ ID: id, Name: id, Tags: tags, Address: "127.0.0.1", Port: port, Meta: {}, NodeID: "n1", Checks: [], CreateIndex: 0, ModifyIndex: 0 });
  await reg("first", ["traefik.frontend.rule=Host:first"]);

  const remote = new RemoteCatalog(`http://${api.address}`);
  const router: RunningRouter = await startRouter({ catalog: remote, config: DEFAULT_ROUTER_CONFIG, host: "127.0.0.1", port: 0, dashboardPort: -1 });
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
