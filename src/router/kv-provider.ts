import type { CatalogNode, CatalogReader, HealthCheck, ServiceInstance } from "../catalog/index.js";
import type { ApiClient } from "../apiclient/index.js";
import { errorMessage, silentLogger, sleep, type Logger } from "../structs/index.js";

/** What the KV provider reads: Ruche's own KV (Consul's entries, values base64) and its blocking wait. */
export interface KvReader {
  /** Every entry under `prefix`, sorted by key. */
  list(prefix: string): { Key: string; Value: string | null; ModifyIndex: number }[];
  /** The KV's index: never goes backwards. */
  index(): number;
  /** Resolves with the KV's index once it passed `minIndex`, or when the wait ends. */
  wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number>;
}

/** The provider suffix of what the KV provider defines, as Traefik names it (`whoami@consul`). */
export const KV_PROVIDER = "consul";
/** The node the KV provider's servers are shown on: they are no catalog node's. */
export const KV_NODE = "traefik-kv";

/** Whether an instance is one of the KV provider's servers (constraints, which are the catalog's, do not apply to it). */
export function isKvInstance(inst: ServiceInstance): boolean {
  return inst.node.Node === KV_NODE && inst.Service.endsWith(`@${KV_PROVIDER}`);
}

/**
 * Traefik v2's KV layout under `rootKey` — `http/routers/R/{rule, service, entrypoints/N,
 * middlewares/N, priority, tls}`, `http/services/S/loadbalancer/{servers/N/url, passhostheader,
 * sticky/..., healthcheck/...}`, `http/middlewares/M/...` — as instances of the catalog: each
 * server URL of a service some router uses is an instance of `S@consul` (always passing: no
 * catalog check is its), its tags the same as the catalog's providers would carry
 * (`PREFIX.http.routers.R.rule=...`, lists joined by commas), so that the routing table reads
 * both alike. **Pure.** What it cannot take is left out, with its reason in `problems`.
 */
