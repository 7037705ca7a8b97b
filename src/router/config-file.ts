import { parse as parseToml, TomlError } from "smol-toml";
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { parseRouterConfig, DEFAULT_ROUTER_CONFIG } from "./config.js";
import type { RouterConfig } from "./types.js";

/**
 * The router's configuration file as Traefik's users write it — Traefik v1's `traefik.toml`
 * (`defaultEntryPoints`, `[entryPoints.http] address`, `[web]`/`[api]`, `[consulCatalog]`,
 * `[consul]`), Traefik v2's static file (`entryPoints.NAME.address`, `providers.consulCatalog`,
 * `providers.consul`, `api`, `accessLog`, ...), in TOML, YAML or JSON (by its extension) — or
 * Ruche's own JSON keys (`retries`, `limits`, `failover`, ...). Each key is mapped onto
 * `RouterConfig` or refused with its line: what the router does not build (ACME, other
 * providers, tracing, ...) is never silently ignored.
 */
export function parseRouterConfigFile(file: string, text: string, base: RouterConfig = DEFAULT_ROUTER_CONFIG): { ok: true; config: RouterConfig } | { ok: false; errors: string[] } {
  const name = file.slice(file.lastIndexOf("/") + 1);
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  let raw: unknown;
  let lineOf: (path: string[]) => number | null;
  if (ext === "toml") {
    try {
      raw = parseToml(text);
    } catch (err) {
      if (err instanceof TomlError) return { ok: false, errors: [`${name}:${err.line}: ${err.message.split("\n")[0] ?? ""}`] };
      throw err;
    }
    lineOf = tomlLines(text);
  } else if (ext === "yaml" || ext === "yml" || ext === "json") {
    const counter = new LineCounter();
    const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: false });
    const bad = doc.errors[0];
    if (ext === "json") {
      // JSON as JSON reads it; its YAML reading gives the lines only.
      try {
        raw = JSON.parse(text);
      } catch (err) {
        return { ok: false, errors: [`${name}${bad === undefined ? "" : `:${counter.linePos(bad.pos[0]).line}`}: ${err instanceof Error ? err.message : String(err)}`] };
      }
    } else if (bad !== undefined) return { ok: false, errors: [`${name}:${counter.linePos(bad.pos[0]).line}: ${bad.message.split("\n")[0] ?? ""}`] };
    else raw = doc.toJS();
    lineOf = (path) => yamlLine(doc.contents, path, counter);
  } else {
    return { ok: false, errors: [`${name}: the router's configuration is read as TOML (.toml), YAML (.yaml, .yml) or JSON (.json), by its extension`] };
  }
  const at = (path: string[]): string => {
    for (let n = path.length; n > 0; n--) {
      const l = lineOf(path.slice(0, n));
      if (l !== null) return `${name}:${l}`;
    }
    return name;
  };
  if (!isObject(raw)) return { ok: false, errors: [`${name}: the router configuration must be a table of keys`] };
  // Traefik v1 reads TOML only: a YAML file is v2's.
  const t = translate(raw, ext === "yaml" || ext === "yml");
  const errors = t.refused.map((r) => `${at(r.path)}: ${r.path.join(".")}: ${r.message}`);
  const p = parseRouterConfig(t.ruche, base);
  if (!p.ok) {
    for (const e of p.errors) {
      // Ruche's own error names its key; the file's key may be another (Traefik v2's names).
      const key = e.slice(0, e.indexOf(":"));
      const src = sourceOf(t.origin, key);
      errors.push(`${at(src)}: ${src.join(".") === key ? e : `${src.join(".")}: ${e.slice(e.indexOf(":") + 2)}`}`);
    }
  }
  // In the file's order.
  const lineNo = (e: string): number => Number(/^[^:]*:(\d+):/.exec(e)?.[1] ?? 0);
  if (errors.length > 0) return { ok: false, errors: errors.sort((a, b) => lineNo(a) - lineNo(b)) };
  if (!p.ok) return p;
  return { ok: true, config: { ...p.config, ...t.extra } };
}

