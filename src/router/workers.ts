import cluster, { type Worker } from "node:cluster";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { catalogSnapshot, type CatalogReader, type CatalogSnapshot } from "../catalog/index.js";
import type { Logger } from "../structs/index.js";
import { parseConstraint } from "./constraint.js";
import { dashboardServer } from "./dashboard.js";
import { FailoverWatch, type Datacenters } from "./failover.js";
import { followCatalog } from "./feed.js";
import { NO_FEDERATION, routingTable } from "./table.js";
import type { DatacentersView, RouterConfig, RoutingTable } from "./types.js";

/** A router configuration as it crosses to a worker process: constraints as written. */
export type WireConfig = Omit<RouterConfig, "constraints"> & { constraints: string[] };

export type ToWorker =
  | { t: "init"; config: WireConfig; host: string; port: number; dc: string; logLevel: string; failover: boolean }
  | { t: "datacenters"; view: DatacentersView }
  | { t: "snapshot"; snap: CatalogSnapshot }
  | { t: "ask"; id: number; what: "overview" | "prometheus" }
  | { t: "stop" };

export type FromWorker = { t: "listening" } | { t: "ready"; addresses: Record<string, string> } | { t: "answer"; id: number; body: unknown } | { t: "failed"; message: string };

export function toWire(c: RouterConfig): WireConfig {
  return { ...c, constraints: c.constraints.map((x) => x.text) };
}

export function fromWire(w: WireConfig): RouterConfig {
  const constraints = w.constraints.map((t) => {
    const p = parseConstraint(t);
    if (!p.ok) throw new Error(p.reason);
    return p.value;
  });
  return { ...w, constraints };
}

export interface WorkersOptions {
  catalog: CatalogReader;
  config: RouterConfig;
  host: string;
  port: number;
  count: number;
  dashboardPort: number;
  dashboardHost: string;
  logger: Logger;
  logLevel: string;
  /** The other datacenters: followed here, each change sent to the workers, which fail over from what they are sent. */
  datacenters?: Datacenters;
}

/**
 * The router on several processes, one per core: this process follows the catalog and
 * sends each snapshot to the workers, which build the same routing table from it (the
 * table is a pure function) and serve the entrypoints on listening sockets they share,
 * the kernel spreading connections among them. The dashboard stays here and sums what
 * the workers report. A worker that dies is replaced.
 */
