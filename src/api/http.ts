import { ServerResponse, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { NodeRole, parseSpiffeUri, spiffeIdentity } from "../pki/index.js";
import { ALLOW_ALL, ErrorCode, errorMessage, NS, parseDuration, RucheError, type Acl, type Logger } from "../structs/index.js";
import { DEFAULT_MAX_CONNS_PER_CLIENT, limitConnectionsPerClient } from "./conn-limit.js";
import { refuseCrossSiteWrite } from "./csrf.js";
import { errorResponse, type ErrorBody } from "./errors.js";
import { acrossFederation, type FederationEdge } from "./federation-forward.js";
import { createListener, decodePeer, PEER_HEADER, peerCertOf, type ListenerTls, type PeerCert } from "./tls-listener.js";
import {
  AGENT_NODE_HEADER,
  decodeRequests,
  encodeAnswers,
  FORWARD_BATCH_PATH,
  forwardedBy,
  Forwarder,
  isWrite,
  mustForward,
  needsBarrier,
  notLeaderAnymore,
  type ClusterEdge,
  type ForwardedAnswer,
  type ForwardedRequest,
} from "./forward.js";

/** Bodies past this are refused with 413. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface Request {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** The parsed JSON body (undefined when there is none, and on raw-body routes). */
  body: unknown;
  /** The body's bytes, as sent (empty when there is none). */
  rawBody?: Buffer;
  signal: AbortSignal;
  raw: IncomingMessage;
  /** The client certificate it came with, verified against the listener's CA (for a write a follower forwarded, the one its client showed the follower); undefined without one. */
  peerCert?: PeerCert;
  /** The route that matched, as registered: `GET /v1/job/:id` (a HEAD is its GET route's, a POST its PUT's twin). */
  route: string;
  /**
   * For a write another server forwarded: that server (its name) and its node (its ID, ""
   * when it runs none), which the agent endpoints act on instead of this server's own (Consul's
   * agent endpoints act on the agent asked). Undefined: the request came here itself.
   */
  receivedBy?: ReceivedBy;
  /** What the request's token may do, set by the `authorize` hook (`ALLOW_ALL` when the hook sets none: ACLs are not in use). */
  acl: Acl;
  /** A request to upgrade the connection (a WebSocket): its socket, for the route to take over, and the bytes read past the headers. */
  upgrade?: { socket: Duplex; head: Buffer };
}

/** The server that received a write it forwarded here, and its node (`Request.receivedBy`). */
export interface ReceivedBy {
  /** The server's name. */
  server: string;
  /** Its node's ID; "" when it runs none. Its name is the server's. */
  node: string;
  /** The node is not in the state (not registered yet, or purged): the agent endpoints refuse to act on it (503); other writes go on. */
  missing?: true;
}

/**
 * A body already serialised as JSON: sent as it is. For an answer shared by many requests
 * (the blocking queries a single commit wakes), serialised once, and encoded once: every
 * response that sends it sends the same bytes, not a copy of its own.
 */
export class JsonText {
  private encoded: Buffer | undefined;
  constructor(readonly text: string) {}
  get bytes(): Buffer {
    return (this.encoded ??= Buffer.from(this.text, "utf8"));
  }
}

export type Reply =
  /** `err`: what went wrong behind a 5xx the handler answers itself (Consul's plain-text 500s), for the log line. */
  | { status?: number; body: unknown; index?: number; headers?: Record<string, string>; err?: unknown }
  /** The handler wrote the response itself (an event stream). */
  | { streamed: true };

export type Handler = (req: Request, res: ServerResponse) => Promise<Reply> | Reply;

interface Route {
  method: string;
  pattern: string;
  parts: string[];
  handler: Handler;
}

/** A request's route and the values of its `:name` parts. */
export interface RouteMatch {
  handler: Handler;
  params: Record<string, string>;
  /** `METHOD /pattern` as registered. */
  route: string;
}

/** A request's target as a URL; one that is not (`http://[`) is the client's mistake, answered 400. */
function requestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? "/", "http://localhost");
  } catch {
    throw new RucheError(ErrorCode.BadRequest, `the request target ${JSON.stringify(target)} is not a valid URL`);
  }
}

