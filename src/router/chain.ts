import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { once } from "node:events";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { responseHeaders, retryable } from "./headers.js";
import { latest } from "./lookup.js";
import { compose, type Exchange, type Handler, type Reply } from "./middlewares/index.js";
import { classify, type ProxyContext } from "./proxy.js";
import { setCookie, stuckTo } from "./sticky.js";
import type { Backend, Route, RoutingTable } from "./types.js";

/**
 * The requests of routes with middlewares, on the full server: the route's middlewares in their
 * order (the first sees the request first and the answer last), then the backends, tried as
 * the proxy tries them (another backend after a refused connection, or a reset one for an
 * idempotent request without a body). Each route's middlewares keep their state (rate limits,
 * a circuit breaker's window) while the table keeps the route as it is.
 */
export function serveWithMiddlewares(ctx: ProxyContext, route: Route, x: Exchange, res: ServerResponse | Http2ServerResponse, cookies: string | undefined, clientGone: () => boolean): Promise<{ status: number; retries: number; backend: Backend | null }> {
  const handler = chainOf(ctx, route)(terminal(ctx, route, cookies, clientGone));
  return handler(x)
    .catch((err: unknown) => {
      // A body over the router's limit, found by a middleware reading it (buffering).
      if (classify(err) === "too-large") return routerReply(413, `413 Request Entity Too Large: the limit is ${ctx.config.limits.maxBodyBytes} bytes\n`, null, 0);
      throw err;
    })
    .then((r) => write(res, r));
}

/** Per router (context), per route and middlewares: the middlewares at work; a new table keeps those it still has. */
const chains = new WeakMap<ProxyContext, { table: RoutingTable; byKey: Map<string, (terminal: Handler) => Handler> }>();

function chainOf(ctx: ProxyContext, route: Route): (terminal: Handler) => Handler {
  const table = ctx.table();
  let held = chains.get(ctx);
  if (held === undefined) {
    held = { table, byKey: new Map() };
    chains.set(ctx, held);
  } else if (held.table !== table) {
    const keep = new Set(table.routes.filter((r) => r.middlewares.length > 0).map(keyOf));
    for (const k of held.byKey.keys()) if (!keep.has(k)) held.byKey.delete(k);
    held.table = table;
  }
  const key = keyOf(route);
  let chain = held.byKey.get(key);
  if (chain === undefined) {
    chain = compose(route.middlewares);
    held.byKey.set(key, chain);
  }
  return chain;
}

function keyOf(r: Route): string {
  return JSON.stringify([r.name, r.service, r.rule, r.entryPoints, r.middlewares]);
}

/** The last handler: the request to a backend, its answer (head and streamed body) as a Reply; no backend answering: the router's 502/503/504. */
function terminal(ctx: ProxyContext, first: Route, cookies: string | undefined, clientGone: () => boolean): Handler {
  const { balancer, pools, metrics, config } = ctx;
  const timeout = config.limits.requestTimeoutMs;
  return async (x) => {
    let route = first;
    let tried: Set<Backend> | null = null;
    let last: ReturnType<typeof classify> | null = null;
    const replayable = x.body === null || Buffer.isBuffer(x.body);
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) route = latest(ctx.table(), route);
      const stuck = attempt === 0 && route.sticky !== null ? stuckTo(route, cookies, (b) => balancer.usable(b)) : null;
      const b = stuck?.backend ?? balancer.pick(route, tried);
      if (b === null) {
        const status = last === null ? 503 : last === "timeout" ? 504 : 502;
        const text = last === null ? "503 Service Unavailable: no healthy instance\n" : `${status} ${status === 504 ? "Gateway Timeout" : "Bad Gateway"}\n`;
        return routerReply(status, text, last === null ? null : last === "timeout" ? "timeout" : "network", attempt > 0 ? attempt - 1 : 0);
      }
      const health = balancer.of(b.origin);
      health.inflight++;
      const opts: Dispatcher.RequestOptions = { path: x.url, method: x.method, headers: x.headers, body: x.body === null || Buffer.isBuffer(x.body) ? x.body : Readable.from(x.body, { objectMode: false }), headersTimeout: timeout, bodyTimeout: timeout };
      try {
        const r = await pools.get(b.origin).request(opts);
        health.inflight--;
        balancer.succeeded(b.origin);
        metrics.backend(route.name, b.origin, true);
        const headers = responseHeaders(r.headers);
        if (route.sticky !== null && (stuck === null || stuck.rewrite)) {
          const had = headers["set-cookie"];
          const cookie = setCookie(route.sticky, b);
          headers["set-cookie"] = had === undefined ? [cookie] : [...(Array.isArray(had) ? had : [had]), cookie];
        }
        return { status: r.statusCode, headers, body: r.body as AsyncIterable<Buffer>, failure: null, backend: b, retries: attempt };
      } catch (err) {
        health.inflight--;
        const kind = classify(err);
        if (clientGone()) return routerReply(499, "", "network", attempt);
        if (kind === "too-large") return routerReply(413, `413 Request Entity Too Large: the limit is ${config.limits.maxBodyBytes} bytes\n`, null, attempt);
        if (kind === "bad-request") return routerReply(400, "400 Bad Request: the body does not match its Content-Length\n", null, attempt);
        metrics.backend(route.name, b.origin, false);
        if ((kind === "refused" || kind === "reset") && balancer.failed(b.origin, kind === "refused")) metrics.ejected();
        last = kind;
        if (!(replayable && retryable(kind, attempt, config.retries, x.method))) {
          const status = kind === "timeout" ? 504 : 502;
          return routerReply(status, status === 504 ? "504 Gateway Timeout\n" : "502 Bad Gateway\n", kind === "timeout" ? "timeout" : "network", attempt);
        }
        (tried ??= new Set()).add(b);
      }
    }
  };
}

