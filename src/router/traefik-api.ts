/**
 * Traefik v2's API (`/api/rawdata`, `/api/overview`, `/api/http/routers|services|middlewares`,
 * `/api/entrypoints`, `/api/version`) in its shapes, read from the router's overview (one
 * process's, or the workers' summed), so that tools and dashboards built for Traefik read
 * Ruche's router. Names carry their provider as Traefik's do: `NAME@consulcatalog` for what
 * the catalog's tags define, `NAME@consul` for what the KV provider reads. Pure.
 */

type Obj = Record<string, unknown>;

/** What an API route answers: its status, body and headers. */
export interface ApiAnswer {
  status: number;
  type: string;
  body: string;
  headers?: Record<string, string>;
}

/** The version `/api/version` gives: Traefik v2's API, served by Ruche. */
export const TRAEFIK_API_VERSION = "2.11.0+ruche";

const STARTED = new Date().toISOString();

/** A service's provider: the KV provider's services are named `S@consul`, the catalog's bare. */
function providerOf(service: string): { provider: string; local: string } {
  const at = service.lastIndexOf("@");
  return at < 0 ? { provider: "consulcatalog", local: service } : { provider: service.slice(at + 1), local: service.slice(0, at) };
}

function routesOf(overviewJson: unknown): Obj[] {
  const routes = (overviewJson as Obj | null)?.routes;
  return Array.isArray(routes) ? (routes as Obj[]) : [];
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** A route's middlewares by name (the names its tags list), where the overview carries them. */
function middlewareNames(r: Obj): string[] {
  const m = r.middlewares;
  if (!Array.isArray(m)) return [];
  return m.flatMap((x) => (typeof x === "string" ? [x] : typeof x === "object" && x !== null && typeof (x as Obj).name === "string" ? [(x as Obj).name as string] : []));
}

/** Traefik's runtime routers, by qualified name (`web@consulcatalog`). */
export function httpRouters(overviewJson: unknown): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const r of routesOf(overviewJson)) {
    const { provider, local } = providerOf(String(r.service));
    const name = `${String(r.name)}@${provider}`;
    if (out.has(name)) continue;
    const errors = strings(r.unimplemented);
    const mws = middlewareNames(r);
    const entryPoints = strings(r.entryPoints);
    out.set(name, {
      entryPoints,
      ...(mws.length > 0 ? { middlewares: mws } : {}),
      service: local,
      rule: r.rule,
      ...(typeof r.priority === "number" ? { priority: r.priority } : {}),
      ...(errors.length > 0 ? { error: errors } : {}),
      status: errors.length > 0 ? "disabled" : "enabled",
      using: entryPoints,
    });
  }
  return out;
}

/**
 * Traefik's `GET /api/http/services`, read from the overview: one load balancer per service
 * (`NAME@consulcatalog`, `NAME@consul`), its servers and their status, the routers that use it
 * — and Ruche's own `failover` (what is asked, the datacenter it is served from, why it
 * cannot fail over) and each server's `datacenter` when it is another's.
 */
export function httpServices(overviewJson: unknown): Obj[] {
  const byService = new Map<string, Obj[]>();
  for (const r of routesOf(overviewJson)) byService.set(String(r.service), [...(byService.get(String(r.service)) ?? []), r]);
  return [...byService].map(([service, rs]) => {
    const { provider, local } = providerOf(service);
    const servers = new Map<string, Obj>();
    const status: Record<string, string> = {};
    for (const r of rs) {
      for (const b of (r.backends ?? []) as Obj[]) {
        const url = String(b.origin);
        servers.set(url, { url, ...(typeof b.datacenter === "string" ? { datacenter: b.datacenter } : {}) });
        status[url] = (b.ejected === true || b.healthCheckFailing === true) && status[url] !== "UP" ? "DOWN" : "UP";
      }
    }
    const failover = rs.find((r) => r.failover !== null && r.failover !== undefined)?.failover ?? null;
    const served = servers.size > 0 && rs.every((r) => strings(r.unimplemented).length === 0);
    return {
      loadBalancer: { servers: [...servers.values()], passHostHeader: true },
      status: served ? "enabled" : "disabled",
      usedBy: [...new Set(rs.map((r) => `${String(r.name)}@${provider}`))],
      serverStatus: status,
      name: `${local}@${provider}`,
      provider,
      type: "loadbalancer",
      failover,
    };
  });
}

