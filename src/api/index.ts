import { NODE_CHECK, type CatalogReader, type UserEvents, type ConsulSnapshots, type KVService } from "../catalog/index.js";
import { ownRegionOnly, soloCluster, type ClusterView, type Federation, type Server } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import { loadAclPolicyParser } from "../jobspec/index.js";
import { ErrorCode, errorMessage, RucheError, type Logger } from "../structs/index.js";
import { aclAuthorize } from "./acl-authorize.js";
import { aclLookups, type LookupSources } from "./acl-lookups.js";
import { AclResolver, type AclState } from "./acl-resolve.js";
import type { Listener } from "./acl-routes-table.js";
import { addClusterHeaders } from "./cluster-headers.js";
import type { ApiContext } from "./context.js";
import type { AgentNodes, ClusterEdge, Dial } from "./forward.js";
import type { FederationEdge } from "./federation-forward.js";
import { multiregionPeers } from "./multiregion.js";
import { regionClient } from "./region-client.js";
import { Router, startHttp, type HttpServerOptions, type Reply, type Request, type RunningHttp } from "./http.js";
import { Metrics } from "./metrics.js";
import type { NodeLocal } from "./node-local.js";
import type { ListenerTls } from "./tls-listener.js";
import { aclRoutes } from "./routes/acl.js";
import { allocFsRoutes } from "./routes/alloc-fs.js";
import { catalogSnapshotRoutes } from "./routes/catalog.js";
import { agentRoutes } from "./routes/agent.js";
import { clientRoutes } from "./routes/client.js";
import { consulRoutes, type ConsulOptions } from "./routes/consul.js";
import { consulAgentRoutes, consulOperatorRoutes } from "./routes/consul-agent.js";
import { consulAclRoutes } from "./routes/consul-acl.js";
import { kvRoutes } from "./routes/kv.js";
import { queryRoutes } from "./routes/query.js";
import type { QueryExecutor } from "./prepared-query.js";
import { clusterRoutes } from "./routes/cluster.js";
import { namespaceRoutes } from "./routes/namespaces.js";
import { hostVolumeRoutes } from "./routes/host-volumes.js";
import { schedulerConfigRoutes } from "./routes/scheduler-config.js";
import { dispatchRoutes } from "./routes/dispatch.js";
import { periodicRoutes } from "./routes/periodic.js";
import { jobRoutes } from "./routes/jobs.js";
import { identityRoutes } from "./routes/identity.js";
import { joinRoutes, type ClusterPki } from "./routes/join.js";
import { consulServerRoutes, serverRoutes, type ConsulClientMember } from "./routes/servers.js";
import { consulFederationRoutes, federationRoutes, serverJoinHandler } from "./routes/federation.js";
import { systemRoutes } from "./routes/system.js";
import { uiRoutes } from "./routes/ui.js";
import { variableRoutes } from "./routes/variables.js";
import { nomadServiceRoutes } from "./routes/nomad-services.js";
import { VariableService } from "./variables.js";
import { parseClusterKey } from "../pki/index.js";

export interface ApiOptions {
  host: string;
  port: number;
  /** The API's logger: every 5xx is logged here with its error, a refused request at debug. */
  log: Logger;
  /** The node agent in this process, if any: serves its allocations' logs and exec. */
  local?: NodeLocal;
  /** The service catalog and the KV: their Consul-compatible endpoints are served under this API too, with the catalog's snapshot. */
  consul?: CatalogApi;
  /** Reloads the agent's config dir (service definitions): `PUT /v1/agent/reload`, as Consul's. */
  reload?: AgentReload;
  /** The edge router's routes, backends, health and rates when this agent runs it (`GET /v1/router`); undefined when it does not. */
  routerOverview?: () => unknown;
  /** Connections one client address may hold open (`http_max_conns_per_client`; 0: no limit; default 100). */
  maxConnsPerClient?: number;
  /** The region's servers; a single server on its embedded store when not given. */
  cluster?: ClusterView;
  /**
   * The etcd member this server runs: the other servers ask it who it is
   * (`GET /v1/internal/etcd/peer`) and to add them as members (`POST /v1/internal/etcd/join`).
   */
  etcdJoin?: { peer(): Promise<unknown>; join(body: unknown): Promise<unknown> };
  /** Nomad's `acl-bootstrap-reset` file: the reset index a refused `POST /v1/acl/bootstrap` named, written there, allows one more. */
  aclBootstrapResetFile?: string;
  /**
   * ACLs (`acl { enabled }`): off when not given. On, every route checks its capability
   * (`acl-routes-table.ts`) against the request's token; given off, the `/v1/acl/*` routes
   * answer Nomad's `400 ACL support disabled`. Not given (an API in a test), they serve
   * without a door.
   */
  acl?: ApiAcl;
  /** HTTPS, and how this server reaches the other agents (the leader, a node's agent): plain HTTP when absent. */
  wire?: ApiWire;
  /** The cluster's CA on a server: join tokens, `GET /v1/agent/ca`, and the nodes' join and renewal (`routes/join.ts`). None of these routes when absent. */
  pki?: ClusterPki;
  /**
   * This agent's own nodes: the key they send (`X-Ruche-Node-Key`), and whether only they may
   * register (-dev). Over TLS a node shows its certificate, with ACLs on a token with
   * node:write; with neither, and no `ownNodesOnly`, any node registers (`node-identity.ts`).
   */
  nodes?: { localKey?: string; ownNodesOnly?: boolean };
  /**
   * The other regions and datacenters this server knows: a request for one (`?region=`, a
   * job's region, `?dc=`) is sent to a live server of it (`federation-forward.ts`). Not given:
   * this region alone, and such a request answers Nomad's or Consul's "No path".
   */
  federation?: Federation;
}

