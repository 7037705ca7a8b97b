import { createServer, type Server } from "node:http";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import { createServer as createNetServer, type AddressInfo, type LookupFunction, type Server as NetServer } from "node:net";
import { networkInterfaces } from "node:os";
import { catalogSnapshot, type CatalogReader } from "../catalog/index.js";
import { silentLogger, type Logger } from "../structs/index.js";
import { guardedLookup, guardOf, type Guard } from "./backend-guard.js";
import { ActiveHealth } from "./active-health.js";
import { Balancer } from "./balancer.js";
import { MAIN_ENTRYPOINT } from "./config.js";
import { fastPath } from "./fastpath.js";
import { dashboardServer, overview, prometheus, type DashboardSource } from "./dashboard.js";
import { FailoverWatch, type Datacenters } from "./failover.js";
import { followCatalog } from "./feed.js";
import { RouterMetrics } from "./metrics.js";
import { Pools } from "./pools.js";
import { proxyRequests, type ProxyContext } from "./proxy.js";
import { NO_FEDERATION, routingTable, sameRoutes } from "./table.js";
import { loadCertificates } from "./tls.js";
import type { DatacentersView, RouterConfig, RoutingTable } from "./types.js";
import { proxyUpgrades } from "./websocket.js";
import { startWorkers } from "./workers.js";

export interface RouterOptions {
  catalog: CatalogReader;
  config: RouterConfig;
  /** Where the main entrypoint ("http") listens, over the configuration's; port 0 picks a free one. */
  host?: string;
  port?: number;
  /** The dashboard's port (0: a free one; -1: none) and host, 127.0.0.1 unless said otherwise. */
  dashboardPort: number;
  dashboardHost?: string;
  logger?: Logger;
  /** Aborting it stops following the catalog (close() does too). */
  signal?: AbortSignal;
  /** Processes serving the entrypoints (node:cluster), 1 by default: this one. */
  workers?: number;
  /** The workers' log level. */
  logLevel?: string;
  /**
   * The federation's other datacenters, for the routes that fail over to them; absent: the
   * router has none (an agent alone), and a route asking for failover is served from its
   * own instances only, which the log and the dashboard say.
   */
  datacenters?: Datacenters;
}

export interface RunningRouter {
  /** host:port of the main entrypoint. */
  address: string;
  /** host:port of each entrypoint, by name. */
  addresses: Record<string, string>;
  /** host:port of the dashboard; empty when there is none. */
  dashboardAddress: string;
  /** The routing table in use. */
  table(): RoutingTable;
  /** What the dashboard shows: routes, backends, rates (JSON), and the Prometheus metrics. */
  overview(): unknown;
  prometheus(): string;
  close(): Promise<void>;
}

/** node's HTTP/1.1 server timeouts, set from the router's limits. */
interface Http1Timeouts {
  keepAliveTimeout: number;
  requestTimeout: number;
  headersTimeout: number;
  connectionsCheckingInterval: number;
}

function hostPort(server: Server | Http2SecureServer | NetServer, host: string): string {
  const a = server.address() as AddressInfo;
  const h = host === "0.0.0.0" || host === "" ? "127.0.0.1" : host;
  return `${h.includes(":") ? `[${h}]` : h}:${a.port}`;
}

