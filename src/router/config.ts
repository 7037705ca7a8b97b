import { parseConstraint } from "./constraint.js";
import { parseFailover } from "./labels.js";
import type { EntryPointConfig, RouterConfig } from "./types.js";

/** The main entrypoint: plain HTTP, on the port the agent is given (`-router-port`). */
export const MAIN_ENTRYPOINT = "http";

export const DEFAULT_ROUTER_CONFIG: RouterConfig = {
  prefix: "traefik",
  exposedByDefault: true,
  domain: "",
  defaultRule: "Host:{{name}}.{{domain}}",
  constraints: [],
  entryPoints: [{ name: MAIN_ENTRYPOINT, host: "0.0.0.0", port: 8080, tls: null }],
  defaultEntryPoints: [],
  retries: 2,
  ejection: { failures: 3, baseMs: 5_000, maxMs: 60_000 },
  limits: { maxBodyBytes: 10 * 1024 * 1024, requestTimeoutMs: 60_000, headersTimeoutMs: 30_000, idleTimeoutMs: 60_000, dialTimeoutMs: 5_000 },
  accessLog: true,
  controlApi: { addresses: [], expose: false, token: "" },
  allowLoopbackBackends: false,
  failover: { kind: "off" },
  self: { hosts: [], ports: [] },
};

/**
 * Reads a router configuration file (JSON) over the defaults. Keys as users know them:
 *
 * ```json
 * { "entryPoints": { "http": { "address": ":80" }, "https": { "address": ":443", "tls": { "certificates": [{ "certFile": "a.crt", "keyFile": "a.key" }] } } },
 *   "defaultEntryPoints": ["http"],
 *   "consulCatalog": { "domain": "exemple.com", "prefix": "traefik", "exposedByDefault": true,
 *                      "constraints": ["tag==exposed"], "defaultRule": "Host:{{name}}.{{domain}}" },
 *   "retries": 2, "accessLog": true,
 *   "limits": { "maxBodyBytes": 10485760, "requestTimeoutMs": 60000, "headersTimeoutMs": 30000, "idleTimeoutMs": 60000, "dialTimeoutMs": 5000 },
 *   "controlApi": { "expose": false, "token": "..." }, "allowLoopbackBackends": false,
 *   "failover": "nearest" }
 * ```
 *
 * The catalog keys may also sit at the top level. Every mistake is reported, each naming its key.
 */
