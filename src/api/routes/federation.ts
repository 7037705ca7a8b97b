import type { TLSSocket } from "node:tls";
import { joinAddress } from "../../jobspec/index.js";
import type { Federation } from "../../server/index.js";
import { AclResource, ErrorCode, RucheError } from "../../structs/index.js";
import type { Handler, Router } from "../http.js";

/**
 * The federation of regions as the APIs show it: the servers' exchange
 * (`POST /v1/internal/federation`), Nomad's `server join` (`PUT /v1/agent/join?address=`),
 * Consul's WAN join (`PUT /v1/agent/join/ADDR?wan=1`), Consul's datacenters nearest first
 * (`/v1/catalog/datacenters`) and their coordinates (`/v1/coordinate/datacenters`). The
 * members and the regions are in `servers.ts` and `agent.ts`, read from the same `Federation`.
 */

/** The servers' exchange: served when this server gossips with other regions; over TLS, with the client certificate the other server showed (checked by the federation). */
export function federationRoutes(r: Router, federation: Federation): void {
  const exchange = federation.exchange?.bind(federation);
  if (exchange === undefined) return;
  r.put("/v1/internal/federation", (req) => {
    const tls = (req.raw.socket as Partial<TLSSocket>).encrypted === true;
    const address = req.raw.socket.remoteAddress;
    return { body: exchange(req.body, { tls, ...(req.peerCert === undefined ? {} : { peer: req.peerCert }), ...(address === undefined ? {} : { address }) }) };
  });
}

/** The addresses of a join, each host:port of a server's HTTP API (a host alone: 4646), or a 400 naming the bad one. */
function joinAddresses(list: readonly string[], path: string): string[] {
  return list.map((a) => {
    const r = joinAddress(a);
    if (!r.ok) throw new RucheError(ErrorCode.BadRequest, r.reason.replace(/^retry_join/, "a join"), { path });
    return r.address;
  });
}

function mustJoin(federation: Federation): NonNullable<Federation["join"]> {
  const join = federation.join?.bind(federation);
  if (join === undefined) throw new RucheError(ErrorCode.BadRequest, "this server cannot join other regions' servers");
  return join;
}

/**
 * Nomad's `PUT /v1/agent/join?address=A&address=B` (`nomad server join`): asks each now and
 * answers `{num_joined, error}` with 200, as Nomad does, the join failed or not. The node
 * join (`routes/join.ts`, a join token in the body) shares the path: it is taken when no
 * `address` is given.
 */
export function serverJoinHandler(federation: Federation, nodeJoin?: Handler): Handler {
  return async (req, res) => {
    const asked = req.query.getAll("address");
    if (asked.length === 0) {
      if (nodeJoin !== undefined) return nodeJoin(req, res);
      throw new RucheError(ErrorCode.BadRequest, "missing address to join", { path: "address" });
    }
    // The path's door is open for the nodes' join, which pays with its token: a server join is agent:write, as Nomad's (whose anonymous one is deprecated).
    if (!req.acl.allows(AclResource.Agent, "write")) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
    const r = await mustJoin(federation)(joinAddresses(asked, "address"));
    return { body: { num_joined: r.joined, error: r.error } };
  };
}

/** One datacenter's distance from this server: 0 for its own region's, else the shortest round trip measured to one of its live servers. */
function distances(federation: Federation, own: { Region: string; Datacenter: string }): Map<string, number> {
  const out = new Map<string, number>([[own.Datacenter, -1]]);
  for (const m of federation.members()) {
    const d = m.Region === own.Region ? 0 : m.Status === "alive" && m.RTT !== undefined ? m.RTT : Number.POSITIVE_INFINITY;
    out.set(m.Datacenter, Math.min(out.get(m.Datacenter) ?? Number.POSITIVE_INFINITY, d));
  }
  for (const dc of federation.datacenters()) if (!out.has(dc)) out.set(dc, Number.POSITIVE_INFINITY);
  return out;
}

/** Every datacenter, nearest first (Consul's `GetDatacentersByDistance`): this server's own, its region's, then the others by the round trip measured to them, unmeasured or dead ones last; ties by name. */
export function datacentersNearestFirst(federation: Federation, own: { Region: string; Datacenter: string }): string[] {
  const d = distances(federation, own);
  return [...d.entries()].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : a > b ? 1 : 0)).map(([dc]) => dc);
}

/** Consul's smallest height, seconds (`lib/coordinate`'s HeightMin). */
const HEIGHT_MIN = 10e-6;

/** A Vivaldi coordinate at `seconds` from the origin, where this server stands: Consul's distance between the two is the round trip measured. */
function coordinateAt(seconds: number): { Vec: number[]; Error: number; Adjustment: number; Height: number } {
  return { Vec: [Math.max(0, seconds - 2 * HEIGHT_MIN), 0, 0, 0, 0, 0, 0, 0], Error: 0.2, Adjustment: 0, Height: HEIGHT_MIN };
}

/**
 * Consul's WAN join and datacenters, on the Consul-compatible API and under the main API. A
 * LAN join at run time is refused: a region's servers form one cluster with retry_join when
 * they start.
 */
export function consulFederationRoutes(r: Router, federation: Federation, self: () => { Name: string; Region: string; Datacenter: string }): void {
  r.put("/v1/agent/join/:address", async (req) => {
    if (!req.query.has("wan")) throw new RucheError(ErrorCode.BadRequest, "joining a LAN pool at run time is not built: a datacenter's servers form one cluster with retry_join when they start; ?wan=1 joins another datacenter's server", { path: "wan" });
    const r = await mustJoin(federation)(joinAddresses([req.params.address ?? ""], "address"));
    if (r.joined === 0) return { status: 500, body: r.error, headers: { "content-type": "text/plain; charset=utf-8" } };
    return { body: null };
  });
  // Consul sorts them by the median round trip to their servers: this one first, then the nearest.
  r.get("/v1/catalog/datacenters", () => ({ body: datacentersNearestFirst(federation, self()) }));
  // Ruche measures round trips, not Vivaldi coordinates: each server of another datacenter is placed at its measured round trip from this one (at the origin, with its region's), and one never measured is left out.
  r.get("/v1/coordinate/datacenters", () => {
    const own = self();
    const byDc = new Map<string, { Node: string; Coord: ReturnType<typeof coordinateAt> }[]>();
    for (const dc of federation.datacenters()) byDc.set(dc, []);
    for (const m of federation.members()) {
      const seconds = m.Region === own.Region ? 0 : m.RTT === undefined ? undefined : m.RTT / 1000;
      if (seconds === undefined) continue;
      (byDc.get(m.Datacenter) ?? byDc.set(m.Datacenter, []).get(m.Datacenter))?.push({ Node: `${m.Name}.${m.Datacenter}`, Coord: coordinateAt(seconds) });
    }
    return { body: [...byDc.entries()].map(([Datacenter, Coordinates]) => ({ Datacenter, AreaID: "WAN", Coordinates })) };
  });
}
