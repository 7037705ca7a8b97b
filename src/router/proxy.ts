import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { once } from "node:events";
import { timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Readable, type Duplex } from "node:stream";
import type { LookupFunction } from "node:net";
import type { Dispatcher } from "undici";
import { ErrorCode, RucheError, type Logger } from "../structs/index.js";
import { REFUSED_BACKEND } from "./backend-guard.js";
import { serveWithMiddlewares } from "./chain.js";
import type { Balancer } from "./balancer.js";
import { forwardHeaders, responseHeaders, retryable } from "./headers.js";
import { hostOf, latest, lookup, unimplementedText } from "./lookup.js";
import type { RouterMetrics } from "./metrics.js";
import type { Pools } from "./pools.js";
import { stripPath } from "./rule.js";
import { setCookie, stuckTo } from "./sticky.js";
import type { Backend, Route, RouterConfig, RoutingTable } from "./types.js";

/** What the proxy needs from the router around it. */
export interface ProxyContext {
  /** The current routing table: read once per request, swapped whole by the feed. */
  table: () => RoutingTable;
  config: RouterConfig;
  balancer: Balancer;
  pools: Pools;
  metrics: RouterMetrics;
  log: Logger;
  /** Connections the router closes itself on close: upgraded ones (WebSocket), and the fast path's. */
  upgraded: Set<Duplex>;
  /** How a backend on `port` named by a name is resolved: refused when it resolves to Ruche's own (backend-guard.ts). */
  lookup: (port: number) => LookupFunction;
}

export interface EntryPointInfo {
  name: string;
  proto: "http" | "https";
  port: number;
}

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;


/** How a backend failed to answer. */
type Failure = "refused" | "reset" | "timeout" | "too-large" | "bad-request" | "other";

export function classify(err: unknown): Failure {
  const code = typeof err === "object" && err !== null && "code" in err ? String((err).code) : "";
  switch (code) {
    case "ECONNREFUSED":
    case REFUSED_BACKEND:
    case "UND_ERR_CONNECT_TIMEOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "refused";
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      return "reset";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
      return "timeout";
    case ErrorCode.TooLarge:
      return "too-large";
    case "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH":
      return "bad-request";
    default:
      return "other";
  }
}

/**
 * A request body, as the backend reads it: counted as it streams (past the limit it fails
 * the request), and never destroying the client's request when the backend fails.
 */
async function* limited(req: Req, max: number): AsyncGenerator<Buffer> {
  let n = 0;
  // Not destroyed when the backend fails: the client's connection must live on for the answer.
  for await (const chunk of (req as Readable).iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) throw new RucheError(ErrorCode.TooLarge, `request body over ${max} bytes`);
    yield chunk;
  }
}

/** Whether an Authorization header carries the route's bearer token (compared in constant time). */
export function tokenOk(header: string | undefined, token: string): boolean {
  if (header?.startsWith("Bearer ") !== true) return false;
  const a = Buffer.from(header.slice(7));
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function plain(res: Res, status: number, text: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(text)), ...extra });
  res.end(text);
}

/**
 * The data plane: finds the request's route, picks a backend, forwards the request over
 * a keep-alive pool and streams the answer back. A backend that fails before answering —
 * refused, or reset before its response began — counts towards its passive ejection, and
 * a request without a body goes to another backend: an idempotent one after either, any
 * other only when the connection was refused (it never reached the backend). No route: 404; no backend
 * passing: 503; none answering: 502; no answer in time: 504.
 */
/** How many Host headers a request has. */
function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") n++;
  }
  return n;
}