/** A path segment, percent-decoded; a malformed escape (`%zz`) is answered 400. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RucheError(ErrorCode.BadRequest, `the path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

/** A small router: `GET /v1/job/:id/allocations`; the first route that matches wins. */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, pattern, parts: pattern.split("/").filter((p) => p !== ""), handler });
    return this;
  }

  /** Every route registered, `METHOD /pattern`, in order. */
  list(): string[] {
    return this.routes.map((r) => `${r.method} ${r.pattern}`);
  }

  get(p: string, h: Handler): this {
    return this.on("GET", p, h);
  }
  put(p: string, h: Handler): this {
    this.on("PUT", p, h);
    return this.on("POST", p, h);
  }
  delete(p: string, h: Handler): this {
    return this.on("DELETE", p, h);
  }

  match(method: string, path: string): RouteMatch | "method" | null {
    const segs = path.split("/").filter((p) => p !== "").map(decodeSegment);
    let wrongMethod = false;
    for (const r of this.routes) {
      // A last part `*name` takes the rest of the path, slashes and all (a KV key).
      const rest = r.parts.at(-1)?.startsWith("*") === true;
      if (rest ? segs.length < r.parts.length - 1 : r.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const p = r.parts[i] as string;
        const s = segs[i] as string;
        if (p.startsWith("*")) {
          params[p.slice(1)] = segs.slice(i).join("/") + (path.endsWith("/") ? "/" : "");
          break;
        }
        if (p.startsWith(":")) params[p.slice(1)] = s;
        else if (p !== s) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (r.method !== method && !(method === "HEAD" && r.method === "GET")) {
        wrongMethod = true;
        continue;
      }
      return { handler: r.handler, params, route: `${r.method} ${r.pattern}` };
    }
    return wrongMethod ? "method" : null;
  }
}

/** Routes whose body is bytes, not JSON: a KV value. */
function isRawBodyPath(path: string): boolean {
  // KV values, a user event's payload and a snapshot to restore are bytes, not JSON.
  return path.startsWith("/v1/kv/") || path.startsWith("/v1/event/fire/") || path === "/v1/snapshot";
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString("utf8")) as unknown;
  } catch (err) {
    throw new RucheError(ErrorCode.BadJson, `the request body is not valid JSON: ${errorMessage(err)}`);
  }
}

