import { mkdir, readdir, rename, stat } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import type { Etcd3 } from "etcd3";
import type { ApiWire } from "../api/index.js";
import { checkEtcdBinary, ETCD_BINARY, etcdArgs, etcdHealth, etcdLogSince, etcdLogTail, spawnEtcd, type EtcdChild, type EtcdFlags } from "../state/index.js";
import { ErrorCode, RucheError, type Logger } from "../structs/index.js";
import { addMember, directEtcdClient } from "./etcd-membership.js";
import { etcdHealthTls, etcdHttpsGet, etcdTlsFlags, type EtcdTls } from "./etcd-tls.js";
import {
  fetchPeer,
  joinAddress,
  parseJoinRequest,
  requestJoin,
  startJoinListener,
  type EtcdJoinAnswer,
  type EtcdPeer,
  type EtcdPeerMember,
  type JoinListenerSelf,
} from "./etcd-join.js";

/**
 * A server's own etcd member (a server with `bootstrap_expect` or `retry_join` and no
 * external etcd): Debian's etcd as a child process, its data in `<dataDir>/etcd`, its log in
 * `<dataDir>/etcd.log`, its client port the server's HTTP port + 1 and its peer port + 2.
 * The first start finds the other servers through `retry_join` (`bootstrapPlan`); later
 * starts find the member in the data dir and just run it. The member is supervised: one that
 * exits is started again after 1 s, 2 s, 4 s … 30 s, except one removed from the cluster.
 * Given `tls` (the servers derive the cluster CA from the cluster key), its client and peer
 * URLs are https and it takes only clients and peers with a certificate of that CA.
 */

export interface ManagedEtcdOptions {
  /** The server's name: its member's name, unique among the servers. */
  name: string;
  /** The region: the cluster's token is `ruche-<region>`, and servers of another region are ignored. */
  region: string;
  /** The server's data dir. */
  dataDir: string;
  /** The server's bind address and HTTP port: etcd listens on the same address, ports + 1 (clients) and + 2 (peers). */
  bind: string;
  httpPort: number;
  /**
   * The address the other servers reach this one at. Default: the bind address; for a bind
   * on every address (0.0.0.0, ::), 127.0.0.1 when every `retryJoin` address is on this
   * machine (or there is none), else the first IPv4 address of a network interface.
   */
  advertise?: string;
  /** Servers that must answer (this one included) before a new cluster forms; 0: join a running cluster only. */
  bootstrapExpect: number;
  /** The other servers' API addresses (host:port; this server's own may be among them). */
  retryJoin: string[];
  log: Logger;
  /** Aborts the wait for the other servers and for a quorum: the member is stopped and the start rejects. */
  signal?: AbortSignal;
  /**
   * Whether to serve the peer and join routes on bind:httpPort until the start resolves
   * (`startJoinListener`); default true. The API takes the port over afterwards.
   */
  listen?: boolean;
  /** TLS on the join listener and on the questions to the other servers (their API is HTTPS): plain HTTP when absent. */
  wire?: ApiWire;
  /**
   * The member's certificate from the CA the servers derive from the cluster key: its client
   * and peer URLs are https, it asks every client and peer for a certificate of that CA, and
   * this server's calls to it show this one. Plain HTTP without authentication when absent.
   */
  tls?: EtcdTls;
  /** The etcd binary; /usr/bin/etcd (Debian's etcd-server) by default. */
  binary?: string;
  /** Milliseconds between two rounds of asking the `retryJoin` servers (1000). */
  pollIntervalMs?: number;
}

/** running: its process runs; restarting: it exited and starts again after a delay; removed: the cluster removed it; stopped: `stop()`. */
export type ManagedEtcdState = "starting" | "running" | "restarting" | "removed" | "stopped";

export interface ManagedEtcd extends JoinListenerSelf {
  readonly name: string;
  readonly clientURL: string;
  readonly peerURL: string;
  /** etcd's data dir, `<dataDir>/etcd`. */
  readonly etcdDir: string;
  readonly logFile: string;
  /** Its process id while it runs. */
  readonly pid: number | undefined;
  readonly state: ManagedEtcdState;
  /** How many times the supervisor started it again. */
  readonly restarts: number;
  /** Client URLs for the server's etcd client: this member's first, then the other members' as last seen. */
  endpoints(): string[];
  /** This server's answer to `GET /v1/internal/etcd/peer`. */
  peer(): Promise<EtcdPeer>;
  /** Adds the server that asks as a member (`POST /v1/internal/etcd/join`); the body is checked here. */
  join(body: unknown): Promise<EtcdJoinAnswer>;
  /** SIGTERM, SIGKILL after 5 s; resolves once it has exited. No restart after this. */
  stop(): Promise<void>;
}

