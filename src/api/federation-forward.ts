import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import type { Duplex } from "node:stream";
import { request, upgrade } from "undici";
import type { ClusterView, Federation, FederationMember } from "../server/index.js";
import { ErrorCode, errorMessage, neverSent, RucheError, tlsFailure, tlsHandshakeFailed } from "../structs/index.js";
import type { ApiFlavor } from "./cluster-headers.js";
import { endToEnd, isWrite, PLAIN_HTTP, type Dial } from "./forward.js";
import type { Reply } from "./http.js";
import { NODE_KEY_HEADER } from "./node-identity.js";
import { PEER_HEADER } from "./tls-listener.js";
import { spliceWebSocket } from "./websocket.js";

/**
 * Marks a request a server sent here from another region or datacenter (`name.region` of the
 * sender): this server answers it or refuses it, never sends it on again, so that two servers
 * that disagree on who holds a region cannot pass a request back and forth.
 */
export const FEDERATION_FORWARDED = "x-ruche-federation-forwarded-by";

/**
 * Marks a multiregion job's copy another region's server registers here (`multiregion.ts`):
 * registered here alone, never sent on to the other regions again. Its value is the sending
 * server's region.
 */
export const MULTIREGION_COPY = "x-ruche-multiregion-copy";

/** Nomad's and Consul's region a job falls to when it names none. */
const GLOBAL_REGION = "global";

/** Where a request goes: another region's servers (`?region=`, a job's region) or another datacenter's (`?dc=`). */
export type Destination = { kind: "region"; region: string } | { kind: "dc"; dc: string };

/** What a listener needs to send requests across the federation. */
export interface FederationEdge {
  federation: Federation;
  /** This server's region: who it is, its region's servers (whose datacenters are answered here). */
  cluster: ClusterView;
  /** nomad: the Nomad API (`?region=` on every route but the agent's own, `?dc=` on Consul's); consul: the Consul listener (`?dc=` only). */
  flavor: ApiFlavor;
  /** How this server dials the others (TLS with the cluster's CA and its certificate when on); plain HTTP when absent. */
  dial?: Dial;
  /** How this server dials a server of another region: TLS checking that its certificate names a server of that region (`server.<region>.ruche`); `dial` when absent. */
  regionDial?: (region: string) => Dial;
}

/**
 * Routes any server of a region answers about itself, whatever `?region=` says (Nomad's agent
 * endpoints are answered by the agent asked, not forwarded): the agent's own, the region list,
 * the metrics, the servers' internal routes, the dashboard's files.
 */
const AGENT_LOCAL = /^\/v1\/(agent\/|regions$|metrics$|openapi|internal\/)|^\/(?!v1\/)/;

/** Consul's routes that take `?dc=`: its servers' (its agent's routes answer for the agent asked, as Consul's do). */
const CONSUL_DC = /^\/v1\/(catalog\/(?!datacenters$)|health\/|kv(\/|$)|session\/|txn$|query(\/|$)|coordinate\/nodes|status\/(leader|peers)$)/;

/** Nomad's routes whose body is a job, routed by its region when the query names none (`regionForJob`). */
const JOB_REGISTER = /^\/v1\/(jobs|job\/[^/]+|job\/[^/]+\/plan)$/;

/**
 * The region a job submission goes to, as Nomad's HTTP agent decides (`regionForJob` in
 * command/agent/job_endpoint.go): `?region=` first, the request body's `Region` over it, else
 * the job's own `Region`; none, or "global", is this server's region.
 */
export function regionForJob(queryRegion: string | null, bodyRegion: unknown, jobRegion: unknown, own: string): string {
  let region = queryRegion ?? "";
  if (typeof bodyRegion === "string" && bodyRegion !== "") region = bodyRegion;
  if (region === "" && typeof jobRegion === "string") region = jobRegion;
  return region === "" || region === GLOBAL_REGION ? own : region;
}

/**
 * Where a multiregion job's submission goes, as Nomad's agent decides: the region asked for when
 * the job names it among its regions, else the first region it names (`regionForJob` in
 * command/agent/job_endpoint.go). A job that is not multiregion goes where it was asked.
 */
export function multiregionEntry(multiregion: unknown, region: string): string {
  if (typeof multiregion !== "object" || multiregion === null) return region;
  const regions = (multiregion as { Regions?: unknown }).Regions;
  if (!Array.isArray(regions)) return region;
  const names = regions.map((r) => (typeof r === "object" && r !== null ? (r as { Name?: unknown }).Name : undefined)).filter((n): n is string => typeof n === "string" && n !== "");
  const [first] = names;
  return first === undefined || names.includes(region) ? region : first;
}