/** The file's key a key of Ruche's raw configuration came from. */
function sourceOf(origin: Map<string, string[]>, key: string): string[] {
  const parts = key.split(".");
  for (let n = parts.length; n > 0; n--) {
    const o = origin.get(parts.slice(0, n).join("."));
    if (o !== undefined) return [...o, ...parts.slice(n)];
  }
  return parts;
}

type Obj = Record<string, unknown>;

interface Translated {
  /** Ruche's raw configuration, as `parseRouterConfig` reads it. */
  ruche: Obj;
  /** The key of the file each raw key came from, where they differ. */
  origin: Map<string, string[]>;
  refused: { path: string[]; message: string }[];
  extra: Pick<RouterConfig, "dashboard" | "kv" | "catalogEndpoint">;
}

/** Why each part of Traefik that the router does not build is refused. */
const NOT_BUILT: Record<string, string> = {
  certificatesResolvers: "ACME (Let's Encrypt) certificates are not built: give certificate files to an entrypoint (tls.certificates)",
  acme: "ACME (Let's Encrypt) certificates are not built: give certificate files to an entrypoint (tls.certificates)",
  pilot: "Traefik Pilot is not built",
  hub: "Traefik Hub is not built",
  tracing: "tracing is not built",
  experimental: "Traefik's experimental features and plugins are not built",
  hostResolver: "the router resolves names with the system's resolver; hostResolver is not built",
  spiffe: "SPIFFE is not built",
  tcpServersTransport: "TCP routers are not built",
  ocsp: "OCSP stapling is not built",
  core: "Traefik's core settings are not built",
  log: "the router logs through the agent's log: set its level with the agent's -log-level",
  traefikLog: "the router logs through the agent's log: set its level with the agent's -log-level",
  logLevel: "the router logs through the agent's log: set its level with the agent's -log-level",
  debug: "the router logs through the agent's log: set its level with the agent's -log-level",
  graceTimeOut: "the router stops with the agent; graceTimeOut is not built",
  lifeCycle: "the router stops with the agent; lifeCycle is not built",
  insecureSkipVerify: "backends over HTTPS are always verified",
  InsecureSkipVerify: "backends over HTTPS are always verified",
  rootCAs: "backends over HTTPS are verified against the system's authorities; rootCAs is not built",
  maxIdleConnsPerHost: "the connection pools to backends are not configurable",
  keepTrailingSlash: "keepTrailingSlash is not built",
  healthcheck: "Traefik's own health checks of backends are not built here: the catalog's checks decide",
  docker: "the Docker provider is not built: the router reads Consul's catalog (and the KV provider)",
  swarm: "the Swarm provider is not built: the router reads Consul's catalog (and the KV provider)",
  file: "the file provider is not built: the router reads Consul's catalog (and the KV provider)",
  kubernetes: "the Kubernetes provider is not built: the router reads Consul's catalog (and the KV provider)",
  marathon: "the Marathon provider is not built",
  mesos: "the Mesos provider is not built",
  ecs: "the ECS provider is not built",
  rancher: "the Rancher provider is not built",
  etcd: "the etcd provider is not built: the KV provider reads Ruche's own KV ([consul])",
  zookeeper: "the ZooKeeper provider is not built: the KV provider reads Ruche's own KV ([consul])",
  boltdb: "the BoltDB provider is not built",
  eureka: "the Eureka provider is not built",
  servicefabric: "the Service Fabric provider is not built",
  dynamodb: "the DynamoDB provider is not built",
  rest: "the REST provider is not built",
  statistics: "statistics are not built: the dashboard shows request rates and /metrics Prometheus",
};

/**
 * Traefik's keys (v1 and v2) and Ruche's onto Ruche's raw configuration. Everything not
 * mapped is refused, named by its path.
 */