/**
 * Starts the server's etcd member and resolves once it is healthy (its cluster has a
 * quorum and a leader), having found the other servers and formed or joined their cluster
 * where its data dir holds no member yet.
 */
export async function startManagedEtcd(opts: ManagedEtcdOptions): Promise<ManagedEtcd> {
  const m = new Member(opts);
  await m.start();
  return m;
}

/** Client and peer ports of a server's member: its HTTP port + 1 and + 2 (Nomad's RPC and Serf ports). */
export function etcdPorts(httpPort: number): { client: number; peer: number } {
  return { client: httpPort + 1, peer: httpPort + 2 };
}

const WILDCARDS = new Set(["0.0.0.0", "::", "[::]", ""]);

/** See `ManagedEtcdOptions.advertise`. */
export function advertiseHost(bind: string, advertise: string | undefined, retryJoin: string[]): string {
  if (advertise !== undefined && advertise !== "") return advertise;
  if (!WILDCARDS.has(bind)) return bind;
  const local = retryJoin.every((a) => /^(127\.|localhost(:|$)|\[::1\])/.test(joinAddress(a)));
  if (local) return "127.0.0.1";
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

function url(host: string, port: number, tls: boolean): string {
  return `${tls ? "https" : "http"}://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

// --- the first start: which cluster to form or join ---------------------------------------

export type BootstrapPlan =
  /** Start a new cluster of these members, as every one of them does. */
  | { kind: "new"; initialCluster: string }
  /** This server is already a member of the running cluster (added, or in its initial set as run): start as one of it. */
  | { kind: "existing"; initialCluster: string }
  /** Ask the server at `via` to add this one as a member, then start with what it answers. */
  | { kind: "join"; via: string }
  /** Not enough servers yet: ask again. */
  | { kind: "wait"; reason: string }
  /** This server cannot be a member as it is (a name taken, its data lost): say why and stop. */
  | { kind: "refuse"; reason: string };

/**
 * What a server without etcd data does, from the answers of the `retry_join` servers (its
 * own answer may be among them). A running member's cluster wins: the server is in it
 * already (its initial set, or added by a join that did not finish) or asks to be added.
 * Without one, once `bootstrapExpect` servers answered (this one included), every one starts
 * a new cluster of the servers it heard, sorted by name: the same set everywhere as long as
 * every server has the same `bootstrap_expect` and no more servers than that start at once
 * (Nomad asks the same of `bootstrap_expect`).
 */
export function bootstrapPlan(self: { Name: string; Region: string; PeerURL: string }, answers: { addr: string; peer: EtcdPeer }[], bootstrapExpect: number): BootstrapPlan {
  const others: { addr: string; peer: EtcdPeer }[] = [];
  for (const a of answers) {
    if (a.peer.Region !== self.Region) continue;
    if (a.peer.Name === self.Name && a.peer.PeerURL === self.PeerURL) continue;
    if (a.peer.Name === self.Name) {
      return { kind: "refuse", reason: `two servers are named ${self.Name}: this one (etcd peer URL ${self.PeerURL}) and the one at ${a.addr} (${a.peer.PeerURL}); give each server its own name` };
    }
    if (a.peer.PeerURL === self.PeerURL) {
      return { kind: "refuse", reason: `the server ${a.peer.Name} at ${a.addr} has this server's etcd peer URL ${self.PeerURL}; give each server its own address or HTTP port` };
    }
    if (!others.some((o) => o.peer.Name === a.peer.Name)) others.push(a);
  }
  const running = others.filter((o) => o.peer.Running);
  for (const r of running) {
    const mine = r.peer.Members?.find((m) => m.PeerURLs.includes(self.PeerURL) || m.Name === self.Name);
    if (mine === undefined) continue;
    if (!mine.PeerURLs.includes(self.PeerURL)) {
      return { kind: "refuse", reason: `the etcd cluster of ${r.peer.Name} (${r.addr}) has a member named ${self.Name} at ${mine.PeerURLs.join(", ")}, not at this server's ${self.PeerURL}; remove it (ruche operator etcd remove ${self.Name}) or rename this server` };
    }
    if (mine.ClientURLs.length > 0) {
      return {
        kind: "refuse",
        reason: `this server's etcd member ${self.Name} has run in the cluster of ${r.peer.Name} (${r.addr}), but its data dir holds no etcd data: it was lost; remove the member (ruche operator etcd remove ${self.Name}) and start this server again`,
      };
    }
  }
  for (const r of running) {
    if (r.peer.InitialCluster?.split(",").includes(`${self.Name}=${self.PeerURL}`) === true) return { kind: "new", initialCluster: r.peer.InitialCluster };
  }
  for (const r of running) {
    const members = r.peer.Members;
    if (members?.some((m) => m.PeerURLs.includes(self.PeerURL)) === true) return { kind: "existing", initialCluster: initialClusterOfPeers(members, self) };
  }
  const via = running.find((r) => r.peer.Members !== undefined) ?? running[0];
  if (via !== undefined) return { kind: "join", via: via.addr };
  // A server with etcd data belongs to a cluster whose member is about to run (a restart of
  // every server): a new cluster now would be a second one.
  const member = others.find((o) => o.peer.HasData === true);
  if (member !== undefined) return { kind: "wait", reason: `${member.peer.Name} (${member.addr}) has etcd data but its member does not run yet` };
  const known = [self, ...others.map((o) => o.peer)];
  if (bootstrapExpect >= 1 && known.length >= bootstrapExpect) {
    const sorted = [...known].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    return { kind: "new", initialCluster: sorted.map((p) => `${p.Name}=${p.PeerURL}`).join(",") };
  }
  if (bootstrapExpect >= 1) {
    return { kind: "wait", reason: `${known.length} of the ${bootstrapExpect} servers expected answered (${known.map((p) => p.Name).join(", ")})` };
  }
  return { kind: "wait", reason: "no server with a running etcd member answered, and this one does not bootstrap (no bootstrap_expect)" };
}