/** A JSON body's top-level fields, when it is an object; nothing when it is not (the route refuses it with its own words). */
function bodyFields(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const v = JSON.parse(body.toString("utf8")) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The datacenters this server's region answers itself: its own and its region's servers' (they share one state). */
export function localDatacenters(cluster: ClusterView): Set<string> {
  return new Set([cluster.self.Datacenter, ...cluster.members().map((m) => m.Datacenter)]);
}

/**
 * Where a request goes, or undefined when this server answers it. On the Nomad API a
 * `?region=` other than this server's goes to that region (for a job's registration, plan and
 * validation, as Nomad's agent decides from the body too); on either API a `?dc=` on Consul's
 * routes that is not a datacenter of this region goes to that datacenter.
 */
export function destination(edge: FederationEdge, method: string, url: URL, body: Buffer, headers: IncomingMessage["headers"] = {}): Destination | undefined {
  const path = url.pathname;
  const own = edge.cluster.self.Region;
  if (edge.flavor === "nomad" && !AGENT_LOCAL.test(path)) {
    const query = url.searchParams.get("region");
    const q = query === "" ? null : query;
    let region = q ?? own;
    const submits = method === "PUT" || method === "POST";
    if (submits && JOB_REGISTER.test(path)) {
      const b = bodyFields(body);
      const job = b.Job;
      const j = typeof job === "object" && job !== null ? (job as Record<string, unknown>) : {};
      // A multiregion job's copy sent by another region is for this one (its own check says so).
      region = headers[MULTIREGION_COPY] !== undefined ? own : multiregionEntry(j.Multiregion, regionForJob(q, b.Region, j.Region, own));
    } else if (submits && path === "/v1/validate/job") {
      // Nomad's validation takes the query's region, else the body's, never the job's.
      const b = bodyFields(body);
      region = q ?? (typeof b.Region === "string" && b.Region !== "" ? b.Region : own);
    }
    if (region !== own) return { kind: "region", region };
  }
  if (CONSUL_DC.test(path)) {
    const dc = url.searchParams.get("dc");
    if (dc !== null && dc !== "" && !localDatacenters(edge.cluster).has(dc)) return { kind: "dc", dc };
  }
  return undefined;
}

/** Consul's answers when no server of a datacenter can take a request (`structs.ErrNoDCPath`, `ErrDCNotAvailable`), with its status: a plain-text 500. */
export const NO_DC_PATH = "No path to datacenter";
export const DC_NOT_AVAILABLE = "Remote DC has no server currently reachable";
/** Nomad's (`structs.ErrNoRegionPath`). */
export const NO_REGION_PATH = "No path to region";

/** An answer this server makes itself (a refusal). */
type Answer = Exclude<Reply, { streamed: true }>;

function consulText(status: number, body: string): Answer {
  return { status, body, headers: { "content-type": "text/plain; charset=utf-8" } };
}

/** The server to send a request for `dest` to, or the refusal to answer when there is none. */
function serverFor(edge: FederationEdge, dest: Destination): FederationMember | Answer {
  const { federation } = edge;
  if (dest.kind === "dc") {
    const server = federation.serverInDatacenter(dest.dc);
    if (server !== undefined) return server;
    // Consul: a datacenter it knows with no server answering, else one it never heard of.
    return consulText(500, federation.datacenters().includes(dest.dc) ? DC_NOT_AVAILABLE : NO_DC_PATH);
  }
  const server = federation.serverIn(dest.region);
  if (server !== undefined) return server;
  const known = federation.members().filter((m) => m.Region === dest.region);
  if (known.length === 0) {
    throw new RucheError(ErrorCode.NoRegionPath, `${NO_REGION_PATH} "${dest.region}": no server of it is known (regions: ${federation.regions().join(", ")})`, { path: "region" });
  }
  throw new RucheError(ErrorCode.Unavailable, `${NO_REGION_PATH} "${dest.region}": none of its servers answers (${known.map((m) => `${m.Name} ${m.Status}`).join(", ")}); try again once one is back`);
}

/** A request as it came: what `acrossFederation` needs of it. */
export interface Across {
  method: string;
  url: URL;
  raw: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  /** Aborts when the client goes away: the request to the other server stops with it. */
  signal: AbortSignal;
  /** An upgrade request's socket and the bytes read past its headers (a WebSocket session). */
  upgrade?: { socket: Duplex; head: Buffer };
}

/**
 * Sends a request for another region or datacenter to a live server of it and relays the
 * answer as it comes — status, headers (the index of a blocking query among them), body
 * streamed, so that a blocking query waits there and an event stream flows — and resolves
 * with the status relayed. Resolves undefined when this server answers the request itself, and
 * with the answer to send when no server can take it (Consul's plain-text refusals); throws
 * Nomad's `No path to region` (400 for a region no server knows, 503 for one whose servers do
 * not answer). A request another server already sent across is never sent on: refused here.
 */
export async function acrossFederation(edge: FederationEdge, r: Across): Promise<number | Answer | undefined> {
  const dest = destination(edge, r.method, r.url, r.body, r.raw.headers);
  if (dest === undefined) return undefined;
  const self = edge.cluster.self;
  const from = r.raw.headers[FEDERATION_FORWARDED];
  if (from !== undefined) {
    const what = dest.kind === "region" ? `region "${dest.region}"` : `datacenter "${dest.dc}"`;
    const why = `${String(from)} sent this request to ${self.Name} (region ${self.Region}, datacenter ${self.Datacenter}) for ${what}, which this server does not hold: it is not sent on again`;
    if (dest.kind === "dc") return { ...consulText(500, NO_DC_PATH), err: new Error(why) };
    throw new RucheError(ErrorCode.NoRegionPath, `${NO_REGION_PATH} "${dest.region}": ${why}`, { path: "region" });
  }
  const server = serverFor(edge, dest);
  if (!("Name" in server)) return server;
  const target = edge.flavor === "consul" && server.ConsulAddr !== "" ? server.ConsulAddr : server.HTTPAddr;
  const who = `${server.Name} (${target}) of region ${server.Region}`;
  const headers: Record<string, string | string[]> = {};
  // The client certificate header and the agent's node key mean something to this server only.
  for (const [k, v] of Object.entries(endToEnd(r.raw.headers))) if (k !== PEER_HEADER && k !== NODE_KEY_HEADER) headers[k] = v;
  headers[FEDERATION_FORWARDED] = `${self.Name}.${self.Region}`;
  const dial = edge.regionDial?.(server.Region) ?? edge.dial ?? PLAIN_HTTP;
  if (r.raw.headers.upgrade !== undefined) {
    await relayUpgrade(r, dial, `${dial.scheme}://${target}${r.raw.url ?? r.url.pathname}`, headers, who);
    return 101;
  }
  let answer: Awaited<ReturnType<typeof request>>;
  try {
    answer = await request(`${dial.scheme}://${target}${r.raw.url ?? r.url.pathname}`, {
      ...(dial.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }),
      method: r.method as "GET",
      headers,
      body: r.body.length === 0 ? null : r.body,
      signal: r.signal,
      // A blocking query waits there up to its wait (5 minutes at most); a stream's body has no end.
      headersTimeout: 6 * 60_000,
      bodyTimeout: 0,
    });
  } catch (err) {
    if (r.signal.aborted) throw new RucheError(ErrorCode.Unavailable, "the client went away", { cause: err });
    if (neverSent(err) || tlsHandshakeFailed(err)) {
      throw new RucheError(ErrorCode.BadGateway, `${who} could not be reached: ${tlsFailure(err) ?? errorMessage(err)}; nothing was sent`, { cause: err });
    }
    const maybe = isWrite(r.method) ? "; the write may have been made: read before you try again" : "";
    throw new RucheError(ErrorCode.BadGateway, `${who} did not answer: ${errorMessage(err)}${maybe}`, { cause: err });
  }
  r.res.writeHead(answer.statusCode, endToEnd(answer.headers));
  // Headers first: a stream's (the event stream, a followed log) come before any of its body.
  r.res.flushHeaders();
  try {
    await pipeline(answer.body, r.res);
  } catch {
    // The client went away, or the other server cut the stream: the answer ends where it stopped.
    answer.body.destroy();
    r.res.destroy();
  }
  return answer.statusCode;
}

