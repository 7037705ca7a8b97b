import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { HOP, OWN, retryable } from "./headers.js";
import { hostOf, lookup } from "./lookup.js";
import type { EntryPointInfo, ProxyContext } from "./proxy.js";
import { stripPath } from "./rule.js";
import type { Backend, Route } from "./types.js";

/** A request head longer than this goes to the full server (which answers 431). */
const MAX_HEAD = 16 * 1024;
/** Idle connections kept per backend. */
const MAX_IDLE = 256;

/** A parsed request head the fast path can carry, or null for the full server. */
interface Head {
  method: string;
  target: string;
  path: string;
  host: string;
  headers: Record<string, string>;
  /** Request head for the backend, without its final CRLF. */
  lines: string[];
  close: boolean;
  length: number;
}

function parseHead(buf: Buffer, end: number): Head | null {
  const text = buf.toString("latin1", 0, end);
  const lines = text.split("\r\n");
  const m = /^([A-Z]+) (\/\S*) HTTP\/1\.1$/.exec(lines[0] ?? "");
  if (m === null) return null;
  const method = m[1] as string;
  const target = m[2] as string;
  const headers: Record<string, string> = {};
  const out: string[] = [];
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0 || line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) return null;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    switch (name) {
      case "content-length":
        if (value !== "0") return null;
        break;
      case "transfer-encoding":
      case "upgrade":
      case "expect":
        // Bodies and upgrades take the full path.
        return null;
      case "connection":
        for (const tok of value.toLowerCase().split(",")) {
          const t = tok.trim();
          if (t === "close") close = true;
          else if (t !== "keep-alive" && t !== "") return null;
        }
        continue;
      case "host":
        if (headers.host !== undefined) return null;
        break;
    }
    if (name in headers) headers[name] = `${headers[name] ?? ""}, ${value}`;
    else headers[name] = value;
    if (!HOP.has(name) && !OWN.has(name)) out.push(line);
  }
  if (headers.host === undefined) return null;
  const q = target.indexOf("?");
  return { method, target, path: q < 0 ? target : target.slice(0, q), host: hostOf(headers.host), headers, lines: out, close, length: end + 4 };
}

/** A kept-alive connection to a backend and the request it serves, if any. */
interface Conn {
  sock: Socket;
  origin: string;
  on: { data(d: Buffer): void; error(err: NodeJS.ErrnoException): void; end(): void; timeout(): void; close(): void } | null;
}

/** Where a backend's response ends: by its length, its chunks, or the connection's close. */
type Framing = { kind: "length"; left: number } | { kind: "chunked"; state: ChunkState } | { kind: "close" };
interface ChunkState {
  /** Bytes of chunk data (plus its CRLF) still to pass; none: a size line is next. */
  left: number;
  line: string;
  /** The 0-size chunk was seen: trailers until an empty line. */
  trailers: boolean;
  done: boolean;
}

/** Feeds bytes of a chunked body; returns how many of them belong to it (all, or up to its end). */
function chunked(s: ChunkState, b: Buffer, from: number): number {
  let i = from;
  while (i < b.length && !s.done) {
    if (s.left > 0) {
      const take = Math.min(s.left, b.length - i);
      s.left -= take;
      i += take;
      continue;
    }
    const c = b[i] as number;
    i++;
    if (c !== 10) {
      if (s.line.length < 1024) s.line += String.fromCharCode(c);
      continue;
    }
    const line = s.line.replace(/\r$/, "");
    s.line = "";
    if (s.trailers) {
      if (line === "") s.done = true;
      continue;
    }
    const size = parseInt(line.split(";")[0] ?? "", 16);
    if (Number.isNaN(size)) {
      s.done = true;
      return -1;
    }
    if (size === 0) s.trailers = true;
    else s.left = size + 2;
  }
  return i - from;
}

/**
 * The fast path of plain HTTP/1.1 entrypoints: requests without a body, the common case
 * of a site's traffic, are carried on the raw sockets — the head read and rewritten
 * (hop-by-hop headers out, X-Forwarded-* in), the answer passed through byte for byte
 * while its end is found by its length or chunks — over kept-alive backend connections,
 * with the same routes, balancing, retries, ejection, metrics and access log as the full
 * path. Anything else (a body, an upgrade, a token route, HTTP/1.0, an odd head) hands
 * the connection to the full node:http server, with the bytes already read, for good.
 */