/** A listener's TLS (HTTPS, mutual TLS when it asks for client certificates), and how its agent dials the others (over TLS with its CA and certificate). */
export interface ApiWire {
  tls?: ListenerTls;
  /** How this server dials the other servers (the leader, each one's lag). */
  dial?: Dial;
  /** How it dials a node's agent (a task's logs, `alloc exec`); `dial` when absent. */
  nodeDial?: Dial;
  /** How it dials a server of another region (the federation's exchange, a request for that region): its certificate must name `server.<region>.ruche`. `dial` when absent. */
  regionDial?: (region: string) => Dial;
}

/** The ACL switch of a listener. */
export interface ApiAcl {
  enabled: boolean;
}

/** What the Consul-compatible endpoints serve: the catalog (and the registry), the KV and its sessions, and the prepared queries (`/v1/query`: none without them). */
export type CatalogApi = ConsulOptions & { kv: KVService; queries?: QueryExecutor; snapshots?: ConsulSnapshots; events?: UserEvents };

/** Reloads the agent's config; throws with what is wrong, having changed nothing. */
export type AgentReload = () => Promise<void>;

/** The door of a listener without ACLs (ACLs off, a client-only agent's node API): every request passes. */
function open(): undefined {
  return undefined;
}

/** A listener's `authorize` hook: `aclAuthorize` over the state's tokens and policies when ACLs are on, the open door when off. */
async function door(listener: Listener, log: Logger, acl: ApiAcl | undefined, state: AclState, sources: LookupSources, region?: () => string | undefined): Promise<(req: Request) => Reply | undefined> {
  if (acl?.enabled !== true) return open;
  await loadAclPolicyParser();
  return aclAuthorize({ enabled: true, resolver: new AclResolver(state, Date.now, log), lookups: aclLookups(sources), listener, log, ...(region === undefined ? {} : { region }) });
}

/** How a server dials a node's agent, as an `AllocLookup` field. */
function nodeDial(wire: ApiWire | undefined): { dial?: Dial } {
  const dial = wire?.nodeDial ?? wire?.dial;
  return dial === undefined ? {} : { dial };
}

/**
 * Starts a listener: `routes` fills its router, with the listener's address (known once
 * it listens, on port 0 too) to hand to the routes that name it.
 */
async function listen(
  host: string,
  port: number,
  log: Logger,
  maxConnsPerClient: number | undefined,
  routes: (r: Router, address: () => string) => void,
  authorize: HttpServerOptions["authorize"],
  onRequest?: HttpServerOptions["onRequest"],
  cluster?: ClusterEdge,
  wire?: ApiWire,
  federation?: (dial: Dial | undefined, regionDial: ((region: string) => Dial) | undefined) => FederationEdge,
): Promise<RunningHttp> {
  const router = new Router();
  let address = `${host}:${port}`;
  routes(router, () => address);
  const running = await startHttp({
    host,
    port,
    router,
    authorize,
    log,
    ...(onRequest === undefined ? {} : { onRequest }),
    ...(maxConnsPerClient === undefined ? {} : { maxConnsPerClient }),
    ...(cluster === undefined ? {} : { cluster: wire?.dial === undefined ? cluster : { ...cluster, dial: wire.dial } }),
    ...(wire?.tls === undefined ? {} : { tls: wire.tls }),
    ...(federation === undefined ? {} : { federation: federation(wire?.dial, wire?.regionDial) }),
  });
  address = running.address;
  return running;
}

