/** Methods whose requests may be sent again to another backend when one fails before answering. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/**
 * Whether a request that failed on one instance goes on to another: a refused connection
 * never reached the instance, so always (each instance is tried once); a reset one only if
 * the method is idempotent and fewer than `limit` retries were made.
 */
export function retryable(kind: string, attempt: number, limit: number, method: string): boolean {
  return kind === "refused" || (kind === "reset" && attempt < limit && IDEMPOTENT.has(method));
}

/** Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), and the forwarding headers the router sets itself. */
export const HOP: ReadonlySet<string> = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate", "proxy-authorization", "http2-settings"]);
export const OWN: ReadonlySet<string> = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-forwarded-server", "x-real-ip"]);

export interface Forwarding {
  clientIp: string;
  proto: "http" | "https";
  host: string;
  port: number;
}

/**
 * The headers sent to a backend: the client's, less hop-by-hop ones (and those its
 * Connection header names) and less any X-Forwarded-* it sent — a client outside is not
 * trusted to say where it comes from — plus the router's own X-Forwarded-For, -Proto,
 * -Host, -Port and X-Real-Ip. `keepUpgrade` keeps Connection/Upgrade (WebSocket).
 * A flat [name, value, ...] list; HTTP/2 pseudo-headers give way to Host.
 */
export function forwardHeaders(raw: readonly string[], connection: string | undefined, f: Forwarding, keepUpgrade = false): string[] {
  const named = connection === undefined ? null : new Set(connection.toLowerCase().split(",").map((s) => s.trim()));
  const out: string[] = [];
  let host = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 58 /* ":" */) {
      if (lower === ":authority" && !host) {
        out.push("host", raw[i + 1] as string);
        host = true;
      }
      continue;
    }
    if (keepUpgrade && (lower === "connection" || lower === "upgrade")) {
      out.push(name, raw[i + 1] as string);
      continue;
    }
    if (HOP.has(lower) || OWN.has(lower) || (named?.has(lower) === true && lower !== "host")) continue;
    if (lower === "host") {
      if (host) continue;
      host = true;
    }
    out.push(name, raw[i + 1] as string);
  }
  out.push("x-forwarded-for", f.clientIp, "x-forwarded-proto", f.proto, "x-forwarded-host", f.host, "x-forwarded-port", String(f.port), "x-real-ip", f.clientIp);
  return out;
}

/** A backend's response headers without hop-by-hop ones, for the client. */
export function responseHeaders(h: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const conn = h.connection;
  const named = typeof conn === "string" ? conn.toLowerCase().split(",").map((s) => s.trim()) : [];
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP.has(k) || named.includes(k)) continue;
    out[k] = v;
  }
  return out;
}
