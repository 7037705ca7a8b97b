import { request as httpsRequest } from "node:https";
import type { PeerCertificate } from "node:tls";
import { request } from "undici";
import type { ClusterPki } from "../api/index.js";
import { caRegion, checkFederationPeer, FEDERATION_NO_ROTATION, peerNames, serverRegions, type ClusterCa } from "../pki/index.js";
import { FederationGossip, type ClusterView, type Federation, type FederationCaller, type FederationProbe } from "../server/index.js";
import { ErrorCode, errorMessage, RucheError, tlsFailure, type DialTls, type Logger } from "../structs/index.js";

/**
 * A server's federation with the other regions (`server { retry_join_wan }`, `ruche server
 * join`): `FederationGossip`, over plain HTTP between servers with TLS off, over mutual TLS
 * between servers with TLS on. Over TLS the regions share one CA (the first region's, which the
 * others took up with `-join-wan-token`: `cluster-tls.ts`, `pki/federation.ts`), and every
 * server checks that the other's certificate names a server of the region it says it is
 * (`server.<region>.ruche`): one that does not, or whose certificate is not of the CA, is
 * refused, said in the log. A server with TLS on never speaks plain HTTP to another region.
 */

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

/**
 * Asks a server what it knows over mutual TLS (`POST /v1/internal/federation`, HTTPS showing
 * this server's certificate, `tls` read at each probe so a certificate issued again is shown):
 * the other's certificate must chain to the federation's CA and name a server of some region,
 * and its answer must come from a server of the region its certificate names; else the probe
 * fails, saying why, and `refused` is told (once per address and reason, for the log).
 */
export function tlsProbe(tls: DialTls, refused: (address: string, reason: string) => void = () => undefined): FederationProbe {
  return (address, ours, signal) =>
    new Promise((resolve, reject) => {
      const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
      if (m === null) {
        reject(new Error(`not a host:port: ${JSON.stringify(address)}`));
        return;
      }
      let shown: ReturnType<typeof peerNames> | undefined;
      let notAServer: string | undefined;
      const fail = (reason: string): void => {
        refused(address, reason);
        reject(new Error(reason));
      };
      const payload = Buffer.from(JSON.stringify(ours));
      const req = httpsRequest(
        {
          host: m[1],
          port: Number(m[2]),
          method: "POST",
          path: "/v1/internal/federation",
          agent: false,
          signal,
          headers: { "content-type": "application/json", "content-length": String(payload.length) },
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
          rejectUnauthorized: true,
          checkServerIdentity: (_host: string, cert: PeerCertificate) => {
            shown = peerNames(cert);
            if (serverRegions(shown).length > 0) return undefined;
            notAServer = `its certificate (${shown.subject}) names no server of any region (server.<region>.ruche): a node's or an operator's certificate, not a server's`;
            return new Error(notAServer);
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) {
              fail(`it answered ${res.statusCode}: ${text.slice(0, 300)}`);
              return;
            }
            let answer: unknown;
            try {
              answer = JSON.parse(text) as unknown;
            } catch {
              reject(new Error(`it answered what is not JSON: ${text.slice(0, 200)}`));
              return;
            }
            const region = (answer as { Region?: unknown } | null)?.Region;
            if (typeof region !== "string") {
              resolve(answer);
              return;
            }
            const check = shown === undefined ? { ok: false as const, reason: "it showed no certificate" } : checkFederationPeer(shown, region);
            if (!check.ok) fail(check.reason);
            else resolve(answer);
          });
        },
      );
      req.on("error", (err) => {
        if (signal.aborted) {
          reject(err);
          return;
        }
        const why = tlsFailure(err);
        if (notAServer !== undefined) fail(notAServer);
        else if (why?.startsWith("the server's certificate") === true) fail(`${why.replace(/^the server's certificate/, "its certificate")}: it is not a server of this federation (its CA is not the federation's)`);
        else if (why !== undefined) fail(`${why} (${errorMessage(err).replace(/\s+/g, " ").trim()}): this server speaks to other regions over mutual TLS only, never plain HTTP`);
        else reject(err);
      });
      req.end(payload);
    });
}

export interface ServerFederation {
  federation: Federation;
  /** Starts the rounds, once the API listens (this server's address is known). */
  start(): void;
  stop(): Promise<void>;
}

