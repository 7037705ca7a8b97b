import type { KVService } from "../catalog/index.js";
import { soloCluster, type ClusterView, type Server } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import { ErrorCode, errorMessage, RucheError, type Logger } from "../structs/index.js";
import { addClusterHeaders } from "./cluster-headers.js";
import type { ApiContext } from "./context.js";
import type { ClusterEdge } from "./forward.js";
import { Router, startHttp, type HttpServerOptions, type RunningHttp } from "./http.js";
import { Metrics } from "./metrics.js";
import type { NodeLocal } from "./node-local.js";
import { allocFsRoutes } from "./routes/alloc-fs.js";
import { catalogSnapshotRoutes } from "./routes/catalog.js";
import { clientRoutes } from "./routes/client.js";
import { consulRoutes, type ConsulOptions } from "./routes/consul.js";
import { kvRoutes } from "./routes/kv.js";
import { clusterRoutes } from "./routes/cluster.js";
import { jobRoutes } from "./routes/jobs.js";
import { consulServerRoutes, serverRoutes } from "./routes/servers.js";
import { systemRoutes } from "./routes/system.js";
import { uiRoutes } from "./routes/ui.js";

export interface ApiOptions {
  host: string;
  port: number;
  /** The API's logger: every 5xx is logged here with its error, a refused request at debug. */
  log: Logger;
  /** The node agent in this process, if any: serves its allocations' logs and exec. */
  local?: NodeLocal;
  /** The service catalog and the KV: their Consul-compatible endpoints are served under this API too, with the catalog's snapshot. */
  consul?: CatalogApi;
  /** Reloads the agent's config dir (service definitions): `PUT /v1/agent/reload`, as Consul's. */
  reload?: AgentReload;
  /** The edge router's routes, backends, health and rates when this agent runs it (`GET /v1/router`); undefined when it does not. */
  routerOverview?: () => unknown;
  /** Connections one client address may hold open (`http_max_conns_per_client`; 0: no limit; default 100). */
  maxConnsPerClient?: number;
  /** The region's servers; a single server on its embedded store when not given. */
  cluster?: ClusterView;
  /**
   * The etcd member this server runs: the other servers ask it who it is
   * (`GET /v1/internal/etcd/peer`) and to add them as members (`POST /v1/internal/etcd/join`).
   */
  etcdJoin?: { peer(): Promise<unknown>; join(body: unknown): Promise<unknown> };
}

/** What the Consul-compatible endpoints serve: the catalog (and the registry), and the KV and its sessions. */
export type CatalogApi = ConsulOptions & { kv: KVService };

/** Reloads the agent's config; throws with what is wrong, having changed nothing. */
export type AgentReload = () => Promise<void>;

/** Every route passes this hook; it is open in every mode, since ACLs are not built yet. */
function authorize(): void {
  return undefined;
}

/**
 * Starts a listener: `routes` fills its router, with the listener's address (known once
 * it listens, on port 0 too) to hand to the routes that name it.
 */
async function listen(
  host: string,
  port: number,
  log: Logger,
  maxConnsPerClient: number | undefined,
  routes: (r: Router, address: () => string) => void,
  onRequest?: HttpServerOptions["onRequest"],
  cluster?: ClusterEdge,
): Promise<RunningHttp> {
  const router = new Router();
  let address = `${host}:${port}`;
  routes(router, () => address);
  const running = await startHttp({
    host,
    port,
    router,
    authorize,
    log,
    ...(onRequest === undefined ? {} : { onRequest }),
    ...(maxConnsPerClient === undefined ? {} : { maxConnsPerClient }),
    ...(cluster === undefined ? {} : { cluster }),
  });
  address = running.address;
  return running;
}

/** The catalog, health and KV endpoints Consul clients use, and the catalog's snapshot a remote router follows. */
function catalogRoutes(r: Router, consul: CatalogApi, reload: AgentReload | undefined): void {
  const { kv, ...rest } = consul;
  consulRoutes(r, rest);
  kvRoutes(r, kv);
  catalogSnapshotRoutes(r, consul.catalog);
  if (reload === undefined) return;
  r.put("/v1/agent/reload", async () => {
    try {
      await reload();
    } catch (err) {
      return { status: 500, body: `Failed reloading the agent's config: ${errorMessage(err)}`, headers: { "content-type": "text/plain; charset=utf-8" }, err };
    }
    return { body: null };
  });
}

