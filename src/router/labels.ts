import { createHash } from "node:crypto";
import { definitions, resolveMiddlewares, v1Middlewares, V1_TAGS, type Definition, type Middleware } from "./middlewares/index.js";
import type { RuleSyntax } from "./rule.js";
import type { ActiveCheck, FailoverPolicy, LbMethod, StickyCookie } from "./types.js";

/**
 * What one instance's tags ask of the router, read from `PREFIX.key=value` tags in both
 * forms users write: `traefik.frontend.rule=Host:a.com`, `traefik.weight=10`,
 * `traefik.backend.loadbalancer.method=drr`, and
 * ``traefik.http.routers.NAME.rule=Host(`a.com`)``, `...services.NAME.loadbalancer.server.port`.
 */
export interface InstanceLabels {
  /** `enable=true|false`; undefined when not said. */
  enable: boolean | undefined;
  /** The tags constraints are tested on: the tags themselves and each value of `PREFIX.tags=a,b`. */
  constraintTags: string[];
  routers: RouterSpec[];
  /** The instance's weight in its routes; undefined when no tag says (the catalog's `Weights`, else 1). */
  weight: number | undefined;
  /** `PREFIX.ruche.failover=nearest|off|DC,DC`, Ruche's own: its routes' failover to other datacenters; undefined when not said. */
  failover: FailoverPolicy | undefined;
}

export interface RouterSpec {
  /** Empty for the service's own router (the older frontend rule, or the default rule). */
  name: string;
  /** undefined: the default rule. */
  rule: string | undefined;
  /** How its rule's matchers read their arguments (`ruleSyntax=v2|v3`); `auto` when not said. */
  ruleSyntax: RuleSyntax;
  /** undefined: the default entrypoints. */
  entryPoints: string[] | undefined;
  priority: number | undefined;
  method: LbMethod;
  port: number | undefined;
  scheme: "http" | "https";
  /** `tls=true`: served on TLS entrypoints only. */
  tls: boolean;
  /** Its tags (and the instance's) that ask for what the router does not implement, each with what it is. */
  unimplemented: string[];
  /** Sticky sessions (its service's `loadbalancer.sticky.cookie*`, the older `backend.loadbalancer.stickiness*`); a name of "" is the route's default. */
  sticky: StickyCookie | null;
  /** Its service's active health check (`loadbalancer.healthcheck.*`, the older `backend.healthcheck.*`), or null. */
  healthCheck: ActiveCheck | null;
  /** Its middlewares in the order they apply (a router's `middlewares` tag, a frontend's own tags); what keeps one from working is in `unimplemented`. */
  middlewares: Middleware[];
}

/** What reading middlewares needs beside an instance's tags: the router's entrypoints (a v1 redirect names one), other providers' definitions (`name@provider`). */
export interface MiddlewareContext {
  entryPoints: readonly { name: string; tls: boolean; port: number }[];
  definitions: ReadonlyMap<string, Definition>;
}

/** The tags the router reads (after the prefix); any other asks for what it does not implement. */
const READ: readonly RegExp[] = [
  /^(enable|tags|weight|port|protocol|backend|backend\.loadbalancer|backend\.loadbalancer\.method)$/,
  /^backend\.loadbalancer\.(stickiness|sticky|stickiness\.cookieName)$/i,
  /^backend\.healthcheck\.(path|interval|timeout|port|scheme|hostname)$/i,
  /^ruche\.failover$/,
  /^frontend\.(rule|entryPoints|entrypoints|priority)$/,
  /^frontends\.[^.]+\.(rule|entryPoints|entrypoints|priority)$/,
  /^http\.routers\.[^.]+\.(rule|entryPoints|entrypoints|priority|service|tls|middlewares)$/,
  /^http\.routers\.[^.]+\.ruleSyntax$/i,
  // The older frontends' middlewares (basic auth, white list, redirect, headers, rate limits): middlewares/v1.ts.
  new RegExp(`^(frontend|frontends\\.[^.]+)\\.(?:${V1_TAGS.source.slice(1, -1)})$`, "i"),
  /^http\.services\.[^.]+\.loadbalancer\.(server\.port|server\.scheme|server\.weight|strategy)$/,
  /^http\.services\.[^.]+\.loadbalancer\.sticky\.cookie(\.(name|secure|httponly|samesite|maxage|path|domain))?$/i,
  /^http\.services\.[^.]+\.loadbalancer\.healthcheck\.(path|interval|unhealthyinterval|timeout|port|scheme|hostname|method|status|followredirects|headers\.[^.]+)$/i,
  // Definitions act only through a router's `middlewares` tag (middlewares/index.ts).
  /^http\.middlewares\./,
];