/**
 * The federation of a server: gossip, seeded with `seeds` (which may be none: other regions may
 * join this one, and `server join` may name some later), over plain HTTP with TLS off and over
 * mutual TLS with `tls` (this server's certificate and the federation's CA, the object the
 * agent's wire keeps current). Over TLS, a server whose word comes (pushed to the exchange) or
 * is answered (to a probe) with a certificate naming no server of the region it claims is
 * refused and logged; so is one whose certificate is not of the CA (the listener refuses it
 * before the exchange).
 */
export function serverFederation(cluster: ClusterView, o: { tls?: DialTls; seeds: readonly string[]; log: Logger; intervalMs?: number }): ServerFederation {
  const said = new Map<string, string>();
  const refused = (address: string, reason: string): void => {
    if (said.get(address) === reason) return;
    said.set(address, reason);
    o.log.warn({ address, reason }, `federation: refused the server at ${address}: ${reason}`);
  };
  const probe = o.tls === undefined ? httpProbe() : tlsProbe(o.tls, refused);
  const gossip = new FederationGossip({ cluster, probe, seeds: o.seeds, log: o.log, ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }) });
  if (o.tls === undefined) return { federation: gossip, start: () => { gossip.start(); }, stop: () => gossip.stop() };
  const federation: Federation = {
    regions: () => gossip.regions(),
    datacenters: () => gossip.datacenters(),
    members: () => gossip.members(),
    serverIn: (region) => gossip.serverIn(region),
    serverInDatacenter: (dc) => gossip.serverInDatacenter(dc),
    join: (addresses) => gossip.join(addresses),
    exchange: (theirs: unknown, from?: FederationCaller) => {
      const claimed = (theirs as { Region?: unknown } | null)?.Region;
      const where = from?.address ?? "an unknown address";
      if (from?.tls !== true) {
        refused(where, "it pushed its word over plain HTTP, and this server's federation speaks mutual TLS only");
        throw new RucheError(ErrorCode.Forbidden, "this server federates over mutual TLS only: a server of another region speaks HTTPS with its certificate of the federation's CA");
      }
      if (from.peer === undefined) {
        refused(where, "it showed no client certificate");
        throw new RucheError(ErrorCode.Forbidden, "the federation's exchange takes a server's certificate of the federation's CA (mutual TLS): none was shown");
      }
      if (typeof claimed === "string") {
        const check = checkFederationPeer(from.peer, claimed);
        if (!check.ok) {
          refused(where, check.reason);
          throw new RucheError(ErrorCode.Forbidden, `the federation's exchange refused: ${check.reason}`);
        }
      }
      return gossip.exchange(theirs);
    },
  };
  return { federation, start: () => { gossip.start(); }, stop: () => gossip.stop() };
}

/**
 * A server's cluster CA as its API serves it (`ClusterPki`), in a federation: it shares its
 * record with another region's first server (a WAN join), and refuses to rotate once the CA is
 * the federation's (`FEDERATION_NO_ROTATION`): when the federation knows another region, or when
 * the CA was made by another region (its subject's O), since every region must keep trusting
 * the one CA and rotating it in every region at once is not built.
 */
export function federationPki(ca: ClusterCa, federation: () => Federation): ClusterPki {
  const shared = (): string | undefined => {
    const madeBy = caRegion(ca.ca().certPem);
    if (madeBy !== null && madeBy !== ca.region) return `made by region ${madeBy}`;
    const others = federation()
      .regions()
      .filter((r) => r !== ca.region);
    return others.length > 0 ? `federated with region ${others.join(", ")}` : undefined;
  };
  const refuseIfShared = (): void => {
    const why = shared();
    if (why !== undefined) throw new RucheError(ErrorCode.Conflict, `${FEDERATION_NO_ROTATION} (this CA is ${why})`);
  };
  return {
    region: ca.region,
    ca: () => ca.ca(),
    trusted: () => ca.trusted(),
    chain: () => ca.chain(),
    rotating: () => ca.rotating(),
    clusterKey: () => ca.clusterKey(),
    federationRecord: () => ca.federationRecord(),
    rotate: async () => {
      refuseIfShared();
      return ca.rotate();
    },
    finish: async () => {
      refuseIfShared();
      await ca.finish();
    },
  };
}
