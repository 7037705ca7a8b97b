import { METHODS } from "node:http";
import { connect, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { REFUSED_BACKEND } from "./backend-guard.js";
import type { BackendHealth } from "./balancer.js";
import { HOP, OWN, retryable } from "./headers.js";
import { hostOf, latest, lookup, unimplementedText } from "./lookup.js";
import type { EntryPointInfo, ProxyContext } from "./proxy.js";
import { stripPath } from "./rule.js";
import type { Backend, Route } from "./types.js";

/** A request head longer than this goes to the full server (node's parser takes up to 16 KiB, then answers 431). */
const MAX_HEAD = 8 * 1024;
/** A request with more header lines than this goes to the full server. */
const MAX_HEADER_LINES = 100;
/** A response head longer than this is taken for a broken backend. */
const MAX_RESPONSE_HEAD = 64 * 1024;
/** An answer up to this long (head and body) whose body comes after its head is held until whole. */
const MAX_HELD = 64 * 1024;
/** Bytes a backend connection reads at once. */
const READ_BUFFER = 32 * 1024;
/** Idle connections kept per backend. */
const MAX_IDLE = 256;
const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
const NOTHING = Buffer.alloc(0);
/** A request head is looked for in this much of what was read first; a longer one in up to MAX_HEAD. */
const HEAD_WINDOW = 4096;

/** The methods node's parser (llhttp) takes: another goes to the full server, which answers 400. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

/** The characters of a token (RFC 9110 §5.6.2 tchar), the only ones a header name may have. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** `text` from `from` to `to` without the optional whitespace (SP, HTAB) around it, as node's parser trims a value. */
function ows(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && (text.charCodeAt(a) === 32 || text.charCodeAt(a) === 9)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 32 || text.charCodeAt(b - 1) === 9)) b--;
  return text.slice(a, b);
}

/** Header names the fast path looks at (bodies, upgrades, the host, what is not forwarded), marked by their length: a name of another length is passed as is. */
const LOOKED_AT = new Uint8Array(64);
for (const n of [...HOP, ...OWN, "content-length", "transfer-encoding", "upgrade", "expect", "host"]) LOOKED_AT[n.length] = 1;

/** A parsed request head the fast path can carry; it is also the request's facts for the rules. */
class Head {
  private all: Record<string, string> | null = null;
  /** The client's address, set by its connection: read only by a ClientIP rule. */
  clientIp = "";

  constructor(
    readonly method: string,
    readonly target: string,
    readonly path: string,
    /** Lower case, without its port. */
    readonly host: string,
    /** The Host header as sent. */
    readonly hostHeader: string,
    /** The header lines to forward, CRLF between them: the client's, less those not forwarded. */
    readonly forward: string,
    readonly close: boolean,
    /** Bytes of the head, its blank line included. */
    readonly length: number,
    /** The text the head begins, for the headers when a rule asks for them. */
    private readonly text: string,
    private readonly firstHeader: number,
  ) {}

  /** The query string without its `?`, read only by a Query rule. */
  get query(): string {
    const q = this.target.indexOf("?");
    return q < 0 ? "" : this.target.slice(q + 1);
  }

  /** Every header by its lower-case name (repeated ones joined by commas), made only when a rule or the log asks. */
  get headers(): Record<string, string> {
    if (this.all !== null) return this.all;
    const all = (this.all = Object.create(null) as Record<string, string>);
    const text = this.text;
    const end = this.length - 4;
    let pos = this.firstHeader;
    while (pos < end) {
      let next = text.indexOf("\r\n", pos);
      if (next < 0 || next > end) next = end;
      const colon = text.indexOf(":", pos);
      const name = text.slice(pos, colon).toLowerCase();
      const value = ows(text, colon + 1, next);
      const had = all[name];
      all[name] = had === undefined ? value : `${had}, ${value}`;
      pos = next + 2;
    }
    return all;
  }
}