/** Tags whose value asks for what the router does anyway. */
function asDone(key: string, value: string): boolean {
  const v = value.toLowerCase();
  return (
    (v === "true" && /^(frontend|frontends\.[^.]+)\.passHostHeader$/i.test(key)) ||
    (v === "true" && /^http\.services\.[^.]+\.loadbalancer\.passhostheader$/i.test(key)) ||
    // The health check's mode: HTTP is the one there is (gRPC's is not implemented).
    (v === "http" && /^http\.services\.[^.]+\.loadbalancer\.healthcheck\.mode$/i.test(key))
  );
}

/** What an unread tag asks for, as the dashboard and the 503 show it (values only where they hold no secret). */
function describe(prefix: string, key: string, value: string, labels: ReadonlyMap<string, string>): string {
  const tag = `${prefix}.${key}`;
  if (/\.middlewares$/.test(key)) {
    // Each middleware named with its type, where this instance's tags define it.
    const named = value.split(",").map((m) => {
      const name = m.trim().replace(/@.*$/, "");
      const def = [...labels.keys()].find((k) => k.startsWith(`http.middlewares.${name}.`));
      return def === undefined ? m.trim() : `${m.trim()}: ${def.split(".")[3] ?? "?"}`;
    });
    return `${tag}=${value} (middlewares are not implemented: ${named.join(", ")})`;
  }
  if (/\.tls\./.test(key)) return `${tag}=${value} (TLS options, certificate resolvers and domains are not implemented)`;
  if (/^(tcp|udp)\./.test(key)) return `${tag} (TCP and UDP routers are not implemented)`;
  return `${tag} (not implemented)`;
}

const METHODS: Record<string, LbMethod> = {
  wrr: "wrr",
  // The dynamic round robin users name adapts to how busy backends are: least request does that.
  drr: "p2c",
  p2c: "p2c",
};

/** The names a datacenter may have (Consul's: letters, digits, `-`, `_`). */
const DC_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * A failover policy as users write it (the `ruche.failover` tag, the configuration's
 * `failover`): `off`, `nearest`, or datacenters in the order they are tried (`us-west-2,asia`).
 */
export function parseFailover(value: string): FailoverPolicy | { reason: string } {
  const v = value.trim();
  if (v === "off" || v === "false") return { kind: "off" };
  if (v === "nearest") return { kind: "nearest" };
  const list = v.split(",").map((x) => x.trim());
  const bad = list.find((x) => !DC_NAME.test(x));
  if (bad !== undefined) return { reason: `must be off, nearest, or datacenter names separated by commas ("${bad}" is not a datacenter name)` };
  return { kind: "datacenters", datacenters: [...new Set(list)] };
}

