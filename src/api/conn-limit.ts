import type { Server, Socket } from "node:net";
import type { Logger } from "../structs/index.js";

/** Nomad's `http_max_conns_per_client` default (Consul's is 200); 0 turns the limit off. */
export const DEFAULT_MAX_CONNS_PER_CLIENT = 100;

const TOO_MANY = "Your IP is issuing too many concurrent connections, please rate limit your calls\n";

/** What Nomad and Consul answer a connection over the limit with, before closing it. */
const TOO_MANY_RESPONSE = Buffer.from(`HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(TOO_MANY)}\r\nConnection: close\r\n\r\n${TOO_MANY}`);

/** A refused connection whose client does not close it is cut after this long. */
const REFUSED_LINGER_MS = 1_000;

/** The client's address, an IPv4 address seen on a dual-stack socket as itself. */
export function clientAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? "";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}

/**
 * Bounds the connections one client address holds open on an HTTP listener, as Nomad's and
 * Consul's `http_max_conns_per_client` do: a connection over the limit is answered
 * `429 Too Many Requests` at once, before it sends anything, and closed. Returns the
 * connections refused, which the request handler ignores (their requests get no answer
 * but the 429). On an HTTPS listener a connection is counted, and answered, once its TLS
 * handshake is done (`secureConnection`): the 429 goes over TLS, as the client expects.
 */
export function limitConnectionsPerClient(server: Server, limit: number, log: Logger, event: "connection" | "secureConnection" = "connection"): WeakSet<Socket> {
  const refused = new WeakSet<Socket>();
  if (limit <= 0) return refused;
  const open = new Map<string, number>();
  let lastWarned = 0;
  // Before the HTTP server's own listener: a refused connection is answered before it is parsed.
  server.prependListener(event, (socket: Socket) => {
    const address = clientAddress(socket);
    const n = open.get(address) ?? 0;
    if (n >= limit) {
      refused.add(socket);
      socket.end(TOO_MANY_RESPONSE);
      const cut = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
      cut.unref();
      socket.once("close", () => {
        clearTimeout(cut);
      });
      // A flood is logged once a second at most, not once a connection.
      if (Date.now() - lastWarned >= 1_000) {
        lastWarned = Date.now();
        log.warn({ address, limit }, "too many concurrent connections from one client: answered 429 and closed");
      }
      return;
    }
    open.set(address, n + 1);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return refused;
}