export function fastPath(ctx: ProxyContext, ep: EntryPointInfo, handOff: (socket: Socket) => void): { onConnection: (socket: Socket) => void; forget: (origins: ReadonlySet<string>) => void; close: () => void } {
  const idle = new Map<string, Conn[]>();
  const { config, balancer, metrics, log } = ctx;

  /** A backend connection: its listeners set once, each event passed to the request it serves (none when idle). */
  const open = (b: Backend): Conn => {
    const sock = connect({ host: b.address, port: b.port, noDelay: true });
    const conn: Conn = { sock, origin: b.origin, on: null };
    // Idle or silent this long: closed (a request waiting on it fails with 504).
    sock.setTimeout(config.limits.requestTimeoutMs);
    sock.on("data", (d: Buffer) => conn.on?.data(d));
    sock.on("error", (err: NodeJS.ErrnoException) => conn.on?.error(err));
    sock.on("end", () => conn.on?.end());
    sock.on("timeout", () => {
      if (conn.on === null) sock.destroy();
      else conn.on.timeout();
    });
    sock.on("close", () => {
      if (conn.on !== null) conn.on.close();
      else {
        const l = idle.get(conn.origin);
        const at = l?.indexOf(conn) ?? -1;
        if (at >= 0) l?.splice(at, 1);
      }
    });
    return conn;
  };
  const backendConn = (b: Backend): { conn: Conn; reused: boolean } => {
    const list = idle.get(b.origin);
    let c = list?.pop();
    while (c?.sock.destroyed === true) c = list?.pop();
    return c === undefined ? { conn: open(b), reused: false } : { conn: c, reused: true };
  };
  const release = (conn: Conn): void => {
    conn.on = null;
    if (conn.sock.isPaused()) conn.sock.resume();
    if (balancer.isEjected(conn.origin)) {
      conn.sock.destroy();
      return;
    }
    let list = idle.get(conn.origin);
    if (list === undefined) idle.set(conn.origin, (list = []));
    if (list.length >= MAX_IDLE) conn.sock.destroy();
    else list.push(conn);
  };
  const forget = (origins: ReadonlySet<string>): void => {
    for (const [o, list] of idle) {
      if (origins.has(o)) continue;
      idle.delete(o);
      for (const c of list) c.sock.destroy();
    }
  };

  const close = (): void => {
    forget(new Set());
  };
  const onConnection = (client: Socket): void => {
    client.setNoDelay(true);
    client.setTimeout(config.limits.idleTimeoutMs, () => client.destroy());
    client.on("error", () => undefined);
    ctx.upgraded.add(client);
    client.once("close", () => ctx.upgraded.delete(client));
    let buf: Buffer | null = null;
    let busy = false;
    let current: Socket | null = null;
    client.once("close", () => current?.destroy());
    /** Bytes to the client, the backend paused while the client is slower. */
    const toClient = (b: Buffer, up: Socket): void => {
      if (!client.write(b)) {
        up.pause();
        client.once("drain", () => up.resume());
      }
    };

    const giveUp = (): void => {
      client.off("data", onData);
      // Still the router's to close: node's server tracks only the connections it accepted itself.
      client.setTimeout(0);
      client.pause();
      if (buf !== null && buf.length > 0) client.unshift(buf);
      buf = null;
      handOff(client);
      client.resume();
    };

    const next = (): void => {
      if (busy || buf === null || client.destroyed) return;
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_HEAD) giveUp();
        return;
      }
      const head = parseHead(buf, end);
      if (head === null) {
        giveUp();
        return;
      }
      const route = lookup(ctx.table(), ep.name, { host: head.host, path: head.path, method: head.method, headers: head.headers });
      if (route !== null && route.token !== null) {
        giveUp();
        return;
      }
      buf = buf.length === head.length ? null : buf.subarray(head.length);
      busy = true;
      serve(head, route);
    };

    const answer = (status: number, reason: string, text: string, close: boolean): void => {
      client.write(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${close ? "connection: close\r\n" : ""}\r\n${text}`);
      if (close) client.end();
    };

    const serve = (h: Head, route: Route | null): void => {
      const start = performance.now();
      const done = (status: number, retries: number, b: Backend | null, close: boolean): void => {
        const seconds = (performance.now() - start) / 1000;
        metrics.request(route?.name ?? "", status, seconds, retries);
        if (config.accessLog) {
          log.info({ entryPoint: ep.name, client: client.remoteAddress ?? "", method: h.method, host: h.headers.host ?? "", path: h.path, status, route: route?.name ?? "", backend: b?.origin ?? "", retries, ms: Math.round(seconds * 1e4) / 10 }, "request");
        }
        busy = false;
        if (close || h.close) {
          client.end();
          return;
        }
        next();
      };
      if (route === null) {
        answer(404, "Not Found", "404 page not found\n", h.close);
        done(404, 0, null, h.close);
        return;
      }
      const target = route.strip.length === 0 ? h.target : stripPath(h.path, route.strip) + h.target.slice(h.path.length);
      const fwd = `${h.method} ${target} HTTP/1.1\r\n${h.lines.join("\r\n")}${h.lines.length > 0 ? "\r\n" : ""}x-forwarded-for: ${client.remoteAddress ?? ""}\r\nx-forwarded-proto: ${ep.proto}\r\nx-forwarded-host: ${h.headers.host ?? ""}\r\nx-forwarded-port: ${ep.port}\r\nx-real-ip: ${client.remoteAddress ?? ""}\r\n\r\n`;
      let tried: Set<Backend> | null = null;
      let attempt = 0;
      const tryOne = (): void => {
        const b = balancer.pick(route, tried);
        if (b === null || b.origin.startsWith("https:")) {
          const status = tried === null ? 503 : 502;
          answer(status, status === 503 ? "Service Unavailable" : "Bad Gateway", status === 503 ? "503 Service Unavailable: no healthy instance\n" : "502 Bad Gateway\n", h.close);
          done(status, Math.max(0, attempt - 1), null, h.close);
          return;
        }
        const health = balancer.of(b.origin);
        health.inflight++;
        {
          const { conn, reused } = backendConn(b);
          const up = conn.sock;
          current = up;
          let started = false;
          let head: Buffer | null = null;
          let framing: Framing | null = null;
          let status = 0;
          let upClose = false;
          let finished = false;
          const finish = (ok: boolean): void => {
            if (finished) return;
            finished = true;
            current = null;
            health.inflight--;
            if (ok) {
              balancer.succeeded(b.origin);
              metrics.backend(route.name, b.origin, true);
              if (upClose || framing?.kind === "close") {
                conn.on = null;
                up.destroy();
              } else release(conn);
              done(status, attempt, b, upClose);
            }
          };
          const fail = (kind: "refused" | "reset" | "timeout"): void => {
            if (finished) return;
            finished = true;
            current = null;
            health.inflight--;
            conn.on = null;
            up.destroy();
            if (client.destroyed) return;
            if (started) {
              // The answer had begun: the client's connection cannot carry on.
              client.destroy();
              metrics.request(route.name, status, (performance.now() - start) / 1000, attempt);
              return;
            }
            metrics.backend(route.name, b.origin, false);
            // A kept-alive connection the backend had closed is not the backend's failure.
            if (!reused && kind !== "timeout" && balancer.failed(b.origin, kind === "refused")) metrics.ejected();
            // A reused connection the backend had closed meanwhile earns one more try.
            const again = retryable(kind, attempt, config.retries + (reused ? 1 : 0), h.method);
            if (again) {
              attempt++;
              if (!reused) (tried ??= new Set()).add(b);
              tryOne();
              return;
            }
            const st = kind === "timeout" ? 504 : 502;
            answer(st, kind === "timeout" ? "Gateway Timeout" : "Bad Gateway", `${st} ${kind === "timeout" ? "Gateway Timeout" : "Bad Gateway"}\n`, h.close);
            done(st, attempt, b, h.close);
          };
          const onUp = (d: Buffer): void => {
            // One write for what one read brings (the head and the body with it).
            client.cork();
            try {
              relay(d);
            } finally {
              client.uncork();
            }
          };
          const relay = (d: Buffer): void => {
            if (finished) return;
            let body = d;
            if (framing === null) {
              head = head === null ? d : Buffer.concat([head, d]);
              const end = head.indexOf("\r\n\r\n");
              if (end < 0) {
                if (head.length > 64 * 1024) fail("reset");
                return;
              }
              const text = head.toString("latin1", 0, end);
              status = Number(text.slice(9, 12));
              const lower = text.toLowerCase();
              upClose = /\r\nconnection:[^\r]*close/.test(lower);
              const len = /\r\ncontent-length:\s*(\d+)/.exec(lower);
              if (h.method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) framing = { kind: "length", left: 0 };
              else if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) framing = { kind: "chunked", state: { left: -1, line: "", trailers: false, done: false } };
              else if (len !== null) framing = { kind: "length", left: Number(len[1]) };
              else framing = { kind: "close" };
              started = true;
              toClient(head.subarray(0, end + 4), up);
              body = head.subarray(end + 4);
              head = null;
            }
            if (framing.kind === "length") {
              const take = Math.min(framing.left, body.length);
              if (take > 0) toClient(take === body.length ? body : body.subarray(0, take), up);
              framing.left -= take;
              if (framing.left === 0) finish(true);
            } else if (framing.kind === "chunked") {
              const n = chunked(framing.state, body, 0);
              if (n < 0) {
                fail("reset");
                return;
              }
              if (n > 0) toClient(n === body.length ? body : body.subarray(0, n), up);
              if (framing.state.done) finish(true);
            } else if (body.length > 0) toClient(body, up);
          };
          conn.on = {
            data: onUp,
            error: (err) => {
              fail(err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" ? "refused" : "reset");
            },
            end: () => {
              if (framing?.kind === "close") {
                upClose = true;
                finish(true);
                return;
              }
              fail("reset");
            },
            timeout: () => {
              fail("timeout");
            },
            close: () => {
              fail("reset");
            },
          };
          up.write(fwd);
        }
      };
      tryOne();
    };

    const onData = (d: Buffer): void => {
      buf = buf === null ? d : Buffer.concat([buf, d]);
      next();
    };
    client.on("data", onData);
  };
  return { onConnection, forget, close };
}