function translate(src: Obj, yaml: boolean): Translated {
  const ruche: Obj = {};
  const origin = new Map<string, string[]>();
  const refused: Translated["refused"] = [];
  const extra: Translated["extra"] = {};
  const refuse = (path: string[], message: string): void => {
    refused.push({ path, message });
  };
  /** Refuses the keys of `o` not in `known`. */
  const only = (o: Obj, path: string[], known: string[], why?: (k: string) => string | undefined): void => {
    for (const k of Object.keys(o)) if (!known.includes(k)) refuse([...path, k], why?.(k) ?? NOT_BUILT[k] ?? `unknown key, or not built by Ruche's router (known here: ${known.join(", ") || "none"})`);
  };
  const put = (key: string, value: unknown, from: string[]): void => {
    ruche[key] = value;
    origin.set(key, from);
  };
  const limits: Obj = isObject(src.limits) ? { ...src.limits } : {};
  const limitFrom = new Map<string, string[]>();
  const setLimit = (key: string, value: unknown, from: string[]): void => {
    const ms = durationMs(value);
    if (ms === null) {
      refuse(from, 'must be a duration such as "30s", "1m30s", or a number of seconds');
      return;
    }
    const prev = limitFrom.get(key);
    if (prev !== undefined && limits[key] !== ms) {
      refuse(from, `sets the router's ${key} to ${ms} ms, but ${prev.join(".")} sets it to ${String(limits[key])} ms (one value for every entrypoint)`);
      return;
    }
    limits[key] = ms;
    limitFrom.set(key, from);
  };
  const isV2 = yaml || ["providers", "log", "global", "certificatesResolvers", "serversTransport"].some((k) => k in src) || (isObject(src.api) && "insecure" in src.api);
  /** The entrypoint that serves the API and dashboard (Traefik's `traefik`), when the file puts it on one. */
  let apiEntryPoint: { name: string; from: string[] } | null = null;

  for (const [k, v] of Object.entries(src)) {
    const path = [k];
    switch (k) {
      // Ruche's own keys, as parseRouterConfig reads them.
      case "retries":
      case "ejection":
      case "controlApi":
      case "allowLoopbackBackends":
      case "failover":
      case "defaultEntryPoints":
      case "prefix":
      case "domain":
      case "exposedByDefault":
      case "constraints":
      case "defaultRule":
      case "frontEndRule":
        put(k, v, path);
        break;
      case "limits":
        break;
      case "watch":
        if (v !== true) refuse(path, "the router always follows the catalog; watch = false is not built");
        break;
      case "endpoint":
        extra.catalogEndpoint = endpointOf(v, path, refuse);
        break;
      case "accessLog":
      case "accessLogsFile":
        if (typeof v === "boolean") put("accessLog", v, path);
        else if (isObject(v)) {
          // Traefik logs requests as soon as the section is there; Ruche's access log goes to the agent's log.
          put("accessLog", true, path);
          only(v, path, [], (kk) => `the access log goes to the agent's log, one line per request; ${kk} is not built`);
        } else refuse(path, "must be a section (or true/false)");
        break;
      case "entryPoints": {
        if (!isObject(v)) {
          put(k, v, path);
          break;
        }
        const eps: Obj = {};
        for (const [name, e] of Object.entries(v)) {
          const at = [k, name];
          if (!isObject(e)) {
            eps[name] = e;
            continue;
          }
          const ep: Obj = {};
          if (e.address !== undefined) ep.address = e.address;
          if (e.tls !== undefined) {
            ep.tls = e.tls;
            if (isObject(e.tls)) only(e.tls, [...at, "tls"], ["certificates"], (kk) => `TLS option ${kk} is not built: the router's TLS takes certificate files (certFile, keyFile), chosen by SNI`);
          }
          if (isObject(e.transport)) {
            const tr = e.transport;
            only(tr, [...at, "transport"], ["respondingTimeouts"], (kk) => (kk === "lifeCycle" ? NOT_BUILT.lifeCycle : undefined));
            if (isObject(tr.respondingTimeouts)) respondingTimeouts(tr.respondingTimeouts, [...at, "transport", "respondingTimeouts"]);
          }
          only(e, at, ["address", "tls", "transport"], (kk) => entryPointRefusal(kk));
          eps[name] = ep;
          origin.set(`entryPoints.${name}`, at);
        }
        put(k, eps, path);
        break;
      }
      case "web": {
        // Traefik up to 1.4: the dashboard and API on their own address.
        if (!isObject(v)) {
          refuse(path, "must be a section");
          break;
        }
        only(v, path, ["address", "readOnly", "metrics"], (kk) => (kk === "auth" ? "authentication on the dashboard is not built: keep its address private (it is read-only)" : undefined));
        if (v.address !== undefined) {
          const a = address(v.address);
          if (a === null) refuse([...path, "address"], "must be HOST:PORT or :PORT");
          else extra.dashboard = a;
        } else extra.dashboard = { host: "0.0.0.0", port: 8080 };
        if (v.readOnly === false) refuse([...path, "readOnly"], "the dashboard is read-only: changing the configuration through it is not built");
        if (v.metrics !== undefined) metrics(v.metrics, [...path, "metrics"]);
        break;
      }
      case "api": {
        if (!isObject(v)) {
          if (v !== true) refuse(path, "must be a section");
          break;
        }
        only(v, path, ["entryPoint", "dashboard", "insecure"], (kk) => (kk === "debug" ? "the debug endpoints are not built" : undefined));
        if (v.dashboard === false) refuse([...path, "dashboard"], "the dashboard page is always served beside the API; dashboard = false is not built");
        if (v.entryPoint !== undefined && typeof v.entryPoint !== "string") refuse([...path, "entryPoint"], "must be an entrypoint name");
        if (!isV2 || v.insecure === true) apiEntryPoint = { name: typeof v.entryPoint === "string" ? v.entryPoint : "traefik", from: path };
        break;
      }
      case "ping": {
        if (!isObject(v)) break;
        only(v, path, ["entryPoint"]);
        if (v.entryPoint !== undefined && v.entryPoint !== "traefik") refuse([...path, "entryPoint"], "/ping is served on the dashboard's address only");
        break;
      }
      case "metrics":
        metrics(v, path);
        break;
      case "retry":
        // Traefik v1: attempts counts every try; Ruche's retries, the tries after the first.
        if (isObject(v)) {
          only(v, path, ["attempts"]);
          if (typeof v.attempts === "number") put("retries", Math.max(0, v.attempts - 1), [...path, "attempts"]);
          else if (v.attempts !== undefined) refuse([...path, "attempts"], "must be a number");
        }
        break;
      case "respondingTimeouts":
        if (isObject(v)) respondingTimeouts(v, path);
        else refuse(path, "must be a section");
        break;
      case "forwardingTimeouts":
        if (isObject(v)) forwardingTimeouts(v, path);
        else refuse(path, "must be a section");
        break;
      case "serversTransport":
        if (!isObject(v)) {
          refuse(path, "must be a section");
          break;
        }
        only(v, path, ["forwardingTimeouts"], (kk) => NOT_BUILT[kk] ?? `serversTransport.${kk} is not built: the router's connections to backends are not configurable apart from their timeouts`);
        if (isObject(v.forwardingTimeouts)) forwardingTimeouts(v.forwardingTimeouts, [...path, "forwardingTimeouts"]);
        break;
      case "global":
        if (!isObject(v)) break;
        only(v, path, ["checkNewVersion", "sendAnonymousUsage"]);
        for (const kk of ["checkNewVersion", "sendAnonymousUsage"]) if (v[kk] === true) refuse([...path, kk], "Ruche never calls out: set it to false");
        break;
      case "checkNewVersion":
      case "sendAnonymousUsage":
        if (v === true) refuse(path, "Ruche never calls out: set it to false");
        break;
      case "consulCatalog":
        consulCatalog(v, path);
        break;
      case "consul":
        // Traefik v1's KV provider.
        if (!isObject(v)) {
          refuse(path, "must be a section");
          break;
        }
        only(v, path, ["endpoint", "watch", "prefix"], (kk) => kvRefusal(kk));
        if (v.watch === false) refuse([...path, "watch"], "the router always follows the KV; watch = false is not built");
        if (v.prefix !== undefined && typeof v.prefix !== "string") refuse([...path, "prefix"], "must be a string");
        extra.kv = { rootKey: typeof v.prefix === "string" ? v.prefix : "traefik", endpoints: v.endpoint === undefined ? [] : [endpointOf(v.endpoint, [...path, "endpoint"], refuse)].filter((x): x is string => x !== null) };
        break;
      case "providers": {
        if (!isObject(v)) {
          refuse(path, "must be a section");
          break;
        }
        only(v, path, ["consulCatalog", "consul"], (kk) => NOT_BUILT[kk] ?? (kk === "kubernetesCRD" || kk === "kubernetesIngress" || kk === "kubernetesGateway" ? NOT_BUILT.kubernetes : kk === "providersThrottleDuration" ? "changes are applied as soon as they are read; providersThrottleDuration is not built" : `the ${kk} provider is not built: the router reads Consul's catalog and the KV provider`));
        if (v.consulCatalog !== undefined) consulCatalog(v.consulCatalog, [...path, "consulCatalog"]);
        if (v.consul !== undefined) {
          const c = v.consul;
          const at = [...path, "consul"];
          if (!isObject(c)) {
            refuse(at, "must be a section");
            break;
          }
          only(c, at, ["rootKey", "endpoints"], (kk) => kvRefusal(kk));
          if (c.rootKey !== undefined && typeof c.rootKey !== "string") refuse([...at, "rootKey"], "must be a string");
          const list = c.endpoints === undefined ? [] : Array.isArray(c.endpoints) ? c.endpoints : [c.endpoints];
          extra.kv = { rootKey: typeof c.rootKey === "string" ? c.rootKey : "traefik", endpoints: list.map((e) => endpointOf(e, [...at, "endpoints"], refuse)).filter((x): x is string => x !== null) };
        }
        break;
      }
      default:
        refuse(path, NOT_BUILT[k] ?? "unknown key, or not built by Ruche's router");
    }
  }
  // The API's entrypoint is the dashboard's address, not an entrypoint of routes.
  const api = apiEntryPoint;
  if (api !== null) {
    const eps = isObject(ruche.entryPoints) ? ruche.entryPoints : {};
    const ep = eps[api.name];
    if (ep === undefined && api.name !== "traefik") refuse([...api.from, "entryPoint"], `"${api.name}" is not an entrypoint`);
    else {
      const a = isObject(ep) ? address(ep.address) : { host: "0.0.0.0", port: 8080 };
      if (a === null) refuse(["entryPoints", api.name, "address"], "must be HOST:PORT or :PORT");
      else extra.dashboard = a;
      if (isObject(ep) && ep.tls !== undefined) refuse(["entryPoints", api.name, "tls"], "the dashboard is served over plain HTTP only");
      if (isObject(ruche.entryPoints)) ruche.entryPoints = Object.fromEntries(Object.entries(ruche.entryPoints).filter(([n]) => n !== api.name));
      if (Array.isArray(ruche.defaultEntryPoints) && ruche.defaultEntryPoints.includes(api.name)) refuse(["defaultEntryPoints"], `"${api.name}" serves the dashboard, not routes`);
    }
  }
  if (Object.keys(limits).length > 0) {
    ruche.limits = limits;
    for (const [key, from] of limitFrom) origin.set(`limits.${key}`, from);
  }
  return { ruche, origin, refused, extra };

  function consulCatalog(v: unknown, path: string[]): void {
    if (!isObject(v)) {
      refuse(path, "must be a section");
      return;
    }
    only(v, path, ["endpoint", "watch", "domain", "prefix", "constraints", "exposedByDefault", "defaultRule", "frontEndRule", "refreshInterval", "refreshSeconds"], (kk) =>
      kk === "stale" || kk === "cache" || kk === "requireConsistent"
        ? "the router reads the servers' catalog as it is; stale, cache and requireConsistent are not built"
        : kk === "connectAware" || kk === "connectByDefault"
          ? "Consul Connect is not built"
          : kk === "namespace" || kk === "namespaces"
            ? "Consul namespaces are not built"
            : kk === "serviceName"
              ? "the router does not register itself in the catalog"
              : kk === "strictChecks"
                ? "only instances whose checks all pass are backends; strictChecks is not built"
                : undefined,
    );
    const cat: Obj = {};
    for (const kk of ["domain", "prefix", "constraints", "exposedByDefault", "defaultRule", "frontEndRule"]) {
      if (v[kk] === undefined) continue;
      cat[kk] = v[kk];
      origin.set(`consulCatalog.${kk}`, [...path, kk]);
    }
    put("consulCatalog", cat, path);
    if (v.watch === false) refuse([...path, "watch"], "the router always follows the catalog (each change is pushed); watch = false is not built");
    for (const kk of ["refreshInterval", "refreshSeconds"]) if (v[kk] !== undefined && durationMs(v[kk]) === null) refuse([...path, kk], "must be a duration");
    const e = v.endpoint;
    if (isObject(e)) {
      only(e, [...path, "endpoint"], ["address", "scheme", "endpointWaitTime"], (kk) => (kk === "token" || kk === "httpAuth" ? "the router reads the catalog of the agent it runs in, with its rights" : kk === "tls" ? "the router reads the catalog of the agent it runs in; tls is not built" : kk === "datacenter" ? "the router reads its own datacenter's catalog (other datacenters: failover)" : undefined));
      if (e.scheme !== undefined && e.scheme !== "http") refuse([...path, "endpoint", "scheme"], "the router reads the catalog of the agent it runs in; only http is built");
      if (e.address !== undefined) extra.catalogEndpoint = endpointOf(e.address, [...path, "endpoint", "address"], refuse);
    } else if (e !== undefined) extra.catalogEndpoint = endpointOf(e, [...path, "endpoint"], refuse);
  }

  function respondingTimeouts(v: Obj, path: string[]): void {
    only(v, path, ["readTimeout", "idleTimeout"], (kk) => (kk === "writeTimeout" ? "writeTimeout is not built (see the router's README, Timeouts)" : undefined));
    if (v.readTimeout !== undefined) setLimit("requestTimeoutMs", v.readTimeout, [...path, "readTimeout"]);
    if (v.idleTimeout !== undefined) setLimit("idleTimeoutMs", v.idleTimeout, [...path, "idleTimeout"]);
  }

  function forwardingTimeouts(v: Obj, path: string[]): void {
    only(v, path, ["dialTimeout", "responseHeaderTimeout"], (kk) => (kk === "idleConnTimeout" ? "idle backend connections are closed by the router itself; idleConnTimeout is not built" : undefined));
    if (v.dialTimeout !== undefined) setLimit("dialTimeoutMs", v.dialTimeout, [...path, "dialTimeout"]);
    if (v.responseHeaderTimeout !== undefined) setLimit("requestTimeoutMs", v.responseHeaderTimeout, [...path, "responseHeaderTimeout"]);
  }

  function metrics(v: unknown, path: string[]): void {
    if (!isObject(v)) {
      refuse(path, "must be a section");
      return;
    }
    only(v, path, ["prometheus"], (kk) => `${kk} metrics are not built: the router serves Prometheus metrics on the dashboard's address (/metrics)`);
    if (isObject(v.prometheus)) {
      only(v.prometheus, [...path, "prometheus"], ["entryPoint"], (kk) => `prometheus.${kk} is not built: the router's metrics are fixed (see /metrics)`);
      if (v.prometheus.entryPoint !== undefined && v.prometheus.entryPoint !== "traefik") refuse([...path, "prometheus", "entryPoint"], "the metrics are served on the dashboard's address only");
    }
  }
}