export function proxyRequests(ctx: ProxyContext, ep: EntryPointInfo): (req: Req, res: Res) => void {
  const { config, balancer, pools, metrics, log } = ctx;
  const { maxBodyBytes, requestTimeoutMs } = config.limits;
  const streamed = ep.proto === "http";

  return (req, res) => {
    const start = performance.now();
    const socket = req.socket;
    const clientIp = socket.remoteAddress ?? "";
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? "GET";
    const hostHeader = req.headers.host ?? (req.headers[":authority"] as string | undefined);
    const host = hostOf(hostHeader);
    const route = lookup(ctx.table(), ep.name, { host, path, method, headers: req.headers, query: q < 0 ? "" : url.slice(q + 1), clientIp });
    const done = (status: number, retries: number, backend: Backend | null): void => {
      const seconds = (performance.now() - start) / 1000;
      metrics.request(route?.name ?? "", status, seconds, retries);
      if (config.accessLog) {
        log.info(
          { entryPoint: ep.name, client: clientIp, method, host: hostHeader ?? "", path, status, route: route?.name ?? "", backend: backend?.origin ?? "", retries, ms: Math.round(seconds * 1e4) / 10 },
          "request",
        );
      }
    };
    if (hostCount(req.rawHeaders) > 1) {
      // RFC 9112 §3.2: which host the request is for is unsure; node's parser lets it through.
      plain(res, 400, "400 Bad Request: more than one Host header\n", { connection: "close" });
      done(400, 0, null);
      return;
    }
    if (route === null) {
      plain(res, 404, "404 page not found\n");
      done(404, 0, null);
      return;
    }
    if (route.unimplemented.length > 0) {
      plain(res, 503, unimplementedText(route));
      done(503, 0, null);
      return;
    }
    if (route.token !== null && !tokenOk(req.headers.authorization, route.token)) {
      plain(res, 401, "401 Unauthorized: this route needs a token (Authorization: Bearer ...)\n", { "www-authenticate": "Bearer" });
      done(401, 0, null);
      return;
    }
    const len = req.headers["content-length"];
    if (len !== undefined && Number(len) > maxBodyBytes) {
      plain(res, 413, `413 Request Entity Too Large: the limit is ${maxBodyBytes} bytes\n`, { connection: "close" });
      done(413, 0, null);
      return;
    }
    const hasBody = (len !== undefined && len !== "0") || req.headers["transfer-encoding"] !== undefined;
    const body = hasBody ? Readable.from(limited(req, maxBodyBytes), { objectMode: false }) : null;
    const headers = forwardHeaders(req.rawHeaders, req.headers.connection, { clientIp, proto: ep.proto, host: hostHeader ?? "", port: ep.port });
    const upstreamPath = route.strip.length === 0 ? url : stripPath(path, route.strip) + (q < 0 ? "" : url.slice(q));
    const clientGone = (): boolean => res.destroyed || socket.destroyed;
    const served =
      route.middlewares.length > 0
        ? serveWithMiddlewares(ctx, route, { method, proto: ep.proto, host: hostHeader ?? "", port: ep.port, url: upstreamPath, clientIp, headers, body }, res, req.headers.cookie, clientGone)
        : forward(route, method, upstreamPath, headers, body, hasBody, clientGone, res, req.headers.cookie);
    served.then(
      (r) => {
        done(r.status, r.retries, r.backend);
      },
      (err: unknown) => {
        log.error({ err, route: route.name }, "proxy failure");
        plain(res, 502, "502 Bad Gateway\n");
        done(502, 0, null);
      },
    );
  };

  async function forward(route: Route, method: string, path: string, headers: string[], body: NonNullable<Dispatcher.DispatchOptions["body"]> | null, hasBody: boolean, clientGone: () => boolean, res: Res, cookies: string | undefined): Promise<{ status: number; retries: number; backend: Backend | null }> {
    let tried: Set<Backend> | null = null;
    let last: Failure | null = null;
    for (let attempt = 0; ; attempt++) {
      // A retry takes the route as the table has it now.
      if (attempt > 0) route = latest(ctx.table(), route);
      // Sticky sessions: the backend the client's cookie names while it is usable, else the balancer's choice, which the answer's cookie names.
      const stuck = attempt === 0 && route.sticky !== null ? stuckTo(route, cookies, (x) => balancer.usable(x)) : null;
      const b = stuck?.backend ?? balancer.pick(route, tried);
      if (b === null) {
        const status = last === null ? 503 : last === "timeout" ? 504 : 502;
        plain(res, status, last === null ? "503 Service Unavailable: no healthy instance\n" : `${status} ${status === 504 ? "Gateway Timeout" : "Bad Gateway"}\n`);
        return { status, retries: attempt > 0 ? attempt - 1 : 0, backend: null };
      }
      const health = balancer.of(b.origin);
      health.inflight++;
      let started = false;
      const cookie = route.sticky !== null && (stuck === null || stuck.rewrite) ? setCookie(route.sticky, b) : null;
      const answerHeaders = (h: Record<string, string | string[] | undefined>): Record<string, string | string[]> => {
        const out = responseHeaders(h);
        if (cookie === null) return out;
        const had = out["set-cookie"];
        out["set-cookie"] = had === undefined ? [cookie] : [...(Array.isArray(had) ? had : [had]), cookie];
        return out;
      };
      // The backend's silence, before its response head (504) or within its body (the answer cut), as on the fast path.
      const opts: Dispatcher.RequestOptions = { path, method, headers, body, headersTimeout: requestTimeoutMs, bodyTimeout: requestTimeoutMs };
      try {
        if (streamed) {
          await pools.get(b.origin).stream(opts, ({ statusCode, headers: h }) => {
            started = true;
            (res as ServerResponse).writeHead(statusCode, answerHeaders(h));
            return res;
          });
        } else {
          const r = await pools.get(b.origin).request(opts);
          started = true;
          res.writeHead(r.statusCode, answerHeaders(r.headers));
          const h2 = res as Http2ServerResponse;
          for await (const chunk of r.body as AsyncIterable<Buffer>) if (!h2.write(chunk)) await once(h2, "drain");
          res.end();
        }
        health.inflight--;
        balancer.succeeded(b.origin);
        metrics.backend(route.name, b.origin, true);
        return { status: res.statusCode, retries: attempt, backend: b };
      } catch (err) {
        health.inflight--;
        const kind = classify(err);
        if (started || clientGone()) {
          // The answer had begun, or the client left: nothing to send again.
          if (!res.destroyed) res.destroy();
          return { status: started ? res.statusCode : 499, retries: attempt, backend: b };
        }
        if (kind === "too-large") {
          plain(res, 413, `413 Request Entity Too Large: the limit is ${maxBodyBytes} bytes\n`, { connection: "close" });
          return { status: 413, retries: attempt, backend: b };
        }
        if (kind === "bad-request") {
          plain(res, 400, "400 Bad Request: the body does not match its Content-Length\n", { connection: "close" });
          return { status: 400, retries: attempt, backend: b };
        }
        metrics.backend(route.name, b.origin, false);
        if (kind === "refused" || kind === "reset") {
          // Nothing listens where a connection is refused: set the instance aside at once.
          if (balancer.failed(b.origin, kind === "refused")) metrics.ejected();
        }
        last = kind;
        // A body already sent cannot be sent again.
        const again = !hasBody && retryable(kind, attempt, config.retries, method);
        if (!again) {
          const status = kind === "timeout" ? 504 : 502;
          plain(res, status, status === 504 ? "504 Gateway Timeout\n" : "502 Bad Gateway\n");
          return { status, retries: attempt, backend: b };
        }
        (tried ??= new Set()).add(b);
      }
    }
  }
}
