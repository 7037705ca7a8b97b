import { createServer, type Server } from "node:http";
import type { Balancer } from "./balancer.js";
import type { RouterMetrics } from "./metrics.js";
import type { FailoverPolicy, RoutingTable } from "./types.js";
import { errorMessage, type Logger } from "../structs/index.js";
import { traefikApi, traefikOverview, type ApiAnswer } from "./traefik-api.js";

export interface DashboardSource {
  table: () => RoutingTable;
  balancer: Balancer;
  metrics: RouterMetrics;
  entryPoints: () => { name: string; address: string; tls: boolean }[];
  /** Backend names refused when resolved (to Ruche's own, or loopback), and why. */
  refusedNames?: () => { name: string; reason: string }[];
  /** What Traefik's `/api/overview` says of the configuration: its features and providers. */
  features?: { accessLog: boolean; providers: string[] };
}

/** What the dashboard shows, as JSON: routes with their backends, health and rates; what was left out and why. */
export function overview(s: DashboardSource): unknown {
  const t = s.table();
  return {
    index: t.index,
    entryPoints: s.entryPoints(),
    routes: t.routes.map((r) => ({
      name: r.name,
      service: r.service,
      rule: r.rule,
      priority: r.priority,
      entryPoints: r.entryPoints,
      method: r.method,
      tokenRequired: r.token !== null,
      // Not served (503): tags asking for what the router does not implement.
      unimplemented: r.unimplemented,
      // Sticky sessions' cookie and the router's own health check of the backends, when asked.
      sticky: r.sticky,
      healthCheck: r.healthCheck,
      // Its middlewares in the order they apply, as Traefik's API shows them (credentials left out).
      middlewares: r.middlewares.map((m) => ({ name: m.name, type: m.spec.type, config: shown(m.spec) })),
      // Failover to other datacenters, when asked: what, where it is served from now, why it cannot be done.
      failover: r.failover === null ? null : { datacenters: policyText(r.failover.asked), servedFrom: r.failover.servedFrom, note: r.failover.note },
      ratePerSecond: Math.round(s.metrics.rate(r.name) * 10) / 10,
      ...s.metrics.totals(r.name),
      backends: r.backends.map((b) => {
        const h = s.balancer.of(b.origin);
        return { id: b.id, origin: b.origin, ...(b.datacenter === undefined ? {} : { datacenter: b.datacenter }), weight: b.weight, ejected: s.balancer.isEjected(b.origin), healthCheckFailing: s.balancer.isDown(b.origin), inflight: h.inflight, ...s.metrics.backendTotals(r.name, b.origin) };
      }),
    })),
    skipped: t.skipped,
    refusedBackends: s.refusedNames?.() ?? [],
    // The other datacenters failover reads, nearest first, or why there are none.
    datacenters: t.datacenters,
    // Traefik's /api/overview: what the configuration turns on.
    features: { tracing: "", metrics: "Prometheus", accessLog: s.features?.accessLog ?? false },
    providers: s.features?.providers ?? ["ConsulCatalog"],
  };
}

/**
 * A middleware's options as the API shows them: without its type, regular expressions as
 * written, and never a credential — basic auth's users by name only, a header or option
 * naming a secret (authorization, cookie, token, password, key) as `<redacted>`.
 */