function entryPointRefusal(k: string): string {
  switch (k) {
    case "redirect":
    case "http":
      return "entrypoint redirections, middlewares and TLS options are not built on entrypoints";
    case "proxyProtocol":
      return "the PROXY protocol is not built";
    case "forwardedHeaders":
      return "the router never trusts a client's X-Forwarded-* headers; forwardedHeaders is not built";
    case "auth":
    case "whitelistSourceRange":
    case "whiteList":
    case "compress":
      return `${k} on an entrypoint is not built`;
    case "http2":
    case "http3":
    case "udp":
      return `${k} settings are not built`;
    default:
      return "unknown key, or not built on entrypoints (known: address, tls.certificates, transport.respondingTimeouts)";
  }
}

function kvRefusal(k: string): string {
  switch (k) {
    case "username":
    case "password":
    case "token":
      return "the KV provider reads the KV of the agent it runs in, with its rights";
    case "tls":
      return "the KV provider reads the KV of the agent it runs in; tls is not built";
    case "namespace":
      return "Consul namespaces are not built";
    default:
      return "unknown key, or not built by the KV provider (known: rootKey and endpoints, or v1's prefix and endpoint)";
  }
}

/** An endpoint as written (`127.0.0.1:8500`, `http://host:8500`), kept as host:port. */
function endpointOf(v: unknown, path: string[], refuse: (path: string[], message: string) => void): string | null {
  const m = typeof v === "string" ? /^(?:http:\/\/)?([^/]+:\d{1,5})\/?$/.exec(v) : null;
  if (m === null) {
    refuse(path, typeof v === "string" && v.startsWith("https://") ? "the router reads the catalog of the agent it runs in; https is not built" : 'must be HOST:PORT such as "127.0.0.1:8500"');
    return null;
  }
  return m[1] ?? null;
}