/**
 * Traefik's middlewares, by qualified name, where the overview carries the routes' middlewares
 * (`{ name, type, config }` or their names): each with its type, its configuration under the
 * type's key as Traefik shows it, and the routers that use it.
 */
export function httpMiddlewares(overviewJson: unknown): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const r of routesOf(overviewJson)) {
    const { provider } = providerOf(String(r.service));
    const router = `${String(r.name)}@${provider}`;
    const list = Array.isArray(r.middlewares) ? (r.middlewares as unknown[]) : [];
    for (const m of list) {
      const o: Obj = typeof m === "string" ? { name: m } : typeof m === "object" && m !== null ? (m as Obj) : {};
      if (typeof o.name !== "string") continue;
      const name = o.name.includes("@") ? o.name : `${o.name}@${provider}`;
      const prev = out.get(name);
      if (prev !== undefined) {
        prev.usedBy = [...new Set([...strings(prev.usedBy), router])];
        continue;
      }
      const type = typeof o.type === "string" ? o.type : "";
      out.set(name, { ...(type !== "" ? { [type]: o.config ?? {} } : {}), ...(typeof o.error === "string" ? { error: [o.error] } : {}), status: typeof o.error === "string" ? "disabled" : "enabled", usedBy: [router], name, provider: providerOf(name).provider, type: type.toLowerCase() });
    }
  }
  return out;
}

