/**
 * The router on several processes (node:cluster): workers sharing the entrypoint, fed the
 * catalog's snapshots; the dashboard sums their numbers; close() leaves no process behind.
 */
import cluster from "node:cluster";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import type { ServiceInstance } from "../catalog/index.js";
import { DEFAULT_ROUTER_CONFIG } from "./config.js";
import { startRouter, type RunningRouter } from "./router.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { sumPrometheus } from "./workers.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function instance(service: string, port: number): ServiceInstance {
  const node = { ID: "n", Node: "n", Address: "127.0.0.1", Datacenter: "dc1", Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
  return { ID: service, Service: service, Tags: [`traefik.frontend.rule=Host:${service}`], Address: "127.0.0.1", Port: port, Meta: {}, node, checks: [], CreateIndex: 1, ModifyIndex: 1 };
}

describe("router workers", () => {
  it("serve the entrypoint from two processes, follow the catalog, and the dashboard sums them", async () => {
    const backend: Server = createServer((_req, res) => res.end(String(process.pid)));
    await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
    closers.push(
      () =>
        new Promise<void>((r) => {
          backend.closeAllConnections();
          backend.close(() => {
            r();
          });
        }),
    );
    const port = (backend.address() as AddressInfo).port;
    const catalog = new SnapshotCatalog("dc1");
    catalog.set({ index: 2, instances: [instance("a", port)] });
    const router: RunningRouter = await startRouter({ catalog, config: DEFAULT_ROUTER_CONFIG, host: "127.0.0.1", port: 0, dashboardPort: 0, workers: 2 });
    closers.push(() => router.close());
    const workerPids = Object.values(cluster.workers ?? {}).map((w) => (w?.process)?.pid);
    expect(workerPids).toHaveLength(2);

    const get = async (host: string): Promise<number> => {
      const r = await request(`http://${router.address}/`, { headers: { host, connection: "close" } });
      await r.body.dump();
      return r.statusCode;
    };
    for (let i = 0; i < 10; i++) expect(await get("a")).toBe(200);
    expect(await get("b")).toBe(404);
    catalog.set({ index: 3, instances: [instance("a", port), instance("b", port)] });
    const t0 = Date.now();
    while ((await get("b")) !== 200 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
    expect(await get("b")).toBe(200);

    const o = (await (await fetch(`http://${router.dashboardAddress}/api/overview`)).json()) as { workers: number; routes: { name: string; requests: number }[] };
    expect(o.workers).toBe(2);
    expect(o.routes.find((r) => r.name === "a")?.requests).toBe(10);
    const metrics = await (await fetch(`http://${router.dashboardAddress}/metrics`)).text();
    expect(metrics).toContain('ruche_router_requests_total{route="a",code="200"} 10');

    await router.close();
    closers.pop();
    expect(Object.keys(cluster.workers ?? {})).toEqual([]);
  }, 60_000);

  it("sums the workers' Prometheus texts series by series", () => {
    const one = '# HELP x X.\n# TYPE x counter\nx{a="1"} 2\nruche_router_backend_up{b="1"} 0\n';
    const two = 'x{a="1"} 3\nx{a="2"} 1\nruche_router_backend_up{b="1"} 1\n';
    expect(sumPrometheus([one, two])).toBe('# HELP x X.\n# TYPE x counter\nx{a="1"} 5\nruche_router_backend_up{b="1"} 1\nx{a="2"} 1\n');
  });
});
