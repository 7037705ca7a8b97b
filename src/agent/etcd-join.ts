import type { IncomingMessage, ServerResponse } from "node:http";
import { fetch as dialFetch } from "undici";
import { createListener, type ApiWire, type Dial } from "../api/index.js";
import { ErrorCode, errorMessage, RucheError, silentLogger, tlsFailure, type Logger } from "../structs/index.js";

/**
 * How servers that run their own etcd member find each other (Nomad's `retry_join`, k3s's
 * join): each one answers `GET /v1/internal/etcd/peer` on its HTTP API with its member's
 * name and URLs, and, once its member runs, adds a server that asks `POST
 * /v1/internal/etcd/join` as a new member. Before its state is open a server has no API
 * yet: its join listener answers those two routes in its place, and 503 to anything else.
 */

/** The paths of the two routes. */
export const ETCD_PEER_PATH = "/v1/internal/etcd/peer";
export const ETCD_JOIN_PATH = "/v1/internal/etcd/join";

/** A member as a running one sees the cluster. */
export interface EtcdPeerMember {
  /** "" for a member added but not started yet. */
  Name: string;
  PeerURLs: string[];
  ClientURLs: string[];
}

/** What a server answers on `GET /v1/internal/etcd/peer`. */
export interface EtcdPeer {
  /** The server's name, which is its etcd member's name. */
  Name: string;
  Region: string;
  PeerURL: string;
  ClientURL: string;
  /** Whether its etcd member runs (it may still wait for a quorum). */
  Running: boolean;
  /** Whether its data dir holds a member (its WAL): it belongs to a cluster, running or not. */
  HasData?: boolean;
  /** The cluster's members as its member knows them (while it runs and answers). */
  Members?: EtcdPeerMember[];
  /** The `--initial-cluster` of the new cluster it started (absent when it joined one, or started again on its data). */
  InitialCluster?: string;
}

/** The body of `POST /v1/internal/etcd/join`. */
export interface EtcdJoinRequest {
  Name: string;
  PeerURL: string;
}

/** Its answer: the `--initial-cluster` the new member starts with (`--initial-cluster-state existing`). */
export interface EtcdJoinAnswer {
  InitialCluster: string;
}

/** What the join listener serves: a server's etcd member (`ManagedEtcd`). */
export interface JoinListenerSelf {
  peer(): Promise<EtcdPeer>;
  /** Adds a server as a member; absent (503) while this server's member cannot. */
  join?: (body: unknown) => Promise<EtcdJoinAnswer>;
}

export interface JoinListener {
  /** The port it listens on (the one given, or the one picked for 0). */
  readonly port: number;
  /** Stops listening and drops every connection, so that the API can take the port. */
  close(): Promise<void>;
}

const STARTING = "the server is starting: its etcd member is not up yet";

/** Serves the peer and join routes on host:port until closed; anything else is answered 503 (RUCHE_NO_LEADER). */
export async function startJoinListener(opts: { host: string; port: number; self: JoinListenerSelf; tls?: ApiWire["tls"]; log?: Logger }): Promise<JoinListener> {
  // Over TLS as the API it stands in for.
  const listener = createListener(
    opts.tls,
    (req, res) => {
      void answer(opts.self, req, res);
    },
    opts.log ?? silentLogger,
  );
  let port: number;
  try {
    port = (await listener.listen({ port: opts.port, host: opts.host, backlog: 511 })).port;
  } catch (err) {
    throw new RucheError(ErrorCode.Internal, `cannot listen on ${opts.host}:${opts.port} for the servers' etcd join: ${errorMessage(err)}`, { cause: err });
  }
  return {
    port,
    close: async () => {
      const stopped = listener.stop();
      listener.dropAll();
      await stopped;
    },
  };
}

async function answer(self: JoinListenerSelf, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  try {
    if (path === ETCD_PEER_PATH && req.method === "GET") {
      send(res, 200, await self.peer());
    } else if (path === ETCD_JOIN_PATH && req.method === "POST" && self.join !== undefined) {
      const text = await readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new RucheError(ErrorCode.BadJson, `the body is not JSON: ${errorMessage(err)}`);
      }
      send(res, 200, await self.join(body));
    } else {
      throw new RucheError(ErrorCode.NoLeader, STARTING);
    }
  } catch (err) {
    const e = err instanceof RucheError ? err : new RucheError(ErrorCode.Internal, errorMessage(err));
    send(res, e.status, { error: { code: e.code, message: e.message, ...(e.path === undefined ? {} : { path: e.path }) } });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > 64 * 1024) throw new RucheError(ErrorCode.TooLarge, "a join request is a name and a URL: this body is over 64 KiB");
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Validates the body of a join request (from another server: checked here, once). */
export function parseJoinRequest(body: unknown): EtcdJoinRequest {
  if (typeof body !== "object" || body === null) throw new RucheError(ErrorCode.BadRequest, "a join request is an object {Name, PeerURL}");
  const b = body as Record<string, unknown>;
  if (typeof b.Name !== "string" || b.Name === "") throw new RucheError(ErrorCode.BadRequest, "Name must be the joining server's name", { path: "Name" });
  if (typeof b.PeerURL !== "string" || !/^https?:\/\/[^/]+$/.test(b.PeerURL)) {
    throw new RucheError(ErrorCode.BadRequest, `PeerURL must be the joining member's peer URL (http://host:port), not ${JSON.stringify(b.PeerURL)}`, { path: "PeerURL" });
  }
  return { Name: b.Name, PeerURL: b.PeerURL };
}