/** Reads an instance's labels; a malformed one gives a reason instead. */
export function readLabels(tags: readonly string[], prefix: string, mw: MiddlewareContext = { entryPoints: [], definitions: new Map() }): InstanceLabels | { reason: string } {
  const labels = new Map<string, string>();
  const p = `${prefix}.`;
  for (const t of tags) {
    if (!t.startsWith(p)) continue;
    const eq = t.indexOf("=");
    if (eq < 0) continue;
    labels.set(t.slice(p.length, eq).trim(), t.slice(eq + 1).trim());
  }
  // What is asked that the router does not do, by the route it concerns ("" for all of the instance's).
  const unread = new Map<string, string[]>();
  for (const [key, value] of labels) {
    if (READ.some((r) => r.test(key)) || asDone(key, value)) continue;
    const scope = /^(http\.routers\.[^.]+|frontends\.[^.]+|frontend)\./.exec(key)?.[1] ?? "";
    unread.set(scope, [...(unread.get(scope) ?? []), describe(prefix, key, value, labels)]);
  }
  const bad = (key: string, what: string): { reason: string } => ({ reason: `tag ${prefix}.${key}=${labels.get(key) ?? ""}: ${what}` });

  let enable: boolean | undefined;
  const en = labels.get("enable");
  if (en !== undefined) {
    if (en !== "true" && en !== "false") return bad("enable", "must be true or false");
    enable = en === "true";
  }
  let failover: FailoverPolicy | undefined;
  const fo = labels.get("ruche.failover");
  if (fo !== undefined) {
    const f = parseFailover(fo);
    if ("reason" in f) return bad("ruche.failover", f.reason);
    failover = f;
  }
  const constraintTags = [...tags];
  for (const v of (labels.get("tags") ?? "").split(",")) if (v.trim() !== "") constraintTags.push(v.trim());

  const int = (key: string, min: number, max: number): number | undefined | { reason: string } => {
    const v = labels.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    return Number.isInteger(n) && n >= min && n <= max && v !== "" ? n : bad(key, `must be a whole number from ${min} to ${max}`);
  };
  const list = (key: string): string[] | undefined => {
    const v = labels.get(key);
    return v === undefined ? undefined : v.split(",").map((x) => x.trim()).filter((x) => x !== "");
  };
  const method = (key: string): LbMethod | undefined | { reason: string } => {
    const v = labels.get(key);
    if (v === undefined) return undefined;
    return METHODS[v.toLowerCase()] ?? bad(key, "must be wrr, drr or p2c");
  };
  const scheme = (key: string): "http" | "https" | undefined | { reason: string } => {
    const v = labels.get(key);
    if (v === undefined) return undefined;
    return v === "http" || v === "https" ? v : bad(key, "must be http or https");
  };

  // Weight: the older `weight`, or the server weight of the current form.
  let weight: number | undefined;
  for (const key of ["weight", ...[...labels.keys()].filter((k) => /^http\.services\.[^.]+\.loadbalancer\.server\.weight$/.test(k))]) {
    const w = int(key, 0, 1_000_000);
    if (typeof w === "object") return w;
    if (w !== undefined) weight = w;
  }

  /** A tag's value by its key in any case, as Traefik reads them (`httpOnly`, `httponly`): the key as written, and the value. */
  const ci = (key: string): [string, string] | undefined => {
    const v = labels.get(key);
    if (v !== undefined) return [key, v];
    const k = key.toLowerCase();
    for (const [name, value] of labels) if (name.toLowerCase() === k) return [name, value];
    return undefined;
  };
  const sticky = (base: string, v1: boolean): StickyCookie | null | { reason: string } => readSticky(base, v1, ci, prefix);
  const check = (base: string): ActiveCheck | null | { reason: string } => readCheck(base, labels, ci, prefix);

  // The older form: one service-wide backend and frontend(s).
  // `backend.loadbalancer=drr`: the method as the value of the key itself.
  const oldMethod = method("backend.loadbalancer.method") ?? method("backend.loadbalancer");
  if (typeof oldMethod === "object") return oldMethod;
  const oldSticky = sticky("backend.loadbalancer", true);
  if (oldSticky !== null && "reason" in oldSticky) return oldSticky;
  const oldCheck = check("backend.healthcheck");
  if (oldCheck !== null && "reason" in oldCheck) return oldCheck;
  const oldPort = int("port", 1, 65535);
  if (typeof oldPort === "object") return oldPort;
  const oldScheme = scheme("protocol");
  if (typeof oldScheme === "object") return oldScheme;

  // The current form's services: port, scheme and strategy by service name.
  const services = new Map<string, { port: number | undefined; scheme: "http" | "https" | undefined; method: LbMethod | undefined; sticky: StickyCookie | null; healthCheck: ActiveCheck | null }>();
  for (const key of labels.keys()) {
    const m = /^http\.services\.([^.]+)\./.exec(key);
    if (m === null) continue;
    const name = m[1] as string;
    if (services.has(name)) continue;
    const port = int(`http.services.${name}.loadbalancer.server.port`, 1, 65535);
    if (typeof port === "object") return port;
    const sch = scheme(`http.services.${name}.loadbalancer.server.scheme`);
    if (typeof sch === "object") return sch;
    const strat = method(`http.services.${name}.loadbalancer.strategy`);
    if (typeof strat === "object") return strat;
    const st = sticky(`http.services.${name}.loadbalancer`, false);
    if (st !== null && "reason" in st) return st;
    const hc = check(`http.services.${name}.loadbalancer.healthcheck`);
    if (hc !== null && "reason" in hc) return hc;
    services.set(name, { port, scheme: sch, method: strat, sticky: st === null ? null : { ...st, name: st.name === "" ? cookieName(`${name}@consulcatalog`) : st.name }, healthCheck: hc });
  }

  const defs = definitions(labels, prefix);
  const routers: RouterSpec[] = [];
  /** The tag bases (`http.routers.NAME`, `frontends.NAME`, `frontend`) a route was built from. */
  const built = new Set<string>();
  const add = (name: string, base: string, rule: string | undefined, serviceName: string | undefined): { reason: string } | undefined => {
    const priority = int(`${base}.priority`, 0, 1_000_000);
    if (typeof priority === "object") return priority;
    let svc = serviceName === undefined ? undefined : services.get(serviceName);
    if (serviceName !== undefined && svc === undefined && services.size > 0) return bad(`${base}.service`, `no ${prefix}.http.services.${serviceName}.* tag defines that service`);
    if (serviceName === undefined && services.size === 1) svc = [...services.values()][0];
    const tls = labels.get(`${base}.tls`);
    if (tls !== undefined && tls !== "true" && tls !== "false") return bad(`${base}.tls`, "must be true or false");
    const syntax = ci(`${base}.ruleSyntax`);
    if (syntax !== undefined && syntax[1] !== "v2" && syntax[1] !== "v3") return { reason: `tag ${prefix}.${syntax[0]}=${syntax[1]}: must be v2 or v3` };
    built.add(base);
    const mws = base.startsWith("http.routers.")
      ? resolveMiddlewares(labels.get(`${base}.middlewares`) ?? "", `${prefix}.${base}.middlewares`, defs, mw.definitions)
      : v1Middlewares(labels, base, prefix, mw.entryPoints);
    routers.push({
      tls: tls === "true",
      unimplemented: [...(unread.get(base) ?? []), ...mws.problems],
      name,
      rule,
      ruleSyntax: syntax === undefined ? "auto" : (syntax[1] as "v2" | "v3"),
      entryPoints: list(`${base}.entrypoints`) ?? list(`${base}.entryPoints`),
      priority,
      method: svc?.method ?? oldMethod ?? "wrr",
      port: svc?.port ?? oldPort,
      scheme: svc?.scheme ?? oldScheme ?? "http",
      sticky: svc?.sticky ?? oldSticky,
      healthCheck: svc?.healthCheck ?? oldCheck,
      middlewares: mws.middlewares,
    });
    return undefined;
  };

  const v2Names = new Set<string>();
  for (const key of labels.keys()) {
    const m = /^http\.routers\.([^.]+)\./.exec(key);
    if (m !== null) v2Names.add(m[1] as string);
  }
  for (const name of [...v2Names].sort()) {
    const base = `http.routers.${name}`;
    const err = add(name, base, labels.get(`${base}.rule`), labels.get(`${base}.service`));
    if (err !== undefined) return err;
  }
  const frontends = new Set<string>();
  for (const key of labels.keys()) {
    const m = /^frontends\.([^.]+)\./.exec(key);
    if (m !== null) frontends.add(m[1] as string);
  }
  for (const name of [...frontends].sort()) {
    const base = `frontends.${name}`;
    const err = add(name, base, labels.get(`${base}.rule`), undefined);
    if (err !== undefined) return err;
  }
  if (routers.length === 0 || labels.has("frontend.rule")) {
    const err = add("", "frontend", labels.get("frontend.rule"), undefined);
    if (err !== undefined) return err;
  }
  // Asked of no route it built (a frontend.* tag beside v2 routers) or of the whole instance: of every route.
  for (const [scope, what] of unread) {
    if (built.has(scope)) continue;
    for (const r of routers) r.unimplemented.push(...what.filter((w) => !r.unimplemented.includes(w)));
  }
  // A Traefik 1 frontend's middleware beside v2 routers and no frontend route: never dropped, every route refused.
  if (!built.has("frontend")) {
    const stray = [...labels.keys()].filter((k) => /^frontend\./i.test(k) && V1_TAGS.test(k.slice("frontend.".length)));
    const what = stray.map((k) => `${prefix}.${k} (a Traefik 1 frontend's middleware, with no frontend rule: it applies to none of the routers)`);
    for (const r of routers) r.unimplemented.push(...what.filter((w) => !r.unimplemented.includes(w)));
  }
  return { enable, constraintTags, routers, weight, failover };
}