/**
 * The head of a request, from the bytes before its blank line; null when the fast path does
 * not carry it: the full server (node's own parser, llhttp) takes the connection then, and
 * answers 400 to what it refuses. The fast path carries only heads node's parser takes, and
 * reads them as it does (RFC 9112): a method node knows, one space, an origin-form target of
 * visible characters, one space, `HTTP/1.1`; header lines ended by CRLF (no bare CR or LF),
 * each a token, a colon with nothing before it, and a value of visible characters, spaces,
 * tabs and obs-text (no NUL or other control); no obs-fold; one Host; no body (a
 * Content-Length other than a single 0, Transfer-Encoding, Upgrade and Expect go to the
 * full server, which refuses Content-Length with Transfer-Encoding, a duplicate or malformed
 * Content-Length, a chunk size it cannot read). Only the names the fast path looks at are
 * lower-cased and compared; the lines go through as they came.
 */
function parseHead(text: string, end: number): Head | null {
  let eol = text.indexOf("\r\n");
  if (eol < 0 || eol > end) eol = end;
  // METHOD SP /target SP HTTP/1.1
  const sp = text.indexOf(" ");
  const sp2 = sp < 0 ? -1 : text.indexOf(" ", sp + 1);
  if (sp <= 0 || sp2 < 0 || sp2 + 9 !== eol || !text.startsWith(" HTTP/1.1", sp2) || text.charCodeAt(sp + 1) !== 47 /* "/" */) return null;
  const method = text.slice(0, sp);
  if (!KNOWN_METHODS.has(method)) return null;
  // Visible characters only: no control, DEL, space or byte above 0x7e (node's parser refuses them).
  for (let i = sp + 2; i < sp2; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return null;
  }
  const target = text.slice(sp + 1, sp2);
  let close = false;
  let host: string | undefined;
  let length = false;
  let lines = 0;
  // The lines forwarded as they came, in runs: a dropped line ends a run.
  let forward = "";
  let run = eol + 2;
  let pos = eol + 2;
  while (pos < end) {
    if (++lines > MAX_HEADER_LINES) return null;
    let next = text.indexOf("\r\n", pos);
    if (next < 0 || next > end) next = end;
    // The name: a token, the colon right after it (a line beginning with a space or tab, obs-fold, is not one).
    let i = pos;
    let c = text.charCodeAt(i);
    while (i < next && c < 128 && TCHAR[c] === 1) c = text.charCodeAt(++i);
    if (i === pos || i >= next || c !== 58 /* ":" */) return null;
    const colon = i;
    // The value: no control character but HTAB (a bare CR or LF among them), no DEL.
    for (i = colon + 1; i < next; i++) {
      c = text.charCodeAt(i);
      if ((c < 32 && c !== 9) || c === 127) return null;
    }
    const at = pos;
    pos = next + 2;
    if (LOOKED_AT[colon - at] !== 1) continue;
    const name = text.slice(at, colon).toLowerCase();
    let drop = HOP.has(name) || OWN.has(name);
    switch (name) {
      case "content-length": {
        // One, of digits that are all zero ("0", "00"): any other goes to the full server.
        if (length) return null;
        length = true;
        const v = ows(text, colon + 1, next);
        if (v === "") return null;
        for (let k = 0; k < v.length; k++) if (v.charCodeAt(k) !== 48 /* "0" */) return null;
        break;
      }
      case "transfer-encoding":
      case "upgrade":
      case "expect":
        // Bodies and upgrades take the full path.
        return null;
      case "connection":
        for (const tok of text.slice(colon + 1, next).toLowerCase().split(",")) {
          const t = ows(tok, 0, tok.length);
          if (t === "close") close = true;
          else if (t !== "keep-alive" && t !== "") return null;
        }
        drop = true;
        break;
      case "host":
        if (host !== undefined) return null;
        host = ows(text, colon + 1, next);
        break;
    }
    if (drop) {
      if (at > run) forward += (forward === "" ? "" : "\r\n") + text.slice(run, at - 2);
      run = pos;
    }
  }
  if (run < end) forward += (forward === "" ? "" : "\r\n") + text.slice(run, end);
  if (host === undefined) return null;
  const q = target.indexOf("?");
  return new Head(method, target, q < 0 ? target : target.slice(0, q), hostOf(host), host, forward, close, end + 4, text, eol + 2);
}