function routerReply(status: number, text: string, failure: Reply["failure"], retries: number): Reply {
  return { status, headers: { "content-type": "text/plain; charset=utf-8" }, body: Buffer.from(text), failure, backend: null, retries };
}

/** Writes an answer; its body streamed with backpressure, the connection cut when the body fails midway. */
async function write(res: ServerResponse | Http2ServerResponse, r: Reply): Promise<{ status: number; retries: number; backend: Backend | null }> {
  const out = { status: r.status, retries: r.retries, backend: r.backend };
  if (res.headersSent) {
    res.destroy();
    return out;
  }
  const headers = { ...r.headers };
  if (Buffer.isBuffer(r.body) && headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) headers["content-length"] = String(r.body.length);
  // HTTP/2 has no Connection header.
  if ("stream" in res) delete headers.connection;
  (res as ServerResponse).writeHead(r.status, headers);
  if (Buffer.isBuffer(r.body)) {
    res.end(r.body);
    return out;
  }
  try {
    for await (const chunk of r.body) {
      if (!(res as ServerResponse).write(chunk)) await once(res, "drain");
    }
    res.end();
  } catch {
    if (!res.destroyed) res.destroy();
  }
  return out;
}

/**
 * An upgrade request (WebSocket) through a route's middlewares: `reply` null when they let it
 * through (then `x` is the request as they left it, to send to a backend), else the raw
 * HTTP/1.1 answer they gave (a 401, 403, 429, a redirect), the connection closed after it.
 */
export async function upgradeThroughMiddlewares(ctx: ProxyContext, route: Route, x: Exchange): Promise<{ reply: Buffer | null; status: number }> {
  const seen = { through: false };
  const pass: Handler = () => {
    seen.through = true;
    return Promise.resolve({ status: 101, headers: {}, body: Buffer.alloc(0), failure: null, backend: null, retries: 0 });
  };
  const r = await chainOf(ctx, route)(pass)(x);
  if (seen.through && r.status === 101) return { reply: null, status: 101 };
  const body = Buffer.isBuffer(r.body) ? r.body : Buffer.alloc(0);
  let head = `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? ""}\r\n`;
  for (const [k, v] of Object.entries(r.headers)) {
    if (k === "content-length" || k === "connection" || k === "transfer-encoding") continue;
    for (const one of Array.isArray(v) ? v : [v]) head += `${k}: ${one.replace(/[\r\n]/g, " ")}\r\n`;
  }
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  return { reply: Buffer.concat([Buffer.from(head, "latin1"), body]), status: r.status };
}

const STATUS_TEXT: Record<number, string> = { 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect", 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable" };