export function kvInstances(entries: readonly { Key: string; Value: string | null; ModifyIndex: number }[], rootKey: string, prefix: string, datacenter: string): { instances: ServiceInstance[]; problems: string[] } {
  const root = rootKey.replace(/\/+$/, "");
  const problems: string[] = [];
  /** Each flat key (`http.routers.R.rule`), its value; lists (`.../entrypoints/0`) joined. */
  const flat = new Map<string, string[]>();
  let modify = 1;
  /** Traefik v1's layout (`frontends/F/...`, `backends/B/...`), read apart. */
  const v1: { parts: string[]; value: string; modify: number }[] = [];
  for (const e of entries) {
    if (!e.Key.startsWith(`${root}/`)) continue;
    const rest = e.Key.slice(root.length + 1);
    if (rest === "" || rest.endsWith("/")) continue;
    const value = e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8");
    const parts = rest.split("/");
    const kind = parts[0];
    if (kind === "frontends" || kind === "backends") {
      v1.push({ parts, value, modify: e.ModifyIndex });
      continue;
    }
    if (kind !== "http") {
      problems.push(`${e.Key}: ${kind === "tcp" || kind === "udp" ? `${kind.toUpperCase()} routers are not built` : kind === "tls" ? "TLS options and stores from the KV are not built: give certificate files to an entrypoint" : "not part of Traefik's KV layout (http/routers, http/services, http/middlewares)"}`);
      continue;
    }
    modify = Math.max(modify, e.ModifyIndex);
    const last = parts[parts.length - 1] ?? "";
    const key = (/^\d+$/.test(last) ? parts.slice(0, -1) : parts).join(".");
    flat.set(key, [...(flat.get(key) ?? []), value]);
  }
  const get = (k: string): string | undefined => flat.get(k)?.join(",");

  // The services and their servers.
  const servers = new Map<string, { url: URL; index: string }[]>();
  for (const [k, vs] of flat) {
    const m = /^http\.services\.([^.]+)\.loadbalancer\.servers\.(\d+)\.url$/i.exec(k);
    if (m === null) continue;
    const name = m[1] as string;
    const i = m[2] as string;
    for (const v of vs) {
      const url = httpUrl(v);
      if (url === null) {
        problems.push(`${root}/http/services/${name}/loadbalancer/servers/${i}/url: "${v}" is not an http:// or https:// URL`);
        continue;
      }
      if (url.pathname !== "/" || url.search !== "") problems.push(`${root}/http/services/${name}/loadbalancer/servers/${i}/url: a path in a server's URL is not built; "${v}" is taken as ${url.origin}`);
      servers.set(name, [...(servers.get(name) ?? []), { url, index: i }]);
    }
  }
  for (const k of flat.keys()) {
    const m = /^http\.services\.([^.]+)\.(weighted|mirroring|failover)\b/i.exec(k);
    if (m !== null) problems.push(`${root}/http/services/${m[1] ?? ""}/${m[2] ?? ""}: ${m[2] ?? ""} services are not built`);
  }

  // Each router, on the instances of its service.
  const routersOf = new Map<string, string[]>();
  const routerNames = new Set([...flat.keys()].flatMap((k) => /^http\.routers\.([^.]+)\./i.exec(k)?.[1] ?? []));
  for (const r of routerNames) {
    const svc = get(`http.routers.${r}.service`);
    if (svc === undefined) {
      problems.push(`${root}/http/routers/${r}: it names no service (${root}/http/routers/${r}/service)`);
      continue;
    }
    const local = svc.endsWith(`@${KV_PROVIDER}`) ? svc.slice(0, -KV_PROVIDER.length - 1) : svc;
    if (local.includes("@")) {
      problems.push(`${root}/http/routers/${r}/service: "${svc}" is another provider's service; a router of the KV routes to the KV's services only`);
      continue;
    }
    if (!servers.has(local)) {
      problems.push(`${root}/http/routers/${r}/service: "${svc}" has no servers (${root}/http/services/${local}/loadbalancer/servers/0/url)`);
      continue;
    }
    routersOf.set(local, [...(routersOf.get(local) ?? []), r]);
  }

  const tag = (k: string, v: string): string => `${prefix}.${k}=${v}`;
  const weight = (service: string, index: string): string | undefined => [...flat].find(([k]) => k.toLowerCase() === `http.services.${service.toLowerCase()}.loadbalancer.servers.${index}.weight`)?.[1].join(",");
  const middlewareTags = [...flat.keys()].filter((k) => /^http\.middlewares\./i.test(k)).map((k) => tag(k, get(k) ?? ""));
  const node: CatalogNode = { ID: KV_NODE, Node: KV_NODE, Address: "", Datacenter: datacenter, Meta: {}, CreateIndex: 1, ModifyIndex: modify };
  const instances: ServiceInstance[] = [];
  for (const [service, routers] of routersOf) {
    const tags = [tag("enable", "true")];
    for (const r of routers) {
      for (const k of flat.keys()) {
        if (!k.toLowerCase().startsWith(`http.routers.${r.toLowerCase()}.`)) continue;
        // The router's service is this instance's own service.
        // Its middlewares of the KV itself are named without their provider, as the tags name theirs.
        tags.push(/\.service$/i.test(k) ? tag(k, service) : /\.middlewares$/i.test(k) ? tag(k, (flat.get(k) ?? []).map((m) => m.replace(new RegExp(`@${KV_PROVIDER}$`), "")).join(",")) : tag(k, get(k) ?? ""));
      }
    }
    for (const k of flat.keys()) if (k.toLowerCase().startsWith(`http.services.${service.toLowerCase()}.`) && !/\.loadbalancer\.servers\./i.test(k)) tags.push(tag(k, get(k) ?? ""));
    tags.push(...middlewareTags);
    for (const { url, index } of servers.get(service) ?? []) {
      instances.push(
        serverInstance(service, index, url, node, (port, https) => [
          ...tags,
          tag(`http.services.${service}.loadbalancer.server.port`, String(port)),
          ...(https ? [tag(`http.services.${service}.loadbalancer.server.scheme`, "https")] : []),
          // A server's weight (`servers/N/weight`) is its instance's.
          ...(weight(service, index) === undefined ? [] : [tag(`http.services.${service}.loadbalancer.server.weight`, weight(service, index) ?? "")]),
        ]),
      );
    }
  }
  const older = v1Instances(v1, root, prefix, datacenter, problems);
  return { instances: [...instances, ...older], problems };
}

/**
 * Traefik v1's KV layout: `backends/B/servers/S/url` (and `weight`), `backends/B/loadbalancer/method`;
 * `frontends/F/backend`, `frontends/F/routes/R/rule` (`Host:a.com`), `frontends/F/entrypoints`
 * (`http,https`), `frontends/F/priority`, and the frontend's other keys as its tags
 * (`PREFIX.frontends.F.*`, which the tags' reader takes or refuses).
 */