/** How a response's end is found. */
const Framing = { none: 0, length: 1, chunked: 2, close: 3, broken: 4 } as const;
type Framing = (typeof Framing)[keyof typeof Framing];

interface ChunkState {
  /** Bytes of chunk data (plus its CRLF) still to pass; none: a size line is next. */
  left: number;
  line: string;
  /** The 0-size chunk was seen: trailers until an empty line. */
  trailers: boolean;
  done: boolean;
}

/** Feeds bytes of a chunked body; returns how many of them belong to it (all, or up to its end), -1 when malformed. */
function chunked(s: ChunkState, b: Buffer, from: number): number {
  let i = from;
  while (i < b.length && !s.done) {
    if (s.left > 0) {
      const take = Math.min(s.left, b.length - i);
      s.left -= take;
      i += take;
      continue;
    }
    const lf = b.indexOf(10, i);
    const stop = lf < 0 ? b.length : lf;
    if (s.line.length < 1024) s.line += b.toString("latin1", i, Math.min(stop, i + 1024));
    i = lf < 0 ? b.length : lf + 1;
    if (lf < 0) continue;
    const line = s.line.endsWith("\r") ? s.line.slice(0, -1) : s.line;
    s.line = "";
    if (s.trailers) {
      if (line === "") s.done = true;
      continue;
    }
    const size = chunkSize(line);
    if (size < 0) {
      s.done = true;
      return -1;
    }
    if (size === 0) s.trailers = true;
    else s.left = size + 2;
  }
  return i - from;
}

/**
 * A chunk's size from its line (RFC 9112 §7.1: hex digits, then optional whitespace and
 * extensions after `;`); -1 when it is not one (`0x10`, `+1`, ` 1`, a size past 2^48).
 */
function chunkSize(line: string): number {
  let size = 0;
  let i = 0;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i) | 0x20;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) break;
    if (i >= 12) return -1;
    size = size * 16 + d;
  }
  if (i === 0) return -1;
  while (i < line.length && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  return i === line.length || line.charCodeAt(i) === 59 /* ";" */ ? size : -1;
}

