import type { LbMethod } from "./types.js";

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
}

const METHODS: Record<string, LbMethod> = {
  wrr: "wrr",
  // The dynamic round robin users name adapts to how busy backends are: least request does that.
  drr: "p2c",
  p2c: "p2c",
};

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
  const bad = (key: string, what: string): { reason: string } => ({ reason: `tag ${prefix}.${key}=${labels.get(key) ?? ""}: ${what}` });

  let enable: boolean | undefined;
  const en = labels.get("enable");
  if (en !== undefined) {
    if (en !== "true" && en !== "false") return bad("enable", "must be true or false");
    enable = en === "true";
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
  const add = (name: string, base: string, rule: string | undefined, serviceName: string | undefined): { reason: string } | undefined => {
    const priority = int(`${base}.priority`, 0, 1_000_000);
    if (typeof priority === "object") return priority;
    let svc = serviceName === undefined ? undefined : services.get(serviceName);
    if (serviceName !== undefined && svc === undefined && services.size > 0) return bad(`${base}.service`, `no ${prefix}.http.services.${serviceName}.* tag defines that service`);
    if (serviceName === undefined && services.size === 1) svc = [...services.values()][0];
    routers.push({
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
  return { enable, constraintTags, routers, weight };
}