/** The catalog, health and KV endpoints Consul clients use, and the catalog's snapshot a remote router follows. */
function catalogRoutes(r: Router, consul: CatalogApi, reload: AgentReload | undefined): void {
  const { kv, ...rest } = consul;
  consulRoutes(r, rest);
  consulAgentRoutes(r, rest);
  kvRoutes(r, kv);
  if (consul.queries !== undefined) queryRoutes(r, consul.queries.queries, consul.queries);
  catalogSnapshotRoutes(r, consul.catalog);
  if (reload === undefined) return;
  r.put("/v1/agent/reload", async () => {
    try {
      await reload();
    } catch (err) {
      return { status: 500, body: `Failed reloading the agent's config: ${errorMessage(err)}`, headers: { "content-type": "text/plain; charset=utf-8" }, err };
    }
    return { body: null };
  });
}

/** The nodes Consul's agent endpoints act on, for the forwarding: this agent's, and the catalog's names of the others. */
function agentNodes(consul: CatalogApi): AgentNodes {
  return { local: () => consul.localNode(), name: (id) => (id === "" ? undefined : consul.catalog.nodes().find((n) => n.ID === id)?.Node) };
}

/** The catalog's nodes as Consul's LAN members (agents that are not servers): alive while their serfHealth passes. */
function consulClients(catalog: CatalogReader): ConsulClientMember[] {
  const checks = catalog.checks?.() ?? [];
  return catalog.nodes().flatMap((n) => (n.ID === "" ? [] : [{ Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, alive: checks.find((c) => c.Node === n.Node && c.CheckID === NODE_CHECK.CheckID)?.Status !== "critical" }]));
}

/** The key that seals Nomad variables at rest: the cluster key, when this server's CA has one (read once, when first asked). */
function variableKey(pki: ClusterPki | undefined): () => Buffer | undefined {
  let key: Buffer | undefined;
  return () => {
    const text = pki?.clusterKey?.();
    if (text === undefined) return undefined;
    return (key ??= parseClusterKey(text, "the cluster key"));
  };
}

