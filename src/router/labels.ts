import type { FailoverPolicy, LbMethod } from "./types.js";

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
  /** The instance's weight in its routes. */
  weight: number;
  /** `PREFIX.ruche.failover=nearest|off|DC,DC`, Ruche's own: its routes' failover to other datacenters; undefined when not said. */
  failover: FailoverPolicy | undefined;
}

export interface RouterSpec {
  /** Empty for the service's own router (the older frontend rule, or the default rule). */
  name: string;
  /** undefined: the default rule. */
  rule: string | undefined;
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
}

/** The tags the router reads (after the prefix); any other asks for what it does not implement. */
const READ: readonly RegExp[] = [
  /^(enable|tags|weight|port|protocol|backend|backend\.loadbalancer\.method)$/,
  /^ruche\.failover$/,
  /^frontend\.(rule|entryPoints|entrypoints|priority)$/,
  /^frontends\.[^.]+\.(rule|entryPoints|entrypoints|priority)$/,
  /^http\.routers\.[^.]+\.(rule|entryPoints|entrypoints|priority|service|tls)$/,
  /^http\.services\.[^.]+\.loadbalancer\.(server\.port|server\.scheme|server\.weight|strategy)$/,
  // Definitions act only through a router's `middlewares` tag, which is refused.
  /^http\.middlewares\./,
];

/** Tags whose value asks for what the router does anyway. */
function asDone(key: string, value: string): boolean {
  const v = value.toLowerCase();
  return (v === "true" && /^(frontend|frontends\.[^.]+)\.passHostHeader$/i.test(key)) || (v === "true" && /^http\.services\.[^.]+\.loadbalancer\.passhostheader$/i.test(key));
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
export function readLabels(tags: readonly string[], prefix: string): InstanceLabels | { reason: string } {
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
  let weight = 1;
  for (const key of ["weight", ...[...labels.keys()].filter((k) => /^http\.services\.[^.]+\.loadbalancer\.server\.weight$/.test(k))]) {
    const w = int(key, 0, 1_000_000);
    if (typeof w === "object") return w;
    if (w !== undefined) weight = w;
  }

  // The older form: one service-wide backend and frontend(s).
  const oldMethod = method("backend.loadbalancer.method");
  if (typeof oldMethod === "object") return oldMethod;
  const oldPort = int("port", 1, 65535);
  if (typeof oldPort === "object") return oldPort;
  const oldScheme = scheme("protocol");
  if (typeof oldScheme === "object") return oldScheme;

  // The current form's services: port, scheme and strategy by service name.
  const services = new Map<string, { port: number | undefined; scheme: "http" | "https" | undefined; method: LbMethod | undefined }>();
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
    services.set(name, { port, scheme: sch, method: strat });
  }

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
    built.add(base);
    routers.push({
      tls: tls === "true",
      unimplemented: [...(unread.get(base) ?? [])],
      name,
      rule,
      entryPoints: list(`${base}.entrypoints`) ?? list(`${base}.entryPoints`),
      priority,
      method: svc?.method ?? oldMethod ?? "wrr",
      port: svc?.port ?? oldPort,
      scheme: svc?.scheme ?? oldScheme ?? "http",
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
  return { enable, constraintTags, routers, weight, failover };
}