function initialClusterOfPeers(members: EtcdPeerMember[], self: { Name: string; PeerURL: string }): string {
  return members
    .flatMap((m, i) => m.PeerURLs.map((u) => `${m.PeerURLs.includes(self.PeerURL) ? self.Name : m.Name !== "" ? m.Name : `pending-${i}`}=${u}`))
    .join(",");
}

// --- the member and its supervisor --------------------------------------------------------

const STARTING = "the server is starting: its etcd member is not up yet";
/** Backoff of the restarts, and how long a run must last for the next restart to start from 1 s again. */
const BACKOFF_MS = [1000, 2000, 4000, 8000, 16_000, 30_000];
const STEADY_MS = 60_000;
/** The log is moved aside to etcd.log.1 at a start when it is past this. */
const LOG_ROTATE_BYTES = 16 * 1024 * 1024;
/** What etcd says when it was removed from its cluster: it exits then, and starting it again is pointless. */
const REMOVED = "permanently removed from the cluster";
/** What etcd says where a start cannot work however often it is tried. */
const FATAL_AT_START = ["address already in use", "has already been bootstrapped", "cannot access data directory", "permission denied"];

class Member implements ManagedEtcd {
  readonly name: string;
  readonly clientURL: string;
  readonly peerURL: string;
  readonly etcdDir: string;
  readonly logFile: string;
  private readonly listenClientURL: string;
  private readonly listenPeerURL: string;
  private readonly binary: string;
  private readonly log: Logger;
  private flags: EtcdFlags | undefined;
  private child: EtcdChild | undefined;
  private client: Etcd3 | undefined;
  private initialCluster: string | undefined;
  private others: string[] = [];
  private stateNow: ManagedEtcdState = "starting";
  private restartCount = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Set when a start failed in a way no restart mends, before the member was ever healthy. */
  private fatal: string | undefined;
  private healthy = false;

  constructor(private readonly opts: ManagedEtcdOptions) {
    if (!Number.isInteger(opts.httpPort) || opts.httpPort < 1 || opts.httpPort > 65_533) {
      throw new RucheError(ErrorCode.BadRequest, `a server that runs its own etcd member needs a fixed HTTP port (its member listens on the two ports after it), not ${opts.httpPort}`, { path: "ports.http" });
    }
    if (opts.bootstrapExpect < 1 && opts.retryJoin.length === 0) {
      throw new RucheError(ErrorCode.BadRequest, "a server that runs its own etcd member needs bootstrap_expect ≥ 1 or retry_join", { path: "server.bootstrap_expect" });
    }
    const ports = etcdPorts(opts.httpPort);
    const host = advertiseHost(opts.bind, opts.advertise, opts.retryJoin);
    const bind = WILDCARDS.has(opts.bind) ? (opts.bind.includes(":") ? "::" : "0.0.0.0") : opts.bind;
    this.name = opts.name;
    const tls = opts.tls !== undefined;
    this.clientURL = url(host, ports.client, tls);
    this.peerURL = url(host, ports.peer, tls);
    this.listenClientURL = url(bind, ports.client, tls);
    this.listenPeerURL = url(bind, ports.peer, tls);
    this.etcdDir = join(opts.dataDir, "etcd");
    this.logFile = join(opts.dataDir, "etcd.log");
    this.binary = opts.binary ?? ETCD_BINARY;
    this.log = opts.log;
  }

