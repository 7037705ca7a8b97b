import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { ErrorCode, RucheError, WS_GUID, WsConnection } from "../structs/index.js";
import type { Request } from "./http.js";

/**
 * Takes a WebSocket upgrade request over (RFC 6455's handshake, version 13): answers 101
 * on its socket and returns the connection. A request that is not one is refused with 400
 * (as an HTTP answer: nothing was switched yet).
 */
export function acceptWebSocket(req: Request): WsConnection {
  const up = req.upgrade;
  const key = req.headers["sec-websocket-key"];
  if (up === undefined || req.headers.upgrade?.toLowerCase() !== "websocket") {
    throw new RucheError(ErrorCode.BadRequest, `${req.path} is served over a WebSocket: send the request with "Connection: Upgrade" and "Upgrade: websocket"`);
  }
  if (typeof key !== "string" || Buffer.from(key, "base64").length !== 16) throw new RucheError(ErrorCode.BadRequest, "Sec-WebSocket-Key must be 16 bytes in base64", { path: "Sec-WebSocket-Key" });
  if (req.headers["sec-websocket-version"] !== "13") throw new RucheError(ErrorCode.BadRequest, "Sec-WebSocket-Version must be 13", { path: "Sec-WebSocket-Version" });
  const accept = createHash("sha1").update(key + WS_GUID).digest("base64");
  up.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  return new WsConnection(up.socket, "server", up.head);
}

/** The close code Nomad's agent ends a WebSocket with for an error of this HTTP status: 1011 for a 500, 4000 + the status otherwise. */
export function wsCloseCode(status: number): number {
  return status >= 500 && status < 600 && status !== 501 ? 1011 : 4000 + status;
}

/**
 * Joins a client's upgrade to the WebSocket another server (a node's agent, another region's
 * server) opened for it: that server's 101 answered to the client (its accept key, its
 * protocol), the bytes read past the client's headers sent on, then bytes both ways until
 * either side closes.
 */
export function spliceWebSocket(client: { socket: Duplex; head: Buffer }, up: { headers: Record<string, string | string[] | undefined>; socket: Duplex }): void {
  const accept = up.headers["sec-websocket-accept"];
  const protocol = up.headers["sec-websocket-protocol"];
  client.socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${typeof accept === "string" ? accept : ""}\r\n${typeof protocol === "string" ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ""}\r\n`,
  );
  if (client.head.length > 0) up.socket.write(client.head);
  up.socket.pipe(client.socket);
  client.socket.pipe(up.socket);
  up.socket.on("error", () => client.socket.destroy());
  up.socket.on("close", () => client.socket.destroy());
  client.socket.on("close", () => up.socket.destroy());
}
