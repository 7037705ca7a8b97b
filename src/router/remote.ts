import type { ApiClient } from "../apiclient/index.js";
import type { CatalogNode, CatalogReader, CatalogSnapshot, HealthCheck, ServiceInstance } from "../catalog/index.js";
import { silentLogger, type Logger } from "../structs/index.js";
import { SnapshotCatalog } from "./snapshot-catalog.js";
import type { Datacenters } from "./failover.js";

/** Longest blocking query asked of the server; the API caps them at 5 minutes. */
const MAX_WAIT_S = 300;

/**
 * The catalog of remote servers, for a router without the server role: the whole health
 * view read with one blocking query (`GET /v1/catalog/snapshot?index=`, through the API
 * client), the same snapshot an in-process router builds its table from. Answers are
 * checked field by field at this boundary (the servers may run another version): an
 * instance that is not what it should be is left out and logged.
 */
export class RemoteCatalog implements CatalogReader {
  private readonly current = new SnapshotCatalog("");
  private dc = "";
  private readonly closed = new AbortController();
  /** The malformed instances of the last answer, logged once each, not once per answer. */
  private said = new Set<string>();

  constructor(
    private readonly api: ApiClient,
    private readonly log: Logger = silentLogger,
  ) {}

  close(): void {
    this.closed.abort();
  }

  index(): number {
    return this.current.index();
  }

  datacenter(): string {
    return this.dc;
  }

  instances(service: string): ServiceInstance[] {
    return this.current.instances(service);
  }

  services(): Record<string, string[]> {
    return this.current.services();
  }

  nodes(): CatalogNode[] {
    return this.current.nodes();
  }

  nodeApis(): readonly string[] {
    return this.current.nodeApis();
  }

  /** One blocking query on the servers' catalog; the snapshot it answers with replaces the one held. */
  async wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const stop = signal === undefined ? this.closed.signal : AbortSignal.any([signal, this.closed.signal]);
    const waitS = Math.max(1, Math.min(MAX_WAIT_S, Math.ceil(timeoutMs / 1000)));
    const r = await this.api.catalogSnapshot({ index: minIndex, wait: `${waitS}s`, signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs + 10_000)]) });
    const snap = this.checked(r.body);
    if (snap.index !== this.current.index() || minIndex === 0) {
      this.current.set(snap);
      this.dc = snap.instances[0]?.node.Datacenter ?? this.dc;
    }
    return this.index();
  }

  /** The answer as a snapshot; malformed instances are left out. */
  checked(body: unknown): CatalogSnapshot {
    const b = body as { index?: unknown; instances?: unknown; nodeApis?: unknown } | null;
    if (typeof b !== "object" || b === null || typeof b.index !== "number" || !Array.isArray(b.instances)) throw new Error("the servers' catalog answered something other than a snapshot");
    const pass = new Set<string>();
    const instances = (b.instances as unknown[]).flatMap((e) => this.instance(e, pass));
    this.said = pass;
    const nodeApis = Array.isArray(b.nodeApis) ? b.nodeApis.filter((a): a is string => typeof a === "string") : [];
    return { index: b.index, instances, nodeApis };
  }

  /** One instance of the answer, or nothing when it is malformed. */
  private instance(e: unknown, pass: Set<string>): ServiceInstance[] {
    const o = e as Record<string, unknown> | null;
    const n = o?.node as Record<string, unknown> | null | undefined;
    const str = (v: unknown): string => (typeof v === "string" ? v : "");
    const num = (v: unknown): number => (typeof v === "number" ? v : 0);
    const strMap = (v: unknown): Record<string, string> => (typeof v === "object" && v !== null ? Object.fromEntries(Object.entries(v).filter((x): x is [string, string] => typeof x[1] === "string")) : {});
    if (o === null || typeof o !== "object" || typeof n !== "object" || n === null || typeof o.ID !== "string" || typeof o.Service !== "string" || typeof o.Port !== "number" || !Array.isArray(o.Tags) || !Array.isArray(o.checks)) {
      const entry = JSON.stringify(e).slice(0, 200);
      pass.add(entry);
      if (!this.said.has(entry)) this.log.warn({ entry }, "router: a malformed instance of the servers' catalog is left out");
      return [];
    }
    const node: CatalogNode = { ID: str(n.ID), Node: str(n.Node), Address: str(n.Address), Datacenter: str(n.Datacenter), Meta: strMap(n.Meta), CreateIndex: num(n.CreateIndex), ModifyIndex: num(n.ModifyIndex) };
    const checks: HealthCheck[] = (o.checks as unknown[]).map((c) => {
      const x = (typeof c === "object" && c !== null ? c : {}) as Record<string, unknown>;
      // A status this router does not know is not a pass.
      const status = x.Status === "passing" || x.Status === "warning" ? x.Status : "critical";
      const tags = Array.isArray(x.ServiceTags) ? x.ServiceTags.filter((t): t is string => typeof t === "string") : [];
      return { Node: str(x.Node), CheckID: str(x.CheckID), Name: str(x.Name), Status: status, Notes: str(x.Notes), Output: str(x.Output), ServiceID: str(x.ServiceID), ServiceName: str(x.ServiceName), ServiceTags: tags, Type: str(x.Type), CreateIndex: num(x.CreateIndex), ModifyIndex: num(x.ModifyIndex) };
    });
    const tags = (o.Tags as unknown[]).filter((t): t is string => typeof t === "string");
    return [{ ID: o.ID, Service: o.Service, Tags: tags, Address: str(o.Address), Port: o.Port, Meta: strMap(o.Meta), node, checks, CreateIndex: num(o.CreateIndex), ModifyIndex: num(o.ModifyIndex) }];
  }
}

/**
 * The other datacenters for a router without the server role, asked of its servers: their
 * `/v1/catalog/datacenters` (nearest first, theirs first: left out), and each one's catalog
 * with `GET /v1/catalog/snapshot?dc=DC&index=` — a blocking query the servers send on to a
 * server of that datacenter and relay. The answers are checked as the servers' own catalog's.
 * Another datacenter of the servers' own region is followed too: its catalog is theirs, so
 * it never has what theirs has not.
 */
export class RemoteDatacenters implements Datacenters {
  /** Per datacenter, what checks its answers (and logs a malformed instance once). */
  private readonly readers = new Map<string, RemoteCatalog>();

  constructor(
    private readonly api: ApiClient,
    private readonly log: Logger = silentLogger,
  ) {}

  async nearest(signal: AbortSignal): Promise<string[]> {
    const r = await this.api.request<unknown>("GET", "/v1/catalog/datacenters", undefined, { signal });
    if (!Array.isArray(r.body) || !r.body.every((d): d is string => typeof d === "string")) throw new Error("the servers answered /v1/catalog/datacenters with something other than a list of names");
    return r.body.slice(1);
  }

  async snapshot(dc: string, index: number, waitMs: number, signal: AbortSignal): Promise<CatalogSnapshot> {
    const waitS = Math.max(1, Math.min(MAX_WAIT_S, Math.ceil(waitMs / 1000)));
    const r = await this.api.request<unknown>("GET", "/v1/catalog/snapshot", undefined, { index, wait: `${waitS}s`, signal, query: { dc } });
    let reader = this.readers.get(dc);
    if (reader === undefined) {
      reader = new RemoteCatalog(this.api, this.log);
      this.readers.set(dc, reader);
    }
    return reader.checked(r.body);
  }
}
