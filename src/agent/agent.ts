import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { AclResolver, datacenterCatalog, ensureSigningKey, federationDatacenters, preparedQueries, startApi, startConsulApi, startNodeApi, type NodeLocal, type RunningHttp } from "../api/index.js";
import { etcdV2, startEtcd, type EtcdAcl } from "../etcd/index.js";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { ConsulSnapshots, followLockDelays, KVService, LockDelays, ServiceRegistry, SessionReaper, StoreCatalog, UserEvents, type CatalogReader } from "../catalog/index.js";
import { startDns, type DnsConfig } from "../dns/index.js";
import { dnsServers } from "./dns-servers.js";
import { dnsAccess, type DnsTokens } from "./dns-acl.js";
import { Client, DEFAULT_CNI_CONFIG_DIR, DEFAULT_CNI_PATH, readLogs, SimulatedNode, splitCniPath } from "../client/index.js";
import { allDrivers, type ContainerdDriverOptions, type PodmanDriverOptions } from "../drivers/index.js";
import { ErrorCode, errorMessage, RucheError, type ClientHostNetworkConfig, type ClientHostVolumeConfig, type Logger } from "../structs/index.js";
import { DEFAULT_ROUTER_CONFIG, KvMergedCatalog, parseRouterConfigFile, RemoteCatalog, RemoteKv, RemoteDatacenters, startRouter, type Datacenters, type RouterConfig, type RunningRouter } from "../router/index.js";
import { etcdCluster, RUCHE_BUILD, Server, soloCluster, threadLeases, type ClusterView, type EtcdCluster, type HeartbeatOptions, type ServerInfo } from "../server/index.js";
import { etcdBackend, etcdRecord, prepareDataDir, secureDataDir, sqliteBackend, StateStore } from "../state/index.js";
import { etcdLeaderAway } from "./etcd-leadership.js";
import { exposureLines } from "./exposure.js";
import { advertiseHost, type ManagedEtcd } from "./etcd-member.js";
import { etcdMemberStatuses, removeEtcdMember, serverEtcd } from "./etcd-servers.js";
import { runRegisteredChecks } from "./registered-checks.js";
import { ServiceFiles, type ServiceFilesResult } from "./service-files.js";
import { attachCa, issueOwnCert, keepNodeRenewed, openClusterCa, resolveClusterTls } from "./cluster-tls.js";
import { serverEtcdClient } from "./etcd-membership.js";
import { reachExternalEtcd, type ExternalEtcdTls } from "./etcd-external.js";
import { issueEtcdCert, type EtcdTls } from "./etcd-tls.js";
import { agentWire, type AgentTls } from "./tls.js";
import { federationPki, serverFederation } from "./federation.js";