  get pid(): number | undefined {
    return this.child?.running === true ? this.child.pid : undefined;
  }
  get state(): ManagedEtcdState {
    return this.stateNow;
  }
  get restarts(): number {
    return this.restartCount;
  }

  endpoints(): string[] {
    return [this.clientURL, ...this.others.filter((u) => u !== this.clientURL)];
  }

  async start(): Promise<void> {
    await checkEtcdBinary(this.binary);
    const listener = this.opts.listen === false ? undefined : await startJoinListener({ host: this.opts.bind, port: this.opts.httpPort, self: this, log: this.log, ...(this.opts.wire?.tls === undefined ? {} : { tls: this.opts.wire.tls }) });
    try {
      await mkdir(this.etcdDir, { recursive: true, mode: 0o700 });
      if (await this.hasData()) {
        this.log.info({ dataDir: this.etcdDir, clientURL: this.clientURL, peerURL: this.peerURL }, "starting this server's etcd member on its data");
        // etcd ignores the initial cluster where the data dir holds a WAL; "existing" makes
        // sure that a member without one fails rather than form a cluster of its own.
        this.flags = this.flagsFor(`${this.name}=${this.peerURL}`, "existing");
      } else {
        this.flags = await this.bootstrap();
      }
      await this.spawn();
      await this.waitHealthy();
      this.healthy = true;
      await this.refreshOthers();
      this.log.info({ name: this.name, clientURL: this.clientURL, endpoints: this.endpoints() }, "this server's etcd member is up");
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      await listener?.close();
    }
  }

  /** Whether etcd's data dir holds a member: a WAL file (etcd makes `member/` before it writes one). */
  private async hasData(): Promise<boolean> {
    const files = await readdir(join(this.etcdDir, "member", "wal")).catch(() => []);
    return files.some((f) => f.endsWith(".wal"));
  }