export async function startWorkers(o: WorkersOptions): Promise<{ addresses: Record<string, string>; dashboardAddress: string; table: () => RoutingTable; close: () => Promise<void> }> {
  const log = o.logger;
  const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  // From the sources (tests, tsx), the worker needs the TypeScript loader too.
  const execArgv = ext === "ts" && !process.execArgv.some((a) => a.includes("tsx")) ? [...process.execArgv, "--import", "tsx"] : process.execArgv;
  cluster.setupPrimary({ exec: fileURLToPath(new URL(`./worker.${ext}`, import.meta.url)), execArgv, args: [] });
  const ac = new AbortController();
  // The other datacenters, followed here while a route asks for failover; the workers are sent each change.
  let watch: FailoverWatch | null = null;
  const others = (): DatacentersView => watch?.view() ?? NO_FEDERATION;
  if (o.datacenters !== undefined) {
    watch = new FailoverWatch(
      o.datacenters,
      () => {
        const view = others();
        table = routingTable(catalogSnapshot(o.catalog), o.config, view);
        for (const w of workers) send(w, { t: "datacenters", view });
      },
      ac.signal,
      log,
    );
  }
  let snap = catalogSnapshot(o.catalog);
  let table = routingTable(snap, o.config, others());
  let closing = false;
  const workers = new Set<Worker>();
  const pending = new Map<number, (body: unknown) => void>();
  let asked = 0;
  const port = o.port;
  const send = (w: Worker, m: ToWorker): void => {
    if (w.isConnected()) w.send(m);
  };
  const fork = (): Promise<Record<string, string>> =>
    new Promise((resolve, reject) => {
      const w = cluster.fork();
      workers.add(w);
      w.on("message", (m: FromWorker) => {
        // Messages sent before the worker listens would be lost: it says when it does.
        if (m.t === "listening") {
          send(w, { t: "init", config: toWire(o.config), host: o.host, port, dc: o.catalog.datacenter(), logLevel: o.logLevel, failover: o.datacenters !== undefined });
          send(w, { t: "snapshot", snap });
          if (watch !== null) send(w, { t: "datacenters", view: watch.view() });
        } else if (m.t === "ready") resolve(m.addresses);
        else if (m.t === "failed") reject(new Error(`router worker: ${m.message}`));
        else pending.get(m.id)?.(m.body);
      });
      w.once("exit", (code, signal) => {
        workers.delete(w);
        reject(new Error(`router worker exited (code ${code}, signal ${signal}) before it was ready`));
        if (!closing) {
          log.error({ code, signal }, "router: a worker exited; starting another");
          fork().catch((err: unknown) => {
            log.error({ err }, "router: could not replace a worker");
          });
        }
      });
    });

  let feed: Promise<void> = Promise.resolve();
  let dashboard: ReturnType<typeof dashboardServer> | null = null;
  const close = async (): Promise<void> => {
    closing = true;
    ac.abort();
    await feed;
    await watch?.closed();
    await Promise.all(
      [...workers].map(
        (w) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => w.process.kill("SIGKILL"), 5000);
            w.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            send(w, { t: "stop" });
          }),
      ),
    );
    if (dashboard !== null) {
      dashboard.closeAllConnections();
      await new Promise((r) => dashboard?.close(r));
    }
  };
  try {
    // The first worker has the port bound (a free one when asked for 0, which node:cluster
    // then gives every worker asking for 0 on that address); the others share it.
    const addresses = await fork();
    await Promise.all(Array.from({ length: o.count - 1 }, () => fork()));
    const ask = async (what: "overview" | "prometheus"): Promise<unknown[]> =>
      Promise.all(
        [...workers].map(
          (w) =>
            new Promise<unknown>((resolve) => {
              const id = ++asked;
              const timer = setTimeout(() => {
                pending.delete(id);
                resolve(null);
              }, 2000);
              pending.set(id, (body) => {
                clearTimeout(timer);
                pending.delete(id);
                resolve(body);
              });
              send(w, { t: "ask", id, what });
            }),
        ),
      );
    let dashboardAddress = "";
    if (o.dashboardPort >= 0) {
      dashboard = dashboardServer({ overview: async () => sumOverviews(await ask("overview")), prometheus: async () => sumPrometheus((await ask("prometheus")).filter((x): x is string => typeof x === "string")) }, log);
      await new Promise<void>((resolve, reject) => {
        dashboard?.once("error", reject);
        dashboard?.listen(o.dashboardPort, o.dashboardHost, resolve);
      });
      dashboardAddress = `${o.dashboardHost}:${(dashboard.address() as AddressInfo).port}`;
    }
    feed = followCatalog(
      o.catalog,
      o.config,
      (t) => {
        table = t;
        watch?.want(t.routes.some((r) => r.failover !== null));
        snap = catalogSnapshot(o.catalog);
        for (const w of workers) send(w, { t: "snapshot", snap });
      },
      ac.signal,
      log,
      others,
    );
    return { addresses, dashboardAddress, table: () => table, close };
  } catch (err) {
    await close();
    throw err;
  }
}

type Obj = Record<string, unknown>;