/** Starts Ruche's HTTP API over a server and its state store. */
export async function startApi(server: Server, store: StateStore, opts: ApiOptions): Promise<RunningHttp> {
  const metrics = new Metrics();
  // This server's region, once its routes made the view: a certificate of another region's agent is no agent here.
  const region = (): string | undefined => view?.self.Region;
  const authorize = await door("api", opts.log, opts.acl, store, { store, ...(opts.consul === undefined ? {} : { consul: opts.consul }) }, region);
  // The region's servers, known once the routes are made (a single server's address is the listener's).
  let view: ClusterView | undefined;
  return listen(
    opts.host,
    opts.port,
    opts.log,
    opts.maxConnsPerClient,
    (router, address) => {
      const routes: string[] = [];
      const record = router.on.bind(router);
      router.on = (method, pattern, handler) => {
        routes.push(`${method} ${pattern}`);
        return record(method, pattern, handler);
      };
      const cluster = opts.cluster ?? soloCluster(() => ({ Name: "server", Region: "global", Datacenter: opts.consul?.catalog.datacenter() ?? "dc1", HTTPAddr: address(), ConsulAddr: "", Build: "", EtcdMember: "" }));
      view = cluster;
      // Consul's routes are served here too, and Consul's client reads its headers off every answer.
      addClusterHeaders(router, cluster, ["nomad", "consul"], () => store.index);
      const regions = opts.federation === undefined ? undefined : regionClient(opts.federation, cluster, (region) => opts.wire?.regionDial?.(region) ?? opts.wire?.dial);
      const ctx: ApiContext = { server, store, address, cluster, log: opts.log, ...(regions === undefined ? {} : { regions }) };
      // The deployment watcher reads the other regions' deployments of a multiregion job through them.
      if (regions !== undefined) server.deployments.setPeers(multiregionPeers(regions));
      jobRoutes(router, ctx);
      dispatchRoutes(router, ctx);
      periodicRoutes(router, ctx);
      // Nomad's /v1/agent/self, before Consul's (registered with the catalog's routes below).
      // Every region's servers, this one's alone when the agent gives no federation.
      const federation = opts.federation ?? ownRegionOnly(() => cluster.self, () => cluster.members());
      agentRoutes(router, cluster, { localNode: () => opts.consul?.localNode(), acl: opts.acl?.enabled === true, federation });
      clusterRoutes(router, ctx);
      namespaceRoutes(router, ctx);
      hostVolumeRoutes(router, ctx);
      schedulerConfigRoutes(router, ctx);
      identityRoutes(router, ctx);
      // ACLs off (the agent always says): the ACL routes answer Nomad's "ACL support disabled".
      aclRoutes(router, ctx, { ...(opts.aclBootstrapResetFile === undefined ? {} : { bootstrapResetFile: opts.aclBootstrapResetFile }), ...(opts.acl === undefined ? {} : { enabled: opts.acl.enabled }) });
      clientRoutes(router, ctx, {
        region: () => cluster.self.Region,
        tls: opts.wire?.tls !== undefined,
        acl: opts.acl?.enabled === true,
        ...(opts.nodes?.localKey === undefined ? {} : { localKey: opts.nodes.localKey }),
        ownNodesOnly: opts.nodes?.ownNodesOnly ?? false,
      });
      allocFsRoutes(
        router,
        {
          ids: () => store.allocs().map((a) => a.ID),
          agentOf: (id) => {
            const a = store.alloc(id);
            const n = a === undefined ? undefined : store.node(a.NodeID);
            return n === undefined ? undefined : { name: n.Name, addr: n.HTTPAddr };
          },
          self: address,
          job: (ns, id) => store.job(ns, id) ?? undefined,
          allocJob: (id) => {
            const a = store.alloc(id);
            return a === undefined ? undefined : { JobID: a.JobID, Namespace: a.Namespace };
          },
          ...nodeDial(opts.wire),
        },
        opts.local,
        opts.log,
      );
      if (opts.consul !== undefined) catalogRoutes(router, opts.consul, opts.reload);
      if (opts.consul !== undefined) consulFederationRoutes(router, federation, () => cluster.self);
      federationRoutes(router, federation);
      if (opts.consul !== undefined) nomadServiceRoutes(router, opts.consul.catalog, opts.consul.registry);
      variableRoutes(router, new VariableService(store, { now: Date.now, key: variableKey(opts.pki) }));
      // Nomad's `server join` (`?address=`) shares its path with the nodes' join.
      if (opts.pki !== undefined) joinRoutes(router, ctx, opts.pki, (nodeJoin) => serverJoinHandler(federation, nodeJoin));
      else router.put("/v1/agent/join", serverJoinHandler(federation));
      const etcdJoin = opts.etcdJoin;
      if (etcdJoin !== undefined) {
        router.get("/v1/internal/etcd/peer", async () => ({ body: await etcdJoin.peer() }));
        router.put("/v1/internal/etcd/join", async (req) => ({ body: await etcdJoin.join(req.body) }));
      }
      router.get("/v1/router", () => {
        const overview = opts.routerOverview?.();
        if (overview === undefined) throw new RucheError(ErrorCode.NotFound, "this agent runs no router");
        return { body: overview };
      });
      serverRoutes(router, cluster, opts.wire?.dial, federation);
      systemRoutes(router, ctx, metrics, () => routes);
      uiRoutes(router);
    },
    authorize,
    (m, r, s, ms) => {
      metrics.observe(m, r, s, ms);
    },
    opts.cluster === undefined ? undefined : { view: opts.cluster, flavor: "nomad", ...(opts.consul === undefined ? {} : { nodes: agentNodes(opts.consul) }) },
    opts.wire,
    (dial, regionDial) => federationEdge(opts.federation, view, "nomad", dial, regionDial),
  );
}

/** A listener's way across the federation: `federation`, or this region alone when not given. */
function federationEdge(federation: Federation | undefined, cluster: ClusterView | undefined, flavor: FederationEdge["flavor"], dial: Dial | undefined, regionDial?: (region: string) => Dial): FederationEdge {
  if (cluster === undefined) throw new RucheError(ErrorCode.Internal, "the listener's cluster is made with its routes, before it listens");
  return {
    federation: federation ?? ownRegionOnly(() => cluster.self, () => cluster.members()),
    cluster,
    flavor,
    ...(dial === undefined ? {} : { dial }),
    ...(regionDial === undefined ? {} : { regionDial }),
  };
}