/** Starts Ruche's HTTP API over a server and its state store. */
export function startApi(server: Server, store: StateStore, opts: ApiOptions): Promise<RunningHttp> {
  const metrics = new Metrics();
  return listen(
    opts.host,
    opts.port,
    opts.log,
    opts.maxConnsPerClient,
    (router, address) => {
      const routes: string[] = [];
      const record = router.on.bind(router);
      router.on = (method, pattern, handler) => {
        routes.push(`${method} ${pattern}`);
        return record(method, pattern, handler);
      };
      const cluster = opts.cluster ?? soloCluster(() => ({ Name: "server", Region: "global", Datacenter: "dc1", HTTPAddr: address(), ConsulAddr: "", Build: "", EtcdMember: "" }));
      // Consul's routes are served here too, and Consul's client reads its headers off every answer.
      addClusterHeaders(router, cluster, ["nomad", "consul"]);
      const ctx: ApiContext = { server, store, address, cluster };
      jobRoutes(router, ctx);
      clusterRoutes(router, ctx);
      clientRoutes(router, ctx);
      allocFsRoutes(
        router,
        {
          ids: () => store.allocs().map((a) => a.ID),
          agentOf: (id) => {
            const a = store.alloc(id);
            const n = a === undefined ? undefined : store.node(a.NodeID);
            return n === undefined ? undefined : { name: n.Name, addr: n.HTTPAddr };
          },
          self: address,
        },
        opts.local,
      );
      if (opts.consul !== undefined) catalogRoutes(router, opts.consul, opts.reload);
      const etcdJoin = opts.etcdJoin;
      if (etcdJoin !== undefined) {
        router.get("/v1/internal/etcd/peer", async () => ({ body: await etcdJoin.peer() }));
        router.put("/v1/internal/etcd/join", async (req) => ({ body: await etcdJoin.join(req.body) }));
      }
      router.get("/v1/router", () => {
        const overview = opts.routerOverview?.();
        if (overview === undefined) throw new RucheError(ErrorCode.NotFound, "this agent runs no router");
        return { body: overview };
      });
      serverRoutes(router, cluster);
      systemRoutes(router, ctx, metrics, () => routes);
      uiRoutes(router);
    },
    (m, r, s, ms) => {
      metrics.observe(m, r, s, ms);
    },
    opts.cluster === undefined ? undefined : { view: opts.cluster, flavor: "nomad" },
  );
}

/**
 * A client-only agent's HTTP endpoint: the logs of its allocations and commands inside
 * them, which servers forward here. Nothing else is served.
 */
export function startNodeApi(opts: { host: string; port: number; log: Logger; local: NodeLocal; ids: () => Iterable<string>; maxConnsPerClient?: number }): Promise<RunningHttp> {
  return listen(opts.host, opts.port, opts.log, opts.maxConnsPerClient, (router, address) => {
    allocFsRoutes(router, { ids: opts.ids, agentOf: () => undefined, self: address }, opts.local);
  });
}

/**
 * The Consul-compatible HTTP API on its own listener (8500 by default), for Consul clients
 * that expect it there: the same handlers the main API serves under /v1/catalog, /v1/health,
 * /v1/agent, /v1/kv, /v1/session, /v1/txn and /v1/status, and the router's
 * /v1/catalog/snapshot.
 */
export function startConsulApi(opts: { host: string; port: number; log: Logger; consul: CatalogApi; reload?: AgentReload; maxConnsPerClient?: number; cluster?: ClusterView }): Promise<RunningHttp> {
  return listen(
    opts.host,
    opts.port,
    opts.log,
    opts.maxConnsPerClient,
    (router, address) => {
      const cluster = opts.cluster ?? soloCluster(() => ({ Name: "server", Region: "global", Datacenter: "dc1", HTTPAddr: "", ConsulAddr: address(), Build: opts.consul.version, EtcdMember: "" }));
      addClusterHeaders(router, cluster, ["consul"]);
      catalogRoutes(router, opts.consul, opts.reload);
      consulServerRoutes(router, cluster);
    },
    undefined,
    opts.cluster === undefined ? undefined : { view: opts.cluster, flavor: "consul" },
  );
}

export { DEFAULT_MAX_CONNS_PER_CLIENT } from "./conn-limit.js";
export { MAX_BODY_BYTES } from "./http.js";
export type { RunningHttp } from "./http.js";
export type { NodeLocal } from "./node-local.js";