async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    req.resume();
    throw new RucheError(ErrorCode.TooLarge, `the request body is ${declared} bytes; the limit is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RucheError(ErrorCode.TooLarge, `the request body is over the ${limit}-byte limit`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export interface HttpServerOptions {
  host: string;
  port: number;
  router: Router;
  /**
   * Called before every handler, once the server's memory is current when the request needs it
   * to be (so that a token just made on the leader is known): sets `req.acl`; refuses by
   * throwing a RucheError (Forbidden) or by returning the answer to send instead (Consul's
   * plain-text 403).
   */
  authorize: (req: Request) => Reply | undefined;
  onRequest?: (method: string, route: string, status: number, ms: number) => void;
  /** Every 5xx is logged here once at error level with its error and stack; a refused request (4xx) at debug. */
  log: Logger;
  /** Connections one client address may hold open (`http_max_conns_per_client`); past it, 429 and closed. 0: no limit. Default 100. */
  maxConnsPerClient?: number;
  /**
   * The region's servers, on a server's API: a follower forwards writes to the leader and
   * answers reads once its memory is current (`?stale`: at once), with the leader headers.
   */
  cluster?: ClusterEdge;
  /** The other regions and datacenters: a request for one of them (`?region=`, a job's region, `?dc=`) is sent there and its answer relayed. */
  federation?: FederationEdge;
  /** HTTPS with this certificate, and mutual TLS when it asks for client certificates; plain HTTP when absent. */
  tls?: ListenerTls;
}

export interface RunningHttp {
  address: string;
  port: number;
  /** Every route the listener serves, `METHOD /pattern`. */
  routes: readonly string[];
  /** On HTTPS: serves new connections with this certificate, key and CA (a renewed certificate, a rotated CA); the connections open keep theirs. */
  setTls?: (tls: Pick<ListenerTls, "cert" | "key" | "ca">) => void;
  close(): Promise<void>;
}

export async function startHttp(opts: HttpServerOptions): Promise<RunningHttp> {
  // The requests under way, so that closing the server stops them (a blocking query parked
  // on the store) before what they wait on closes under them.
  const inFlight = new Set<AbortController>();
  const forwarder = opts.cluster === undefined ? undefined : new Forwarder(opts.cluster);
  const listener = createListener(opts.tls, (raw, res) => {
    // A connection over its client's limit was answered 429 and is closing: its request gets nothing more.
    if (refused.has(raw.socket)) return;
    void handle(raw, res, opts, inFlight, forwarder);
  }, opts.log);
  const server = listener.server;
  // An upgrade (a WebSocket: `alloc exec`) is served as any request, by its route, which
  // takes the socket over; a refusal before that is an HTTP answer, then the connection closes.
  server.on("upgrade", (raw: IncomingMessage, socket: Socket, head: Buffer) => {
    if (refused.has(raw.socket)) return;
    socket.on("error", () => undefined);
    const res = new ServerResponse(raw);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once("finish", () => {
      socket.end();
    });
    upgrades.set(raw, { socket, head });
    void handle(raw, res, opts, inFlight, forwarder);
  });
  const refused = limitConnectionsPerClient(server, opts.maxConnsPerClient ?? DEFAULT_MAX_CONNS_PER_CLIENT, opts.log, listener.ready);
  server.keepAliveTimeout = 65_000;
  // A burst of new connections waits in the kernel's queue rather than being reset: as deep as
  // the system allows (net.core.somaxconn), as Go's listeners (Nomad's, Consul's) ask; Node's default is 511.
  const addr = await listener.listen({ port: opts.port, host: opts.host, backlog: 65_535 });
  return {
    address: `${addr.address.includes(":") ? `[${addr.address}]` : addr.address}:${addr.port}`,
    port: addr.port,
    routes: opts.router.list(),
    ...(listener.setTls === undefined ? {} : { setTls: listener.setTls }),
    close: () =>
      new Promise<void>((resolve) => {
        void listener.stop().then(resolve);
        for (const a of inFlight) a.abort(new RucheError(ErrorCode.Unavailable, "the agent is shutting down"));
        listener.dropAll();
      }),
  };
}

async function handle(raw: IncomingMessage, res: ServerResponse, opts: HttpServerOptions, inFlight: Set<AbortController>, forwarder: Forwarder | undefined): Promise<void> {
  const started = performance.now();
  const abort = new AbortController();
  inFlight.add(abort);
  // The client went away before the answer was complete. Once it is, there is nothing left
  // to stop, and an abort per answered request costs what the answer did.
  res.on("close", () => {
    inFlight.delete(abort);
    if (!res.writableFinished) abort.abort();
  });
  const method = raw.method ?? "GET";
  let route = raw.url ?? "/";
  try {
    const url = requestUrl(raw.url);
    route = url.pathname;
    const peerCert = peerCertOf(raw, opts.tls, url.pathname);
    refuseCrossSiteWrite(raw, url.pathname);
    if (forwarder !== undefined && url.pathname === FORWARD_BATCH_PATH) {
      if (method !== "POST") throw new RucheError(ErrorCode.MethodNotAllowed, `${method} is not allowed on ${url.pathname}`);
      await answerBatch(raw, res, opts, abort.signal, peerCert);
      opts.onRequest?.(method, route, 200, performance.now() - started);
      return;
    }
    const rawBody = method === "GET" || method === "HEAD" ? Buffer.alloc(0) : await readBody(raw);
    // Another region's or datacenter's request goes there before anything here looks at it: its servers route and authorize it.
    const up = upgrades.get(raw);
    const across = opts.federation === undefined ? undefined : await acrossFederation(opts.federation, { method, url, raw, res, body: rawBody, signal: abort.signal, ...(up === undefined ? {} : { upgrade: up }) });
    if (typeof across === "number") {
      opts.onRequest?.(method, route, across, performance.now() - started);
      return;
    }
    if (across !== undefined) {
      const out = replied(opts.log, across, false, { method, route });
      write(res, out);
      opts.onRequest?.(method, route, out.status, performance.now() - started);
      return;
    }
    const m = matchRoute(opts.router, method, url.pathname);
    if (forwarder !== undefined && mustForward(forwarder.edge, method, url.pathname)) {
      const a = await forwarder.forward(raw, rawBody, peerCert);
      write(res, a);
      opts.onRequest?.(method, route, a.status, performance.now() - started);
      return;
    }
    const reply = await serve(opts, m, { method, url, headers: raw.headers, rawBody, signal: abort.signal, raw, res, peerCert });
    if ("streamed" in reply) return;
    const out = replied(opts.log, reply, url.searchParams.has("pretty"), { method, route });
    write(res, out);
    opts.onRequest?.(method, route, out.status, performance.now() - started);
  } catch (err) {
    const out = failed(opts.log, err, method, route, abort.signal.aborted);
    if (!res.headersSent) write(res, out);
    else res.end();
    opts.onRequest?.(method, route, out.status, performance.now() - started);
  }
}

function write(res: ServerResponse, a: ForwardedAnswer): void {
  res.writeHead(a.status, { ...a.headers, "content-length": a.body.length });
  res.end(a.body);
}

/** A handler's reply as bytes; a 5xx it answered itself (Consul's plain-text 500s) logged once, with its error. */
function replied(log: Logger, reply: Exclude<Reply, { streamed: true }>, pretty: boolean, what: { method: string; route: string; forwardedBy?: string }): ForwardedAnswer {
  const out = replyBytes(reply, pretty);
  if (out.status >= 500) log.error({ ...(reply.err === undefined ? {} : { err: reply.err }), ...what, status: out.status }, "request answered with a server error");
  return out;
}

/** An error's answer (`errorResponse`), logged once (`logFailure`). */
function failed(log: Logger, err: unknown, method: string, route: string, clientGone: boolean): ForwardedAnswer {
  const { status, body } = errorResponse(err);
  logFailure(log, err, method, route, status, body, clientGone);
  return { status, headers: { "content-type": "application/json" }, body: bodyBytes(body, { "content-type": "application/json" }, false) };
}

/**
 * A request that ended in an error, logged once: a 5xx at error level with the error itself
 * (pino's serializer keeps its stack and cause), a refused request (4xx) at debug. A request
 * whose client had gone (a blocking query cut by the agent's shutdown) is answered to no one:
 * its error, stack included, is logged at debug. An error already logged where it arose (a
 * full disk, which the store logs once per episode) is logged here at debug only.
 */
function logFailure(log: Logger, err: unknown, method: string, route: string, status: number, body: ErrorBody, clientGone: boolean): void {
  if (clientGone) log.debug({ err, method, route, status }, "request failed after its client went away");
  else if (err instanceof RucheError && err.logged) log.debug({ method, route, status, code: body.error.code, message: body.error.message }, "request failed (logged where it arose)");
  else if (status >= 500) log.error({ err, method, route, status }, "request failed");
  else log.debug({ method, route, status, code: body.error.code, message: body.error.message }, "request refused");
}

/** A route's match, or 404/405 saying why there is none. */
function matchRoute(router: Router, method: string, path: string): RouteMatch {
  const m = router.match(method, path);
  if (m === null) throw new RucheError(ErrorCode.NotFound, `no route for ${method} ${path}`);
  if (m === "method") throw new RucheError(ErrorCode.MethodNotAllowed, `${method} is not allowed on ${path}`);
  return m;
}

/** The upgrade requests being served, with their sockets (`Request.upgrade`). */
const upgrades = new WeakMap<IncomingMessage, { socket: Duplex; head: Buffer }>();

interface Incoming {
  method: string;
  url: URL;
  headers: IncomingMessage["headers"];
  rawBody: Buffer;
  signal: AbortSignal;
  raw: IncomingMessage;
  res: ServerResponse;
  peerCert: PeerCert | undefined;
  receivedBy?: ReceivedBy;
}

/** A request this server answers itself: its body parsed, once its memory is current when it must be, authorized, answered by its route's handler. */
async function serve(opts: HttpServerOptions, m: RouteMatch, r: Incoming): Promise<Reply> {
  const body = isRawBodyPath(r.url.pathname) ? undefined : parseJson(r.rawBody);
  const req: Request = { method: r.method, path: r.url.pathname, params: m.params, query: r.url.searchParams, headers: r.headers, body, rawBody: r.rawBody, signal: r.signal, raw: r.raw, route: m.route, acl: ALLOW_ALL, ...(r.peerCert === undefined ? {} : { peerCert: r.peerCert }), ...(r.receivedBy === undefined ? {} : { receivedBy: r.receivedBy }) };
  const upgrade = upgrades.get(r.raw);
  if (upgrade !== undefined) req.upgrade = upgrade;
  if (opts.cluster !== undefined && needsBarrier(r.method, r.url.pathname, r.url.searchParams)) await opts.cluster.view.barrier(r.signal);
  const refused = opts.authorize(req);
  if (refused !== undefined) return refused;
  return m.handler(req, r.res);
}

/** A reply's status, headers and bytes; `?pretty` indents JSON, as Consul's API does. */
function replyBytes(reply: Exclude<Reply, { streamed: true }>, pretty: boolean): ForwardedAnswer {
  const headers: Record<string, string> = { "content-type": "application/json", ...reply.headers };
  // Nomad's Go client reads the index of every answer, reads and writes alike, from X-Nomad-Index (0 without it).
  if (reply.index !== undefined) headers["x-ruche-index"] = headers["x-nomad-index"] = String(reply.index);
  return { status: reply.status ?? 200, headers, body: bodyBytes(reply.body, headers, pretty) };
}

function bodyBytes(body: unknown, headers: Record<string, string>, pretty: boolean): Buffer {
  if (body instanceof JsonText && !pretty) return body.bytes;
  const json = (): string => (body instanceof JsonText ? body.text : JSON.stringify(body));
  const text = typeof body === "string" && headers["content-type"] !== "application/json" ? body : pretty ? `${JSON.stringify(JSON.parse(json()), null, 4)}\n` : json();
  return Buffer.from(text, "utf8");
}

/** Whether a certificate names no client node of the cluster's CA (`spiffe://ruche/<region>/client/<name>`): a node's certificate never forwards writes. */
function notAClientNode(peer: PeerCert): boolean {
  return !peer.uris.some((u) => parseSpiffeUri(u)?.role === NodeRole.Client);
}

/** Room for the heads of a batch's writes beside their bodies (a write alone may carry a whole `MAX_BODY_BYTES`). */
const BATCH_HEAD_ROOM = 1024 * 1024;

/**
 * The leader's side of `Forwarder`: a follower's batch of writes, each served as if it had
 * come on its own (authorized, answered with its own status, logged and counted under its
 * own route), all at once, so that they join the same commits; one answer holds each one's.
 * A server that does not lead (it stepped down while the batch was on its way) refuses each
 * write with 503 `RUCHE_NO_LEADER`: nothing was written.
 */
async function answerBatch(raw: IncomingMessage, res: ServerResponse, opts: HttpServerOptions, signal: AbortSignal, from: PeerCert | undefined): Promise<void> {
  const by = forwardedBy(raw) ?? "another server";
  // The client certificates a follower says its writes came with are believed from a server it
  // proved itself to be: one `mayForward` accepts, or without it (servers' certificates not
  // told apart) any but a certificate the cluster's CA made for a client node.
  const believed = from !== undefined && (opts.tls?.mayForward ?? notAClientNode)(from);
  if (from !== undefined && !believed) throw new RucheError(ErrorCode.Forbidden, `the certificate ${from.subject} is not a server's: only servers forward writes`);
  const items = decodeRequests(await readBody(raw, MAX_BODY_BYTES + BATCH_HEAD_ROOM));
  const answers = await Promise.all(items.map((it) => answerForwarded(it, by, raw, res, opts, signal, believed, from)));
  const bytes = encodeAnswers(answers);
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length });
  res.end(bytes);
}