/**
 * A client-only agent's HTTP endpoint: the logs of its allocations and commands inside
 * them, which servers forward here. Nothing else is served.
 */
export function startNodeApi(opts: { host: string; port: number; log: Logger; local: NodeLocal; ids: () => Iterable<string>; maxConnsPerClient?: number; wire?: ApiWire }): Promise<RunningHttp> {
  return listen(
    opts.host,
    opts.port,
    opts.log,
    opts.maxConnsPerClient,
    (router, address) => {
      allocFsRoutes(router, { ids: opts.ids, agentOf: () => undefined, self: address }, opts.local, opts.log);
    },
    open,
    undefined,
    undefined,
    opts.wire,
  );
}

/**
 * The Consul-compatible HTTP API on its own listener (8500 by default), for Consul clients
 * that expect it there: the same handlers the main API serves under /v1/catalog, /v1/health,
 * /v1/agent, /v1/kv, /v1/session, /v1/txn, /v1/query and /v1/status, and the router's
 * /v1/catalog/snapshot.
 */
export async function startConsulApi(opts: {
  host: string;
  port: number;
  log: Logger;
  consul: CatalogApi;
  reload?: AgentReload;
  maxConnsPerClient?: number;
  cluster?: ClusterView;
  /**
   * ACLs, over the state's tokens and policies (the server's store), and Consul's ACL routes
   * over them (`routes/consul-acl.ts`; ACLs off, they answer Consul's `401 ACL support
   * disabled`). Not given: no ACL routes on this listener, and an open door.
   */
  acl?: ApiAcl & { state: StateStore; bootstrapResetFile?: string };
  wire?: ApiWire;
  /** The other datacenters: `?dc=` of one of them is answered by its servers (`ApiOptions.federation`). */
  federation?: Federation;
}): Promise<RunningHttp> {
  const authorize = opts.acl === undefined ? open : await door("consul", opts.log, opts.acl, opts.acl.state, { consul: opts.consul }, () => view?.self.Region);
  let view: ClusterView | undefined;
  return listen(
    opts.host,
    opts.port,
    opts.log,
    opts.maxConnsPerClient,
    (router, address) => {
      const cluster = opts.cluster ?? soloCluster(() => ({ Name: "server", Region: "global", Datacenter: opts.consul.catalog.datacenter(), HTTPAddr: "", ConsulAddr: address(), Build: opts.consul.version, EtcdMember: "" }));
      view = cluster;
      addClusterHeaders(router, cluster, ["consul"]);
      catalogRoutes(router, opts.consul, opts.reload);
      const federation = opts.federation ?? ownRegionOnly(() => cluster.self, () => cluster.members());
      consulFederationRoutes(router, federation, () => cluster.self);
      consulServerRoutes(router, cluster, federation, () => consulClients(opts.consul.catalog));
      consulOperatorRoutes(router, cluster, opts.consul.catalog, opts.consul.coordinates);
      if (opts.acl !== undefined) consulAclRoutes(router, { store: opts.acl.state, enabled: opts.acl.enabled, ...(opts.acl.bootstrapResetFile === undefined ? {} : { bootstrapResetFile: opts.acl.bootstrapResetFile }) });
    },
    authorize,
    undefined,
    opts.cluster === undefined ? undefined : { view: opts.cluster, flavor: "consul", nodes: agentNodes(opts.consul) },
    opts.wire,
    (dial, regionDial) => federationEdge(opts.federation, view, "consul", dial, regionDial),
  );
}

export { DEFAULT_MAX_CONNS_PER_CLIENT } from "./conn-limit.js";
export { AclResolver, type AclState } from "./acl-resolve.js";
export { MAX_BODY_BYTES } from "./http.js";
export type { RunningHttp } from "./http.js";
export type { Dial } from "./forward.js";
export { createListener, type ListenerTls, type PeerCert } from "./tls-listener.js";
export type { NodeLocal } from "./node-local.js";
export { NODE_KEY_HEADER } from "./node-identity.js";
export { admitJoin, renewIdentity, type ClusterPki, type CreatedJoinToken, type JoinAnswer } from "./routes/join.js";
export { ensureSigningKey } from "./workload-identity.js";
export { datacenterCatalog } from "./datacenter-catalog.js";
export { federationDatacenters } from "./datacenter-watch.js";
export { preparedQueries, QueryExecutor, type QueryExecuteResponse, type ServiceEntry } from "./prepared-query.js";