function address(v: unknown): { host: string; port: number } | null {
  const m = typeof v === "string" ? /^(.*):(\d{1,5})$/.exec(v) : null;
  if (m === null || Number(m[2]) > 65535) return null;
  const host = (m[1] ?? "").replace(/^\[|\]$/g, "");
  return { host: host === "" ? "0.0.0.0" : host, port: Number(m[2]) };
}

/** A Go duration (`30s`, `1m30s`, `500ms`) or a number of seconds, as Traefik reads them, in ms. */
export function durationMs(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : null;
  if (typeof v !== "string") return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let end = 0;
  for (let m = re.exec(v); m !== null; m = re.exec(v)) {
    ms += Number(m[1]) * (units[m[2] ?? ""] ?? 0);
    end = re.lastIndex;
  }
  return end === v.length && v.length > 0 ? Math.round(ms) : null;
}

/** A YAML (or JSON) key's line: the line of the key that names it. */
function yamlLine(contents: unknown, path: string[], counter: LineCounter): number | null {
  let node = contents as YamlNode | null;
  let line: number | null = null;
  for (const seg of path) {
    if (!isMap(node)) return null;
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
    if (pair === undefined) return null;
    const key = pair.key as YamlNode;
    const start = key.range?.[0];
    line = start === undefined ? null : counter.linePos(start).line;
    node = pair.value as YamlNode | null;
  }
  return line;
}

