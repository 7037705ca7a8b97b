import { catalogSnapshot, type CatalogReader } from "../catalog/index.js";
import { errorMessage, silentLogger, sleep, type Logger } from "../structs/index.js";
import { NO_FEDERATION, routingTable } from "./table.js";
import type { DatacentersView, RouterConfig, RoutingTable } from "./types.js";

/** How long one blocking wait on the catalog lasts before it is asked again. */
const WAIT_MS = 300_000;

/**
 * Follows the catalog's change feed: builds the routing table at once, then again each
 * time the catalog's index moves, and hands each table to `swap` in the same tick the
 * wait resolves — a new healthy instance is routable as soon as the catalog knows it.
 * Resolves when `signal` aborts; a failing wait is retried after a second. A table that
 * cannot be built keeps the previous one in use and is tried again each second; the
 * failure is logged once, and again only when it changes, and its end is logged. `others`
 * gives the other datacenters as last read (failover), with each build.
 */
export async function followCatalog(catalog: CatalogReader, config: RouterConfig, swap: (t: RoutingTable) => void, signal: AbortSignal, log: Logger = silentLogger, others: () => DatacentersView = () => NO_FEDERATION): Promise<void> {
  let built = -1;
  // Read afresh each time: the signal aborts while waits are pending.
  const stopped = (): boolean => signal.aborted;
  let index = 0;
  let failing = "";
  while (!signal.aborted) {
    try {
      index = await catalog.wait(index, WAIT_MS, signal);
    } catch (err) {
      if (stopped()) return;
      log.warn({ err }, "router: waiting on the catalog failed; retrying in 1s");
      await sleep(1000, signal).catch(() => undefined);
      continue;
    }
    if (stopped()) return;
    if (index === built) continue;
    try {
      const snap = catalogSnapshot(catalog);
      swap(routingTable(snap, config, others()));
      built = snap.index;
      index = snap.index;
      if (failing !== "") log.info({ index }, "router: the routing table is built again");
      failing = "";
    } catch (err) {
      // A bug in building the table must not stop the router: it keeps the last table.
      const why = errorMessage(err);
      if (why !== failing) log.error({ err }, "router: building the routing table failed; keeping the previous one and trying again each second");
      failing = why;
      await sleep(1000, signal).catch(() => undefined);
    }
  }
}