async function answerForwarded(it: ForwardedRequest, by: string, raw: IncomingMessage, res: ServerResponse, opts: HttpServerOptions, signal: AbortSignal, believed: boolean, from: PeerCert | undefined): Promise<ForwardedAnswer> {
  const started = performance.now();
  let route = it.url;
  try {
    const url = requestUrl(it.url);
    route = url.pathname;
    if (!isWrite(it.method)) throw new RucheError(ErrorCode.BadRequest, `only writes are forwarded to the leader, not ${it.method} ${url.pathname}`);
    if (opts.cluster !== undefined && mustForward(opts.cluster, it.method, url.pathname)) throw notLeaderAnymore(by);
    const m = matchRoute(opts.router, it.method, url.pathname);
    // A write's handler answers with a reply, never on the response itself (only reads stream).
    const { [PEER_HEADER]: peer, [AGENT_NODE_HEADER]: node, ...headers } = it.headers;
    const peerCert = believed && peer !== undefined ? decodePeer(peer) : undefined;
    const receivedBy = receivedByOf(node, by, from, opts);
    const reply = await serve(opts, m, { method: it.method, url, headers, rawBody: it.body, signal, raw, res, peerCert, ...(receivedBy === undefined ? {} : { receivedBy }) });
    if ("streamed" in reply) throw new RucheError(ErrorCode.Internal, `${it.method} ${url.pathname} answered with a stream, which a batch of forwarded writes cannot carry`);
    const out = replied(opts.log, reply, url.searchParams.has("pretty"), { method: it.method, route, forwardedBy: by });
    opts.onRequest?.(it.method, route, out.status, performance.now() - started);
    return out;
  } catch (err) {
    const out = failed(opts.log, err, it.method, route, signal.aborted);
    opts.onRequest?.(it.method, route, out.status, performance.now() - started);
    return out;
  }
}