function v1Instances(v1: readonly { parts: string[]; value: string; modify: number }[], root: string, prefix: string, datacenter: string, problems: string[]): ServiceInstance[] {
  const backends = new Map<string, { servers: Map<string, { url?: string; weight?: string }>; method?: string }>();
  const frontends = new Map<string, { backend?: string; tags: string[]; rules: string[] }>();
  let modify = 1;
  for (const { parts, value, modify: m } of v1) {
    modify = Math.max(modify, m);
    const [kind, name = "", ...rest] = parts;
    if (kind === "backends") {
      const b = backends.get(name) ?? { servers: new Map<string, { url?: string; weight?: string }>() };
      backends.set(name, b);
      if (rest[0] === "servers" && rest.length === 3 && (rest[2] === "url" || rest[2] === "weight")) {
        const srv = b.servers.get(rest[1] ?? "") ?? {};
        srv[rest[2]] = value;
        b.servers.set(rest[1] ?? "", srv);
      } else if (rest.join("/") === "loadbalancer/method") b.method = value;
      else problems.push(`${root}/${parts.join("/")}: not built for the KV's backends (servers/S/url, servers/S/weight, loadbalancer/method)`);
      continue;
    }
    const f = frontends.get(name) ?? { tags: [], rules: [] };
    frontends.set(name, f);
    if (rest.length === 1 && rest[0] === "backend") f.backend = value;
    else if (rest[0] === "routes" && rest.length === 3 && rest[2] === "rule") f.rules.push(value);
    else f.tags.push(`${prefix}.frontends.${name}.${rest.map((x) => (x === "entrypoints" ? "entryPoints" : x)).join(".")}=${value}`);
  }
  const node: CatalogNode = { ID: KV_NODE, Node: KV_NODE, Address: "", Datacenter: datacenter, Meta: {}, CreateIndex: 1, ModifyIndex: modify };
  const out: ServiceInstance[] = [];
  const used = new Map<string, string[]>();
  for (const [name, f] of frontends) {
    if (f.backend === undefined) {
      problems.push(`${root}/frontends/${name}: it names no backend (${root}/frontends/${name}/backend)`);
      continue;
    }
    if (!backends.has(f.backend)) {
      problems.push(`${root}/frontends/${name}/backend: "${f.backend}" has no servers (${root}/backends/${f.backend}/servers/S/url)`);
      continue;
    }
    const tags = [...f.tags, ...(f.rules.length > 0 ? [`${prefix}.frontends.${name}.rule=${f.rules.join(";")}`] : [])];
    used.set(f.backend, [...(used.get(f.backend) ?? []), ...tags]);
  }
  for (const [name, tags] of used) {
    const b = backends.get(name);
    if (b === undefined) continue;
    for (const [id, srv] of b.servers) {
      const url = httpUrl(srv.url ?? "");
      if (url === null) {
        problems.push(`${root}/backends/${name}/servers/${id}/url: "${srv.url ?? ""}" is not an http:// or https:// URL`);
        continue;
      }
      out.push(serverInstance(name, id, url, node, (port, https) => [`${prefix}.enable=true`, ...tags, ...(b.method === undefined ? [] : [`${prefix}.backend.loadbalancer.method=${b.method}`]), `${prefix}.port=${port}`, ...(https ? [`${prefix}.protocol=https`] : []), ...(srv.weight === undefined ? [] : [`${prefix}.weight=${srv.weight}`])]));
    }
  }
  return out;
}

/**
 * The catalog with the KV provider's servers added (`kvInstances`), read again whenever the
 * KV changes: the routing table reads both as one, and `wait` wakes for a change of either.
 * Its index is the sum of theirs (both only grow), so a change of either moves it.
 */
export class KvMergedCatalog implements CatalogReader {
  private cached: { index: number; instances: ServiceInstance[]; problems: string[] } | null = null;

  constructor(
    private readonly catalog: CatalogReader,
    private readonly kv: KvReader,
    private readonly rootKey: string,
    private readonly prefix: string,
    /** Told each new list of what the KV holds that the provider cannot take (empty when all is taken). */
    private readonly onProblems: (problems: string[]) => void = () => undefined,
  ) {}

  private kvView(): { instances: ServiceInstance[]; problems: string[] } {
    const index = this.kv.index();
    if (this.cached?.index !== index) {
      const prev = this.cached?.problems.join("\n");
      const v = kvInstances(this.kv.list(`${this.rootKey.replace(/\/+$/, "")}/`), this.rootKey, this.prefix, this.catalog.datacenter());
      this.cached = { index, ...v };
      if (v.problems.join("\n") !== prev) this.onProblems(v.problems);
    }
    return this.cached;
  }