  private flagsFor(initialCluster: string, state: "new" | "existing"): EtcdFlags {
    return {
      name: this.name,
      dataDir: this.etcdDir,
      listenClientURL: this.listenClientURL,
      clientURL: this.clientURL,
      listenPeerURL: this.listenPeerURL,
      peerURL: this.peerURL,
      initialCluster,
      initialClusterState: state,
      initialClusterToken: `ruche-${this.opts.region}`,
      // The servers write often and watch from the revision they loaded: etcd keeps five
      // minutes of history, then compacts it, so that its database does not grow without end.
      extra: ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "5m", ...(this.opts.tls === undefined ? [] : etcdTlsFlags(this.opts.tls))],
    };
  }

  private async bootstrap(): Promise<EtcdFlags> {
    const addrs = [...new Set(this.opts.retryJoin.map(joinAddress))];
    const self = { Name: this.name, Region: this.opts.region, PeerURL: this.peerURL };
    const poll = this.opts.pollIntervalMs ?? 1000;
    this.log.info({ retryJoin: addrs, bootstrapExpect: this.opts.bootstrapExpect, peerURL: this.peerURL }, "looking for the other servers to form or join their etcd cluster");
    let heard = "";
    let lastWait = "";
    const warnedRegions = new Set<string>();
    for (let round = 0; ; round++) {
      this.opts.signal?.throwIfAborted();
      this.throwIfStopped();
      const results = await Promise.all(addrs.map(async (addr) => ({ addr, res: await fetchPeer(addr, 1000, this.opts.wire?.dial) })));
      const answers: { addr: string; peer: EtcdPeer }[] = [];
      for (const { addr, res } of results) {
        if (!res.ok) continue;
        if (res.peer.Region !== this.opts.region && !warnedRegions.has(addr)) {
          warnedRegions.add(addr);
          this.log.warn({ addr, name: res.peer.Name, region: res.peer.Region }, `the server at ${addr} is in region ${res.peer.Region}, not ${this.opts.region}: ignored`);
        }
        answers.push({ addr, peer: res.peer });
      }
      const now = answers.map((a) => `${a.peer.Name}@${a.addr}${a.peer.Running ? " (running)" : ""}`).join(", ");
      if (now !== heard) {
        heard = now;
        const silent = results.filter((r) => !r.res.ok).map((r) => `${r.addr}: ${r.res.ok ? "" : r.res.reason}`);
        this.log.info({ answered: answers.map((a) => `${a.peer.Name}@${a.addr}${a.peer.Running ? " (running)" : ""}`), silent }, "servers found");
      }
      const plan = bootstrapPlan(self, answers, this.opts.bootstrapExpect);
      switch (plan.kind) {
        case "new":
          this.initialCluster = plan.initialCluster;
          this.log.info({ initialCluster: plan.initialCluster }, "forming a new etcd cluster");
          return this.flagsFor(plan.initialCluster, "new");
        case "existing":
          this.log.info({ initialCluster: plan.initialCluster }, "this server is a member of the running etcd cluster already: starting as one");
          return this.flagsFor(plan.initialCluster, "existing");
        case "join":
          try {
            const answer = await requestJoin(plan.via, { Name: this.name, PeerURL: this.peerURL }, 10_000, this.opts.wire?.dial);
            this.log.info({ via: plan.via, initialCluster: answer.InitialCluster }, "added as a member of the running etcd cluster");
            return this.flagsFor(answer.InitialCluster, "existing");
          } catch (err) {
            this.log.warn({ err, via: plan.via }, "could not join the running etcd cluster yet; trying again");
          }
          break;
        case "refuse":
          throw new RucheError(ErrorCode.Conflict, plan.reason);
        case "wait":
          // Said once, and again every 10 rounds while nothing changes.
          if (plan.reason !== lastWait || round % 10 === 0) this.log.info({ retryJoin: addrs }, `waiting for the other servers: ${plan.reason}`);
          lastWait = plan.reason;
          break;
        default: {
          const never: never = plan;
          return never;
        }
      }
      await sleep(poll, this.opts.signal);
    }
  }

  private async spawn(): Promise<void> {
    const flags = this.flags;
    if (flags === undefined) throw new Error("the etcd member has no flags yet");
    const size = await stat(this.logFile).then((s) => s.size, () => 0);
    if (size > LOG_ROTATE_BYTES) await rename(this.logFile, `${this.logFile}.1`).catch(() => undefined);
    const logOffset = await stat(this.logFile).then((s) => s.size, () => 0);
    const child = await spawnEtcd(etcdArgs(flags), this.logFile, this.binary);
    this.child = child;
    this.stateNow = "running";
    const startedAt = Date.now();
    void child.exited.then((how) => this.exited(child, how, startedAt, logOffset));
  }

  private async exited(child: EtcdChild, how: { code: number | null; signal: NodeJS.Signals | null }, startedAt: number, logOffset: number): Promise<void> {
    if (child !== this.child || this.stateNow === "stopped") return;
    const run = await etcdLogSince(this.logFile, logOffset);
    if (run.includes(REMOVED)) {
      this.stateNow = "removed";
      this.log.error(
        { name: this.name, dataDir: this.etcdDir },
        `this server's etcd member was removed from the cluster (force-leave, or ruche operator etcd remove): it is not started again; to join again, stop this server, delete ${this.etcdDir} and start it`,
      );
      return;
    }
    const lines = await etcdLogTail(this.logFile, 15);
    if (!this.healthy) {
      const fatal = FATAL_AT_START.find((f) => run.includes(f));
      if (fatal !== undefined) {
        this.fatal = `etcd exited (${fatal}); the end of its log (${this.logFile}):\n${lines}`;
        this.stateNow = "stopped";
        return;
      }
    }
    if (Date.now() - startedAt > STEADY_MS) this.failures = 0;
    this.restartLater(`this server's etcd member exited`, { code: how.code, signal: how.signal, log: lines });
  }

  /** Starts the member again after the next delay of the backoff. */
  private restartLater(what: string, fields: Record<string, unknown>): void {
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)] ?? 30_000;
    this.failures++;
    this.stateNow = "restarting";
    this.log.warn({ ...fields, restartInMs: delay }, `${what}; starting it again in ${delay / 1000} s`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stateNow !== "restarting") return;
      this.restartCount++;
      this.spawn().catch((err: unknown) => {
        if (this.stateNow === "restarting") this.restartLater("could not start this server's etcd member again", { err });
      });
    }, delay);
  }

  private throwIfStopped(): void {
    if (this.stateNow === "stopped" && this.fatal === undefined) throw new RucheError(ErrorCode.Unavailable, "this server's etcd member was stopped while it started");
  }

  private async waitHealthy(): Promise<void> {
    const started = Date.now();
    let said = started;
    for (;;) {
      this.opts.signal?.throwIfAborted();
      this.throwIfStopped();
      if (this.fatal !== undefined) throw new RucheError(ErrorCode.Internal, `this server's etcd member cannot start: ${this.fatal}`);
      if (this.stateNow === "removed") throw new RucheError(ErrorCode.Conflict, `this server's etcd member was removed from its cluster; delete ${this.etcdDir} to join again`);
      const h = this.opts.tls === undefined ? await etcdHealth(this.clientURL, 1000) : await etcdHealthTls(this.clientURL, this.opts.tls, 1000);
      if (h.healthy) return;
      if (Date.now() - said >= 10_000) {
        said = Date.now();
        this.log.info({ waitedMs: said - started, health: h.reason }, "waiting for the etcd cluster to have a quorum and a leader");
      }
      await sleep(250, this.opts.signal);
    }
  }

  private etcd(): Etcd3 {
    return (this.client ??= directEtcdClient([this.clientURL], 2000, undefined, this.opts.tls));
  }

  /** The other members' client URLs, from the cluster's member list. */
  private async refreshOthers(): Promise<void> {
    try {
      const { members } = await this.etcd().cluster.memberList({});
      this.others = members.flatMap((m) => m.clientURLs).filter((u) => u !== this.clientURL);
    } catch (err) {
      this.log.warn({ err }, "could not list the etcd members");
    }
  }

  async peer(): Promise<EtcdPeer> {
    const running = this.child?.running === true;
    const p: EtcdPeer = { Name: this.name, Region: this.opts.region, PeerURL: this.peerURL, ClientURL: this.clientURL, Running: running, HasData: await this.hasData() };
    if (running) {
      const members = await peerMembers(this.peerURL, this.opts.tls);
      if (members !== undefined) {
        p.Members = members;
        this.others = members.flatMap((m) => m.ClientURLs).filter((u) => u !== this.clientURL);
      }
    }
    if (this.initialCluster !== undefined) p.InitialCluster = this.initialCluster;
    return p;
  }

  async join(body: unknown): Promise<EtcdJoinAnswer> {
    const req = parseJoinRequest(body);
    if (this.child?.running !== true) throw new RucheError(ErrorCode.NoLeader, STARTING);
    this.log.info({ name: req.Name, peerURL: req.PeerURL }, "adding a server as an etcd member");
    const initial = await addMember(this.etcd(), req.Name, req.PeerURL);
    return { InitialCluster: initial };
  }

  async stop(): Promise<void> {
    this.stateNow = "stopped";
    clearTimeout(this.timer);
    this.timer = undefined;
    this.client?.close();
    this.client = undefined;
    const child = this.child;
    if (child === undefined || !child.running) return;
    child.kill("SIGTERM");
    child.kill("SIGCONT");
    const kill = setTimeout(() => {
      this.log.warn({ pid: child.pid }, "this server's etcd member did not stop within 5 s of SIGTERM: SIGKILL");
      child.kill("SIGKILL");
    }, 5000);
    await child.exited;
    clearTimeout(kill);
  }
}

/**
 * The members as this server's etcd member knows them, from its peer port's `/members`: it
 * answers before the cluster has a quorum, which the client API does not.
 */
async function peerMembers(peerURL: string, tls: EtcdTls | undefined): Promise<EtcdPeerMember[] | undefined> {
  try {
    let list: unknown;
    if (tls === undefined) {
      const res = await fetch(`${peerURL}/members`, { signal: AbortSignal.timeout(1000) });
      if (!res.ok) return undefined;
      list = await res.json();
    } else {
      const res = await etcdHttpsGet(`${peerURL}/members`, tls, 1000);
      if (res.status !== 200) return undefined;
      list = JSON.parse(res.text);
    }
    if (!Array.isArray(list)) return undefined;
    const out: EtcdPeerMember[] = [];
    for (const m of list as unknown[]) {
      if (typeof m !== "object" || m === null) return undefined;
      const r = m as Record<string, unknown>;
      const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : []);
      out.push({ Name: typeof r.name === "string" ? r.name : "", PeerURLs: strings(r.peerURLs), ClientURLs: strings(r.clientURLs) });
    }
    return out;
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