/** Validates another server's peer answer; null (with why) for something that is not one. */
export function parsePeer(x: unknown): { ok: true; peer: EtcdPeer } | { ok: false; reason: string } {
  if (typeof x !== "object" || x === null) return { ok: false, reason: "not an object" };
  const p = x as Record<string, unknown>;
  for (const k of ["Name", "Region", "PeerURL", "ClientURL"] as const) {
    if (typeof p[k] !== "string" || p[k] === "") return { ok: false, reason: `${k} is not a non-empty string` };
  }
  if (typeof p.Running !== "boolean") return { ok: false, reason: "Running is not a boolean" };
  const peer: EtcdPeer = { Name: p.Name as string, Region: p.Region as string, PeerURL: p.PeerURL as string, ClientURL: p.ClientURL as string, Running: p.Running };
  if (p.Members !== undefined) {
    if (!Array.isArray(p.Members)) return { ok: false, reason: "Members is not a list" };
    const members: EtcdPeerMember[] = [];
    for (const m of p.Members as unknown[]) {
      if (typeof m !== "object" || m === null) return { ok: false, reason: "a member is not an object" };
      const r = m as Record<string, unknown>;
      if (typeof r.Name !== "string" || !isStrings(r.PeerURLs) || !isStrings(r.ClientURLs)) return { ok: false, reason: "a member lacks Name, PeerURLs or ClientURLs" };
      members.push({ Name: r.Name, PeerURLs: r.PeerURLs, ClientURLs: r.ClientURLs });
    }
    peer.Members = members;
  }
  if (p.HasData !== undefined) {
    if (typeof p.HasData !== "boolean") return { ok: false, reason: "HasData is not a boolean" };
    peer.HasData = p.HasData;
  }
  if (p.InitialCluster !== undefined) {
    if (typeof p.InitialCluster !== "string") return { ok: false, reason: "InitialCluster is not a string" };
    peer.InitialCluster = p.InitialCluster;
  }
  return { ok: true, peer };
}

function isStrings(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === "string");
}

/**
 * `host:port` of a server's API as `retry_join` gives it: a bare host takes port 4646
 * (Nomad's), and a leading http:// is dropped.
 */
export function joinAddress(addr: string): string {
  const bare = addr.trim().replace(/^https?:\/\//, "").replace(/\/+$/, "");
  if (bare === "") throw new RucheError(ErrorCode.BadRequest, "retry_join holds an empty address");
  if (bare.startsWith("[")) return bare.includes("]:") ? bare : `${bare}:4646`;
  const colons = bare.split(":").length - 1;
  if (colons === 0) return `${bare}:4646`;
  // An IPv6 address without brackets has no port.
  return colons === 1 ? bare : `[${bare}]:4646`;
}

/** Asks the server at `addr` (host:port) for its peer answer, within `timeoutMs`; over TLS with `dial`. */
export async function fetchPeer(addr: string, timeoutMs = 1000, dial?: Dial): Promise<{ ok: true; peer: EtcdPeer } | { ok: false; reason: string }> {
  try {
    const res = await dialFetch(`${dial?.scheme ?? "http"}://${addr}${ETCD_PEER_PATH}`, { signal: AbortSignal.timeout(timeoutMs), ...(dial?.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }) });
    const text = await res.text();
    if (!res.ok) return { ok: false, reason: `${res.status} ${text.slice(0, 200)}` };
    return parsePeer(JSON.parse(text));
  } catch (err) {
    return { ok: false, reason: describeFetchError(err) };
  }
}

/** Asks the server at `addr` to add this server as a member; the answer is the `--initial-cluster` to start with. */
export async function requestJoin(addr: string, req: EtcdJoinRequest, timeoutMs = 10_000, dial?: Dial): Promise<EtcdJoinAnswer> {
  let res: Awaited<ReturnType<typeof dialFetch>>;
  let text: string;
  try {
    res = await dialFetch(`${dial?.scheme ?? "http"}://${addr}${ETCD_JOIN_PATH}`, {
      ...(dial?.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }),
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(req),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    throw new RucheError(ErrorCode.Unreachable, `asking ${addr} to add this server as an etcd member: ${describeFetchError(err)}`, { cause: err });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    throw new RucheError(ErrorCode.BadGateway, `${addr} did not add this server as an etcd member (${res.status}): ${typeof message === "string" ? message : text.slice(0, 200)}`);
  }
  const initial = (body as { InitialCluster?: unknown } | undefined)?.InitialCluster;
  if (typeof initial !== "string" || initial === "") throw new RucheError(ErrorCode.BadGateway, `${addr} answered the join without an InitialCluster: ${text.slice(0, 200)}`);
  return { InitialCluster: initial };
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error && err.name === "TimeoutError") return "no answer in time";
  const tls = tlsFailure(err);
  if (tls !== undefined) return tls;
  const cause = err instanceof Error && err.cause !== undefined ? errorMessage(err.cause) : "";
  return cause === "" ? errorMessage(err) : cause;
}
