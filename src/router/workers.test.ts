/**
 * The router on several processes (node:cluster): workers sharing the entrypoint, fed the
 * catalog's snapshots; the dashboard sums their numbers; close() leaves no process behind.
 */
import cluster from "node:cluster";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { DEFAULT_ROUTER_CONFIG } from "./config.js";
import { startRouter, type RunningRouter } from "./router.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { closedAfterEach, httpBackend, instance } from "./testing.js";
import { sumPrometheus } from "./workers.js";

const closers = closedAfterEach();

describe("router workers", () => {
  it("serve the entrypoint from two processes, follow the catalog, and the dashboard sums them", async () => {
    const port = await httpBackend(closers, (_req, res) => res.end(String(process.pid)));
    const catalog = new SnapshotCatalog("dc1");
    catalog.set({ index: 2, instances: [instance("a", port)] });
    const router: RunningRouter = await startRouter({ catalog, config: { ...DEFAULT_ROUTER_CONFIG, allowLoopbackBackends: true }, host: "127.0.0.1", port: 0, dashboardPort: 0, workers: 2 });
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
