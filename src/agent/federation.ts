import { request } from "undici";
import { FederationGossip, ownRegionOnly, type ClusterView, type Federation, type FederationProbe } from "../server/index.js";
import { ErrorCode, RucheError, type Logger } from "../structs/index.js";

/**
 * A server's federation with the other regions (`server { retry_join_wan }`, `ruche server
 * join`): `FederationGossip` over plain HTTP with TLS off. With TLS on it is refused, loudly:
 * each region's cluster CA is its own (derived per region, docs/DESIGN.md "PKI"), so another
 * region's server certificate is not trusted, and falling back to plain HTTP between servers
 * that speak TLS would undo what TLS is for.
 */

/** Why a server with TLS on does not federate: said at start for `retry_join_wan`, and by `server join`. */
export const FEDERATION_TLS_REFUSAL =
  "federation between regions over TLS is not built yet: each region's cluster CA is its own, so another region's server certificate is not trusted, and servers with TLS on never fall back to plain HTTP; federate servers started with tls { enabled = false } (-tls-enabled=false), or leave out retry_join_wan";

/** Asks a server what it knows over plain HTTP (`POST /v1/internal/federation`), telling it what this one knows. */
export function httpProbe(): FederationProbe {
  return async (address, ours, signal) => {
    const res = await request(`http://${address}/v1/internal/federation`, { method: "POST", body: JSON.stringify(ours), headers: { "content-type": "application/json" }, signal });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`it answered ${res.statusCode}: ${text.slice(0, 200)}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`it answered what is not JSON: ${text.slice(0, 200)}`);
    }
  };
}

export interface ServerFederation {
  federation: Federation;
  /** Starts the rounds, once the API listens (this server's address is known). */
  start(): void;
  stop(): Promise<void>;
}

/**
 * The federation of a server: gossip with TLS off (seeded with `seeds`, which may be none: other
 * regions may join this one, and `server join` may name some later); with TLS on, this region
 * alone, `seeds` refused at start and `server join` refused with the reason.
 */
export function serverFederation(cluster: ClusterView, o: { tls: boolean; seeds: readonly string[]; log: Logger; intervalMs?: number }): ServerFederation {
  if (o.tls) {
    if (o.seeds.length > 0) throw new RucheError(ErrorCode.BadRequest, `retry_join_wan: ${FEDERATION_TLS_REFUSAL}`, { path: "server.retry_join_wan" });
    const alone = ownRegionOnly(() => cluster.self, () => cluster.members());
    return {
      federation: { ...alone, join: () => Promise.reject(new RucheError(ErrorCode.BadRequest, FEDERATION_TLS_REFUSAL)) },
      start: () => undefined,
      stop: () => Promise.resolve(),
    };
  }
  const gossip = new FederationGossip({ cluster, probe: httpProbe(), seeds: o.seeds, log: o.log, ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }) });
  return { federation: gossip, start: () => { gossip.start(); }, stop: () => gossip.stop() };
}
