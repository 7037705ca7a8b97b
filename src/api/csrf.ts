import type { IncomingMessage } from "node:http";
import { ErrorCode, RucheError } from "../structs/index.js";

/**
 * Cross-site writes refused, on every listener and in every mode (`-dev` too): a web page on
 * another site must not drive the API of the agent its visitor runs.
 *
 * A browser sends a cross-origin write without asking first only as a "simple" request: a
 * POST with a `text/plain`, form or multipart body and no header of ours. Anything else (a
 * PUT or DELETE, a JSON body, a token header) is preflighted with OPTIONS, which no listener
 * answers with CORS headers, so the browser never sends it. Every browser puts `Origin` on a
 * POST (and modern ones `Sec-Fetch-Site`), so a write whose `Origin` is not the listener's
 * own (the dashboard's: the scheme and `Host` the request came to) or whose `Sec-Fetch-Site`
 * says another site sent it is refused with 403. A request without them (curl, Consul's and
 * Nomad's clients, another server) is not a browser's and passes, whatever its content type:
 * Consul's clients PUT raw KV values as `text/plain` or form data, and Nomad's Go client
 * sends no content type at all.
 */

const WRITES = new Set(["PUT", "POST", "DELETE", "PATCH"]);

/** Throws 403 `RUCHE_FORBIDDEN` for a write a web page on another site made a browser send. */
export function refuseCrossSiteWrite(raw: IncomingMessage, path: string): void {
  const method = raw.method ?? "GET";
  if (!WRITES.has(method)) return;
  const site = one(raw.headers["sec-fetch-site"]);
  if (site === "cross-site" || site === "same-site") refuse(method, path, `Sec-Fetch-Site: ${site}`);
  const origin = one(raw.headers.origin);
  if (origin !== undefined && !sameOrigin(origin, raw)) refuse(method, path, `Origin: ${origin}`);
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The page's origin is the listener's own: the scheme of this connection and the host and port the request was sent to. */
function sameOrigin(origin: string, raw: IncomingMessage): boolean {
  const host = raw.headers.host;
  if (host === undefined || origin === "null") return false;
  const scheme = "encrypted" in raw.socket ? "https:" : "http:";
  try {
    const page = new URL(origin);
    // The Host header with this scheme's default port dropped, as the URL drops it from the origin.
    const own = new URL(`${scheme}//${host}`);
    return page.protocol === scheme && page.host === own.host;
  } catch {
    return false;
  }
}

function refuse(method: string, path: string, why: string): never {
  throw new RucheError(
    ErrorCode.Forbidden,
    `cross-site write refused: ${method} ${path} came from a web page on another site (${why}); ` +
      "only the dashboard served by this agent may write from a browser. Clients outside a browser send no Origin header.",
  );
}
