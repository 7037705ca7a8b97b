import type { CatalogNode, CatalogReader, HealthCheck, ServiceInstance } from "../catalog/index.js";
import { silentLogger, type Logger } from "../structs/index.js";

/** Longest blocking query asked of the server; Consul caps them at 10 minutes. */
const MAX_WAIT_S = 300;

/**
 * The catalog of remote servers, for a router without the server role: the servers'
 * Consul-compatible API read by blocking queries (`/v1/catalog/services?index=`, then
 * `/v1/health/service/NAME` of each service). Answers are checked field by field at this
 * boundary; an entry that is not what it should be is left out and logged.
 */
export class RemoteCatalog implements CatalogReader {
  private idx = 0;
  private dc = "";
  private byService = new Map<string, ServiceInstance[]>();
  private readonly closed = new AbortController();

  constructor(
    private readonly base: string,
    private readonly log: Logger = silentLogger,
  ) {}

  close(): void {
    this.closed.abort();
  }

  index(): number {
    return Math.max(1, this.idx);
  }

  datacenter(): string {
    return this.dc;
  }

  instances(service: string): ServiceInstance[] {
    return this.byService.get(service) ?? [];
  }

  services(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [name, list] of this.byService) out[name] = [...new Set(list.flatMap((i) => i.Tags))];
    return out;
  }

  nodes(): CatalogNode[] {
    const seen = new Map<string, CatalogNode>();
    for (const list of this.byService.values()) for (const i of list) seen.set(i.node.ID, i.node);
    return [...seen.values()];
  }

  /** One blocking query on the servers' catalog, then the health of every service at the index it answered. */
  async wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const stop = signal === undefined ? this.closed.signal : AbortSignal.any([signal, this.closed.signal]);
    const waitS = Math.max(1, Math.min(MAX_WAIT_S, Math.ceil(timeoutMs / 1000)));
    const list = await this.get(`/v1/catalog/services?index=${minIndex}&wait=${waitS}s`, stop, timeoutMs + 10_000);
    const index = list.index;
    if (typeof list.body !== "object" || list.body === null || Array.isArray(list.body)) throw new Error("the servers' catalog answered something other than a map of services");
    if (index === this.idx && minIndex !== 0) return this.index();
    const next = new Map<string, ServiceInstance[]>();
    for (const name of Object.keys(list.body).sort()) {
      const h = await this.get(`/v1/health/service/${encodeURIComponent(name)}`, stop, 30_000);
      next.set(name, Array.isArray(h.body) ? h.body.flatMap((e) => this.entry(e)) : []);
    }
    this.byService = next;
    this.idx = index;
    return this.index();
  }

  private async get(path: string, signal: AbortSignal, timeoutMs: number): Promise<{ index: number; body: unknown }> {
    const r = await fetch(`${this.base}${path}`, { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) });
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
    return { index: Number(r.headers.get("x-consul-index") ?? "0"), body: await r.json() };
  }

  /** A `/v1/health/service` entry → an instance, or nothing when it is malformed. */
  private entry(e: unknown): ServiceInstance[] {
    const o = e as { Node?: Record<string, unknown>; Service?: Record<string, unknown>; Checks?: unknown[] } | null;
    const n = o?.Node;
    const s = o?.Service;
    const str = (v: unknown): string => (typeof v === "string" ? v : "");
    const num = (v: unknown): number => (typeof v === "number" ? v : 0);
    const strMap = (v: unknown): Record<string, string> => (typeof v === "object" && v !== null ? Object.fromEntries(Object.entries(v).filter((x): x is [string, string] => typeof x[1] === "string")) : {});
    if (n === undefined || s === undefined || typeof s.ID !== "string" || typeof s.Service !== "string" || typeof s.Port !== "number" || !Array.isArray(s.Tags) || !Array.isArray(o?.Checks)) {
      this.log.warn({ entry: JSON.stringify(e).slice(0, 200) }, "router: a malformed entry of the servers' catalog is left out");
      return [];
    }
    const node: CatalogNode = { ID: str(n.ID), Node: str(n.Node), Address: str(n.Address), Datacenter: str(n.Datacenter), Meta: strMap(n.Meta), CreateIndex: num(n.CreateIndex), ModifyIndex: num(n.ModifyIndex) };
    if (this.dc === "") this.dc = node.Datacenter;
    const checks: HealthCheck[] = o.Checks.map((c) => {
      const x = (typeof c === "object" && c !== null ? c : {}) as Record<string, unknown>;
      const status = x.Status === "passing" || x.Status === "warning" ? x.Status : "critical";
      return { Node: str(x.Node), CheckID: str(x.CheckID), Name: str(x.Name), Status: status, Notes: str(x.Notes), Output: str(x.Output), ServiceID: str(x.ServiceID), ServiceName: str(x.ServiceName), ServiceTags: [], Type: str(x.Type), CreateIndex: num(x.CreateIndex), ModifyIndex: num(x.ModifyIndex) };
    });
    const tags = s.Tags.filter((t): t is string => typeof t === "string");
    const address = str(s.Address) === "" ? node.Address : str(s.Address);
    return [{ ID: s.ID, Service: s.Service, Tags: tags, Address: address, Port: s.Port, Meta: strMap(s.Meta), node, checks, CreateIndex: num(s.CreateIndex), ModifyIndex: num(s.ModifyIndex) }];
  }
}