/**
 * The node a forwarded write's agent endpoints act on (`AGENT_NODE_HEADER`): the node of the
 * server that received it, "" when that server runs none; undefined when the follower named
 * none (a server of an older build: this server's own, as before). Only a server says it, and
 * only of its own node (the node named as the server is, as an agent's server and node are):
 * the server its certificate names (`spiffe://ruche/<region>/server/<name>`), or the one the
 * batch says forwarded it when its certificate is a server's without naming one (the
 * operator's `server.<region>.nomad`, which `answerBatch` checked) or the listener speaks
 * plain HTTP — where nothing proves any server, and where a server's own node is what a
 * request sent to that server acts on anyway. Another node is refused 403; a node the state
 * does not have is marked `missing`, for the agent endpoints to refuse (other writes go on).
 */
function receivedByOf(sent: string | undefined, by: string, from: PeerCert | undefined, opts: HttpServerOptions): ReceivedBy | undefined {
  if (sent === undefined) return undefined;
  if (from === undefined && opts.tls !== undefined) throw new RucheError(ErrorCode.Forbidden, `this write was forwarded by ${by} for its node over TLS without a certificate: only a server's certificate names the node a forwarded write is for`);
  const id = from === undefined ? null : spiffeIdentity(from.uris);
  if (from !== undefined && id !== null && id.role !== NodeRole.Server) throw new RucheError(ErrorCode.Forbidden, `the certificate ${from.subject} is a ${id.role}'s, not a server's: only a server names the node a forwarded write is for`);
  const server = id?.name ?? by;
  if (sent === "") return { server, node: "" };
  const name = opts.cluster?.nodes?.name(sent);
  if (name === undefined) return { server, node: sent, missing: true };
  if (name !== server) throw new RucheError(ErrorCode.Forbidden, `this write was forwarded by ${server} for node ${sent} (${name}), which is not that server's own node: a server forwards writes for its own node only`);
  return { server, node: sent };
}

/** `?index=N&wait=30s`: what a blocking query asks for; wait is capped at 5 minutes. */
export function blockingParams(q: URLSearchParams): { index: number; waitMs: number } | null {
  const index = q.get("index");
  if (index === null) return null;
  const n = Number(index);
  if (!Number.isSafeInteger(n) || n < 0) throw new RucheError(ErrorCode.BadRequest, `index must be a whole number, got "${index}"`, { path: "index" });
  const wait = q.get("wait");
  let waitMs = 5 * 60_000;
  if (wait !== null) {
    const d = parseDuration(/^\d+$/.test(wait) ? `${wait}s` : wait);
    if (d === undefined) throw new RucheError(ErrorCode.BadRequest, `wait must be a duration such as "30s", got "${wait}"`, { path: "wait" });
    waitMs = Math.min(waitMs, d / NS.millisecond);
  }
  return { index: n, waitMs };
}