export interface AgentConfig {
  dev: boolean;
  /** Run the server's duties (state, scheduler, API). */
  server: boolean;
  /** Run the node agent: this machine runs tasks. */
  client: boolean;
  /** Servers a client-only agent joins (host:port of their HTTP API); it fails over between them. */
  servers: string[];
  /** The region this agent belongs to; its servers keep their state under `/ruche/<region>/` on etcd. */
  region: string;
  /**
   * Servers expected before a managed etcd cluster forms (Nomad's `bootstrap_expect`); 0: none.
   * A server with at most 1 here, no `retryJoin` and no `etcdEndpoints` keeps its state in
   * embedded SQLite.
   */
  bootstrapExpect: number;
  /** Other servers' API host:port, tried until they answer (Nomad's `server_join { retry_join }`). */
  retryJoin: string[];
  /**
   * Other regions' servers' API host:port (`server { retry_join_wan }`, `-retry-join-wan`),
   * tried until one answers: the federation's seeds. Refused with TLS on (`federation.ts`).
   */
  retryJoinWan?: string[];
  /** An existing etcd cluster's client URLs (`server { etcd { endpoints } }`); empty: none. */
  etcdEndpoints: string[];
  /** That cluster's TLS, for https:// endpoints (`-etcd-cacert`, `-etcd-cert`, `-etcd-key`), read at start: every etcd client of the server speaks it. */
  etcdTls?: ExternalEtcdTls;
  /** Where the state lives; a temporary directory in dev mode when not given. */
  dataDir: string | undefined;
  bind: string;
  httpPort: number;
  /** Simulated nodes that "run" tasks at once (mock driver). */
  simNodes: number;
  /** Datacenter of this node and of the simulated nodes. */
  datacenter: string;
  nodeName: string;
  nodeClass: string;
  meta: Record<string, string>;
  /** Address this node's tasks are reached on; 127.0.0.1 in dev. */
  networkIp: string;
  /** Port of the Consul-compatible API (server role); 0 picks a free one, -1 turns it off. */
  consulPort: number;
  /** Port of the DNS interface (server role, UDP and TCP); 0 picks a free one, -1 turns it off. */
  dnsPort: number;
  /** Port of etcd's API (server role: gRPC, its JSON gateway and the v2 keys API on one TCP port, over the KV store); 0 picks a free one; absent or -1: none. */
  etcdPort?: number;
  /** Consul's `dns_config` the DNS interface honours; what is left out keeps Consul's default. */
  dnsConfig?: Partial<DnsConfig>;
  /** Where service definition files (`*.json`) are read from, at start and on reload. */
  configDir: string | undefined;
  /** The edge router: its entrypoint's port (0 picks a free one, -1 turns it off), its dashboard's (on 127.0.0.1; -1 none), its configuration file (JSON). */
  router: { port: number; dashboardPort: number; configFile: string | undefined; workers: number };
  /** Host ports tasks get their dynamic ports from. */
  dynamicPorts: { min: number; max: number };
  /**
   * Whether docker tasks' volumes may mount absolute host paths (Nomad's docker plugin
   * `volumes { enabled }`; off by default: a job could mount any of the host's files).
   */
  dockerVolumes?: boolean;
  /**
   * Whether the node offers raw_exec (Nomad's `plugin "raw_exec" { config { enabled } }`): on
   * in -dev, off otherwise unless the config says so, as Nomad ships it (its tasks run as the
   * agent's user, with no isolation).
   */
  rawExec?: boolean;
  /** The containerd-driver's plugin config (`plugin "containerd-driver" { config { ... } }`); absent: the plugin's defaults. */
  containerd?: ContainerdDriverOptions;
  /** The podman driver's plugin config (`plugin "podman" { config { ... } }`); absent: the plugin's defaults. */
  podman?: PodmanDriverOptions;
  /**
   * Whether docker tasks may be privileged or use the host's (or another container's) network
   * (Nomad's docker plugin `allow_privileged`; off by default, -dev too, as Nomad's).
   */
  dockerAllowPrivileged?: boolean;
  /** The image of bridge groups' pause containers (Nomad's docker plugin `infra_image`); default the docker driver's. */
  dockerInfraImage?: string;
  /** Where the node's CNI plugins are, directories separated by ":" (Nomad's `client { cni_path }`); default /opt/cni/bin. */
  cniPath?: string;
  /** The node's CNI networks' config dir (Nomad's `client { cni_config_dir }`); default /opt/cni/config. */
  cniConfigDir?: string;
  /** The node's host volumes by name (Nomad's `client { host_volume "NAME" { path read_only } }`); each path must exist when the agent starts. */
  hostVolumes?: Record<string, ClientHostVolumeConfig>;
  /** Where the "mkdir" plugin makes dynamic host volumes (Nomad's `client { host_volumes_dir }`); default `<data_dir>/host_volumes`. */
  hostVolumesDir?: string;
  /** The node's host networks by name (Nomad's `client { host_network "NAME" { cidr interface reserved_ports } }`). */
  hostNetworks?: Record<string, ClientHostNetworkConfig>;
  /**
   * Script checks (a command the agent runs) registered through the Consul-compatible API
   * (Consul's `enable_script_checks`), and those in the config dir's definition files
   * (`enable_local_script_checks`; implied by the other): both off by default, -dev too, as Consul's.
   */
  enableScriptChecks?: boolean;
  enableLocalScriptChecks?: boolean;
  /**
   * Connections one client address may hold open on the HTTP API, the Consul-compatible API,
   * a client-only agent's node API and DNS over TCP (Nomad's and Consul's
   * `http_max_conns_per_client`; default 100; 0: no limit). Past it an HTTP connection is
   * answered 429 and closed, a DNS one closed.
   */
  httpMaxConnsPerClient: number;
  /**
   * The server's heartbeat settings (Nomad's `min_heartbeat_ttl`, `max_heartbeats_per_second`,
   * `heartbeat_grace`), in ms and per second; each one not given keeps its default (2 s, 50, 1 s).
   */
  heartbeat?: Partial<HeartbeatOptions>;
  /** ACLs (Nomad's `acl { enabled }`): every route of the API and the Consul-compatible API checks the request's token. Off when not given; `-dev` always off. `tokens`: Consul's `acl { tokens { dns default } }`, the token DNS answers with (`dns-acl.ts`). */
  acl?: { enabled: boolean; tokens?: DnsTokens };
  /**
   * The ACL token this agent's node sends its servers (`-token`, `RUCHE_TOKEN`): with ACLs on
   * and no TLS, registering a node takes one with node:write. Over TLS the node's certificate
   * speaks for it, and a server's own node shows its agent's key.
   */
  token?: string;
  /**
   * TLS on the API, the Consul port and the node API, and on every connection this agent
   * makes to the others (its node and its router to the servers, a follower to the leader,
   * a server to a node's agent), mutual: Nomad's `tls` block with the operator's files.
   * `{ enabled: false }`: plain HTTP said on purpose (`tls { enabled = false }`), warned at
   * start. Absent: plain HTTP.
   */
  tls?: AgentTls;
  /** A server's cluster key (Nomad's `server { encrypt }`, `-encrypt`; base64, 32 bytes): it opens the cluster CA's key in the state. Absent: the data dir's `tls/cluster.key`, made by the server that makes the CA. */
  encrypt?: string;
  logLevel: string;
}

export interface RunningAgent {
  address: string;
  dataDir: string;
  nodeId: string | undefined;
  /** Reads the config dir again (SIGHUP, `ruche agent reload`); throws with what is wrong, having changed nothing. */
  reload(): Promise<ServiceFilesResult>;
  stop(): Promise<void>;
}

/**
 * The cluster's CA of a server whose TLS is not the cluster's own PKI (off, or the operator's files), for its join
 * routes: one that has no cluster key to open it (another server made it) serves without
 * them, said once, rather than stop: it needs no certificate of its own.
 */
async function caWithoutTls(ctx: Parameters<typeof openClusterCa>[0], log: Logger): Promise<Awaited<ReturnType<typeof openClusterCa>> | undefined> {
  try {
    return await openClusterCa(ctx, undefined, { keyOptional: true });
  } catch (err) {
    if (!(err instanceof RucheError && err.code === ErrorCode.Forbidden)) throw err;
    log.warn({ err }, "TLS is off and this server cannot open the cluster's CA: it serves no join routes (nodes join through a server that can)");
    return undefined;
  }
}

/**
 * Wires one agent: the state store on its backend, the server's duties and the HTTP API
 * (server role); the node agent with its drivers (client role); simulated nodes if asked.
 */