/**
 * A sticky cookie's tags: the current form's `BASE.sticky.cookie=true` (or any of its
 * `.name`, `.secure`, `.httpOnly`, `.sameSite`, `.maxAge`, `.path`, `.domain`), the older
 * `BASE.stickiness=true` (or `.sticky=true`) with `.stickiness.cookieName`; null when none
 * asks for it. A name of "" is the default, made from the route's service.
 */
function readSticky(base: string, v1: boolean, ci: (key: string) => [string, string] | undefined, prefix: string): StickyCookie | null | { reason: string } {
  const bad = (kv: [string, string], what: string): { reason: string } => ({ reason: `tag ${prefix}.${kv[0]}=${kv[1]}: ${what}` });
  const bool = (kv: [string, string] | undefined): boolean | { reason: string } | undefined => {
    if (kv === undefined) return undefined;
    const v = kv[1].toLowerCase();
    return v === "true" ? true : v === "false" ? false : bad(kv, "must be true or false");
  };
  const cookie: StickyCookie = { name: "", secure: false, httpOnly: false, sameSite: "", maxAge: 0, path: "/", domain: "" };
  if (v1) {
    const on = bool(ci(`${base}.stickiness`) ?? ci(`${base}.sticky`));
    if (typeof on === "object") return on;
    const name = ci(`${base}.stickiness.cookieName`);
    if (on === false || (on === undefined && name === undefined)) return null;
    if (name !== undefined) cookie.name = sanitizeCookieName(name[1]);
    return cookie;
  }
  const c = `${base}.sticky.cookie`;
  const on = bool(ci(c));
  if (typeof on === "object") return on;
  const fields = ["name", "secure", "httponly", "samesite", "maxage", "path", "domain"].map((f) => ci(`${c}.${f}`));
  if (on === false || (on === undefined && fields.every((f) => f === undefined))) return null;
  const [name, secure, httpOnly, sameSite, maxAge, path, domain] = fields;
  if (name !== undefined && name[1] !== "") cookie.name = sanitizeCookieName(name[1]);
  for (const [kv, set] of [
    [secure, (b: boolean) => (cookie.secure = b)],
    [httpOnly, (b: boolean) => (cookie.httpOnly = b)],
  ] as const) {
    const b = bool(kv);
    if (typeof b === "object") return b;
    if (b !== undefined) set(b);
  }
  if (sameSite !== undefined) {
    const v = sameSite[1].toLowerCase();
    if (v === "none") cookie.sameSite = "None";
    else if (v === "lax") cookie.sameSite = "Lax";
    else if (v === "strict") cookie.sameSite = "Strict";
    else if (v !== "") return bad(sameSite, "must be none, lax or strict");
  }
  if (maxAge !== undefined) {
    const n = Number(maxAge[1]);
    if (!/^\d{1,10}$/.test(maxAge[1]) || !Number.isSafeInteger(n)) return bad(maxAge, "must be a whole number of seconds, 0 or more");
    cookie.maxAge = n;
  }
  if (path !== undefined) {
    if (!path[1].startsWith("/") || /[;\s]/.test(path[1])) return bad(path, 'must be a path starting with "/", without ";" or spaces');
    cookie.path = path[1];
  }
  if (domain !== undefined) {
    if (!/^\.?[A-Za-z0-9.-]*$/.test(domain[1])) return bad(domain, "must be a domain name");
    cookie.domain = domain[1];
  }
  return cookie;
}

