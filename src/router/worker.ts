/**
 * A router worker process (started by `startWorkers` with node:cluster): serves the
 * entrypoints from the snapshots of the catalog its primary sends, and answers the
 * primary's questions for the dashboard.
 */
import cluster from "node:cluster";
import pino from "pino";
import { startRouter, type RunningRouter } from "./router.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import { fromWire, RelayedDatacenters, type FromWorker, type ToWorker } from "./workers.js";
import { errorMessage } from "../structs/index.js";

if (!cluster.isWorker) throw new Error("the router's worker runs under its primary (node:cluster), not on its own");

const reply = (m: FromWorker): void => {
  process.send?.(m);
};
let catalog: SnapshotCatalog | null = null;
let router: RunningRouter | null = null;
const relayed = new RelayedDatacenters();
const early: ToWorker[] = [];

process.on("message", (m: ToWorker) => {
  switch (m.t) {
    case "init": {
      catalog = new SnapshotCatalog(m.dc);
      for (const e of early.splice(0)) if (e.t === "snapshot") catalog.set(e.snap);
      const logger = pino({ level: m.logLevel }, pino.destination(2)).child({ component: "router", worker: cluster.worker?.id ?? 0 });
      startRouter({ catalog, config: fromWire(m.config), host: m.host, port: m.port, dashboardPort: -1, logger, ...(m.failover ? { datacenters: relayed } : {}) }).then(
        (r) => {
          router = r;
          reply({ t: "ready", addresses: r.addresses });
        },
        (err: unknown) => {
          reply({ t: "failed", message: errorMessage(err) });
          process.exit(1);
        },
      );
      return;
    }
    case "snapshot":
      if (catalog === null) early.push(m);
      else catalog.set(m.snap);
      return;
    case "datacenters":
      relayed.set(m.view);
      return;
    case "ask":
      reply({ t: "answer", id: m.id, body: router === null ? null : m.what === "overview" ? router.overview() : router.prometheus() });
      return;
    case "stop":
      void (router?.close() ?? Promise.resolve()).finally(() => process.exit(0));
      return;
  }
});
reply({ t: "listening" });
