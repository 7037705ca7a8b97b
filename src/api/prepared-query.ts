import { request } from "undici";
import { aggregate, failoverOrder, PreparedQueries, serviceQueryMatches, shuffled, type CatalogReader, type HealthCheck, type ServiceInstance } from "../catalog/index.js";
import type { ClusterView, Federation } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import { AclPrefixKind, ALLOW_ALL, DENY_ALL, errorMessage, parseQueryBody, queryDnsTtlSeconds, type Acl, type Logger, type PreparedQuery, type QueryDNSOptions } from "../structs/index.js";
import { AclResolver } from "./acl-resolve.js";
import { localDatacenters } from "./federation-forward.js";
import { PLAIN_HTTP, type Dial } from "./forward.js";
import { agentService, nodeJson } from "./routes/consul.js";
import { datacentersNearestFirst } from "./routes/federation.js";

/** Where a server sends a query's service part to run in another datacenter (Consul's `PreparedQuery.ExecuteRemote`): the definition travels, the other side looks nothing up. */
export const EXECUTE_REMOTE_PATH = "/v1/internal/query/execute";

/** How long another datacenter's server is given to answer a failover's question. */
const REMOTE_MS = 3_000;

/** One instance of an answer, as Consul's `/v1/health/service/:name` shows it. */
export interface ServiceEntry {
  Node: Record<string, unknown> & { Node: string; Address: string };
  Service: Record<string, unknown> & { Address: string; Port: number };
  Checks: HealthCheck[];
}

/** Consul's `PreparedQueryExecuteResponse`. */
export interface QueryExecuteResponse {
  Service: string;
  Nodes: ServiceEntry[];
  DNS: QueryDNSOptions;
  /** The datacenter the instances are in. */
  Datacenter: string;
  /** How many other datacenters were asked. */
  Failovers: number;
}

/** What an execution runs with: whose ACL filters the instances, and how many to answer. */
export interface ExecuteOptions {
  /** The request's ACL: the instances it may not read are left out (the query's own Token's instead, when it has one). */
  acl: Acl;
  /** The request's token, sent on to another datacenter's server when the query fails over. */
  token?: string;
  /** At most this many instances (0 or absent: all). */
  limit?: number;
  /** The node to put first (`?near=`, else the query's `Near`): a node name, `_agent` (this agent's node) or `_ip` (the node at `sourceIp`). */
  near?: string;
  sourceIp?: string;
}

export interface QueryEnv {
  queries: PreparedQueries;
  catalog: CatalogReader;
  federation: Federation;
  cluster: ClusterView;
  /** How this server dials the others; plain HTTP when absent. */
  dial?: Dial;
  /** How it dials another region's servers (over TLS, with the federation's CA); `dial` when absent. */
  regionDial?: (region: string) => Dial;
  /** This agent's node (its ID), for `Near: "_agent"`. */
  localNode(): string | undefined;
  /** The ACL of a query's own Token; absent (ACLs off): every instance is read. */
  tokenAcl?(secret: string): Acl;
  log: Logger;
  /** A number in [0, 1), for shuffling; Math.random when absent. */
  random?: () => number;
}

/**
 * Runs Consul's prepared queries: here, and when nothing here answers, in the other
 * datacenters the query's `Failover` names, nearest first (Consul's `Execute` and
 * `queryFailover`). Another datacenter is sent the query's definition (`EXECUTE_REMOTE_PATH`),
 * runs its service part on its own catalog and does not fail over again.
 */
export class QueryExecutor {
  constructor(private readonly env: QueryEnv) {}

  /** The stored queries it runs. */
  get queries(): PreparedQueries {
    return this.env.queries;
  }

  /** Executes the query of this ID or name; undefined when there is none. */
  async execute(idOrName: string, o: ExecuteOptions): Promise<QueryExecuteResponse | undefined> {
    const q = this.env.queries.resolve(idOrName);
    if (q === undefined) return undefined;
    const entries = this.runHere(q, o.acl);
    const nearName = this.nearNode(o.near !== undefined && o.near !== "" ? o.near : q.Service.Near, o.sourceIp);
    if (nearName !== undefined) {
      const at = entries.findIndex((e) => e.node.Node === nearName);
      if (at > 0) entries.unshift(...entries.splice(at, 1));
    }
    const limited = o.limit !== undefined && o.limit > 0 ? entries.slice(0, o.limit) : entries;
    const here: QueryExecuteResponse = { Service: q.Service.Service, Nodes: limited.map(serviceEntry), DNS: q.DNS, Datacenter: this.env.catalog.datacenter(), Failovers: 0 };
    if (here.Nodes.length > 0) return here;
    return this.failover(q, o, here);
  }

