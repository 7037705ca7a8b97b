/**
 * The dashboard's HTTP client: Ruche's public API on the origin that served the page,
 * with the ACL token from the prompt (kept in localStorage) sent as `X-Ruche-Token`, and the
 * page's region (`?region=`, `region.ts`) on every request that names none itself.
 * A 401 or 403 answer asks for a token.
 */

import type { ErrorCode } from "../../structs/index.js";
import { currentRegion, withRegion } from "./region.js";

/** What the dashboard says when no answer came: a code of the API's one table. */
const UNREACHABLE: ErrorCode = "RUCHE_UNREACHABLE";

/** An answer of the API that is not 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The index the answer carried (a Consul-style 404 of an absent key has one). */
    readonly index = 0,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "ruche.token";

type Listener = () => void;

/** The ACL token the dashboard sends, and who wants to know when one is needed. */
export const auth = {
  listeners: new Set<Listener>(),
  /** Why the last request was refused, for the prompt. */
  refused: "",
  token(): string {
    try {
      return localStorage.getItem(TOKEN_KEY) ?? "";
    } catch {
      return "";
    }
  },
  setToken(token: string): void {
    try {
      if (token === "") localStorage.removeItem(TOKEN_KEY);
      else localStorage.setItem(TOKEN_KEY, token);
    } catch {
      // Storage is off (a private window): the token lasts as long as the page.
    }
    this.refused = "";
    this.notify();
  },
  /** A request was refused: the prompt opens, saying why. */
  refuse(message: string): void {
    this.refused = message;
    this.notify();
  },
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  },
  notify(): void {
    for (const fn of this.listeners) fn();
  },
};

export function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  const t = auth.token();
  if (t !== "") h["x-ruche-token"] = t;
  return h;
}

export interface Answer<T> {
  body: T;
  /** X-Ruche-Index (or X-Consul-Index on the Consul-compatible reads): where a blocking query goes on from. */
  index: number;
}

export interface RequestOptions {
  query?: Record<string, string>;
  signal?: AbortSignal;
  /** The body as bytes or text, sent as it is (a KV value), instead of JSON. */
  raw?: string;
  /** What to accept (`text/event-stream`: the event stream as server-sent events). */
  accept?: string;
  /** false: a 401 or 403 does not open the token prompt (a read the page can do without). */
  prompt?: boolean;
}

/** Builds `/v1/...?query`, leaving out undefined values. */
export function url(path: string, query: Record<string, string> = {}): string {
  const q = new URLSearchParams(query).toString();
  return q === "" ? path : `${path}${path.includes("?") ? "&" : "?"}${q}`;
}

/** Sends a request; a refused or failed one becomes an ApiError, with the API's own message. */
export async function send(method: string, path: string, body?: unknown, o: RequestOptions = {}): Promise<Response> {
  const init: RequestInit = { method, headers: headers({ ...(body === undefined ? {} : { "content-type": "application/json" }), ...(o.accept === undefined ? {} : { accept: o.accept }) }) };
  if (o.raw !== undefined) init.body = o.raw;
  else if (body !== undefined) init.body = JSON.stringify(body);
  if (o.signal !== undefined) init.signal = o.signal;
  let res: Response;
  try {
    res = await fetch(withRegion(url(path, o.query), currentRegion()), init);
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, UNREACHABLE, `cannot reach the Ruche API: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok) {
    const err = errorOf(res.status, await res.text(), indexOf(res));
    if ((res.status === 401 || res.status === 403) && o.prompt !== false) auth.refuse(err.message);
    throw err;
  }
  return res;
}

/** The API's error body `{"error": {"code", "message"}}`, or the text of a Consul-style error. */
export function errorOf(status: number, text: string, index = 0): ApiError {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof e?.message === "string") return new ApiError(status, typeof e.code === "string" ? e.code : `HTTP_${status}`, e.message, index);
  } catch {
    // Not JSON: the text is the message.
  }
  return new ApiError(status, `HTTP_${status}`, text.trim() === "" ? `the API answered ${status}` : text.trim(), index);
}

/** X-Ruche-Index, or X-Consul-Index on the Consul-compatible reads; 0 when there is none. */
function indexOf(res: Response): number {
  const n = Number(res.headers.get("x-ruche-index") ?? res.headers.get("x-consul-index") ?? "0");
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** A JSON request with its index. */
export async function request<T>(method: string, path: string, body?: unknown, o: RequestOptions = {}): Promise<Answer<T>> {
  const res = await send(method, path, body, o);
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text !== "") {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { body: parsed as T, index: indexOf(res) };
}

export const get = <T>(path: string, o: RequestOptions = {}): Promise<Answer<T>> => request<T>("GET", path, undefined, o);
export const put = <T>(path: string, body: unknown = {}, o: RequestOptions = {}): Promise<Answer<T>> => request<T>("PUT", path, body, o);
export const del = <T>(path: string, o: RequestOptions = {}): Promise<Answer<T>> => request<T>("DELETE", path, undefined, o);

/** A path segment of an id or name. */
export const seg = encodeURIComponent;

/** A KV key in a URL path: each segment escaped, the slashes kept. */
export function keyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

export function message(err: unknown): string {
  if (err instanceof ApiError) return err.status === 0 ? err.message : `${err.message} (${err.code}, HTTP ${err.status})`;
  return err instanceof Error ? err.message : String(err);
}