/** Traefik's entrypoints: name and address, and `http.tls` for those serving TLS. */
export function entryPointsOf(overviewJson: unknown): Obj[] {
  const eps = (overviewJson as Obj | null)?.entryPoints;
  return (Array.isArray(eps) ? (eps as Obj[]) : []).map((e) => ({ address: e.address, ...(e.tls === true ? { http: { tls: {} } } : {}), name: e.name })).sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

function section(items: Obj[]): { total: number; warnings: number; errors: number } {
  return { total: items.length, warnings: items.filter((i) => i.status === "warning").length, errors: items.filter((i) => i.status === "disabled").length };
}

/** Traefik's `/api/overview` sections (`http`, `tcp`, `udp`, `features`, `providers`), beside Ruche's own keys. */
export function traefikOverview(overviewJson: unknown): Obj {
  const o = (overviewJson ?? {}) as Obj;
  const zero = { total: 0, warnings: 0, errors: 0 };
  return {
    ...o,
    http: { routers: section([...httpRouters(o).values()]), services: section(httpServices(o)), middlewares: section([...httpMiddlewares(o).values()]) },
    tcp: { routers: zero, services: zero, middlewares: zero },
    udp: { routers: zero, services: zero },
    features: o.features ?? { tracing: "", metrics: "Prometheus", accessLog: false },
    providers: o.providers ?? ["ConsulCatalog"],
  };
}

/** Traefik's `/api/rawdata`: routers, middlewares and services by qualified name. */
export function rawData(overviewJson: unknown): Obj {
  const strip = (o: Obj): Obj => {
    const { name: _n, provider: _p, type: _t, failover: _f, ...rest } = o;
    return rest;
  };
  const mws = httpMiddlewares(overviewJson);
  return {
    routers: Object.fromEntries(httpRouters(overviewJson)),
    ...(mws.size > 0 ? { middlewares: Object.fromEntries([...mws].map(([k, v]) => [k, strip(v)])) } : {}),
    services: Object.fromEntries(httpServices(overviewJson).map((s) => [String(s.name), strip(s)])),
  };
}

function json(status: number, body: unknown, headers?: Record<string, string>): ApiAnswer {
  return { status, type: "application/json", body: `${JSON.stringify(body)}\n`, ...(headers === undefined ? {} : { headers }) };
}

/** Traefik's errors: `{"message": ...}` as text, with its status. */
function failure(status: number, message: string): ApiAnswer {
  return { status, type: "text/plain; charset=utf-8", body: `${JSON.stringify({ message })}\n` };
}

/** A list, filtered (`search`, `status`, `serviceName`, `middlewareName`), sorted (`sortBy`, `direction`) and paged (`page`, `per_page`, `X-Next-Page`) as Traefik's API does. */
function listed(items: Obj[], query: URLSearchParams, searchIn: (i: Obj) => string[]): ApiAnswer {
  const search = (query.get("search") ?? "").toLowerCase();
  const status = query.get("status") ?? "";
  const serviceName = query.get("serviceName") ?? "";
  const middlewareName = query.get("middlewareName") ?? "";
  let kept = items.filter(
    (i) =>
      (status === "" || String(i.status).toLowerCase() === status.toLowerCase()) &&
      (search === "" || searchIn(i).some((v) => v.toLowerCase().includes(search))) &&
      (serviceName === "" || (serviceName.includes("@") ? `${String(i.service)}@${String(i.provider)}` === serviceName || i.service === serviceName : i.service === serviceName)) &&
      (middlewareName === "" || strings(i.middlewares).includes(middlewareName)),
  );
  const sortBy = query.get("sortBy") ?? "name";
  const dir = query.get("direction") === "desc" ? -1 : 1;
  const field = (o: Obj): string => {
    const v = o[sortBy];
    return typeof v === "string" || typeof v === "number" ? String(v) : JSON.stringify(v ?? "");
  };
  kept = kept.sort((a, b) => dir * field(a).localeCompare(field(b)) || String(a.name).localeCompare(String(b.name)));
  const int = (k: string, d: number): number | null => {
    const raw = query.get(k);
    if (raw === null || raw === "") return d;
    const n = Number(raw);
    return Number.isInteger(n) && n > 0 ? n : null;
  };
  const perPage = int("per_page", 100);
  const page = int("page", 1);
  if (perPage === null) return failure(400, `invalid request: per_page: ${query.get("per_page") ?? ""}`);
  if (page === null) return failure(400, `invalid request: page: ${query.get("page") ?? ""}`);
  const start = (page - 1) * perPage;
  if (start !== 0 && start >= kept.length) return failure(400, `invalid request: page: ${page}, per_page: ${perPage}`);
  const next = page * perPage < kept.length ? page + 1 : 1;
  return json(200, kept.slice(start, start + perPage), { "X-Next-Page": String(next) });
}

/** Traefik's API routes, or null when the path is none of them. */
export function traefikApi(path: string, query: URLSearchParams, overviewJson: unknown): ApiAnswer | null {
  const one = (kind: string, prefix: string, all: Map<string, Obj>): ApiAnswer | null => {
    if (!path.startsWith(prefix)) return null;
    let id: string;
    try {
      id = decodeURIComponent(path.slice(prefix.length));
    } catch {
      return failure(400, `unable to decode ${kind}ID "${path.slice(prefix.length)}"`);
    }
    const found = all.get(id);
    return found === undefined ? failure(404, `${kind} not found: ${id}`) : json(200, found);
  };
  const routers = (): Map<string, Obj> => new Map([...httpRouters(overviewJson)].map(([name, r]) => [name, { ...r, name, provider: providerOf(name).provider }]));
  const services = (): Map<string, Obj> => new Map(httpServices(overviewJson).map((s) => [String(s.name), s]));
  const entryPoints = (): Map<string, Obj> => new Map(entryPointsOf(overviewJson).map((e) => [String(e.name), e]));
  switch (path) {
    case "/api/rawdata":
      return json(200, rawData(overviewJson));
    case "/api/version":
      return json(200, { Version: TRAEFIK_API_VERSION, Codename: "ruche", startDate: STARTED });
    case "/api/http/routers":
      return listed([...routers().values()], query, (r) => [String(r.rule), String(r.name)]);
    case "/api/http/services":
      return listed([...services().values()], query, (s) => [String(s.name)]);
    case "/api/http/middlewares":
      return listed([...httpMiddlewares(overviewJson).values()], query, (m) => [String(m.name)]);
    case "/api/entrypoints":
      return listed([...entryPoints().values()], query, (e) => [String(e.name)]);
    case "/api/tcp/routers":
    case "/api/tcp/services":
    case "/api/tcp/middlewares":
    case "/api/udp/routers":
    case "/api/udp/services":
      // The router has no TCP or UDP routers.
      return listed([], query, () => []);
    default:
      return one("router", "/api/http/routers/", routers()) ?? one("service", "/api/http/services/", services()) ?? one("middleware", "/api/http/middlewares/", httpMiddlewares(overviewJson)) ?? one("entry point", "/api/entrypoints/", entryPoints());
  }
}