async function listen(server: Server | Http2SecureServer | NetServer, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * The edge router: one server per entrypoint (HTTP, or HTTPS with HTTP/2 and SNI when the
 * entrypoint has certificates), the routing table built from the catalog at once and
 * rebuilt on each of its changes, and the read-only dashboard.
 */
export async function startRouter(o: RouterOptions): Promise<RunningRouter> {
  const log = o.logger ?? silentLogger;
  const config: RouterConfig = {
    ...o.config,
    entryPoints: o.config.entryPoints.map((e) => (e.name === MAIN_ENTRYPOINT ? { ...e, host: o.host ?? e.host, port: o.port ?? e.port } : e)),
    // This machine's addresses, and the router's own ports as they become known: never backends.
    self: { hosts: [...new Set([...o.config.self.hosts, ...ownAddresses()])], ports: [...o.config.self.ports] },
  };
  for (const e of config.entryPoints) if (e.port > 0) config.self.ports.push(e.port);
  if (o.dashboardPort > 0) config.self.ports.push(o.dashboardPort);
  if ((o.workers ?? 1) > 1) {
    const main = config.entryPoints.find((e) => e.name === MAIN_ENTRYPOINT);
    const w = await startWorkers({ catalog: o.catalog, config, host: main?.host ?? "0.0.0.0", port: main?.port ?? 0, count: o.workers ?? 1, dashboardPort: o.dashboardPort, dashboardHost: o.dashboardHost ?? "127.0.0.1", logger: log, logLevel: o.logLevel ?? "warn", ...(o.datacenters === undefined ? {} : { datacenters: o.datacenters }) });
    const stop = (): void => {
      w.close().catch(() => undefined);
    };
    o.signal?.addEventListener("abort", stop, { once: true });
    return {
      address: w.addresses[MAIN_ENTRYPOINT] ?? "",
      addresses: w.addresses,
      dashboardAddress: w.dashboardAddress,
      table: w.table,
      overview: () => ({ workers: o.workers }),
      prometheus: () => "",
      close: async () => {
        o.signal?.removeEventListener("abort", stop);
        await w.close();
      },
    };
  }
  // What the table refuses, and names refused when resolved: each logged once, shown on the dashboard.
  const logged = new Set<string>();
  /** The datacenter each route was last served from (null: its own). */
  const servedFrom = new Map<string, string | null>();
  const refusedNames = new Map<string, string>();
  const note = (t: RoutingTable): void => {
    for (const s of t.skipped) {
      if (s.refused !== true || logged.has(s.reason)) continue;
      logged.add(s.reason);
      log.warn({ service: s.service, instance: s.instance }, `router: backend refused: ${s.reason}`);
    }
    for (const r of t.routes) {
      const f = r.failover;
      if (f !== null && f.note !== null && !logged.has(`failover ${r.name}`)) {
        logged.add(`failover ${r.name}`);
        log.warn({ route: r.name, service: r.service }, `router: route ${r.name} asks for failover to other datacenters, but ${f.note}`);
      }
      const from = f?.servedFrom ?? null;
      if (from !== (servedFrom.get(r.name) ?? null)) {
        if (from === null) log.info({ route: r.name, service: r.service }, `router: route ${r.name} is served from this datacenter again`);
        else log.warn({ route: r.name, service: r.service, datacenter: from }, `router: route ${r.name} has no passing instance here: served from datacenter ${from}`);
        servedFrom.set(r.name, from);
      }
      const why = `${r.name}: ${r.unimplemented.join("; ")}`;
      if (r.unimplemented.length === 0 || logged.has(why)) continue;
      logged.add(why);
      log.warn({ route: r.name, service: r.service, unimplemented: r.unimplemented }, "router: route answered 503: its tags ask for what the router does not implement");
    }
  };
  // Failover: the other datacenters' catalogs, followed while a route asks for it.
  const ac = new AbortController();
  let watch: FailoverWatch | null = null;
  const others = (): DatacentersView => watch?.view() ?? NO_FEDERATION;
  let current = routingTable(catalogSnapshot(o.catalog), config, others());
  note(current);
  let guard: Guard = guardOf(config);
  const lookupFor = (port: number): LookupFunction =>
    guardedLookup(port, guard, (name, reason) => {
      if (refusedNames.has(name)) return;
      refusedNames.set(name, reason);
      log.warn({ backend: name }, `router: backend refused: ${reason}`);
    });
  const balancer = new Balancer(config.ejection);
  // The routes' own health checks (`loadbalancer.healthcheck.*`), probed by the router, beside the catalog's.
  const activeHealth = new ActiveHealth(balancer, lookupFor, log);
  activeHealth.update(current);
  const pools = new Pools({ connectTimeoutMs: config.limits.dialTimeoutMs, keepAliveMs: 4_000, lookup: lookupFor });
  const metrics = new RouterMetrics();
  const ctx: ProxyContext = { table: () => current, config, balancer, pools, metrics, log, upgraded: new Set(), lookup: lookupFor };
  const swap = (t: RoutingTable): void => {
    note(t);
    // The other datacenters are followed while a route asks for failover, and only then.
    watch?.want(t.routes.some((r) => r.failover !== null));
    // The catalog moves for many reasons (a heartbeat, a check's output): when the routes
    // are the same, the routes in use stay, and with them their round-robin turns.
    if (sameRoutes(current, t)) {
      current = { ...t, routes: current.routes, entryPoints: current.entryPoints };
      return;
    }
    current = t;
    activeHealth.update(t);
    const origins = new Set(t.routes.flatMap((r) => r.backends.map((b) => b.origin)));
    pools.keepOnly(origins);
    balancer.keepOnly(origins);
    for (const s of servers) s.fast?.forget(origins);
    log.debug({ index: t.index, routes: t.routes.length, skipped: t.skipped.length }, "router: routing table swapped");
  };

  const servers: { name: string; server: Server | Http2SecureServer | NetServer; full: Server | Http2SecureServer; fast: ReturnType<typeof fastPath> | null; address: string; tls: boolean }[] = [];
  let dashboard: Server | null = null;
  const onAbort = (): void => {
    ac.abort();
  };
  o.signal?.addEventListener("abort", onAbort, { once: true });
  let feed: Promise<void> = Promise.resolve();
  const close = async (): Promise<void> => {
    ac.abort();
    o.signal?.removeEventListener("abort", onAbort);
    await feed;
    activeHealth.close();
    await watch?.closed();
    for (const s of ctx.upgraded) s.destroy();
    for (const s of servers) {
      s.fast?.close();
      if ("closeAllConnections" in s.full) s.full.closeAllConnections();
      // The full server behind a fast path never listened: closing it stops its timeout checks.
      if (s.fast !== null) s.full.close();
    }
    await Promise.all(
      [...servers.map((s) => s.server), ...(dashboard === null ? [] : [dashboard])].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => {
              resolve();
            });
            if ("closeAllConnections" in s) s.closeAllConnections();
          }),
      ),
    );
    await pools.close();
  };
  const source: DashboardSource = { table: () => current, balancer, metrics, entryPoints: () => servers.map((s) => ({ name: s.name, address: s.address, tls: s.tls })), refusedNames: () => [...refusedNames].map(([name, reason]) => ({ name, reason })), features: { accessLog: config.accessLog, providers: config.kv === undefined ? ["ConsulCatalog"] : ["ConsulCatalog", "Consul"] } };
  const limits = config.limits;
  const http1Timeouts: Http1Timeouts = {
    // A kept-alive connection with no request: closed after the idle timeout.
    keepAliveTimeout: limits.idleTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    // How often node looks for heads and requests past their time: often enough to keep to short ones.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
  };
  try {
    for (const ep of config.entryPoints) {
      const tls = ep.tls !== null;
      // HTTPS is served by node's HTTP/2 server; plain HTTP by the fast path, which hands
      // what it does not carry (bodies, upgrades, ...) to node's HTTP server.
      let server: Server | Http2SecureServer | NetServer;
      let full: Server | Http2SecureServer;
      let fast: ReturnType<typeof fastPath> | null = null;
      const info = { name: ep.name, proto: tls ? ("https" as const) : ("http" as const), port: 0 };
      if (ep.tls !== null) {
        const certs = await loadCertificates(ep.tls);
        // A TLS handshake is held to the head's timeout.
        const secure = createSecureServer({ allowHTTP1: true, cert: certs.cert, key: certs.key, SNICallback: certs.SNICallback, handshakeTimeout: limits.headersTimeoutMs });
        full = server = secure;
        // HTTP/1.1 over TLS: node's own head, request and keep-alive timeouts.
        Object.assign(secure as unknown as Http1Timeouts, http1Timeouts);
        // HTTP/2 has no timer for an idle connection apart from its streams: a session (or an
        // HTTP/1.1 connection) silent for the longer of the idle and request timeouts is closed,
        // so a request waiting on its backend within its timeout is never cut.
        secure.setTimeout(Math.max(limits.idleTimeoutMs, limits.requestTimeoutMs));
      } else {
        full = createServer(http1Timeouts);
        // A client that shuts its sending side after its requests still gets their answers
        // (node's server would close at once, the answers from backends not yet there), as on the fast path.
        Object.assign(full, { httpAllowHalfOpen: true });
        // node checks the head and request timeouts of its connections from the moment its
        // server listens; this one never does (the fast path's server listens and hands it
        // connections), so its checks start here.
        full.emit("listening");
        const http = full;
        fast = fastPath(ctx, info, (socket) => http.emit("connection", socket));
        // Paused: the fast path reads the accepted handle into a buffer of its own.
        server = createNetServer({ noDelay: true, pauseOnConnect: true }, fast.onConnection);
      }
      servers.push({ name: ep.name, server, full, fast, address: "", tls });
      await listen(server, ep.host, ep.port);
      info.port = (server.address() as AddressInfo).port;
      full.on("request", proxyRequests(ctx, info));
      full.on("upgrade", proxyUpgrades(ctx, info));
      (servers[servers.length - 1] as (typeof servers)[number]).address = hostPort(server, ep.host);
    }
    let dashboardAddress = "";
    if (o.dashboardPort >= 0) {
      const host = o.dashboardHost ?? "127.0.0.1";
      dashboard = dashboardServer({ overview: () => overview(source), prometheus: () => prometheus(source) }, log);
      await listen(dashboard, host, o.dashboardPort);
      dashboardAddress = hostPort(dashboard, host);
      config.self.ports.push((dashboard.address() as AddressInfo).port);
    }
    // The ports picked at listen are known now: the table is built again with them refused.
    for (const s of servers) config.self.ports.push((s.server.address() as AddressInfo).port);
    guard = guardOf(config);
    if (o.datacenters !== undefined) {
      watch = new FailoverWatch(
        o.datacenters,
        () => {
          // Another datacenter's catalog moved: the table is built again with the local one as it is.
          try {
            swap(routingTable(catalogSnapshot(o.catalog), config, others()));
          } catch (err) {
            log.error({ err }, "router: building the routing table after another datacenter's change failed; keeping the previous one");
          }
        },
        ac.signal,
        log,
      );
    }
    swap(routingTable(catalogSnapshot(o.catalog), config, others()));
    feed = followCatalog(o.catalog, config, swap, ac.signal, log, others);
    const addresses = Object.fromEntries(servers.map((s) => [s.name, s.address]));
    return { address: addresses[MAIN_ENTRYPOINT] ?? servers[0]?.address ?? "", addresses, dashboardAddress, table: () => current, overview: () => overview(source), prometheus: () => prometheus(source), close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** This machine's interface addresses. */
function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}
