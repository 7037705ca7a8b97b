import { request } from "undici";
import type { CatalogNode, CatalogReader, ServiceInstance } from "../catalog/index.js";
import type { ClusterView, Federation } from "../server/index.js";
import { ErrorCode, errorMessage, instanceProblem, RucheError } from "../structs/index.js";
import { DC_NOT_AVAILABLE, localDatacenters } from "./federation-forward.js";
import { PLAIN_HTTP, type Dial } from "./forward.js";

/** How long a server of another datacenter is given to answer a DNS question's look-up: DNS clients give up within seconds. */
const ASK_MS = 2_000;

/**
 * The catalog of another datacenter as one of its servers has it at this moment, read once
 * (its snapshot and its nodes, over its API): what `NAME.service.DC.consul` and
 * `NODE.node.DC.consul` are answered from. Nothing is kept: the next question asks again.
 */
class FetchedCatalog implements CatalogReader {
  private readonly byService = new Map<string, ServiceInstance[]>();

  constructor(
    private readonly dc: string,
    private readonly at: number,
    instances: readonly ServiceInstance[],
    private readonly nodeList: CatalogNode[],
  ) {
    for (const i of instances) {
      const list = this.byService.get(i.Service);
      if (list === undefined) this.byService.set(i.Service, [i]);
      else list.push(i);
    }
  }

  index(): number {
    return Math.max(1, this.at);
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
    return this.nodeList;
  }
  wait(): Promise<number> {
    return Promise.resolve(this.index());
  }
}

/** This region's catalog under another of its datacenters' names: the region's servers share one state. */
function renamed(catalog: CatalogReader, dc: string): CatalogReader {
  return {
    index: () => catalog.index(),
    datacenter: () => dc,
    instances: (s) => catalog.instances(s),
    services: () => catalog.services(),
    nodes: () => catalog.nodes(),
    wait: (i, t, s) => catalog.wait(i, t, s),
  };
}

/** A node of Consul's `/v1/catalog/nodes`, as the catalog holds it; null when it is not one. */
function nodeOf(x: unknown, dc: string): CatalogNode | null {
  if (typeof x !== "object" || x === null) return null;
  const n = x as Record<string, unknown>;
  if (typeof n.ID !== "string" || typeof n.Node !== "string" || typeof n.Address !== "string") return null;
  const meta = typeof n.Meta === "object" && n.Meta !== null ? Object.fromEntries(Object.entries(n.Meta).filter((e): e is [string, string] => typeof e[1] === "string")) : {};
  const num = (v: unknown): number => (typeof v === "number" ? v : 0);
  return { ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: dc, Meta: meta, CreateIndex: num(n.CreateIndex), ModifyIndex: num(n.ModifyIndex) };
}

/**
 * Finds the catalog of datacenter `dc` for a DNS question: this region's own (`local`) when
 * `dc` is one of its servers' datacenters, else one read from a live server of that datacenter
 * (`federation.serverInDatacenter`, over `dial`); null when no server of it is known (Consul's
 * "No path to datacenter", which its DNS answers NXDOMAIN). Rejects when the datacenter is
 * known but none of its servers is alive (Consul's "Remote DC has no server currently
 * reachable"), or its server does not answer in time or answers what is not a catalog: the
 * question is answered SERVFAIL, as Consul's DNS answers them.
 */
export async function datacenterCatalog(o: { federation: Federation; cluster: ClusterView; local: CatalogReader; dial?: Dial; regionDial?: (region: string) => Dial }, dc: string): Promise<CatalogReader | null> {
  if (localDatacenters(o.cluster).has(dc)) return renamed(o.local, dc);
  const server = o.federation.serverInDatacenter(dc);
  if (server === undefined) {
    if (o.federation.datacenters().includes(dc)) throw new RucheError(ErrorCode.Unavailable, `${DC_NOT_AVAILABLE}: none of the servers of datacenter ${dc} answers`);
    return null;
  }
  const address = server.ConsulAddr !== "" ? server.ConsulAddr : server.HTTPAddr;
  const dial = o.regionDial?.(server.Region) ?? o.dial ?? PLAIN_HTTP;
  const get = async (path: string): Promise<unknown> => {
    try {
      const res = await request(`${dial.scheme}://${address}${path}`, {
        ...(dial.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }),
        method: "GET",
        signal: AbortSignal.timeout(ASK_MS),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}: ${text.slice(0, 200)}`);
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new RucheError(ErrorCode.BadGateway, `${server.Name} (${address}) of datacenter ${dc} did not give GET ${path}: ${errorMessage(err)}`, { cause: err });
    }
  };
  const [snap, nodes] = await Promise.all([get("/v1/catalog/snapshot?stale"), get("/v1/catalog/nodes?stale")]);
  const s = snap as { index?: unknown; instances?: unknown };
  if (typeof s.index !== "number" || !Array.isArray(s.instances) || !Array.isArray(nodes)) {
    throw new RucheError(ErrorCode.BadGateway, `${server.Name} (${address}) of datacenter ${dc} answered a catalog that is not one`);
  }
  const instances = (s.instances as unknown[]).filter((i): i is ServiceInstance => instanceProblem(i) === null);
  const nodeList = nodes.map((n) => nodeOf(n, dc)).filter((n): n is CatalogNode => n !== null);
  return new FetchedCatalog(dc, s.index, instances, nodeList);
}