  /** The service part of a query another datacenter sent (`EXECUTE_REMOTE_PATH`'s body), run here without failing over; a body that is not one throws its problem. */
  executeRemote(body: unknown, o: ExecuteOptions): QueryExecuteResponse {
    const b = (typeof body === "object" && body !== null ? body : {}) as { Query?: unknown; Limit?: unknown };
    const parsed = parseQueryBody(b.Query);
    if (!parsed.ok) throw new Error(parsed.error);
    const q = { ...parsed.query, CreateIndex: 0, ModifyIndex: 0 };
    const entries = this.runHere(q, o.acl);
    const limit = typeof b.Limit === "number" && b.Limit > 0 ? b.Limit : 0;
    return { Service: q.Service.Service, Nodes: (limit > 0 ? entries.slice(0, limit) : entries).map(serviceEntry), DNS: q.DNS, Datacenter: this.env.catalog.datacenter(), Failovers: 0 };
  }

  /**
   * Executes a query for DNS (`NAME.query[.DC].consul`): here, or by that datacenter's servers
   * (the query is theirs) when `dc` is another's. Null when there is no such query, or no
   * server of that datacenter answers (NXDOMAIN); rejects when one answers wrong (SERVFAIL).
   */
  async executeIn(dc: string | null, name: string, o: ExecuteOptions): Promise<QueryExecuteResponse | null> {
    if (dc === null || localDatacenters(this.env.cluster).has(dc) || dc === this.env.catalog.datacenter()) return (await this.execute(name, o)) ?? null;
    const server = this.env.federation.serverInDatacenter(dc);
    if (server === undefined) return null;
    const answer = await this.ask(server, "GET", `/v1/query/${encodeURIComponent(name)}/execute`, undefined, o.token);
    return answer === "not found" ? null : answer;
  }

  /**
   * `NAME.query[.DC].consul`: the query executed (`executeIn`) with the DNS token (`o`: its
   * ACL, and its secret for another datacenter's servers; absent, ACLs off: every instance is
   * read) — or the query's own Token when it has one, as Consul's — as DNS answers it: each
   * instance's node, address (its own, else its node's), own address, port and SRV weight, in
   * the datacenter that answered, with the query's TTL and service.
   */
  async forDns(name: string, dc: string | null, o: { acl: Acl; token?: string } = { acl: ALLOW_ALL }): Promise<{ datacenter: string; ttlSeconds?: number; service: string; instances: { node: string; address: string; ownAddress: string; port: number; weight: number }[] } | null> {
    const r = await this.executeIn(dc, name, o);
    if (r === null) return null;
    const ttl = queryDnsTtlSeconds(r);
    return {
      datacenter: r.Datacenter,
      ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
      service: r.Service,
      instances: r.Nodes.map((e) => ({ node: e.Node.Node, address: e.Service.Address !== "" ? e.Service.Address : e.Node.Address, ownAddress: e.Service.Address, port: e.Service.Port, weight: srvWeight(e) })),
    };
  }

  /** The instances here a query answers, shuffled, those the ACL may not read left out. */
  private runHere(q: PreparedQuery, requestAcl: Acl): ServiceInstance[] {
    const acl = q.Token !== "" && this.env.tokenAcl !== undefined ? this.env.tokenAcl(q.Token) : requestAcl;
    const found = serviceQueryMatches(q.Service, this.env.catalog.instances(q.Service.Service)).filter((i) => acl.prefix(AclPrefixKind.Service, i.Service, "read") && acl.prefix(AclPrefixKind.ConsulNode, i.node.Node, "read"));
    return shuffled(found, this.env.random ?? Math.random);
  }

  /** The node `near` names here (Ruche keeps no node coordinates: that node comes first, the others stay shuffled). */
  private nearNode(near: string, sourceIp: string | undefined): string | undefined {
    if (near === "") return undefined;
    if (near === "_agent") {
      const id = this.env.localNode();
      return id === undefined ? undefined : this.env.catalog.nodes().find((n) => n.ID === id)?.Node;
    }
    if (near === "_ip") return sourceIp === undefined ? undefined : this.env.catalog.nodes().find((n) => n.Address === sourceIp)?.Node;
    return near;
  }

  /** Consul's `queryFailover`: each datacenter in `failoverOrder` asked in turn until one has instances; `Failovers` counts those asked. */
  private async failover(q: PreparedQuery, o: ExecuteOptions, here: QueryExecuteResponse): Promise<QueryExecuteResponse> {
    const local = localDatacenters(this.env.cluster);
    local.add(this.env.catalog.datacenter());
    const nearest = datacentersNearestFirst(this.env.federation, this.env.cluster.self).filter((dc) => !local.has(dc));
    let reply = here;
    let failovers = 0;
    for (const dc of failoverOrder(q.Service.Failover, nearest)) {
      failovers++;
      const server = this.env.federation.serverInDatacenter(dc);
      if (server === undefined) {
        this.env.log.warn({ service: q.Service.Service, datacenter: dc }, "prepared query failover: no server of the datacenter answers");
        reply = { ...reply, Nodes: [] };
        continue;
      }
      try {
        const answer = await this.ask(server, "POST", EXECUTE_REMOTE_PATH, { Query: q, Limit: o.limit ?? 0 }, o.token);
        if (answer === "not found") throw new Error(`${EXECUTE_REMOTE_PATH} is not served there`);
        reply = answer;
      } catch (err) {
        this.env.log.warn({ service: q.Service.Service, datacenter: dc, err: errorMessage(err) }, "prepared query failover: failed querying for service in datacenter");
        reply = { ...reply, Nodes: [] };
        continue;
      }
      if (reply.Nodes.length > 0) break;
    }
    return { ...reply, Failovers: failovers };
  }

