import type { ServerResponse } from "node:http";
import type { ClusterView } from "../server/index.js";
import type { Router } from "./http.js";

/** Which API a listener serves, and whose headers its answers carry: Nomad's (`X-Nomad-…`) or Consul's (`X-Consul-…`). */
export type ApiFlavor = "nomad" | "consul";

/**
 * What a server knows of its cluster as of this answer, in the headers Nomad and Consul send
 * with every read (their `setMeta`): whether a leader is known, and the milliseconds since
 * this server last heard from the cluster's state (0 on the leader and on a single server).
 * A client reading with `?stale` learns from them how old the answer may be.
 */
export function clusterHeaders(cluster: ClusterView, flavor: ApiFlavor): Record<string, string> {
  const known = cluster.leader() !== null ? "true" : "false";
  const last = String(Math.max(0, Math.floor(cluster.lastContact())));
  return flavor === "nomad" ? { "x-nomad-knownleader": known, "x-nomad-lastcontact": last } : { "x-consul-knownleader": known, "x-consul-lastcontact": last };
}

/**
 * Makes every read (GET, HEAD) the router serves carry `clusterHeaders` of each flavor. They
 * are set on the response before its handler runs, so that an answer written by the handler
 * itself (a raw KV value, an event stream) and an error carry them too, and set again when
 * the handler returns its answer, so that a blocking query's answer says what is known when
 * it is sent; a header the handler names itself wins. With `stateIndex`, a Nomad read whose
 * answer names no index of its own carries that one in `X-Nomad-Index` (Nomad's Go client
 * reads it off every answer). Call before any route is added.
 */
export function addClusterHeaders(router: Router, cluster: ClusterView, flavors: readonly ApiFlavor[], stateIndex?: () => number): void {
  const on = router.on.bind(router);
  const set = (res: ServerResponse): void => {
    if (res.headersSent) return;
    for (const flavor of flavors) for (const [k, v] of Object.entries(clusterHeaders(cluster, flavor))) res.setHeader(k, v);
    // A read without an index of its own (the agent's, the regions) says the state's, as every Nomad read carries one; an answer's own index wins (`replyBytes`).
    if (stateIndex !== undefined && flavors.includes("nomad")) res.setHeader("x-nomad-index", String(Math.max(1, stateIndex())));
  };
  router.on = (method, pattern, handler) =>
    on(
      method,
      pattern,
      method !== "GET"
        ? handler
        : async (req, res) => {
            set(res);
            const reply = await handler(req, res);
            set(res);
            return reply;
          },
    );
}
