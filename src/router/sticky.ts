import { createHash } from "node:crypto";
import type { Backend, Route, StickyCookie } from "./types.js";

/**
 * Sticky sessions as Traefik keeps them: a cookie whose value names the backend that served
 * the client — the first 16 hex digits of the SHA-256 of its URL (`http://10.0.0.1:8080`) —
 * read on the next request, which goes to that backend while it is one of the route's and
 * usable. The values older Traefik versions wrote (the URL itself, its FNV-64 hash, and that
 * hash hashed again) are taken too, and the cookie is written again in today's form.
 */

/** The cookie value of a backend: SHA-256 of its URL, 16 hex digits. */
export function stickyValue(origin: string): string {
  return createHash("sha256").update(origin).digest("hex").slice(0, 16);
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

/** FNV-1 (64 bits) in hex, as Go's `hash/fnv.New64` and `strconv.FormatUint(h, 16)` make it: older Traefik's cookie values. */
export function fnv64(text: string): string {
  let h = FNV_OFFSET;
  for (const b of Buffer.from(text)) h = ((h * FNV_PRIME) & MASK) ^ BigInt(b);
  return h.toString(16);
}

/** Each backend's values, worked out once per backend (a table makes new ones). */
const values = new WeakMap<Backend, { now: string; older: string[] }>();

function valuesOf(b: Backend): { now: string; older: string[] } {
  let v = values.get(b);
  if (v === undefined) {
    const once = fnv64(b.origin);
    v = { now: stickyValue(b.origin), older: [b.origin, once, fnv64(once)] };
    values.set(b, v);
  }
  return v;
}

/** The value of cookie `name` in a request's Cookie header(s), or null. */
export function cookieValue(header: string | string[] | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const line of Array.isArray(header) ? header : [header]) {
    for (const part of line.split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return null;
}

/**
 * The backend a request's sticky cookie names, if it is one of the route's and `usable`;
 * `rewrite` when the cookie has an older form of its value.
 */
export function stuckTo(route: Route, cookies: string | string[] | undefined, usable: (b: Backend) => boolean): { backend: Backend; rewrite: boolean } | null {
  const sticky = route.sticky;
  if (sticky === null) return null;
  const value = cookieValue(cookies, sticky.name);
  if (value === null || value === "") return null;
  for (const b of route.backends) {
    const v = valuesOf(b);
    const rewrite = v.now !== value;
    if (rewrite && !v.older.includes(value)) continue;
    return usable(b) ? { backend: b, rewrite } : null;
  }
  return null;
}

/** The Set-Cookie header that sticks a client to `b`, its attributes in the order Go writes them. */
export function setCookie(c: StickyCookie, b: Backend): string {
  let out = `${c.name}=${valuesOf(b).now}; Path=${c.path}`;
  if (c.domain !== "") out += `; Domain=${c.domain.replace(/^\./, "")}`;
  if (c.maxAge > 0) out += `; Max-Age=${c.maxAge}`;
  if (c.httpOnly) out += "; HttpOnly";
  if (c.secure) out += "; Secure";
  if (c.sameSite !== "") out += `; SameSite=${c.sameSite}`;
  return out;
}
