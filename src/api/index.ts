import type { Server } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import type { ApiContext } from "./context.js";
import { Router, startHttp, type RunningHttp } from "./http.js";
import { Metrics } from "./metrics.js";
import type { NodeLocal } from "./node-local.js";
import { allocFsRoutes } from "./routes/alloc-fs.js";
import { clientRoutes } from "./routes/client.js";
import { consulRoutes, type ConsulOptions } from "./routes/consul.js";
import { kvRoutes } from "./routes/kv.js";
import { clusterRoutes } from "./routes/cluster.js";
import { jobRoutes } from "./routes/jobs.js";
import { systemRoutes } from "./routes/system.js";

export interface ApiOptions {
  host: string;
  port: number;
  /** The node agent in this process, if any: serves its allocations' logs and exec. */
  local?: NodeLocal;
  /** The service catalog: its Consul-compatible endpoints are served under this API too. */
  consul?: Omit<ConsulOptions, "address">;
}

/** Every route passes this hook; open in dev mode (the ACL system comes later). */
function authorize(): void {
  return undefined;
}

/** Starts Ruche's HTTP API over a server and its state store. */
export async function startApi(server: Server, store: StateStore, opts: ApiOptions): Promise<RunningHttp> {
  const router = new Router();
  const routes: string[] = [];
  const record = router.on.bind(router);
  router.on = (method, pattern, handler) => {
    routes.push(`${method} ${pattern}`);
    return record(method, pattern, handler);
  };
  let address = `${opts.host}:${opts.port}`;
  const ctx: ApiContext = { server, store, address: () => address };
  const metrics = new Metrics();
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
      self: () => address,
    },
    opts.local,
  );
  if (opts.consul !== undefined) {
    consulRoutes(router, { ...opts.consul, address: () => address });
    kvRoutes(router, store, { now: Date.now, datacenter: opts.consul.catalog.datacenter() });
  }
  systemRoutes(router, ctx, metrics, () => routes);
  const running = await startHttp({ host: opts.host, port: opts.port, router, authorize, onRequest: (m, r, s, ms) => { metrics.observe(m, r, s, ms); } });
  address = running.address;
  return running;
}

/**
 * A client-only agent's HTTP endpoint: the logs of its allocations and commands inside
 * them, which servers forward here. Nothing else is served.
 */
export async function startNodeApi(opts: { host: string; port: number; local: NodeLocal; ids: () => Iterable<string> }): Promise<RunningHttp> {
  const router = new Router();
  let address = `${opts.host}:${opts.port}`;
  allocFsRoutes(router, { ids: opts.ids, agentOf: () => undefined, self: () => address }, opts.local);
  const running = await startHttp({ host: opts.host, port: opts.port, router, authorize, onRequest: () => undefined });
  address = running.address;
  return running;
}

/**
 * The Consul-compatible HTTP API on its own listener (8500 by default), for Consul clients
 * that expect it there: the same handlers the main API serves under /v1/catalog, /v1/health,
 * /v1/agent and /v1/status.
 */
export async function startConsulApi(opts: { host: string; port: number; store: StateStore; consul: Omit<ConsulOptions, "address"> }): Promise<RunningHttp> {
  const router = new Router();
  let address = `${opts.host}:${opts.port}`;
  consulRoutes(router, { ...opts.consul, address: () => address });
  kvRoutes(router, opts.store, { now: Date.now, datacenter: opts.consul.catalog.datacenter() });
  router.get("/v1/status/leader", () => ({ body: address }));
  const running = await startHttp({ host: opts.host, port: opts.port, router, authorize, onRequest: () => undefined });
  address = running.address;
  return running;
}

export { SessionReaper } from "./routes/kv.js";
export { MAX_BODY_BYTES } from "./http.js";
export type { RunningHttp } from "./http.js";
export type { NodeLocal } from "./node-local.js";