export async function startAgent(cfg: AgentConfig, out: (line: string) => void): Promise<RunningAgent> {
  const root = pino({ level: cfg.logLevel }, pino.destination(2));
  const log = (component: string): Logger => root.child({ component });
  const tempDir = cfg.dataDir === undefined;
  const dataDir = cfg.dataDir ?? (await mkdtemp(join(tmpdir(), "ruche-dev-")));
  // A data dir that cannot take writes stops the agent at once, said in words for every role:
  // "the data dir's filesystem is read-only: DIR".
  if (cfg.server || cfg.client) {
    await prepareDataDir(dataDir);
    // The state and the node's secret are the agent's user's alone; what was open is closed, and said.
    for (const t of await secureDataDir(dataDir, { traversable: cfg.client })) log("agent").warn({ path: t.path, was: octal(t.was), now: octal(t.now) }, "closed a data dir path other users could read");
  }
  const closers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    // TLS on without the operator's files: the cluster's own PKI, made into files here (a client joins with its token first).
    // Servers on an etcd they are given share one cluster CA, its record on that etcd (read before anything serves).
    const caEtcd = cfg.server && !cfg.dev && cfg.etcdEndpoints.length > 0 ? await reachExternalEtcd(serverEtcdClient(cfg.etcdEndpoints, 2000, 4000, cfg.etcdTls), cfg.etcdEndpoints, cfg.etcdTls) : undefined;
    if (caEtcd !== undefined) {
      closers.push(() => {
        caEtcd.close();
        return Promise.resolve();
      });
    }
    // A managed etcd member's own listeners, named in the start block: TLS with client certificates where the CA is derived from the cluster key, else plain HTTP.
    let etcdListeners: string | undefined;
    let etcdTls: EtcdTls | undefined;
    const clusterCtx = {
      dataDir,
      region: cfg.region,
      server: cfg.server,
      name: cfg.nodeName === "" ? hostname() : cfg.nodeName,
      servers: cfg.servers,
      bind: cfg.bind,
      networkIp: cfg.networkIp,
      log: log("tls"),
      peers: [...cfg.servers, ...cfg.retryJoin],
      // A region's first server joining the federation's CA (-join-wan-token) asks the other region's servers it federates with.
      wanPeers: cfg.retryJoinWan ?? [],
      ...(cfg.tls?.enabled === true && "cluster" in cfg.tls && cfg.tls.cluster.joinWanToken !== undefined ? { joinWanToken: cfg.tls.cluster.joinWanToken } : {}),
      ...(caEtcd === undefined ? {} : { caSlot: etcdRecord(caEtcd, cfg.region, "pki/ca") }),
      ...(cfg.encrypt === undefined ? {} : { encrypt: cfg.encrypt }),
      // Servers that run their own etcd members derive the cluster CA from the cluster key: they need it before their etcd exists.
      ownEtcd: cfg.server && cfg.etcdEndpoints.length === 0 && (cfg.bootstrapExpect > 1 || cfg.retryJoin.length > 0),
    };
    const cluster = cfg.tls?.enabled === true && "cluster" in cfg.tls ? await resolveClusterTls(cfg.tls, clusterCtx) : undefined;
    // Servers on their own etcd members: the cluster CA is anchored on the one derived from the cluster key, which signs their members' certificates.
    const derivedCa = clusterCtx.ownEtcd ? cluster?.ca : undefined;
    const etcdCa = derivedCa?.anchorCa() ?? undefined;
    const tlsFiles = cluster?.files ?? (cfg.tls?.enabled === true && !("cluster" in cfg.tls) ? cfg.tls : undefined);
    const wire = tlsFiles === undefined ? undefined : await agentWire(tlsFiles, cfg.region);
    if (wire !== undefined) closers.push(() => wire.close());
    if (cfg.tls?.enabled === false) log("agent").warn({}, "TLS is off (tls { enabled = false }): the API and the traffic between agents are plain HTTP, which anyone on the network can read and forge");
    if (!cfg.dev && cfg.acl?.enabled === false && (cfg.server || cfg.client)) log("agent").warn({}, "ACLs are off (acl { enabled = false }): anyone who reaches the API may use all of it, jobs that run commands on every node included");
    const wireOpt = wire === undefined ? {} : { wire: wire.api };
    // A joined node renews its certificate: its next connections to the servers show the new one.
    const renewed = wire === undefined ? undefined : { dial: wire.dial };
    const dialOpt = renewed === undefined ? {} : cluster?.node === undefined ? { tls: renewed.dial } : { tls: () => renewed.dial };
    // ... and its node API serves it: the one running, or the one about to start (`nodeApiTls`, put in place once it listens).
    let nodeApi: RunningHttp | undefined;
    let nodeApiTls: { cert: string; key: string; ca: string } | undefined;
    if (renewed !== undefined && cluster?.node !== undefined) {
      closers.push(
        keepNodeRenewed(cluster.node, clusterCtx, (t) => {
          renewed.dial = { ...renewed.dial, ca: t.caPem, cert: t.certPem, key: t.keyPem };
          nodeApiTls = { cert: t.certPem, key: t.keyPem, ca: t.caPem };
          nodeApi?.setTls?.(nodeApiTls);
        }),
      );
    }
    const scheme = wire === undefined ? "http" : "https";
    // A secret of this start that the agent's own nodes show its own API (X-Ruche-Node-Key): in -dev, only they register.
    const nodeKey = randomBytes(32).toString("base64url");
    let client: Client | null = null;
    const local: NodeLocal = {
      has: (id) => client?.runner(id) !== undefined,
      tasks: (id) => client?.runner(id)?.taskNames() ?? [],
      logs: (id, task, stream, opts) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        return readLogs(r.logDir, task, stream, opts);
      },
      exec: (id, task, cmd, opts) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        return r.exec(task, cmd, opts);
      },
      execStreaming: (id, task, cmd, opts) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        return r.execStreaming(task, cmd, opts);
      },
      driverOf: (id, task) => client?.runner(id)?.driverOf(task),
      allocDir: (id) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        return r.dir;
      },
      signal: async (id, task, sig) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        await r.signal(task, sig);
      },
      restart: async (id, task) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        await r.restart(task);
      },
      checks: (id) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        return r.checkStatuses();
      },
      stats: (id, task) => {
        const r = client?.runner(id);
        if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${id} is not on this node`);
        return r.stats(task);
      },
    };
    let files: ServiceFiles | undefined;
    // Several servers: the leader's duties include registering the config dir's services.
    let sharedCluster: EtcdCluster | undefined;
    // The router starts after the API, which shows its overview once it runs.
    let runningRouter: RunningRouter | undefined;
    // The other datacenters, read through the servers' federation: where the router fails over to.
    let routerDatacenters: Datacenters | undefined;
    // One reload at a time: a second waits for the first, then reads the dir afresh.
    let reloading: Promise<unknown> = Promise.resolve();
    const reload = (): Promise<ServiceFilesResult> => {
      const next = reloading.catch(() => undefined).then(() => files?.load() ?? { registered: [], deregistered: [], unchanged: [] });
      reloading = next;
      return next;
    };
    let address: string;
    let serverAddrs: string[];
    let consulAddress = "";
    let dnsAddress = "";
    let etcdAddress = "";
    let catalog: CatalogReader | undefined;
    // The servers' KV in process, for the router's KV provider.
    let routerKv: KVService | undefined;
    const ownApis: string[] = [];
    if (cfg.server) {
      const self: ServerInfo = { Name: cfg.nodeName === "" ? hostname() : cfg.nodeName, Region: cfg.region, Datacenter: cfg.datacenter, HTTPAddr: "", ConsulAddr: "", Build: RUCHE_BUILD, EtcdMember: "" };
      // The leader's duties: this server's alone, or the elected one's among several.
      const duties: { start: () => void; stop: () => Promise<void> }[] = [];
      const lead = (): void => {
        for (const d of duties) d.start();
      };
      const standDown = async (): Promise<void> => {
        for (const d of [...duties].reverse()) await d.stop();
      };
      let shared: EtcdCluster | undefined;
      let etcdMember: ManagedEtcd | undefined;
      let store: StateStore;
      // One server (no etcd named, `bootstrap_expect` at most 1 and nobody to join, as in a
      // Nomad single-server config) keeps its state in embedded SQLite.
      if (cfg.etcdEndpoints.length === 0 && cfg.bootstrapExpect <= 1 && cfg.retryJoin.length === 0) {
        store = await StateStore.open(sqliteBackend(dataDir), { log: log("state") });
        closers.push(() => store.close());
      } else {
        // Servers on their own etcd members with the CA derived from the cluster key: the members speak TLS and ask for that CA's certificates.
        if (etcdCa !== undefined) {
          etcdTls = await issueEtcdCert(etcdCa, { dataDir, region: cfg.region, name: self.Name, addresses: [advertiseHost(cfg.bind, undefined, cfg.retryJoin), cfg.bind] });
        }
        const { client: etcd, member, endpoints } = await serverEtcd(cfg, self.Name, dataDir, log("etcd"), closers, wire?.api, etcdTls);
        if (member === undefined) etcdTls = undefined;
        const memberTls = etcdTls;
        etcdMember = member;
        if (member !== undefined) etcdListeners = `${member.clientURL} (clients), ${member.peerURL} (peers)`;
        if (member !== undefined) self.EtcdMember = member.name;
        // The lease is renewed on a thread of its own: a leader busy for seconds keeps its term.
        const leases = threadLeases({ hosts: endpoints, ...(memberTls !== undefined ? { tls: memberTls } : cfg.etcdTls !== undefined ? { tls: cfg.etcdTls } : {}) });
        closers.push(() => leases.close());
        const cluster = etcdCluster({
          client: etcd,
          leases,
          self,
          log: log("cluster"),
          onElected: lead,
          onDeposed: standDown,
          etcd: { members: (c) => etcdMemberStatuses(c, 1000, memberTls ?? cfg.etcdTls), remove: removeEtcdMember },
        });
        shared = cluster;
        store = await StateStore.open(etcdBackend({ client: etcd, region: cfg.region, fence: () => cluster.fence(), log: log("state") }), { log: log("state") });
        closers.push(() => store.close());
        closers.push(() => cluster.stop());
        // Their cluster CA's record goes to their etcd, now that it runs: one a rotation made meanwhile is taken up before the API serves.
        if (derivedCa !== undefined && member !== undefined && (await attachCa(derivedCa, etcdRecord(etcd, cfg.region, "pki/ca"), log("tls")))) {
          wire?.setIdentity(await issueOwnCert(derivedCa, clusterCtx));
        }
      }
      const clusterView: ClusterView = shared ?? soloCluster(self);
      // The other regions' servers, asked once the API listens: over mutual TLS with TLS on (one CA for the federation), plain HTTP with TLS off.
      const federated = serverFederation(clusterView, { ...(wire === undefined ? {} : { tls: wire.dial }), seeds: cfg.retryJoinWan ?? [], log: log("federation") });
      closers.push(() => federated.stop());
      routerDatacenters = federationDatacenters({ federation: federated.federation, cluster: clusterView, ...(wire === undefined ? {} : { dial: wire.api.dial, regionDial: wire.api.regionDial }) });
      const server = new Server(store, { log: log("server"), heartbeat: { ...(shared === undefined ? {} : CLUSTER_HEARTBEAT), ...cfg.heartbeat } });
      duties.push({ start: () => { server.start(); }, stop: () => server.stop() });
      closers.push(() => server.coordinates.stop());
      // The leader makes the key that signs workload identities, once for the cluster (kept in the state).
      duties.push({
        start: () => {
          ensureSigningKey(store).catch((err: unknown) => {
            log("server").warn({ err }, "the workload identities' signing key could not be made; it is made again at the first identity to sign");
          });
        },
        stop: () => Promise.resolve(),
      });
      // A leader that runs its own etcd member keeps etcd's leader on another server's member.
      if (etcdMember !== undefined) duties.push(etcdLeaderAway(etcdMember.clientURL, log("etcd"), 1000, etcdTls));
      closers.push(standDown);
      const registry = new ServiceRegistry(store, Date.now);
      // One set of lock delays for the store: the KV refuses an acquire in a delay that the
      // reaper (or a destroyed session) set. Every server sets them from the commits it
      // applies too, so that they outlive a change of leader (as Consul's do).
      const delays = new LockDelays();
      const stopLockDelays = followLockDelays(store, delays, Date.now);
      closers.push(() => {
        stopLockDelays();
        return Promise.resolve();
      });
      const storeCatalog = new StoreCatalog(store, cfg.datacenter, log("catalog"));
      // Sessions are bound to the health of their node and checks (Consul's): on this agent's node unless the request names one.
      const liveServers = (): string[] => clusterView.members().flatMap((m) => (m.Status === "alive" ? [m.Name] : []));
      const kv = new KVService(store, { now: Date.now, delays, catalog: storeCatalog, servers: liveServers, nodeName: () => storeCatalog.nodes().find((n) => n.ID === client?.nodeId)?.Node ?? self.Name });
      routerKv = kv;
      // Consul's prepared queries (`/v1/query`, `NAME.query.consul`), failing over to the other datacenters' servers.
      const queries = preparedQueries({ store, catalog: storeCatalog, federation: federated.federation, cluster: clusterView, ...(wire === undefined ? {} : { dial: wire.api.dial, regionDial: wire.api.regionDial }), localNode: () => client?.nodeId, log: log("query"), acl: cfg.acl?.enabled === true && !cfg.dev });
      const consul = { catalog: storeCatalog, localNode: () => client?.nodeId, version: "1.17.0", registry, allowScriptChecks: cfg.enableScriptChecks ?? false, kv, queries, snapshots: new ConsulSnapshots(store), events: new UserEvents(store), coordinates: server.coordinates };
      // Each server probes the checks of the services registered on its own node (through it: Consul's agent API acts on the
      // node asked); a follower sends their statuses on its node's line to the servers. The leader also keeps the registry.
      const stopChecks = runRegisteredChecks(registry, () => client?.nodeId ?? "", log("catalog"), {
        leading: () => clusterView.isLeader(),
        report: (checkId, status, output) => (client === null ? Promise.reject(new Error("this server runs no node to send the status of")) : client.reportChecks([{ CheckID: checkId, Status: status, Output: output }])),
      });
      closers.push(() => {
        stopChecks();
        return Promise.resolve();
      });
      // Sessions end on time (TTL) and as soon as their node or a check they are bound to fails, releasing or deleting the keys they hold.
      const reaper = new SessionReaper(store, {
        now: Date.now,
        delays,
        catalog: storeCatalog,
        servers: liveServers,
        onError: (err) => {
          log("catalog").warn({ err }, "ending expired sessions failed; trying again at the next sweep");
        },
      });
      duties.push({ start: () => { reaper.start(); }, stop: () => reaper.stop() });
      if (cfg.configDir !== undefined) files = new ServiceFiles(cfg.configDir, registry, () => client?.nodeId ?? "", Date.now, (cfg.enableScriptChecks ?? false) || (cfg.enableLocalScriptChecks ?? false));
      sharedCluster = shared;
      if (shared !== undefined && files !== undefined) {
        // Among several servers only the leader writes: the config dir's services are
        // registered by each server as it starts leading (their files are the servers' own).
        duties.push({
          start: () => {
            reload().catch((err: unknown) => {
              log("agent").error({ err }, "the config dir's service definitions could not be registered");
            });
          },
          stop: () => Promise.resolve(),
        });
      }
      const reloadApi = async (): Promise<void> => {
        await reload();
      };
      // Simulated nodes are clients of this API from this agent's own address, each holding a
      // blocking query and sending heartbeats: the limit makes room for them.
      const apiConns = cfg.httpMaxConnsPerClient === 0 ? 0 : cfg.httpMaxConnsPerClient + 2 * cfg.simNodes;
      // -dev keeps its open door whatever the config says.
      const aclOn = cfg.acl?.enabled === true && !cfg.dev;
      // The cluster's CA (one for every server, its record in the state) signs the certificates of nodes that join with a token; a rotation made through another server is taken up here.
      const clusterCa = cfg.dev ? undefined : (cluster?.ca ?? (await caWithoutTls(clusterCtx, log("tls"))));
      if (clusterCa !== undefined) {
        closers.push(
          clusterCa.follow((err: unknown) => {
            log("tls").warn({ err }, "the cluster CA's record changed and could not be read again");
          }),
        );
      }
      const api: RunningHttp = await startApi(server, store, {
        host: cfg.bind,
        port: cfg.httpPort,
        log: log("api"),
        local,
        consul,
        reload: reloadApi,
        routerOverview: () => runningRouter?.overview(),
        maxConnsPerClient: apiConns,
        cluster: clusterView,
        federation: federated.federation,
        acl: { enabled: aclOn },
        // Nomad's acl-bootstrap-reset: the reset index a refused bootstrap named, written here, allows one more.
        aclBootstrapResetFile: join(dataDir, "acl-bootstrap-reset"),
        ...wireOpt,
        ...(etcdMember === undefined ? {} : { etcdJoin: etcdMember }),
        // The cluster's CA (made in the data dir on first start) signs the certificates of nodes that join with a token.
        // In a federation, shared with another region's first server (-join-wan-token), and not rotated once shared.
        ...(clusterCa === undefined ? {} : { pki: federationPki(clusterCa, () => federated.federation) }),
        // This agent's own nodes register with its key; in -dev, only they do.
        nodes: { localKey: nodeKey, ownNodesOnly: cfg.dev },
      });
      closers.push(() => api.close());
      // A server on the cluster's own PKI shows a certificate of the CA as it signs now: issued again when the CA rotates (through any server).
      const servedTls: Pick<RunningHttp, "setTls">[] = [api];
      const ownCa = cluster?.ca;
      ownCa?.onChange(() => {
        issueOwnCert(ownCa, clusterCtx)
          .then((t) => {
            for (const h of servedTls) h.setTls?.(t);
            wire?.setIdentity(t);
          })
          .catch((err: unknown) => {
            log("tls").warn({ err }, "the server's certificate could not be issued again from the rotated cluster CA; it keeps the one it has");
          });
      });
      address = api.address;
      self.HTTPAddr = advertised(api.address, cfg.networkIp);
      serverAddrs = [address];
      catalog = consul.catalog;
      ownApis.push(`${cfg.bind}:${portOf(address)}`);
      if (cfg.consulPort >= 0) {
        const c = await startConsulApi({ host: cfg.bind, port: cfg.consulPort, log: log("consul-api"), consul, reload: reloadApi, maxConnsPerClient: cfg.httpMaxConnsPerClient, cluster: clusterView, federation: federated.federation, acl: { enabled: aclOn, state: store, bootstrapResetFile: join(dataDir, "acl-bootstrap-reset") }, ...wireOpt });
        closers.push(() => c.close());
        consulAddress = c.address;
        servedTls.push(c);
        self.ConsulAddr = advertised(c.address, cfg.networkIp);
        ownApis.push(`${cfg.bind}:${portOf(consulAddress)}`);
      }
      if (cfg.dnsPort >= 0) {
        // NAME.service.DC.consul of another datacenter: asked of its servers, as the API's ?dc= is.
        const local = consul.catalog;
        const across = { federation: federated.federation, cluster: clusterView, local, ...(wire === undefined ? {} : { dial: wire.api.dial, regionDial: wire.api.regionDial }) };
        // With ACLs on, answered with the DNS token (acl { tokens { dns } }, else default, else anonymous), as Consul's.
        const dnsAcl = aclOn ? dnsAccess(store, cfg.acl?.tokens, log("dns")) : undefined;
        const d = await startDns({ host: cfg.bind, port: cfg.dnsPort, catalog: local, logger: log("dns"), maxConnsPerClient: cfg.httpMaxConnsPerClient, otherDatacenter: (dc) => datacenterCatalog(across, dc), preparedQuery: (name, dc, acl) => queries.forDns(name, dc, acl === undefined ? undefined : { acl, ...(dnsAcl?.token === undefined ? {} : { token: dnsAcl.token }) }), ...(dnsAcl === undefined ? {} : { acl: dnsAcl.acl }), servers: () => dnsServers(clusterView, local.datacenter()), ...(cfg.dnsConfig === undefined ? {} : { config: cfg.dnsConfig }) });
        closers.push(() => d.close());
        dnsAddress = `${cfg.bind}:${d.port}`;
      }
      if (cfg.etcdPort !== undefined && cfg.etcdPort >= 0) {
        // etcd's API (v3 over gRPC and its JSON gateway, v2 keys) over the same KV store as Consul's; a Ruche ACL token is the etcd token.
        const resolver = aclOn ? new AclResolver(store, Date.now, log("etcd-api")) : undefined;
        const etcdAcl: EtcdAcl | undefined =
          resolver === undefined
            ? undefined
            : {
                resolve: (token) => {
                  const r = resolver.resolve(token);
                  return r.ok ? { ok: true, acl: r.acl } : { ok: false, reason: r.reason };
                },
              };
        const ids = { memberName: self.Name, clusterName: cfg.region };
        // Among several servers only the leader writes: a follower refuses v2 writes (etcd's 300) rather than commit past the leader's fence.
        const v2 = etcdV2({ store, delays, ...ids, isLeader: () => clusterView.isLeader(), log: log("etcd-api"), ...(etcdAcl === undefined ? {} : { acl: etcdAcl }) });
        duties.push({ start: () => { v2.expiry.start(); }, stop: () => v2.expiry.stop() });
        // With TLS on, over TLS only, as the HTTP API: the server's certificate, client certificates of the cluster CA (required under verify_https_client).
        const served = wire?.api.tls;
        const listenerTls = served === undefined ? undefined : { cert: served.cert, key: served.key, ca: served.ca ?? "", requireClientCert: served.requireClientCert === true };
        const e = await startEtcd({ host: cfg.bind, port: cfg.etcdPort, store, delays, log: log("etcd-api"), ...ids, v2, ...(etcdAcl === undefined ? {} : { acl: etcdAcl }), ...(listenerTls === undefined ? {} : { tls: listenerTls }) });
        servedTls.push(e);
        closers.push(async () => {
          v2.close();
          await e.close();
        });
        etcdAddress = e.address;
      }
      // Alone, this server leads at once; among several, once elected.
      federated.start();
      if (shared === undefined) lead();
      else await shared.start(store);
    } else {
      const http = await startNodeApi({ host: cfg.bind, port: cfg.httpPort, log: log("api"), local, ids: () => client?.allocIds() ?? [], maxConnsPerClient: cfg.httpMaxConnsPerClient, ...(wire === undefined ? {} : { wire: wire.nodeApi }) });
      closers.push(() => http.close());
      nodeApi = http;
      if (nodeApiTls !== undefined) http.setTls?.(nodeApiTls);
      address = http.address;
      serverAddrs = cfg.servers;
      ownApis.push(`${cfg.bind}:${portOf(address)}`);
    }
    let routerAddress = "";
    let routerDashboard = "";
    if (cfg.router.port >= 0) {
      // A router without the server role follows the servers' catalog: one blocking query on its whole health view.
      let source = catalog;
      // A router-only agent's client of its servers (their catalog, and their KV for the KV provider).
      let routerServers: ApiClient | undefined;
      if (source === undefined) {
        const servers = new ApiClient(serverAddrs, dialOpt);
        routerServers = servers;
        const remote = new RemoteCatalog(servers, log("router"));
        // Failover: the other datacenters, asked of the servers with ?dc=.
        routerDatacenters = new RemoteDatacenters(servers, log("router"));
        closers.push(() => {
          remote.close();
          return Promise.resolve();
        });
        source = remote;
      }
      const base = await routerConfig(cfg.router.configFile);
      if (base.kv !== undefined) {
        // The KV provider: routers, services and middlewares under its root key, merged with the catalog's.
        // Beside the servers, their KV in process; on a router-only agent, read from them with blocking queries.
        const kvs = routerKv;
        const rlog = log("router");
        if (base.kv.endpoints.length > 0) rlog.info({ endpoints: base.kv.endpoints }, "router: the KV provider reads the KV of this agent's servers (the endpoints the file names are that Consul)");
        const reader = kvs !== undefined ? { list: (p: string) => kvs.list(p), index: () => kvs.index("kv"), wait: (i: number, t: number, s?: AbortSignal) => kvs.wait("kv", i, t, s) } : routerServers !== undefined ? new RemoteKv(routerServers, base.kv.rootKey, rlog) : undefined;
        if (reader === undefined) throw new Error(`router configuration ${cfg.router.configFile ?? ""}: the KV provider ([consul], providers.consul) has no KV to read`);
        source = new KvMergedCatalog(source, reader, base.kv.rootKey, base.prefix, (problems) => {
          for (const p of problems) rlog.warn({ rootKey: base.kv?.rootKey }, `router: KV provider: ${p}`);
        });
      }
      if (base.catalogEndpoint !== undefined && base.catalogEndpoint !== null) log("router").info({ endpoint: base.catalogEndpoint }, "router: the catalog provider reads this agent's catalog (or the servers' given with -servers); the endpoint the file names is this Consul");
      const r = await startRouter({
        catalog: source,
        // Loopback backends: refused unless the file allows them, or every service is on loopback (-dev, or an agent bound to it).
        config: { ...base, controlApi: { ...base.controlApi, addresses: [...base.controlApi.addresses, ...ownApis, ...serverAddrs] }, allowLoopbackBackends: base.allowLoopbackBackends || cfg.dev || isLoopbackBind(cfg.bind) },
        host: cfg.bind,
        port: cfg.router.port,
        // The file's dashboard address ([web], [api]) unless -router-dashboard-port says otherwise than its default.
        dashboardPort: base.dashboard !== undefined && cfg.router.dashboardPort === DEFAULT_DASHBOARD_PORT ? base.dashboard.port : cfg.router.dashboardPort,
        ...(base.dashboard !== undefined && cfg.router.dashboardPort === DEFAULT_DASHBOARD_PORT ? { dashboardHost: base.dashboard.host } : {}),
        logger: log("router"),
        workers: cfg.router.workers,
        logLevel: cfg.logLevel,
        // The other datacenters: beside the servers, through their federation; on a router alone, asked of its servers.
        ...(routerDatacenters === undefined ? {} : { datacenters: routerDatacenters }),
      });
      closers.push(() => r.close());
      runningRouter = r;
      routerAddress = Object.entries(r.addresses)
        .map(([name, a]) => `${name === "http" ? "http" : "https"}://${a}${name === "http" ? "" : ` (${name})`}`)
        .join(", ");
      routerDashboard = r.dashboardAddress;
    }
    // The agent's node and its simulated nodes show its server their agent's key; a client-only agent's node, its token (with ACLs on and no TLS).
    const transport = httpTransport(new ApiClient(serverAddrs.length > 0 ? serverAddrs : [address], { ...dialOpt, ...(cfg.server ? { nodeKey } : {}), ...(cfg.token === undefined ? {} : { token: cfg.token }) }));
    if (cfg.client) {
      const c = new Client(transport, {
        dataDir,
        name: cfg.nodeName === "" ? hostname() : cfg.nodeName,
        datacenter: cfg.datacenter,
        nodeClass: cfg.nodeClass,
        nodePool: "default",
        meta: cfg.meta,
        ...(cfg.hostVolumes === undefined ? {} : { hostVolumes: cfg.hostVolumes }),
        ...(cfg.hostVolumesDir === undefined ? {} : { hostVolumesDir: cfg.hostVolumesDir }),
        // Nomad's defaults: a node without them offers no CNI network.
        cni: { path: splitCniPath(cfg.cniPath ?? DEFAULT_CNI_PATH), configDir: cfg.cniConfigDir ?? DEFAULT_CNI_CONFIG_DIR },
        ...(cfg.hostNetworks === undefined ? {} : { hostNetworks: cfg.hostNetworks }),
        ip: cfg.networkIp,
        httpAddr: address,
        minDynamicPort: cfg.dynamicPorts.min,
        maxDynamicPort: cfg.dynamicPorts.max,
        reserved: { CPU: 0, MemoryMB: 0, DiskMB: 0, ReservedHostPorts: "" },
        drivers: allDrivers({
          dockerVolumes: cfg.dockerVolumes ?? false,
          dockerPrivileged: cfg.dockerAllowPrivileged ?? false,
          ...(cfg.dockerInfraImage === undefined ? {} : { dockerInfraImage: cfg.dockerInfraImage }),
          rawExec: cfg.rawExec ?? false,
          ...(cfg.containerd === undefined ? {} : { containerd: cfg.containerd }),
          ...(cfg.podman === undefined ? {} : { podman: cfg.podman }),
        }),
        log: log("client"),
        // A task's templates read KV, services and variables from the servers' API as the task's workload identity.
        templateApi: (token) => new ApiClient(serverAddrs.length > 0 ? serverAddrs : [address], { ...dialOpt, ...(token === undefined ? {} : { token }) }),
      });
      await c.start();
      client = c;
      // A dev agent's temporary data dir goes away with it: so do its tasks. Otherwise
      // they go on running, and the next agent on this data dir picks them up.
      closers.push(() => c.stop({ stopTasks: tempDir }));
    }
    // Service definition files are registered once the node is known: their services are on it.
    const loaded = files === undefined || sharedCluster !== undefined ? undefined : await reload();
    const sims: SimulatedNode[] = [];
    for (let i = 0; i < cfg.simNodes; i++) {
      const sim = new SimulatedNode(transport, { name: `sim-${i}`, id: randomUUID(), datacenter: cfg.datacenter });
      await sim.start();
      sims.push(sim);
    }
    closers.push(async () => {
      await Promise.all(sims.map((s) => s.kill()));
    });
    out(`==> Ruche agent started${cfg.dev ? " in dev mode" : ""}\n`);
    out(`    API:      ${scheme}://${address}\n`);
    if (consulAddress !== "") out(`    Consul:   ${scheme}://${consulAddress} (catalog, health)\n`);
    if (dnsAddress !== "") out(`    DNS:      ${dnsAddress} (udp, tcp; NAME.service.consul)\n`);
    if (etcdAddress !== "") out(`    etcd:     ${scheme}://${etcdAddress} (v3 gRPC and JSON gateway, v2 keys)\n`);
    if (routerAddress !== "") out(`    Router:   ${routerAddress}\n`);
    if (routerDashboard !== "") out(`    Router dashboard: http://${routerDashboard}\n`);
    if (loaded !== undefined) out(`    Config:   ${cfg.configDir ?? ""} (${loaded.registered.length + loaded.unchanged.length} services defined)\n`);
    out(`    Data dir: ${dataDir}\n`);
    if (cfg.client && client !== null) out(`    Node:     ${client.nodeId} in datacenter ${cfg.datacenter} (drivers: ${allDriverNames(cfg.rawExec ?? false)})\n`);
    if (!cfg.server) out(`    Servers:  ${serverAddrs.join(", ")}\n`);
    if (cfg.simNodes > 0) out(`    Nodes:    ${cfg.simNodes} simulated (mock driver) in datacenter ${cfg.datacenter}\n`);
    const exposure = exposureLines({
      dev: cfg.dev,
      bind: cfg.bind,
      server: cfg.server,
      client: cfg.client,
      rawExec: cfg.rawExec ?? false,
      ...(cfg.tls === undefined ? {} : { tls: cfg.tls.enabled }),
      ...(cfg.acl === undefined ? {} : { acl: cfg.acl.enabled && !cfg.dev }),
      scriptChecks: cfg.enableScriptChecks ?? false,
      localScriptChecks: (cfg.enableScriptChecks ?? false) || (cfg.enableLocalScriptChecks ?? false),
      ...(etcdListeners === undefined ? {} : { etcd: etcdListeners, etcdTls: etcdTls !== undefined }),
      ...(cfg.server && cfg.etcdEndpoints.length > 0 ? { externalEtcd: { endpoints: cfg.etcdEndpoints, ca: cfg.etcdTls !== undefined, clientCert: cfg.etcdTls?.cert !== undefined } } : {}),
    });
    for (const line of exposure) out(`${line}\n`);
    return { address, dataDir, nodeId: client?.nodeId, reload, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * Heartbeats among several servers, unless flags say otherwise: Nomad's defaults (a TTL of
 * at least 10 s, 10 s of grace) rather than a single server's 2 s and 1 s, since a beat
 * crosses a forwarding follower and an etcd commit may wait out an election; and 10 s more
 * for every node when a server starts leading.
 */
