import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { TLSSocket, type PeerCertificate } from "node:tls";
import { ErrorCode, RucheError, type Logger } from "../structs/index.js";

/** A listener's TLS (PEM texts). */
export interface ListenerTls {
  cert: string;
  key: string;
  /** The CA client certificates must be signed by. */
  ca?: string;
  /**
   * Ask clients for a certificate (mutual TLS): one signed by `ca` is shown to handlers
   * (`req.peerCert`); one that is not is refused, 403. A client may still come without one.
   */
  requestClientCert: boolean;
  /** Refuse a request without a client certificate signed by `ca`, 401 (Nomad's `verify_https_client`). */
  requireClientCert?: boolean;
  /**
   * Which peers may send the leader a batch of forwarded writes, saying which certificate
   * each write came with: servers. Absent: any peer with a verified certificate. A batch
   * without a certificate is served, its writes as if they had come without one.
   */
  mayForward?: (peer: PeerCert) => boolean;
  /** Which verified peers may call this listener at all: the reason one may not (answered 403), or undefined. */
  refusePeer?: (peer: PeerCert) => string | undefined;
}

/** A client's certificate, verified against the listener's CA. */
export interface PeerCert {
  /** Its subject's common name. */
  subject: string;
  /** Its subject alternative names: URIs (`spiffe://…`), DNS names, IP addresses. */
  uris: string[];
  dnsNames: string[];
  ips: string[];
  /** SHA-256 of the certificate, `AB:CD:…`. */
  fingerprint256: string;
  /** When it expires. */
  validTo: Date;
}