/** The workers' overviews as one: counts, rates and requests in flight summed; a backend ejected when any worker set it aside. */
export function sumOverviews(list: unknown[]): unknown {
  const views = list.filter((x): x is Obj => typeof x === "object" && x !== null);
  const first = views[0];
  if (first === undefined) return { routes: [], skipped: [] };
  const out = structuredClone(first) as Obj & { routes?: Obj[] };
  for (const v of views.slice(1)) {
    const routes = (v.routes ?? []) as Obj[];
    for (const r of out.routes ?? []) {
      const other = routes.find((x) => x.name === r.name && x.rule === r.rule);
      if (other === undefined) continue;
      for (const k of ["ratePerSecond", "requests", "errors"]) r[k] = (r[k] as number) + (other[k] as number);
      for (const b of r.backends as Obj[]) {
        const ob = (other.backends as Obj[]).find((x) => x.origin === b.origin);
        if (ob === undefined) continue;
        for (const k of ["inflight", "requests", "failures"]) b[k] = (b[k] as number) + (ob[k] as number);
        b.ejected = b.ejected === true || ob.ejected === true;
      }
    }
  }
  return { ...out, workers: views.length };
}

/** The workers' Prometheus texts as one: each series summed (`backend_up`: up when any worker sends it traffic). */
export function sumPrometheus(texts: string[]): string {
  const order: string[] = [];
  const values = new Map<string, number>();
  for (const text of texts) {
    for (const line of text.split("\n")) {
      if (line === "") continue;
      if (line.startsWith("#")) {
        if (!values.has(line)) {
          values.set(line, 0);
          order.push(line);
        }
        continue;
      }
      const sp = line.lastIndexOf(" ");
      const series = line.slice(0, sp);
      const v = Number(line.slice(sp + 1));
      if (!values.has(series)) order.push(series);
      const prev = values.get(series) ?? 0;
      values.set(series, series.startsWith("ruche_router_backend_up") ? Math.max(prev, v) : prev + v);
    }
  }
  return `${order.map((s) => (s.startsWith("#") ? s : `${s} ${Number.isInteger(values.get(s)) ? String(values.get(s)) : (values.get(s) ?? 0).toFixed(6)}`)).join("\n")}\n`;
}


/**
 * The other datacenters as a worker process has them: what its primary follows and sends
 * (`set`), read by the worker's own `FailoverWatch` as if it were the federation — a
 * snapshot "query" answers when the primary sends a newer one. A datacenter the primary
 * dropped (its servers silent) fails the query with the primary's error.
 */
export class RelayedDatacenters implements Datacenters {
  private view: DatacentersView = { unavailable: null, datacenters: [] };
  private waiters = new Set<() => void>();
  /** Whether the primary has listed the datacenters (its view says which, or that there are none). */
  private listed = false;
  /** The list last answered: `nearest` waits for another. */
  private answered: string | null = null;

  set(view: DatacentersView): void {
    this.view = view;
    if (view.unavailable !== null || view.datacenters.length > 0) this.listed = true;
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** The primary's list, once it has one; then each time it changes (the worker's watch asks again and again). */
  async nearest(signal: AbortSignal): Promise<string[]> {
    for (;;) {
      const names = this.view.datacenters.map((d) => d.name);
      if (this.listed && names.join(",") !== this.answered) {
        this.answered = names.join(",");
        return names;
      }
      if (signal.aborted) throw new Error("stopped");
      await this.changed(signal, 300_000);
    }
  }

  /** Resolves at the next `set`, after `ms`, or when `signal` aborts. */
  private changed(signal: AbortSignal, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      signal.addEventListener("abort", done, { once: true });
      this.waiters.add(done);
    });
  }

  async snapshot(dc: string, index: number, waitMs: number, signal: AbortSignal): Promise<CatalogSnapshot> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const d = this.view.datacenters.find((x) => x.name === dc);
      if (d?.snapshot != null && (d.snapshot.index !== index || Date.now() >= deadline)) return d.snapshot;
      if (d !== undefined && d.snapshot === null && d.error !== null) throw new Error(d.error);
      if (signal.aborted) throw new Error("stopped");
      await this.changed(signal, deadline - Date.now());
    }
  }
}