const CLUSTER_HEARTBEAT: Partial<HeartbeatOptions> = { minTTL: 10_000, grace: 10_000, failoverGrace: 10_000 };

/** The router's configuration file (Traefik's TOML or YAML, or JSON) over the defaults; every mistake in it is reported at once, with its line. */
async function routerConfig(file: string | undefined): Promise<RouterConfig> {
  if (file === undefined) return DEFAULT_ROUTER_CONFIG;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`router configuration ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const p = parseRouterConfigFile(file, text);
  if (!p.ok) throw new Error(`router configuration ${file}:\n  ${p.errors.join("\n  ")}`);
  return p.config;
}

/** The dashboard port the agent's flag defaults to; the router's configuration file may give another. */
const DEFAULT_DASHBOARD_PORT = 8081;

/** The address other agents reach a listener on: the bind address, or the node's address where it binds every interface. */
function advertised(listening: string, networkIp: string): string {
  const port = portOf(listening);
  const host = listening.slice(0, listening.lastIndexOf(":"));
  return host === "0.0.0.0" || host === "[::]" ? `${networkIp}:${port}` : `${host}:${port}`;
}

/** Whether the agent listens on loopback only: all its services are there too. */
function isLoopbackBind(bind: string): boolean {
  return bind === "localhost" || bind === "::1" || bind.startsWith("127.");
}

function portOf(hostPort: string): string {
  return hostPort.slice(hostPort.lastIndexOf(":") + 1);
}

function allDriverNames(rawExec: boolean): string {
  return allDrivers()
    .map((d) => d.name)
    .filter((n) => rawExec || n !== "raw_exec")
    .join(", ");
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