/** What a server that did not listen on TLS is answered on its TLS port, as Go's servers (Nomad's, Consul's) answer it. */
const PLAIN_ON_TLS_BODY = "Client sent an HTTP request to an HTTPS server.\n";
const PLAIN_ON_TLS = Buffer.from(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(PLAIN_ON_TLS_BODY)}\r\n\r\n${PLAIN_ON_TLS_BODY}`);
/** A TLS record of type handshake: what a TLS client sends first. */
const TLS_HANDSHAKE = 0x16;
/** A connection that sends nothing, or does not finish its handshake, within this is closed (ms). */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface Listener {
  /** The HTTP server requests are served by (over TLS when asked). */
  server: HttpServer;
  /** The event a connection is ready for HTTP on: `connection`, or `secureConnection` once its handshake is done. */
  ready: "connection" | "secureConnection";
  listen(o: { port: number; host: string; backlog: number }): Promise<AddressInfo>;
  /** Stops taking connections; resolves once every connection is gone. */
  stop(): Promise<void>;
  /** Drops every connection. */
  dropAll(): void;
  /** Over TLS: the certificate, key and CA new connections are served with. */
  setTls?: (tls: Pick<ListenerTls, "cert" | "key" | "ca">) => void;
}

/**
 * An HTTP server, or with `tls` an HTTPS one. Over TLS the port looks at each connection's
 * first byte: a TLS handshake goes to the HTTPS server; anything else (plain HTTP sent to
 * the TLS port) is answered 400 "Client sent an HTTP request to an HTTPS server." and closed,
 * so that the client gets an error rather than a connection that hangs or is reset.
 */
export function createListener(tls: ListenerTls | undefined, handler: RequestListener, log: Logger): Listener {
  if (tls === undefined) {
    const server = createHttpServer(handler);
    return {
      server,
      ready: "connection",
      listen: (o) => listenOn(server, o),
      stop: () => stopOn(server),
      dropAll: () => {
        server.closeAllConnections();
      },
    };
  }
  const server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      // Verified here, refused by the request handler with a status that says why (`peerCertOf`).
      requestCert: tls.requestClientCert || tls.requireClientCert === true,
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      minVersion: "TLSv1.2",
    },
    handler,
  );
  server.on("tlsClientError", (err, socket) => {
    log.debug({ err, address: socket.remoteAddress }, "a TLS handshake failed");
  });
  // The connections waiting for their first byte, and those served over TLS: closing the
  // listener waits for both to be gone (the front's own count never sees a connection it
  // handed on close: its socket is the TLS socket's now).
  const waiting = new Set<Socket>();
  const secure = new Set<Socket>();
  let idle: (() => void) | undefined;
  const settle = (): void => {
    if (waiting.size === 0 && secure.size === 0) idle?.();
  };
  // The HTTPS server never listens itself: its tracking of connections (closeAllConnections,
  // the headers and request timeouts) starts as it would once listening.
  server.emit("listening");
  server.on("secureConnection", (socket: Socket) => {
    secure.add(socket);
    socket.once("close", () => {
      secure.delete(socket);
      settle();
    });
  });
  const front = createNetServer((socket) => {
    waiting.add(socket);
    const quiet = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS);
    const ignore = (): void => undefined;
    socket.on("error", ignore);
    socket.once("close", () => {
      clearTimeout(quiet);
      waiting.delete(socket);
      settle();
    });
    socket.once("data", (first: Buffer) => {
      clearTimeout(quiet);
      waiting.delete(socket);
      settle();
      socket.pause();
      if (first[0] !== TLS_HANDSHAKE) {
        socket.end(PLAIN_ON_TLS);
        return;
      }
      socket.off("error", ignore);
      // The bytes read go back in front; the TLS server reads them first.
      socket.unshift(first);
      server.emit("connection", socket);
    });
  });
  return {
    server,
    ready: "secureConnection",
    listen: (o) => listenOn(front, o),
    stop: () =>
      new Promise<void>((resolve) => {
        front.close();
        // Stops the HTTPS server's timers and closes its idle connections.
        server.close();
        idle = resolve;
        settle();
      }),
    dropAll: () => {
      for (const s of waiting) s.destroy();
      server.closeAllConnections();
      for (const s of secure) s.destroy();
    },
    setTls: (next) => {
      server.setSecureContext({ cert: next.cert, key: next.key, ...(next.ca === undefined ? {} : { ca: next.ca }) });
    },
  };
}

function listenOn(server: NetServer, o: { port: number; host: string; backlog: number }): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function stopOn(server: NetServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

const peers = new WeakMap<TLSSocket, PeerCert | null>();

/** What a node that has no certificate yet asks for to get one (the CA, then its join): served without one under verify_https_client too. */
const BEFORE_A_CERTIFICATE = new Set(["/v1/agent/ca", "/v1/agent/join"]);

/**
 * The client certificate a request came with, verified against the listener's CA; undefined
 * on plain HTTP or without one. One that does not verify is refused (403, saying why); none
 * where one is required, 401 (but on the paths a joining node takes to get one).
 */
export function peerCertOf(raw: IncomingMessage, tls: ListenerTls | undefined, path: string): PeerCert | undefined {
  if (tls === undefined || !(raw.socket instanceof TLSSocket)) return undefined;
  const socket = raw.socket;
  let peer = peers.get(socket);
  if (peer === undefined) {
    const c = socket.getPeerCertificate();
    if (Object.keys(c).length === 0) peer = null;
    else if (!socket.authorized) {
      const why = socket.authorizationError instanceof Error ? socket.authorizationError.message : String(socket.authorizationError);
      throw new RucheError(ErrorCode.Forbidden, `the client certificate (${commonName(c)}) is not trusted: ${why}`);
    } else peer = peerCert(c);
    peers.set(socket, peer);
  }
  if (peer === null && tls.requireClientCert === true && !BEFORE_A_CERTIFICATE.has(path)) throw new RucheError(ErrorCode.Unauthorized, "this API requires a client certificate signed by the cluster's CA (verify_https_client)");
  const refused = peer === null ? undefined : tls.refusePeer?.(peer);
  if (refused !== undefined) throw new RucheError(ErrorCode.Forbidden, refused);
  return peer ?? undefined;
}

function commonName(c: PeerCertificate): string {
  const cn = (c.subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  return Array.isArray(cn) ? cn.join(", ") : (cn ?? "no subject");
}

/** Node's `subjectaltname` ("DNS:a, URI:spiffe://x, IP Address:1.2.3.4") as its parts. */
function altNames(text: string | undefined): { uris: string[]; dnsNames: string[]; ips: string[] } {
  const out = { uris: [] as string[], dnsNames: [] as string[], ips: [] as string[] };
  for (const part of (text ?? "").split(", ")) {
    const colon = part.indexOf(":");
    if (colon < 0) continue;
    const kind = part.slice(0, colon);
    const value = part.slice(colon + 1);
    if (kind === "URI") out.uris.push(value);
    else if (kind === "DNS") out.dnsNames.push(value);
    else if (kind === "IP Address") out.ips.push(value);
  }
  return out;
}

function peerCert(c: PeerCertificate): PeerCert {
  return { subject: commonName(c), ...altNames(c.subjectaltname), fingerprint256: c.fingerprint256, validTo: new Date(c.valid_to) };
}

/** The header a forwarded write carries its client's verified certificate in (`encodePeer`). */
export const PEER_HEADER = "x-ruche-peer-cert";

/** A verified peer as a header value, for a write forwarded to the leader, which was not the one to see its certificate. */
export function encodePeer(p: PeerCert): string {
  return Buffer.from(JSON.stringify(p), "utf8").toString("base64");
}

export function decodePeer(text: string): PeerCert | undefined {
  try {
    const p = JSON.parse(Buffer.from(text, "base64").toString("utf8")) as Omit<PeerCert, "validTo"> & { validTo: string };
    if (typeof p.subject !== "string" || !Array.isArray(p.uris) || !Array.isArray(p.dnsNames) || !Array.isArray(p.ips) || typeof p.fingerprint256 !== "string") return undefined;
    return { ...p, validTo: new Date(p.validTo) };
  } catch {
    return undefined;
  }
}
