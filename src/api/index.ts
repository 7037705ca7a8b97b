import type { Server } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import type { ApiContext } from "./context.js";
import { Router, startHttp, type RunningHttp } from "./http.js";
import { Metrics } from "./metrics.js";
import { clientRoutes } from "./routes/client.js";
import { clusterRoutes } from "./routes/cluster.js";
import { jobRoutes } from "./routes/jobs.js";
import { systemRoutes } from "./routes/system.js";

export interface ApiOptions {
  host: string;
  port: number;
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
  systemRoutes(router, ctx, metrics, () => routes);
  const running = await startHttp({ host: opts.host, port: opts.port, router, authorize, onRequest: (m, r, s, ms) => { metrics.observe(m, r, s, ms); } });
  address = running.address;
  return running;
}

export { MAX_BODY_BYTES } from "./http.js";
export type { RunningHttp } from "./http.js";