/** Whether a header line is named `lower` (lower case), whatever the case it is written in. */
function named(line: string, lower: string): boolean {
  if (line.charCodeAt(lower.length) !== 58 /* ":" */) return false;
  for (let i = 0; i < lower.length; i++) if ((line.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** What the fast path of one entrypoint shares among its connections. */
interface Shared {
  ctx: ProxyContext;
  ep: EntryPointInfo;
  /** Kept-alive backend connections not in use, by origin. */
  idle: Map<string, Upstream[]>;
  handOff: (socket: Socket) => void;
}

/** node's Socket as far as the fast path reaches under it: the handle it reads and writes through. */
interface WithHandle {
  _handle: object | null;
}

/**
 * The accepted connection's handle, read into a buffer of its own (`onread`): no stream
 * machinery and no buffer allocated per read, which is much of what a request costs.
 * The socket node's server accepted (paused, never read) is kept, without its handle,
 * for the server's count of connections: destroyed when the connection closes.
 */
function adopt(accepted: Socket, onread: { buffer: Buffer; callback: (n: number, buf: Uint8Array) => boolean }): Socket {
  const holder = accepted as unknown as WithHandle;
  const handle = holder._handle;
  if (handle === null) return accepted;
  holder._handle = null;
  // Half-open: a client that sends its requests and then shuts its side still gets every answer.
  return new Socket({ handle, readable: true, writable: true, allowHalfOpen: true, onread } as ConstructorParameters<typeof Socket>[0]);
}

/**
 * The same connection as a plain socket (its reads pushed as a stream's, copied out of
 * its read buffer) for node's HTTP server, which may read the handle itself and give it
 * back (an upgrade). `sock` must have nothing left to write.
 */
function handBack(sock: Socket, accepted: Socket): Socket {
  const holder = sock as unknown as WithHandle;
  const handle = holder._handle;
  holder._handle = null;
  const plain: Socket = new Socket({
    handle,
    readable: true,
    writable: true,
    allowHalfOpen: true,
    pauseOnCreate: true,
    onread: { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: (n: number, buf: Uint8Array) => plain.push(Buffer.from(buf.subarray(0, n))) },
  } as ConstructorParameters<typeof Socket>[0]);
  plain.once("close", () => accepted.destroy());
  return plain;
}

/** A kept-alive connection to a backend; its listeners, set once, pass each event to the exchange it serves. */
class Upstream {
  readonly sock: Socket;
  /** The client connection whose request it carries; null when idle. */
  ex: ClientConn | null = null;

  readonly origin: string;

  constructor(
    b: Backend,
    private readonly s: Shared,
  ) {
    this.origin = b.origin;
    // Reads land in one buffer of the connection's own (no stream, no buffer made per
    // read); what a read brings is copied once, to be written to the client.
    const sock = (this.sock = connect({
      host: b.address,
      port: b.port,
      // A name is resolved here, and refused if it is Ruche's own (an address is judged by the table).
      lookup: s.ctx.lookup(b.port),
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER),
        callback: (n: number, buf: Uint8Array): boolean => {
          if (this.ex === null) return true;
          const d = Buffer.allocUnsafe(n);
          d.set(n === buf.length ? buf : buf.subarray(0, n));
          this.ex.upData(d);
          return true;
        },
      },
    }));
    // Not connected within the dial timeout: as refused (it never reached the backend; the
    // request goes to another). Then, idle or silent for the request timeout: closed (a
    // request waiting on it fails with 504, or its answer is cut).
    const { dialTimeoutMs, requestTimeoutMs } = s.ctx.config.limits;
    sock.setTimeout(dialTimeoutMs);
    sock.once("connect", () => sock.setTimeout(requestTimeoutMs));
    sock.on("error", (err: NodeJS.ErrnoException) => this.ex?.upError(err));
    sock.on("end", () => this.ex?.upEnd());
    sock.on("timeout", () => {
      if (this.ex === null) sock.destroy();
      else this.ex.fail(sock.connecting ? "refused" : "timeout");
    });
    sock.on("close", () => {
      if (this.ex !== null) this.ex.fail("reset");
      else this.forget();
    });
  }

  /** Back to the idle list once its answer is through (or closed, when the backend is set aside or too many wait). */
  release(): void {
    this.ex = null;
    if (this.sock.isPaused()) this.sock.resume();
    if (this.s.ctx.balancer.isEjected(this.origin)) {
      this.sock.destroy();
      return;
    }
    let list = this.s.idle.get(this.origin);
    if (list === undefined) this.s.idle.set(this.origin, (list = []));
    if (list.length >= MAX_IDLE) this.sock.destroy();
    else list.push(this);
  }

  private forget(): void {
    const l = this.s.idle.get(this.origin);
    const at = l?.indexOf(this) ?? -1;
    if (at >= 0) l?.splice(at, 1);
  }

  /** An idle connection to the backend, or a new one. */
  static take(s: Shared, b: Backend): { up: Upstream; reused: boolean } {
    const list = s.idle.get(b.origin);
    let c = list?.pop();
    while (c?.sock.destroyed === true) c = list?.pop();
    return c === undefined ? { up: new Upstream(b, s), reused: false } : { up: c, reused: true };
  }
}

/**
 * One client connection on the fast path and the request it has in flight (one at a
 * time: pipelined requests wait in `buf`). Its state lives in fields, not in closures
 * made per request: a request allocates its head and little else.
 */
class ClientConn {
  private buf: Buffer | null = null;
  private busy = false;
  /** The client shut its side: the requests read are answered, then the connection is closed. */
  private ended = false;
  /** X-Forwarded-* lines around the request's host, the same for every request of the connection. */
  private readonly fwdBefore: string;
  private readonly fwdAfter: string;
  /** The client's address, for a ClientIP rule. */
  private readonly ip: string;

  // The request in flight.
  private h: Head | null = null;
  private route: Route | null = null;
  private start = 0;
  private fwd = "";
  private attempt = 0;
  private tried: Set<Backend> | null = null;

  // Its try on a backend.
  private up: Upstream | null = null;
  private backend: Backend | null = null;
  private health: BackendHealth | null = null;
  private reused = false;
  private finished = true;
  /** Part of a response head, when it came in several reads. */
  private respHead: Buffer | null = null;
  /** A small answer held until whole (see upData). */
  private held: Buffer | null = null;
  private framing: Framing = Framing.none;
  private left = 0;
  private chunks: ChunkState | null = null;
  private status = 0;
  private upClose = false;
  private started = false;
  /** A backend paused until the client takes what was written. */
  private pausedUp: Socket | null = null;
  /** Runs while a request head is coming in part by part: the client has `headersTimeoutMs` to finish it. */
  private headTimer: NodeJS.Timeout | null = null;

  private readonly sock: Socket;
  /** `buf` is a view of the read buffer, valid until the read callback returns. */
  private bufShared = false;

  constructor(
    /** The socket node's server accepted, paused; its handle is read through `sock`. */
    private readonly accepted: Socket,
    private readonly s: Shared,
  ) {
    const sock = (this.sock = adopt(accepted, { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: this.onRead }));
    const ip = (this.ip = sock.remoteAddress ?? "");
    this.fwdBefore = `\r\nx-forwarded-for: ${ip}\r\nx-forwarded-proto: ${s.ep.proto}\r\nx-forwarded-host: `;
    this.fwdAfter = `\r\nx-forwarded-port: ${s.ep.port}\r\nx-real-ip: ${ip}\r\n\r\n`;
    sock.setNoDelay(true);
    // Idle with no request in flight: closed. A request in flight is the backend's timeouts' to end.
    // (A listener of its own: setTimeout's callback is called once, and a busy connection lives on.)
    sock.setTimeout(s.ctx.config.limits.idleTimeoutMs);
    sock.on("timeout", () => {
      if (!this.busy) sock.destroy();
    });
    sock.on("error", () => undefined);
    sock.on("end", () => {
      this.ended = true;
      this.next();
    });
    s.ctx.upgraded.add(sock);
    sock.once("close", () => {
      this.stopHeadTimer();
      s.ctx.upgraded.delete(sock);
      accepted.destroy();
      if (!this.finished) this.up?.sock.destroy();
    });
    sock.on("drain", () => {
      this.pausedUp?.resume();
      this.pausedUp = null;
    });
  }

  /** A read: requests served from the read buffer itself; what must wait (a partial head, pipelined requests) is copied. */
  private readonly onRead = (n: number, view: Uint8Array): boolean => {
    const d = Buffer.from(view.buffer, view.byteOffset, n);
    const shared = this.buf === null;
    this.buf = this.buf === null ? d : Buffer.concat([this.buf, d]);
    this.bufShared = shared;
    this.next();
    this.keepRest();
    return true;
  };

  /** What is left of a read, copied out of the read buffer before the next read overwrites it. */
  private keepRest(): void {
    if (this.bufShared && this.buf !== null) this.buf = Buffer.from(this.buf);
    this.bufShared = false;
  }

  /** The next request read, if whole and none is in flight. */
  private next(): void {
    const buf = this.buf;
    if (this.busy || this.sock.destroyed) return;
    if (buf === null) {
      if (this.ended) this.sock.end();
      return;
    }
    let text = buf.toString("latin1", 0, Math.min(buf.length, HEAD_WINDOW));
    let end = text.indexOf("\r\n\r\n");
    if (end < 0 && buf.length > HEAD_WINDOW) {
      text = buf.toString("latin1", 0, Math.min(buf.length, MAX_HEAD + 4));
      end = text.indexOf("\r\n\r\n");
    }
    if (end < 0) {
      // Part of a head, and the client's side shut: node's server answers that (400).
      if (buf.length > MAX_HEAD || this.ended) this.giveUp();
      else this.headTimer ??= setTimeout(this.headTimedOut, this.s.ctx.config.limits.headersTimeoutMs);
      return;
    }
    if (this.headTimer !== null) this.stopHeadTimer();
    const h = parseHead(text, end);
    if (h === null) {
      this.giveUp();
      return;
    }
    h.clientIp = this.ip;
    const route = lookup(this.s.ctx.table(), this.s.ep.name, h);
    // A token route, a sticky one (its cookie read, and set on the answer), and one with middlewares are the full server's.
    if (route !== null && (route.token !== null || route.sticky !== null || route.middlewares.length > 0)) {
      this.giveUp();
      return;
    }
    this.buf = buf.length === h.length ? null : buf.subarray(h.length);
    this.busy = true;
    this.serve(h, route);
  }

  /** A head not whole within `headersTimeoutMs` of its first byte: 408 and the connection closed, as node's server does. */
  private readonly headTimedOut = (): void => {
    this.headTimer = null;
    const sock = this.sock;
    if (this.busy || sock.destroyed) return;
    this.buf = null;
    sock.pause();
    sock.end("HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", () => sock.destroy());
  };

  private stopHeadTimer(): void {
    if (this.headTimer === null) return;
    clearTimeout(this.headTimer);
    this.headTimer = null;
  }

  /**
   * The connection to node's HTTP server for good, with the bytes read and not yet served,
   * once what was written to it is out (the socket it goes on as is a new one).
   */
  private giveUp(): void {
    const sock = this.sock;
    this.stopHeadTimer();
    sock.pause();
    if (sock.writableLength > 0 && !sock.destroyed) {
      // An empty write's callback comes once everything before it is written.
      sock.write(NOTHING, () => {
        this.giveUp();
      });
      return;
    }
    const rest = this.buf === null || this.buf.length === 0 ? null : this.bufShared ? Buffer.from(this.buf) : this.buf;
    this.buf = null;
    this.bufShared = false;
    if (sock.destroyed) return;
    sock.setTimeout(0);
    this.s.ctx.upgraded.delete(sock);
    sock.removeAllListeners("close");
    const plain = handBack(sock, this.accepted);
    // Still the router's to close: node's server tracks only the connections it accepted itself.
    this.s.ctx.upgraded.add(plain);
    plain.once("close", () => this.s.ctx.upgraded.delete(plain));
    if (rest !== null) plain.unshift(rest);
    // The client had shut its side already: the handle will not say so again.
    if (this.ended) plain.push(null);
    this.s.handOff(plain);
    plain.resume();
  }

  private answer(status: number, reason: string, text: string, close: boolean): void {
    this.sock.write(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${close ? "connection: close\r\n" : ""}\r\n${text}`);
    if (close) this.sock.end();
  }

  private serve(h: Head, route: Route | null): void {
    this.h = h;
    this.route = route;
    this.start = performance.now();
    this.attempt = 0;
    this.tried = null;
    if (route === null) {
      this.answer(404, "Not Found", "404 page not found\n", h.close);
      this.done(404, 0, null, h.close);
      return;
    }
    if (route.unimplemented.length > 0) {
      this.answer(503, "Service Unavailable", unimplementedText(route), h.close);
      this.done(503, 0, null, h.close);
      return;
    }
    const target = route.strip.length === 0 ? h.target : stripPath(h.path, route.strip) + h.target.slice(h.path.length);
    this.fwd = `${h.method} ${target} HTTP/1.1${h.forward === "" ? "" : "\r\n"}${h.forward}${this.fwdBefore}${h.hostHeader}${this.fwdAfter}`;
    this.tryOne(route, h);
  }

  /** The request sent to the next backend the balancer picks, or answered 503/502 when none is left. */
  private tryOne(route: Route, h: Head): void {
    const s = this.s;
    const b = s.ctx.balancer.pick(route, this.tried);
    if (b === null || b.origin.startsWith("https:")) {
      const status = this.tried === null ? 503 : 502;
      this.answer(status, status === 503 ? "Service Unavailable" : "Bad Gateway", status === 503 ? "503 Service Unavailable: no healthy instance\n" : "502 Bad Gateway\n", h.close);
      this.done(status, Math.max(0, this.attempt - 1), null, h.close);
      return;
    }
    const health = s.ctx.balancer.of(b.origin);
    health.inflight++;
    const { up, reused } = Upstream.take(s, b);
    this.up = up;
    this.backend = b;
    this.health = health;
    this.reused = reused;
    this.finished = false;
    this.respHead = null;
    this.held = null;
    this.framing = Framing.none;
    this.left = 0;
    this.chunks = null;
    this.status = 0;
    this.upClose = false;
    this.started = false;
    up.ex = this;
    up.sock.write(this.fwd, "latin1");
  }

  /** Bytes to the client, the backend paused while the client is slower. */
  private toClient(b: Buffer): void {
    if (!this.sock.write(b) && this.up !== null && this.pausedUp === null) {
      this.pausedUp = this.up.sock;
      this.pausedUp.pause();
    }
  }

  /**
   * A read from the backend: the head parsed once whole, then what belongs to the answer
   * passed on in one write per read. A small answer whose body comes in later reads (a
   * server that writes its head, then its file) is held until whole and written at once:
   * should the backend die before its end, nothing has reached the client yet and the
   * request goes on to another instance, as if the backend had not answered.
   */
  upData(d: Buffer): void {
    if (this.finished) return;
    let from = 0;
    if (this.framing === Framing.none) {
      const all = this.respHead === null ? d : Buffer.concat([this.respHead, d]);
      const end = all.indexOf(CRLFCRLF);
      if (end < 0) {
        if (all.length > MAX_RESPONSE_HEAD) this.fail("reset");
        // A head trickling in is held to the request timeout as a whole, not per read.
        else if (performance.now() - this.start > this.s.ctx.config.limits.requestTimeoutMs) this.fail("timeout");
        else this.respHead = all;
        return;
      }
      this.respHead = null;
      this.framing = this.responseHead(all.toString("latin1", 0, end));
      if (this.framing === Framing.broken) {
        // A response whose end cannot be told for sure: what follows it would be read as the next answer.
        this.fail("reset");
        return;
      }
      d = all;
      from = end + 4;
      if (this.framing === Framing.length && this.left > d.length - from && from + this.left <= MAX_HELD) {
        this.left -= d.length - from;
        this.held = d;
        return;
      }
    } else if (this.held !== null) {
      const take = Math.min(this.left, d.length);
      this.left -= take;
      this.held = Buffer.concat([this.held, take === d.length ? d : d.subarray(0, take)]);
      if (this.left > 0) return;
      d = this.held;
      from = d.length;
      this.held = null;
    }
    let n = d.length;
    let complete = false;
    if (this.framing === Framing.length) {
      const take = Math.min(this.left, d.length - from);
      this.left -= take;
      n = from + take;
      complete = this.left === 0;
    } else if (this.framing === Framing.chunked) {
      const state = this.chunks as ChunkState;
      const took = chunked(state, d, from);
      if (took < 0) {
        this.fail("reset");
        return;
      }
      n = from + took;
      complete = state.done;
    }
    this.started = true;
    if (n > 0) this.toClient(n === d.length ? d : d.subarray(0, n));
    if (complete) this.finish();
  }

  /** Status and framing from a response head (its text up to the blank line). */
  private responseHead(head: string): Framing {
    const status = (this.status = Number(head.slice(9, 12)));
    let length = -1;
    let lengths = 0;
    let isChunked = false;
    let te = false;
    let pos = head.indexOf("\r\n");
    while (pos >= 0) {
      const at = pos + 2;
      pos = head.indexOf("\r\n", at);
      const c = head.charCodeAt(at) | 0x20;
      if (c !== 99 /* c */ && c !== 116 /* t */) continue;
      const line = pos < 0 ? head.slice(at) : head.slice(at, pos);
      if (named(line, "content-length")) {
        // Digits only, and the same each time it is repeated: else the answer's end is unsure.
        const v = ows(line, 15, line.length);
        if (!/^\d{1,15}$/.test(v) || (lengths++ > 0 && Number(v) !== length)) return Framing.broken;
        length = Number(v);
      } else if (named(line, "transfer-encoding")) {
        te = true;
        isChunked = line.toLowerCase().includes("chunked");
      }
      else if (named(line, "connection")) this.upClose = line.toLowerCase().includes("close");
    }
    if ((this.h as Head).method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      this.left = 0;
      return Framing.length;
    }
    if (te && lengths > 0) return Framing.broken;
    if (isChunked) {
      this.chunks = { left: 0, line: "", trailers: false, done: false };
      return Framing.chunked;
    }
    if (length >= 0 && Number.isSafeInteger(length)) {
      this.left = length;
      return Framing.length;
    }
    return Framing.close;
  }

  upError(err: NodeJS.ErrnoException): void {
    this.fail(err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" || err.code === REFUSED_BACKEND ? "refused" : "reset");
  }

  upEnd(): void {
    if (this.framing === Framing.close) {
      this.upClose = true;
      this.finish();
      return;
    }
    this.fail("reset");
  }

  /** The answer went through whole. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const up = this.up as Upstream;
    const b = this.backend as Backend;
    const route = this.route as Route;
    (this.health as BackendHealth).inflight--;
    this.s.ctx.balancer.succeeded(b.origin);
    this.s.ctx.metrics.backend(route.name, b.origin, true);
    if (this.pausedUp === up.sock) this.pausedUp = null;
    if (this.upClose || this.framing === Framing.close) {
      up.ex = null;
      up.sock.destroy();
    } else up.release();
    this.up = null;
    this.done(this.status, this.attempt, b, this.upClose);
  }

  /** The backend did not answer (whole): another one tried when the request allows, else 502/504. */
  fail(kind: "refused" | "reset" | "timeout"): void {
    if (this.finished) return;
    this.finished = true;
    const s = this.s;
    const up = this.up as Upstream;
    const b = this.backend as Backend;
    const route = this.route as Route;
    const h = this.h as Head;
    (this.health as BackendHealth).inflight--;
    up.ex = null;
    up.sock.destroy();
    this.up = null;
    if (this.pausedUp === up.sock) this.pausedUp = null;
    if (this.sock.destroyed) return;
    if (this.started) {
      // The answer had begun: the client's connection cannot carry on.
      this.sock.destroy();
      s.ctx.metrics.request(route.name, this.status, (performance.now() - this.start) / 1000, this.attempt);
      return;
    }
    s.ctx.metrics.backend(route.name, b.origin, false);
    // A kept-alive connection the backend had closed is not the backend's failure.
    if (!this.reused && kind !== "timeout" && s.ctx.balancer.failed(b.origin, kind === "refused")) s.ctx.metrics.ejected();
    // A reused connection the backend had closed meanwhile earns one more try.
    if (retryable(kind, this.attempt, s.ctx.config.retries + (this.reused ? 1 : 0), h.method)) {
      this.attempt++;
      if (!this.reused) (this.tried ??= new Set()).add(b);
      this.tryOne(latest(s.ctx.table(), route), h);
      return;
    }
    const st = kind === "timeout" ? 504 : 502;
    const reason = kind === "timeout" ? "Gateway Timeout" : "Bad Gateway";
    this.answer(st, reason, `${st} ${reason}\n`, h.close);
    this.done(st, this.attempt, b, h.close);
  }

  /** The request answered: counted, logged, and the next one read (or the connection closed). */
  private done(status: number, retries: number, b: Backend | null, close: boolean): void {
    const { ctx, ep } = this.s;
    const h = this.h as Head;
    const route = this.route;
    const seconds = (performance.now() - this.start) / 1000;
    ctx.metrics.request(route?.name ?? "", status, seconds, retries);
    if (ctx.config.accessLog) {
      ctx.log.info({ entryPoint: ep.name, client: this.sock.remoteAddress ?? "", method: h.method, host: h.hostHeader, path: h.path, status, route: route?.name ?? "", backend: b?.origin ?? "", retries, ms: Math.round(seconds * 1e4) / 10 }, "request");
    }
    this.busy = false;
    this.h = null;
    this.route = null;
    this.backend = null;
    this.health = null;
    if (close || h.close) {
      this.sock.end();
      return;
    }
    this.next();
  }
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
  const s: Shared = { ctx, ep, idle: new Map(), handOff };
  const forget = (origins: ReadonlySet<string>): void => {
    for (const [o, list] of s.idle) {
      if (origins.has(o)) continue;
      s.idle.delete(o);
      for (const c of list) c.sock.destroy();
    }
  };
  return {
    onConnection: (socket) => {
      new ClientConn(socket, s);
    },
    forget,
    close: () => {
      forget(new Set());
    },
  };
}