  index(): number {
    return this.catalog.index() + this.kv.index();
  }

  datacenter(): string {
    return this.catalog.datacenter();
  }

  instances(service: string): ServiceInstance[] {
    return [...this.catalog.instances(service), ...this.kvView().instances.filter((i) => i.Service === service)];
  }

  services(): Record<string, string[]> {
    const out = { ...this.catalog.services() };
    for (const i of this.kvView().instances) out[i.Service] = [...new Set([...(out[i.Service] ?? []), ...i.Tags])];
    return out;
  }

  nodes(): CatalogNode[] {
    return this.catalog.nodes();
  }

  checks(): HealthCheck[] {
    return this.catalog.checks?.() ?? [];
  }

  nodeApis(): readonly string[] {
    return this.catalog.nodeApis?.() ?? [];
  }

  async wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (this.index() > minIndex) return this.index();
    const done = new AbortController();
    const any = signal === undefined ? done.signal : AbortSignal.any([signal, done.signal]);
    try {
      await Promise.race([this.catalog.wait(this.catalog.index(), timeoutMs, any), this.kv.wait(this.kv.index(), timeoutMs, any)]);
    } finally {
      done.abort();
    }
    return this.index();
  }
}

/**
 * The instance the KV's server `server` of `service` is, at `url` (its port the URL's, else
 * its scheme's), on the KV's `node`; its tags given that port and whether it speaks https.
 */
function serverInstance(service: string, server: string, url: URL, node: CatalogNode, tags: (port: number, https: boolean) => string[]): ServiceInstance {
  const https = url.protocol === "https:";
  const port = url.port === "" ? (https ? 443 : 80) : Number(url.port);
  return { ID: `${KV_NODE}/${service}/${server}`, Service: `${service}@${KV_PROVIDER}`, Tags: tags(port, https), Address: url.hostname.replace(/^\[|\]$/g, ""), Port: port, Meta: {}, node, checks: [], CreateIndex: 1, ModifyIndex: node.ModifyIndex };
}

/** `v` as a URL if it is an http:// or https:// one with a host; else null. */
function httpUrl(v: string): URL | null {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return null;
  }
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" ? url : null;
}

/** How long one blocking read of the servers' KV lasts, at most, in seconds. */
const REMOTE_WAIT_S = 300;

/**
 * The servers' KV under the root key, for a router-only agent: followed with one blocking
 * query (`GET /v1/kv/ROOT/?recurse&index=`) per change, the entries held. A failing read (the
 * servers unreachable, a token without `key:read`) is logged once (again when it changes),
 * retried each second, and never stops the catalog's routes: its wait then simply ends.
 */
export class RemoteKv implements KvReader {
  private entries: { Key: string; Value: string | null; ModifyIndex: number }[] = [];
  private idx = 0;
  private failing = "";

  constructor(
    private readonly api: Pick<ApiClient, "kvRead">,
    private readonly rootKey: string,
    private readonly log: Logger = silentLogger,
  ) {}

  list(prefix: string): { Key: string; Value: string | null; ModifyIndex: number }[] {
    return this.entries.filter((e) => e.Key.startsWith(prefix));
  }

  index(): number {
    return this.idx;
  }

  async wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const waitS = Math.max(1, Math.min(REMOTE_WAIT_S, Math.ceil(timeoutMs / 1000)));
    const stop = AbortSignal.any([...(signal === undefined ? [] : [signal]), AbortSignal.timeout(timeoutMs + 10_000)]);
    try {
      const r = await this.api.kvRead(`${this.rootKey.replace(/\/+$/, "")}/`, { recurse: true, index: minIndex, wait: `${waitS}s`, signal: stop });
      this.entries = r.entries;
      // Never backwards, as Consul's blocking queries ask of their callers.
      this.idx = Math.max(this.idx, r.index);
      if (this.failing !== "") this.log.info({ rootKey: this.rootKey }, "router: the KV provider reads the servers' KV again");
      this.failing = "";
    } catch (err) {
      if (signal?.aborted === true) return this.idx;
      const why = errorMessage(err);
      if (why !== this.failing) this.log.warn({ err, rootKey: this.rootKey }, "router: the KV provider cannot read the servers' KV; the catalog's routes are served, the KV's as last read; retrying each second");
      this.failing = why;
      await sleep(1000, signal).catch(() => undefined);
    }
    return this.idx;
  }
}