/**
 * Where each key of a TOML file is, by scanning its lines: `[table]` and `[[array]]` headers,
 * `key = value` (dotted and quoted keys too). smol-toml gives no positions for what it read.
 */
function tomlLines(text: string): (path: string[]) => number | null {
  const lines = new Map<string, number>();
  let table: string[] = [];
  let multi: string | null = null;
  const keyParts = (s: string): string[] => [...s.matchAll(/\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
  text.split(/\r?\n/).forEach((l, i) => {
    if (multi !== null) {
      if (l.includes(multi)) multi = null;
      return;
    }
    const header = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$/.exec(l);
    if (header !== null) {
      table = keyParts(header[1] ?? "");
      const k = table.join(".");
      if (!lines.has(k)) lines.set(k, i + 1);
      return;
    }
    const kv = /^\s*((?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_.\s-])+?)\s*=\s*(.*)$/.exec(l);
    if (kv === null) return;
    const k = [...table, ...keyParts(kv[1] ?? "")];
    for (let n = table.length + 1; n <= k.length; n++) if (!lines.has(k.slice(0, n).join("."))) lines.set(k.slice(0, n).join("."), i + 1);
    const rest = kv[2] ?? "";
    for (const q of ['"""', "'''"]) if (rest.startsWith(q) && !rest.slice(3).includes(q)) multi = q;
  });
  return (path) => lines.get(path.join(".")) ?? null;
}

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
