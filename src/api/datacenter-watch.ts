import { request } from "undici";
import type { CatalogSnapshot, ServiceInstance } from "../catalog/index.js";
import type { Datacenters } from "../router/index.js";
import type { ClusterView, Federation } from "../server/index.js";
import { ErrorCode, errorMessage, instanceProblem, RucheError } from "../structs/index.js";
import { localDatacenters } from "./federation-forward.js";
import { PLAIN_HTTP, type Dial } from "./forward.js";
import { datacentersNearestFirst } from "./routes/federation.js";

/** Longest blocking query asked of another datacenter's server; the API caps them at 5 minutes. */
const MAX_WAIT_S = 300;

/**
 * The other datacenters as a router beside the servers reads them for failover: the
 * federation's datacenters outside this region, nearest first (the shortest round trip
 * measured to one of their live servers, as `/v1/catalog/datacenters` orders them; never
 * measured last), and each one's catalog followed with a blocking query on one of its live
 * servers (`GET /v1/catalog/snapshot?index=&wait=`, over the federation's dial). The
 * answer is checked at this boundary: an instance that is not one is left out.
 */
export function federationDatacenters(o: { federation: Federation; cluster: ClusterView; dial?: Dial; regionDial?: (region: string) => Dial }): Datacenters {
  return {
    nearest: () => Promise.resolve(nearestDatacenters(o.federation, o.cluster)),
    snapshot: async (dc, index, waitMs, signal) => {
      const server = o.federation.serverInDatacenter(dc);
      if (server === undefined) throw new RucheError(ErrorCode.Unavailable, `no server of datacenter ${dc} answers`);
      const address = server.ConsulAddr !== "" ? server.ConsulAddr : server.HTTPAddr;
      const dial = o.regionDial?.(server.Region) ?? o.dial ?? PLAIN_HTTP;
      const waitS = Math.max(1, Math.min(MAX_WAIT_S, Math.ceil(waitMs / 1000)));
      const path = `/v1/catalog/snapshot?index=${index}&wait=${waitS}s`;
      let text: string;
      let status: number;
      try {
        const res = await request(`${dial.scheme}://${address}${path}`, {
          ...(dial.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }),
          method: "GET",
          // The server answers within its wait; a little more for the way there and back.
          signal: AbortSignal.any([signal, AbortSignal.timeout(waitS * 1000 + 10_000)]),
        });
        status = res.statusCode;
        text = await res.body.text();
      } catch (err) {
        throw new RucheError(ErrorCode.BadGateway, `${server.Name} (${address}) of datacenter ${dc} did not answer GET ${path}: ${errorMessage(err)}`, { cause: err });
      }
      if (status !== 200) throw new RucheError(ErrorCode.BadGateway, `${server.Name} (${address}) of datacenter ${dc} answered GET ${path} with ${status}: ${text.slice(0, 200)}`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
      const s = body as { index?: unknown; instances?: unknown; nodeApis?: unknown } | null;
      if (typeof s !== "object" || s === null || typeof s.index !== "number" || !Array.isArray(s.instances)) {
        throw new RucheError(ErrorCode.BadGateway, `${server.Name} (${address}) of datacenter ${dc} answered a catalog that is not one`);
      }
      const instances = (s.instances as unknown[]).filter((i): i is ServiceInstance => instanceProblem(i) === null);
      const nodeApis = Array.isArray(s.nodeApis) ? s.nodeApis.filter((a): a is string => typeof a === "string") : [];
      const snap: CatalogSnapshot = { index: s.index, instances, nodeApis };
      return snap;
    },
  };
}

/** The federation's datacenters outside this region, nearest first (`datacentersNearestFirst`'s order, this region's own left out). */
function nearestDatacenters(federation: Federation, cluster: ClusterView): string[] {
  // This region's datacenters (its servers share one state: their catalog is this one).
  const own = localDatacenters(cluster);
  for (const m of federation.members()) if (m.Region === cluster.self.Region) own.add(m.Datacenter);
  return datacentersNearestFirst(federation, cluster.self).filter((dc) => !own.has(dc));
}
