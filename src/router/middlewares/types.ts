import type { Backend } from "../types.js";

/**
 * A request as it goes through a route's middlewares: what they read and change before it is
 * forwarded (its path, its headers), and what it came with (the client's address, scheme).
 */
export interface Exchange {
  method: string;
  /** The scheme the client used on the entrypoint. */
  proto: "http" | "https";
  /** The Host header (or `:authority`) as sent. */
  host: string;
  /** The entrypoint's port. */
  port: number;
  /** The request target as it will be forwarded: path and query. */
  url: string;
  /** The address the connection comes from. */
  clientIp: string;
  /** The headers to forward, a flat [name, value, ...] list (the router's X-Forwarded-* among them). */
  headers: string[];
  /** The request body: a buffer once a middleware read it whole (it can then be sent again), else a stream, or none. */
  body: Buffer | AsyncIterable<Buffer> | null;
}

/** An answer, from a backend or from a middleware; header names in lower case. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | AsyncIterable<Buffer>;
  /** Set when no backend answered and the router did: the connection failed (`network`) or the backend was silent (`timeout`). */
  failure: "network" | "timeout" | null;
  /** The backend that answered, and the retries made on the way. */
  backend: Backend | null;
  retries: number;
}

export type Handler = (x: Exchange) => Promise<Reply>;
/** A middleware at work: the handler it puts in front of the next one. */
export type Wrap = (next: Handler) => Handler;

/** An answer the router writes itself (a refusal, a redirect). */
export function answer(status: number, text: string, headers: Record<string, string | string[]> = {}): Reply {
  return { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers }, body: Buffer.from(text), failure: null, backend: null, retries: 0 };
}

/** A request header's first value (name in any case), or undefined. */
export function header(x: Exchange, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < x.headers.length; i += 2) if ((x.headers[i] as string).toLowerCase() === lower) return x.headers[i + 1];
  return undefined;
}

/** Sets a request header (every former value replaced), or removes it when `value` is null. */
export function setHeader(x: Exchange, name: string, value: string | null): void {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (let i = 0; i + 1 < x.headers.length; i += 2) if ((x.headers[i] as string).toLowerCase() !== lower) out.push(x.headers[i] as string, x.headers[i + 1] as string);
  if (value !== null) out.push(name, value);
  x.headers = out;
}

/** The path of a request target (without its query). */
export function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** A target with its path replaced, its query kept. */
export function withPath(url: string, path: string): string {
  const q = url.indexOf("?");
  return q < 0 ? path : path + url.slice(q);
}

/** A response header's value as one string (several joined by ", "), or undefined. */
export function replyHeader(r: Reply, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}