  /** One question to another datacenter's server; "not found" for its 404. */
  private async ask(server: { Name: string; Region: string; ConsulAddr: string; HTTPAddr: string; Datacenter: string }, method: "GET" | "POST", path: string, body: unknown, token: string | undefined): Promise<QueryExecuteResponse | "not found"> {
    const address = server.ConsulAddr !== "" ? server.ConsulAddr : server.HTTPAddr;
    const dial = this.env.regionDial?.(server.Region) ?? this.env.dial ?? PLAIN_HTTP;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token !== undefined && token !== "") headers["x-consul-token"] = token;
    let status: number;
    let text: string;
    try {
      const res = await request(`${dial.scheme}://${address}${path}`, {
        ...(dial.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }),
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(REMOTE_MS),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw new Error(`${server.Name} (${address}) of datacenter ${server.Datacenter} did not answer ${method} ${path}: ${errorMessage(err)}`, { cause: err });
    }
    if (status === 404) return "not found";
    if (status !== 200) throw new Error(`${server.Name} (${address}) of datacenter ${server.Datacenter} answered ${method} ${path} with ${status}: ${text.slice(0, 200)}`);
    const answer = executeResponse(JSON.parse(text) as unknown);
    if (answer === null) throw new Error(`${server.Name} (${address}) of datacenter ${server.Datacenter} answered ${method} ${path} with what is not a query's answer`);
    return answer;
  }
}

/** An entry's SRV weight, as Consul's `findWeight`: its `Weights.Warning` when a check warns, else `Weights.Passing` (1 without weights). */
function srvWeight(e: ServiceEntry): number {
  const w = e.Service.Weights;
  const passing = isObject(w) && typeof w.Passing === "number" ? w.Passing : 1;
  const warning = isObject(w) && typeof w.Warning === "number" ? w.Warning : 1;
  return e.Checks.length > 0 && aggregate(e.Checks) === "warning" ? warning : passing;
}

/** An instance as an answer's entry. */
function serviceEntry(i: ServiceInstance): ServiceEntry {
  return { Node: nodeJson(i.node) as ServiceEntry["Node"], Service: agentService(i) as ServiceEntry["Service"], Checks: i.checks };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Another server's answer read back, its entries those with the fields DNS and the API use; null when it is not an answer. */
function executeResponse(x: unknown): QueryExecuteResponse | null {
  if (!isObject(x) || typeof x.Datacenter !== "string" || typeof x.Service !== "string" || !(Array.isArray(x.Nodes) || x.Nodes === null)) return null;
  const nodes = (x.Nodes ?? []) as unknown[];
  const ok = nodes.filter(
    (e): e is ServiceEntry =>
      isObject(e) && isObject(e.Node) && isObject(e.Service) && typeof e.Node.Node === "string" && typeof e.Node.Address === "string" && typeof e.Service.Address === "string" && typeof e.Service.Port === "number" && Array.isArray(e.Checks),
  );
  const dns = isObject(x.DNS) && typeof x.DNS.TTL === "string" ? { TTL: x.DNS.TTL } : { TTL: "" };
  return { Service: x.Service, Nodes: ok, DNS: dns, Datacenter: x.Datacenter, Failovers: typeof x.Failovers === "number" ? x.Failovers : 0 };
}

/**
 * A server's prepared queries over its state: the store's queries, and their executor. With
 * `acl`, a query's own Token is resolved against the state's tokens (an unknown or expired one
 * reads nothing); without, every instance is read.
 */
export function preparedQueries(o: Omit<QueryEnv, "queries" | "tokenAcl"> & { store: StateStore; acl: boolean }): QueryExecutor {
  const { store, acl, ...env } = o;
  const resolver = acl ? new AclResolver(store, Date.now, o.log) : undefined;
  return new QueryExecutor({
    ...env,
    queries: new PreparedQueries(store),
    ...(resolver === undefined
      ? {}
      : {
          tokenAcl: (secret: string): Acl => {
            const r = resolver.resolve(secret);
            return r.ok ? r.acl : DENY_ALL;
          },
        }),
  });
}
