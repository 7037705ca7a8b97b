import { randomBytes, createHash } from "node:crypto";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { ErrorCode, WS_GUID, WsConnection, type DialTls } from "../structs/index.js";
import { ApiError } from "./index.js";

/**
 * Opens a WebSocket (RFC 6455) to `url` (`http:` or `https:`, then with `tls`'s CA and client
 * certificate): the upgrade request, the server's `Sec-WebSocket-Accept` checked. A server that
 * answers anything but 101 is an `ApiError` with its status and message.
 */
export function openWebSocket(url: URL, headers: Record<string, string>, tls?: DialTls, signal?: AbortSignal): Promise<WsConnection> {
  const key = randomBytes(16).toString("base64");
  const expected = createHash("sha1").update(key + WS_GUID).digest("base64");
  const names = tls?.serverName === undefined ? [] : typeof tls.serverName === "string" ? [tls.serverName] : tls.serverName;
  const secure = url.protocol === "https:";
  const opts = {
    method: "GET",
    headers: { ...headers, connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": key, "sec-websocket-version": "13" },
    ...(signal === undefined ? {} : { signal }),
    ...(secure && tls !== undefined
      ? {
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
          ...(names[0] === undefined ? {} : { servername: names[0] }),
          ...(tls.verifyHostname === false ? { checkServerIdentity: () => undefined } : {}),
        }
      : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(url, opts);
    req.once("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (res.headers["sec-websocket-accept"] !== expected) {
        socket.destroy();
        reject(new ApiError(502, ErrorCode.BadGateway, `${url.host} answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept`));
        return;
      }
      socket.setNoDelay(true);
      resolve(new WsConnection(socket, "client", head, () => randomBytes(4)));
    });
    req.once("response", (res: IncomingMessage) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.once("end", () => {
        let e: { code?: string; message?: string; path?: string } | undefined;
        try {
          e = (JSON.parse(text) as { error?: typeof e }).error;
        } catch {
          e = undefined;
        }
        reject(new ApiError(res.statusCode ?? 0, e?.code ?? `HTTP_${res.statusCode ?? 0}`, e?.message ?? (text.trim() || `${res.statusCode ?? 0} ${res.statusMessage ?? ""}`), e?.path));
      });
    });
    req.once("error", (err) => {
      reject(new ApiError(0, ErrorCode.Unreachable, `cannot reach the Ruche API at ${url.host}: ${err.message}`));
    });
    req.end();
  });
}