function shown(spec: object): unknown {
  const walk = (v: unknown, key: string): unknown => {
    if (v instanceof RegExp) return v.source;
    if (typeof v === "string") return /authorization|cookie|token|secret|password|api-?key/i.test(key) ? "<redacted>" : v;
    if (Array.isArray(v)) return key === "users" ? v.map((u: unknown) => (typeof u === "object" && u !== null && "name" in u ? String(u.name) : "<redacted>")) : v.map((x) => walk(x, key));
    if (typeof v === "object" && v !== null) {
      if (v.constructor !== Object) return {};
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  const { type: _type, ...rest } = spec as { type?: unknown };
  return walk(rest, "");
}

/** A failover policy as written: "nearest", or its datacenters in order. */
function policyText(p: FailoverPolicy): string | string[] {
  switch (p.kind) {
    case "off":
    case "nearest":
      return p.kind;
    case "datacenters":
      return p.datacenters;
    default: {
      const _: never = p;
      return _;
    }
  }
}

export { httpServices } from "./traefik-api.js";

export function prometheus(s: DashboardSource): string {
  const up = s.table().routes.flatMap((r) => r.backends.map((b) => ({ route: r.name, origin: b.origin, up: !s.balancer.isEjected(b.origin) && !s.balancer.isDown(b.origin) })));
  return s.metrics.render(up);
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Ruche router</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}.bad{color:#b00}.ok{color:#070}</style>
</head><body><h1>Ruche router</h1><p id="ix"></p><p id="dcs"></p><h2>Routes</h2><table id="routes"></table><h2>Left out</h2><table id="skipped"></table>
<script>
const fo = (r) => !r.failover ? "" : r.failover.note ? '<br><span class="bad">failover (' + esc(r.failover.datacenters) + ") not done: " + esc(r.failover.note) + "</span>" : r.failover.servedFrom ? '<br><span class="bad">no local instance passes: served from datacenter ' + esc(r.failover.servedFrom) + "</span>" : "<br>failover: " + esc(r.failover.datacenters);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
async function tick() {
  const o = await (await fetch("api/overview")).json();
  document.getElementById("ix").textContent = "Catalog index " + o.index + " · entrypoints " + o.entryPoints.map((e) => e.name + " " + e.address).join(", ");
  document.getElementById("routes").innerHTML = "<tr><th>Route</th><th>Rule</th><th>Service</th><th>Req/s</th><th>Requests</th><th>5xx</th><th>Backends</th></tr>" +
    o.routes.map((r) => "<tr><td>" + esc(r.name) + "</td><td>" + esc(r.rule) + "</td><td>" + esc(r.service) + "</td><td>" + r.ratePerSecond + "</td><td>" + r.requests + "</td><td>" + r.errors + "</td><td>" +
      (r.unimplemented.length > 0 ? '<span class="bad">not served (503): ' + esc(r.unimplemented.join("; ")) + "</span>" : r.backends.length === 0 ? '<span class="bad">none passing</span>' : r.backends.map((b) => '<span class="' + (b.ejected ? "bad" : "ok") + '">' + esc(b.origin) + (b.datacenter ? " [" + esc(b.datacenter) + "]" : "") + (b.weight !== 1 ? " w" + b.weight : "") + (b.ejected ? " (ejected)" : "") + "</span>").join("<br>")) + fo(r) + "</td></tr>").join("");
  document.getElementById("dcs").textContent = o.datacenters.unavailable ? "" : "Other datacenters (nearest first): " + o.datacenters.list.map((d) => d.name + (d.error ? " (" + d.error + ")" : d.index === null ? " (not read yet)" : "")).join(", ");
  document.getElementById("skipped").innerHTML = "<tr><th>Service</th><th>Instance</th><th>Reason</th></tr>" + o.skipped.map((s) => "<tr><td>" + esc(s.service) + "</td><td>" + esc(s.instance ?? "") + '</td><td class="' + (s.refused ? "bad" : "") + '">' + esc(s.reason) + "</td></tr>").join("") +
    o.refusedBackends.map((b) => '<tr><td></td><td>' + esc(b.name) + '</td><td class="bad">' + esc(b.reason) + "</td></tr>").join("");
}
tick(); setInterval(tick, 2000);
</script></body></html>
`;

/** What the dashboard serves: one process's view, or the sum of the workers'. */
export interface DashboardView {
  overview(): unknown;
  prometheus(): Promise<string> | string;
}

/**
 * The router's read-only dashboard on its own port (127.0.0.1 by default): `/` a page of
 * routes, backends, health and request rates; `/api/overview` the same as JSON, with Traefik's
 * sections beside; Traefik's API (`/api/rawdata`, `/api/http/routers|services|middlewares`,
 * `/api/entrypoints`, `/api/version`: see `traefik-api.ts`); `/metrics` Prometheus; `/ping`.
 * Only GET and HEAD.
 */
export function dashboardServer(view: DashboardView, log: Logger): Server {
  return createServer((req, res) => {
    answer(view, req.method ?? "GET", req.url ?? "/").then(
      (a) => {
        res.writeHead(a.status, { "content-type": a.type, ...(a.status === 405 ? { allow: "GET, HEAD" } : {}), ...a.headers }).end(a.body);
      },
      (err: unknown) => {
        log.error({ err, method: req.method, route: req.url }, "router dashboard: request failed");
        res.writeHead(500, { "content-type": "text/plain" }).end(`500 ${errorMessage(err)}\n`);
      },
    );
  });
}

async function answer(view: DashboardView, method: string, url: string): Promise<ApiAnswer> {
  if (method !== "GET" && method !== "HEAD") return { status: 405, type: "text/plain", body: "405 Method Not Allowed: the dashboard is read-only\n" };
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  if (path === "/" || path === "/dashboard/") return { status: 200, type: "text/html; charset=utf-8", body: PAGE };
  // Ruche's own overview, with Traefik's sections beside its keys.
  if (path === "/api/overview") return { status: 200, type: "application/json", body: JSON.stringify(traefikOverview(await view.overview())) };
  if (path === "/metrics") return { status: 200, type: "text/plain; version=0.0.4", body: await view.prometheus() };
  if (path === "/ping") return { status: 200, type: "text/plain", body: "OK" };
  if (path.startsWith("/api/")) {
    const a = traefikApi(path, new URLSearchParams(q < 0 ? "" : url.slice(q + 1)), await view.overview());
    if (a !== null) return a;
  }
  return { status: 404, type: "text/plain", body: "404 page not found\n" };
}