/** A cookie name as Traefik makes one from what it is given: the characters a token may not have become `_`. */
function sanitizeCookieName(name: string): string {
  return name.replace(/[^A-Za-z0-9!#$%&'*+\-.^_`|~]/g, "_");
}

/** Traefik's default sticky cookie name for a service: `_` and the start of a SHA-1 of its name (6 characters in all). */
export function cookieName(service: string): string {
  return `_${createHash("sha1").update(`_TRAEFIK_BACKEND_${service}`).digest("hex")}`.slice(0, 6);
}

/** A duration as Traefik takes one: Go's (`10s`, `1m30s`, `500ms`) or a number of seconds; null when it is neither. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(t)) return null;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * (unit[m[2] as string] ?? 0);
  return ms;
}

/**
 * An active health check's tags under `base` (`...loadbalancer.healthcheck`, or the older
 * `backend.healthcheck`): `path` (needed), `interval` (30s), `timeout` (5s), `port`,
 * `scheme`, `hostname`, `method` (GET), `status`, `headers.NAME`; null when none is given.
 */
function readCheck(base: string, labels: ReadonlyMap<string, string>, ci: (key: string) => [string, string] | undefined, prefix: string): ActiveCheck | null | { reason: string } {
  const lower = `${base.toLowerCase()}.`;
  const keys = [...labels.keys()].filter((k) => k.toLowerCase().startsWith(lower));
  if (keys.length === 0) return null;
  const bad = (kv: [string, string], what: string): { reason: string } => ({ reason: `tag ${prefix}.${kv[0]}=${kv[1]}: ${what}` });
  const path = ci(`${base}.path`);
  if (path === undefined) return { reason: `tag ${prefix}.${keys[0] ?? base}: a health check needs ${prefix}.${base}.path (the path probed)` };
  if (!path[1].startsWith("/") || /[\s]/.test(path[1])) return bad(path, 'must be a path starting with "/"');
  const hc: ActiveCheck = { path: path[1], method: "GET", intervalMs: 30_000, unhealthyIntervalMs: 0, timeoutMs: 5_000, port: undefined, scheme: undefined, hostname: "", headers: {}, status: 0, followRedirects: true };
  for (const [field, set] of [
    ["interval", (ms: number) => (hc.intervalMs = ms)],
    ["unhealthyInterval", (ms: number) => (hc.unhealthyIntervalMs = ms)],
    ["timeout", (ms: number) => (hc.timeoutMs = ms)],
  ] as const) {
    const kv = ci(`${base}.${field}`);
    if (kv === undefined) continue;
    const ms = parseDuration(kv[1]);
    if (ms === null || ms < 1 || ms > 86_400_000) return bad(kv, "must be a duration such as 10s, 500ms or 1m (up to 24h)");
    set(Math.round(ms));
  }
  if (hc.unhealthyIntervalMs === 0) hc.unhealthyIntervalMs = hc.intervalMs;
  const port = ci(`${base}.port`);
  if (port !== undefined) {
    const n = Number(port[1]);
    if (!/^\d+$/.test(port[1]) || n < 1 || n > 65535) return bad(port, "must be a whole number from 1 to 65535");
    hc.port = n;
  }
  const scheme = ci(`${base}.scheme`);
  if (scheme !== undefined) {
    const v = scheme[1].toLowerCase();
    if (v !== "http" && v !== "https") return bad(scheme, "must be http or https");
    hc.scheme = v;
  }
  const hostname = ci(`${base}.hostname`);
  if (hostname !== undefined) {
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(hostname[1])) return bad(hostname, "must be a host name");
    hc.hostname = hostname[1];
  }
  const method = ci(`${base}.method`);
  if (method !== undefined) {
    if (!/^[A-Za-z]+$/.test(method[1])) return bad(method, "must be an HTTP method");
    hc.method = method[1].toUpperCase();
  }
  const status = ci(`${base}.status`);
  if (status !== undefined) {
    const n = Number(status[1]);
    if (!/^\d{3}$/.test(status[1]) || n < 100 || n > 599) return bad(status, "must be an HTTP status from 100 to 599");
    hc.status = n;
  }
  const follow = ci(`${base}.followredirects`);
  if (follow !== undefined && !/^(true|false)$/i.test(follow[1])) return bad(follow, "must be true or false");
  if (follow !== undefined) hc.followRedirects = follow[1].toLowerCase() === "true";
  for (const k of keys) {
    const m = /\.headers\.([^.]+)$/i.exec(k);
    if (m === null) continue;
    const name = m[1] as string;
    const value = labels.get(k) ?? "";
    if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name) || /[\r\n\0]/.test(value)) return bad([k, value], "must be a header name and a value on one line");
    hc.headers[name] = value;
  }
  return hc;
}
