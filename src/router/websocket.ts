import type { IncomingMessage } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { forwardHeaders } from "./headers.js";
import { hostOf, lookup } from "./lookup.js";
import { tokenOk, type EntryPointInfo, type ProxyContext } from "./proxy.js";
import { stripPath } from "./rule.js";
import { stuckTo } from "./sticky.js";
import { upgradeThroughMiddlewares } from "./chain.js";
import type { Backend, Route } from "./types.js";

/**
 * Upgrades (WebSocket): the request is routed as any other, sent to a backend over a
 * connection of its own with its Connection and Upgrade headers, and once connected the
 * two sockets are piped both ways. A backend that refuses the connection is replaced by
 * another, as for an idempotent request.
 */
export function proxyUpgrades(ctx: ProxyContext, ep: EntryPointInfo): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const host = req.headers.host ?? "";
    const route = lookup(ctx.table(), ep.name, { host: hostOf(host), path, method: req.method ?? "GET", headers: req.headers, query: q < 0 ? "" : url.slice(q + 1), clientIp: req.socket.remoteAddress ?? "" });
    const refuse = (status: string): void => {
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      ctx.metrics.request(route?.name ?? "", Number(status.slice(0, 3)), 0, 0);
    };
    socket.on("error", () => undefined);
    ctx.upgraded.add(socket);
    socket.once("close", () => ctx.upgraded.delete(socket));
    if (route === null) { refuse("404 Not Found"); return; }
    if (route.unimplemented.length > 0) { refuse("503 Service Unavailable"); return; }
    if (route.token !== null && !tokenOk(req.headers.authorization, route.token)) { refuse("401 Unauthorized"); return; }
    const headers0 = forwardHeaders(req.rawHeaders, undefined, { clientIp: req.socket.remoteAddress ?? "", proto: ep.proto, host, port: ep.port }, true);
    const target0 = route.strip.length === 0 ? url : stripPath(path, route.strip) + (q < 0 ? "" : url.slice(q));
    if (route.middlewares.length > 0) {
      // The route's middlewares see the upgrade request first (auth, allow lists, rate limits, rewrites); what they answer is sent instead.
      const x = { method: req.method ?? "GET", proto: ep.proto, host, port: ep.port, url: target0, clientIp: req.socket.remoteAddress ?? "", headers: headers0, body: null };
      upgradeThroughMiddlewares(ctx, route, x).then(
        (r) => {
          if (r.reply === null) upgrade(x.url, x.headers, route);
          else {
            socket.end(r.reply);
            ctx.metrics.request(route.name, r.status, 0, 0);
          }
        },
        () => {
          refuse("502 Bad Gateway");
        },
      );
      return;
    }
    upgrade(target0, headers0, route);
    function upgrade(target: string, headers: string[], route: Route): void {
    let head0 = `${req.method ?? "GET"} ${target} HTTP/1.1\r\n`;
    for (let i = 0; i + 1 < headers.length; i += 2) head0 += `${headers[i] ?? ""}: ${headers[i + 1] ?? ""}\r\n`;
    head0 += "\r\n";
    const tried = new Set<Backend>();
    const attempt = (): void => {
      // A sticky route's cookie names the backend while it is usable (the upgrade's answer is the backend's, and sets none).
      const b = (tried.size === 0 ? stuckTo(route, req.headers.cookie, (x) => ctx.balancer.usable(x))?.backend : undefined) ?? ctx.balancer.pick(route, tried);
      if (b === null) { refuse(tried.size === 0 ? "503 Service Unavailable" : "502 Bad Gateway"); return; }
      tried.add(b);
      const opts = { host: b.address, port: b.port, lookup: ctx.lookup(b.port) };
      const up: Socket = b.origin.startsWith("https:") ? tlsConnect({ ...opts, servername: b.address }) : netConnect(opts);
      let connected = false;
      up.once(b.origin.startsWith("https:") ? "secureConnect" : "connect", () => {
        connected = true;
        ctx.balancer.succeeded(b.origin);
        ctx.metrics.backend(route.name, b.origin, true);
        ctx.metrics.request(route.name, 101, 0, tried.size - 1);
        up.write(head0);
        if (head.length > 0) up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      up.on("error", () => {
        if (connected) {
          socket.destroy();
          return;
        }
        ctx.metrics.backend(route.name, b.origin, false);
        if (ctx.balancer.failed(b.origin)) ctx.metrics.ejected();
        if (!socket.destroyed) attempt();
      });
      up.on("close", () => socket.destroy());
      socket.on("close", () => up.destroy());
    };
    attempt();
    }
  };
}