/**
 * A WebSocket session (`alloc exec`, a job's action) of another region: the upgrade sent on to
 * that region's server as it came (its key and version, its token), its 101 answered to the
 * client, and the two sockets joined until either side closes.
 */
async function relayUpgrade(r: Across, dial: Dial, url: string, headers: Record<string, string | string[]>, who: string): Promise<void> {
  const client = r.upgrade;
  if (client === undefined) throw new RucheError(ErrorCode.BadRequest, `${r.url.pathname} asks for a WebSocket, but the connection cannot be upgraded here`);
  const send: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    // undici's upgrade sets its own connection and upgrade headers.
    if (k === "connection" || k === "upgrade") continue;
    send[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  for (const h of ["sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol"]) {
    const v = r.raw.headers[h];
    if (typeof v === "string") send[h] = v;
  }
  let up: { headers: Record<string, string | string[] | undefined>; socket: Duplex };
  try {
    up = await upgrade(url, { method: "GET", headers: send, protocol: "websocket", signal: r.signal, ...(dial.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }) });
  } catch (err) {
    throw new RucheError(ErrorCode.BadGateway, `${who} did not take the WebSocket: ${tlsFailure(err) ?? errorMessage(err)}`, { cause: err });
  }
  spliceWebSocket(client, up);
}