export function parseRouterConfig(raw: unknown, base: RouterConfig = DEFAULT_ROUTER_CONFIG): { ok: true; config: RouterConfig } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  if (!isObject(raw)) return { ok: false, errors: ["the router configuration must be a JSON object"] };
  const cfg: RouterConfig = structuredClone({ ...base, constraints: [] });
  cfg.constraints = [...base.constraints];
  const catalog = raw.consulCatalog === undefined ? raw : raw.consulCatalog;
  if (!isObject(catalog)) return { ok: false, errors: ["consulCatalog: must be an object"] };
  const known = new Set(["entryPoints", "defaultEntryPoints", "consulCatalog", "retries", "accessLog", "limits", "controlApi", "ejection", "allowLoopbackBackends", "failover", "prefix", "domain", "exposedByDefault", "constraints", "defaultRule", "frontEndRule", "endpoint", "watch"]);
  for (const k of Object.keys(raw)) if (!known.has(k)) errors.push(`${k}: unknown key`);

  const str = (o: Record<string, unknown>, k: string, at: string, set: (v: string) => void): void => {
    if (o[k] === undefined) return;
    if (typeof o[k] === "string") set(o[k]);
    else errors.push(`${at}: must be a string`);
  };
  const num = (o: Record<string, unknown>, k: string, at: string, min: number, max: number, set: (v: number) => void): void => {
    const v = o[k];
    if (v === undefined) return;
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) set(v);
    else errors.push(`${at}: must be a whole number from ${min} to ${max}`);
  };
  const bool = (o: Record<string, unknown>, k: string, at: string, set: (v: boolean) => void): void => {
    if (o[k] === undefined) return;
    if (typeof o[k] === "boolean") set(o[k]);
    else errors.push(`${at}: must be true or false`);
  };

  const cat = raw.consulCatalog === undefined ? "" : "consulCatalog.";
  str(catalog, "prefix", `${cat}prefix`, (v) => (cfg.prefix = v));
  str(catalog, "domain", `${cat}domain`, (v) => (cfg.domain = v));
  str(catalog, "defaultRule", `${cat}defaultRule`, (v) => (cfg.defaultRule = v));
  str(catalog, "frontEndRule", `${cat}frontEndRule`, (v) => (cfg.defaultRule = v));
  bool(catalog, "exposedByDefault", `${cat}exposedByDefault`, (v) => (cfg.exposedByDefault = v));
  const cons = catalog.constraints;
  if (cons !== undefined) {
    const list = typeof cons === "string" ? [cons] : cons;
    if (!Array.isArray(list) || !list.every((c) => typeof c === "string")) errors.push(`${cat}constraints: must be a list of strings such as "tag==exposed"`);
    else
      for (const c of list) {
        const p = parseConstraint(c);
        if (p.ok) cfg.constraints.push(p.value);
        else errors.push(`${cat}constraints: ${p.reason}`);
      }
  }

  if (raw.entryPoints !== undefined) {
    if (!isObject(raw.entryPoints)) errors.push("entryPoints: must map names to { address }");
    else {
      const eps: EntryPointConfig[] = [];
      for (const [name, e] of Object.entries(raw.entryPoints)) {
        const at = `entryPoints.${name}`;
        if (!isObject(e)) {
          errors.push(`${at}: must be an object with an address such as ":80"`);
          continue;
        }
        const prev = cfg.entryPoints.find((x) => x.name === name);
        const ep: EntryPointConfig = { name, host: prev?.host ?? "0.0.0.0", port: prev?.port ?? 0, tls: null };
        if (e.address !== undefined) {
          const m = typeof e.address === "string" ? /^(.*):(\d{1,5})$/.exec(e.address) : null;
          if (m === null || Number(m[2]) > 65535) errors.push(`${at}.address: must be HOST:PORT or :PORT`);
          else {
            ep.host = (m[1] as string) === "" ? "0.0.0.0" : (m[1] as string).replace(/^\[|\]$/g, "");
            ep.port = Number(m[2]);
          }
        }
        if (e.tls !== undefined) {
          const certs = isObject(e.tls) ? e.tls.certificates : undefined;
          if (!Array.isArray(certs) || certs.length === 0 || !certs.every((c) => isObject(c) && typeof c.certFile === "string" && typeof c.keyFile === "string")) {
            errors.push(`${at}.tls.certificates: must be a list of { certFile, keyFile }`);
          } else ep.tls = (certs as { certFile: string; keyFile: string }[]).map((c) => ({ certFile: c.certFile, keyFile: c.keyFile }));
        }
        eps.push(ep);
      }
      // The main entrypoint is always there: the agent's -router-port is its port.
      if (!eps.some((e) => e.name === MAIN_ENTRYPOINT)) eps.unshift(cfg.entryPoints.find((e) => e.name === MAIN_ENTRYPOINT) ?? { name: MAIN_ENTRYPOINT, host: "0.0.0.0", port: 8080, tls: null });
      cfg.entryPoints = eps;
    }
  }
  if (raw.defaultEntryPoints !== undefined) {
    const d = raw.defaultEntryPoints;
    if (!Array.isArray(d) || !d.every((x) => typeof x === "string")) errors.push("defaultEntryPoints: must be a list of entrypoint names");
    else {
      const names = cfg.entryPoints.map((e) => e.name);
      for (const x of d) if (!names.includes(x)) errors.push(`defaultEntryPoints: "${x}" is not an entrypoint (${names.join(", ")})`);
      cfg.defaultEntryPoints = d;
    }
  }
  num(raw, "retries", "retries", 0, 10, (v) => (cfg.retries = v));
  bool(raw, "accessLog", "accessLog", (v) => (cfg.accessLog = v));
  bool(raw, "allowLoopbackBackends", "allowLoopbackBackends", (v) => (cfg.allowLoopbackBackends = v));
  if (raw.failover !== undefined) {
    // "nearest", "off", or a list of datacenters tried in order.
    const f = raw.failover;
    const text = typeof f === "string" ? f : Array.isArray(f) && f.length > 0 && f.every((x) => typeof x === "string") ? f.join(",") : null;
    const p = text === null ? { reason: 'must be "off", "nearest", or a list of datacenter names' } : parseFailover(text);
    if ("reason" in p) errors.push(`failover: ${p.reason}`);
    else cfg.failover = p;
  }
  if (raw.limits !== undefined) {
    if (!isObject(raw.limits)) errors.push("limits: must be an object");
    else {
      const l = raw.limits;
      num(l, "maxBodyBytes", "limits.maxBodyBytes", 0, 2 ** 40, (v) => (cfg.limits.maxBodyBytes = v));
      num(l, "requestTimeoutMs", "limits.requestTimeoutMs", 1, 86_400_000, (v) => (cfg.limits.requestTimeoutMs = v));
      num(l, "headersTimeoutMs", "limits.headersTimeoutMs", 1, 86_400_000, (v) => (cfg.limits.headersTimeoutMs = v));
      num(l, "idleTimeoutMs", "limits.idleTimeoutMs", 1, 86_400_000, (v) => (cfg.limits.idleTimeoutMs = v));
      num(l, "dialTimeoutMs", "limits.dialTimeoutMs", 1, 3_600_000, (v) => (cfg.limits.dialTimeoutMs = v));
      const knownLimits = new Set(["maxBodyBytes", "requestTimeoutMs", "headersTimeoutMs", "idleTimeoutMs", "dialTimeoutMs"]);
      for (const k of Object.keys(l)) if (!knownLimits.has(k)) errors.push(`limits.${k}: unknown key (the limits are ${[...knownLimits].join(", ")})`);
    }
  }
  if (raw.ejection !== undefined) {
    if (!isObject(raw.ejection)) errors.push("ejection: must be an object");
    else {
      num(raw.ejection, "failures", "ejection.failures", 1, 1000, (v) => (cfg.ejection.failures = v));
      num(raw.ejection, "baseMs", "ejection.baseMs", 1, 3_600_000, (v) => (cfg.ejection.baseMs = v));
      num(raw.ejection, "maxMs", "ejection.maxMs", 1, 3_600_000, (v) => (cfg.ejection.maxMs = v));
    }
  }
  if (raw.controlApi !== undefined) {
    if (!isObject(raw.controlApi)) errors.push("controlApi: must be an object");
    else {
      bool(raw.controlApi, "expose", "controlApi.expose", (v) => (cfg.controlApi.expose = v));
      str(raw.controlApi, "token", "controlApi.token", (v) => (cfg.controlApi.token = v));
    }
  }
  if (cfg.controlApi.expose && cfg.controlApi.token.length < 16) errors.push("controlApi.token: exposing Ruche's API through the router needs a token of at least 16 characters");
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: cfg };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
