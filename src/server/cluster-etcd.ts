import type { Etcd3, Watcher } from "etcd3";
import { regionPrefix, type Fence, type StateStore } from "../state/index.js";
import { ErrorCode, errorMessage, RucheError, type Logger } from "../structs/index.js";
import type { ClusterView, EtcdMemberStatus, ServerInfo, ServerMember } from "./cluster.js";
import { inProcessLeases, type KeptLease, type Leases } from "./lease.js";

export interface EtcdClusterOptions {
  client: Etcd3;
  self: ServerInfo;
  /** Seconds of the server's lease: a leader that stops renewing it is replaced this long after. Default 2. */
  ttlSeconds?: number;
  /**
   * Where the server's lease is granted and renewed: on a thread of its own in an agent
   * (`threadLeases`), so that a leader busy for seconds keeps it; by `client` on this thread
   * when not given.
   */
  leases?: Leases;
  log: Logger;
  /** Called when this server becomes leader, its memory caught up: start the leader's duties. */
  onElected: () => Promise<void> | void;
  /** Called when this server stops leading (lease lost or ended, fence refused, shutdown): stop them. */
  onDeposed: () => Promise<void> | void;
  /** The etcd members' statuses and their removal, when the servers run etcd (or reach it). */
  etcd: {
    members: (client: Etcd3) => Promise<EtcdMemberStatus[]>;
    remove: (client: Etcd3, nameOrId: string) => Promise<void>;
  };
}

export interface EtcdCluster extends ClusterView {
  /** The fence of this server's term, null when it does not lead: the etcd backend compares it on every commit. */
  fence(): Fence | null;
  /** Joins the election; resolves once the first campaign has been tried. */
  start(store: StateStore): Promise<void>;
  /** Resigns (another server takes over at once) and forgets this server's lease. */
  stop(): Promise<void>;
}

/**
 * The servers of a region on etcd. Each server holds a lease of `ttlSeconds` (2 s), renewed
 * every third of it, and puts its `ServerInfo` at `/ruche/<region>/servers/<name>` on that
 * lease (alive while it renews) and at `/ruche/<region>/members/<name>` without one (known
 * until `force-leave`). The leader is whoever created `/ruche/<region>/leader` on its lease:
 * a transaction creates the key only where none exists; the others watch it and try again when
 * it goes. The key's create revision is the term's fence: every commit compares it
 * (`etcdBackend`), so a deposed leader writes nothing. A leader that has not renewed its
 * lease for a whole TTL (paused, cut off from etcd) steps down on its own clock, before etcd
 * ends the lease.
 */
export function etcdCluster(opts: EtcdClusterOptions): EtcdCluster {
  return new Election(opts);
}

class Election implements EtcdCluster {
  readonly self: ServerInfo;
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly leaderKey: string;
  private readonly ttl: number;
  private readonly log: Logger;
  private readonly leases: Leases;
  private lease: KeptLease | undefined;
  private leaseId = "";
  private lastRenewed = 0;
  private term: Fence | null = null;
  private leaderInfo: ServerInfo | null = null;
  /** The lease the leader key is on, as etcd last said ("" when there is no key). */
  private leaderLease = "";
  /** The revision of this server's last winning campaign: leader-key events before it are old news (`stale`). */
  private knownRevision = 0n;
  private readonly alive = new Map<string, ServerInfo>();
  private readonly known = new Map<string, ServerInfo>();
  private readonly watchers: Watcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private store: StateStore | undefined;
  /** One campaign or step-down at a time. */
  private chain: Promise<void> = Promise.resolve();
  private leading = false;

  constructor(private readonly opts: EtcdClusterOptions) {
    this.self = opts.self;
    this.client = opts.client;
    this.prefix = regionPrefix(opts.self.Region);
    this.leaderKey = `${this.prefix}leader`;
    this.ttl = opts.ttlSeconds ?? 2;
    this.leases = opts.leases ?? inProcessLeases(opts.client);
    this.log = opts.log;
  }

  async start(store: StateStore): Promise<void> {
    this.store = store;
    await this.watchPrefix(`${this.prefix}servers/`, this.alive);
    await this.watchPrefix(`${this.prefix}members/`, this.known);
    await this.watchLeader();
    await this.newLease();
    // The server's own clock: a lease not renewed for a whole TTL is gone for this server.
    this.timer = setInterval(() => {
      this.check();
    }, 200);
    this.timer.unref();
    await this.serialize(() => this.campaign());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.retryTimer);
    await this.serialize(async () => {
      await this.stepDown("this server is shutting down");
    });
    for (const w of this.watchers) await w.cancel().catch(() => undefined);
    // Revoking the lease removes the leader key and this server's alive record at once.
    await this.lease?.revoke().catch(() => undefined);
  }

  fence(): Fence | null {
    return this.leading ? this.term : null;
  }

  isLeader(): boolean {
    return this.leading;
  }

  leader(): ServerInfo | null {
    return this.leaderInfo;
  }

  members(): ServerMember[] {
    const names = new Set([...this.known.keys(), ...this.alive.keys()]);
    return [...names].sort().flatMap((name): ServerMember[] => {
      const info = this.alive.get(name) ?? this.known.get(name);
      if (info === undefined) return [];
      return [{ ...info, Status: this.alive.has(name) ? "alive" : "failed", Leader: this.leaderInfo?.Name === name }];
    });
  }

  lastContact(): number {
    if (this.leading) return 0;
    const renewed = this.renewed();
    return renewed === 0 ? 0 : Math.max(0, Date.now() - renewed);
  }

  async barrier(signal?: AbortSignal): Promise<void> {
    const store = this.store;
    if (store === undefined) throw new RucheError(ErrorCode.NoLeader, "the server is starting");
    try {
      await store.barrier(signal);
    } catch (err) {
      if (err instanceof RucheError) throw err;
      throw new RucheError(ErrorCode.NoLeader, `the cluster's state cannot be read now (etcd: ${errorMessage(err)}); ask with ?stale for this server's copy`, { cause: err });
    }
  }

  async forceLeave(name: string): Promise<void> {
    if (name === this.self.Name) throw new RucheError(ErrorCode.BadRequest, `${name} is this server: a server cannot force itself out`);
    const info = this.known.get(name) ?? this.alive.get(name);
    if (info === undefined) throw new RucheError(ErrorCode.NotFound, `no server named ${name}; servers: ${[...this.known.keys()].join(", ")}`);
    if (info.EtcdMember !== "") await this.opts.etcd.remove(this.client, info.EtcdMember);
    await this.client.delete().key(`${this.prefix}members/${name}`);
    await this.client.delete().key(`${this.prefix}servers/${name}`);
  }

  etcdMembers(): Promise<EtcdMemberStatus[]> {
    return this.opts.etcd.members(this.client);
  }

  etcdRemove(nameOrId: string): Promise<void> {
    return this.opts.etcd.remove(this.client, nameOrId);
  }

  // --- the lease and the campaign -------------------------------------------------------

  private async newLease(): Promise<void> {
    const lease = this.leases.lease(this.ttl);
    this.lease = lease;
    this.leaseId = await lease.grant();
    this.lastRenewed = Date.now();
    lease.onLost((err) => {
      if (this.lease !== lease || this.stopped) return;
      this.log.warn({ err: errorMessage(err) }, "cluster: this server's lease is lost; it takes a new one");
      void this.serialize(async () => {
        // Steps queue behind each other: a newer lease (and a term on it) may have taken this
        // one's place meanwhile, and that term is not the lost lease's to end.
        if (this.lease !== lease) return;
        await this.stepDown("its lease was lost");
        await this.renewAfterLoss(lease);
      });
    });
    const info = JSON.stringify(this.self);
    await this.client.put(`${this.prefix}servers/${this.self.Name}`).value(info).lease(this.leaseId);
    await this.client.put(`${this.prefix}members/${this.self.Name}`).value(info);
  }

  /** When the lease was last renewed, as etcd acknowledged it (its thread's clock, or this one's). */
  private renewed(): number {
    return Math.max(this.lastRenewed, this.lease?.lastRenewed() ?? 0);
  }

  private async renewAfterLoss(old: KeptLease): Promise<void> {
    if (this.lease !== old || this.stopped) return;
    old.release();
    this.lease = undefined;
    await this.renew();
  }

  /** A new lease and a campaign on it, tried again until etcd grants one. */
  private async renew(): Promise<void> {
    for (let delay = 200; !this.stopped && this.lease === undefined; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.newLease();
        await this.campaign();
        return;
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, "cluster: etcd does not grant a lease now; trying again");
        // newLease may have set one before it failed: not granted, or not recorded.
        (this.lease as KeptLease | undefined)?.release();
        this.lease = undefined;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Creates the leader key on this server's lease where none exists. */
  private async campaign(): Promise<void> {
    if (this.stopped || this.leading || this.lease === undefined) return;
    // Only on a lease renewed just now: a lease this server's clock already counts as gone
    // would depose it again at the next check.
    const lease = this.lease;
    await keepaliveOnce(lease);
    if (this.lease !== lease) return;
    this.lastRenewed = Date.now();
    const res = await this.client.kv.txn({
      compare: [{ key: Buffer.from(this.leaderKey), target: "Create", result: "Equal", create_revision: 0 }] as never,
      success: [{ request_put: { key: Buffer.from(this.leaderKey), value: Buffer.from(JSON.stringify(this.self)), lease: this.leaseId } }],
      failure: [],
    });
    if (!res.succeeded) return;
    this.term = { key: this.leaderKey, createRevision: res.header.revision };
    this.knownRevision = BigInt(res.header.revision);
    this.leaderInfo = this.self;
    this.leaderLease = this.leaseId;
    const started = Date.now();
    try {
      // Memory first holds every commit the previous leader made.
      await (this.store as StateStore).barrier();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, "cluster: elected, but the state could not be read; resigning");
      this.term = null;
      await this.resign(lease);
      return;
    }
    this.leading = true;
    this.log.warn({ term: this.term.createRevision, catchUpMs: Date.now() - started }, "cluster: this server leads");
    try {
      await this.opts.onElected();
    } catch (err) {
      this.log.error({ err }, "cluster: the leader's duties did not start; resigning");
      await this.stepDown("its duties did not start");
      await this.resign(lease);
    }
  }

  /**
   * Gives up a term this server cannot take up. Deleting the leader key is not enough: when
   * etcd does not answer the delete (the very reason the term could not start), the key would
   * stay on a lease this server keeps renewing, naming a leader that does not lead, for as
   * long as it runs. So the lease itself is let go: revoked if etcd answers, else no longer
   * renewed, so that etcd ends it (and the key) within its TTL; a new lease and a new
   * campaign follow once this step is over.
   */
  private async resign(lease: KeptLease): Promise<void> {
    if (this.lease !== lease) return;
    // No longer this server's: its "lost" event, when the revoke ends it, is not news.
    this.lease = undefined;
    lease.release();
    await lease.revoke().catch(() => undefined);
    setImmediate(() => void this.serialize(() => this.renew()));
  }

  private async healOwnKey(): Promise<void> {
    const lease = this.lease;
    if (this.stopped || this.leading || lease === undefined || this.leaderLease !== this.leaseId) return;
    this.log.warn({ lease: this.leaseId }, "cluster: the leader key is on this server's lease, but this server does not lead; it lets the lease go and campaigns again");
    await this.resign(lease);
  }

  private async stepDown(why: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.log.warn({ why }, "cluster: this server no longer leads");
    try {
      await this.opts.onDeposed();
    } catch (err) {
      this.log.error({ err }, "cluster: stopping the leader's duties failed");
    }
    if (this.stopped) await this.client.delete().key(this.leaderKey).catch(() => undefined);
    this.term = null;
  }

  private check(): void {
    if (this.stopped || !this.leading) return;
    if (Date.now() - this.renewed() < this.ttl * 1000) return;
    const old = this.lease;
    void this.serialize(async () => {
      // A term on a newer lease began while this step waited: not this step's to end.
      if (this.lease !== old) return;
      await this.stepDown(`its lease was not renewed for ${this.ttl} s (paused, or cut off from etcd)`);
      // The lease may still be alive on etcd's side, holding the leader key: let it go, and
      // campaign again on a new one.
      if (old !== undefined) await this.resign(old);
    });
  }

  private serialize(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn).catch((err: unknown) => {
      this.log.warn({ err: errorMessage(err) }, "cluster: an election step failed; trying again when the leader key changes");
    });
    this.chain = next;
    return next;
  }

  // --- watching -------------------------------------------------------------------------

  /**
   * Whether a watch event on the leader key is older than what this server knows first-hand:
   * the watch can lag behind its own campaign, and a put or delete of an earlier term's key
   * (one it gave up a moment ago) must not depose the term it has just begun.
   */
  private stale(kv: { mod_revision: string }): boolean {
    return BigInt(kv.mod_revision) < this.knownRevision;
  }

  private async watchLeader(): Promise<void> {
    const res = await this.client.kv.range({ key: Buffer.from(this.leaderKey) });
    const kv = res.kvs[0];
    this.leaderInfo = kv === undefined ? null : parseInfo(kv.value.toString("utf8"));
    this.leaderLease = kv === undefined ? "" : kv.lease;
    const w = await this.client
      .watch()
      .key(this.leaderKey)
      .startRevision(String(BigInt(res.header.revision) + 1n))
      .create();
    this.watchers.push(w);
    w.on("put", (kv) => {
      if (this.stale(kv)) return;
      this.leaderInfo = parseInfo(kv.value.toString("utf8"));
      this.leaderLease = kv.lease;
      // Another server's key: this one's term is over, whatever its clock says.
      if (this.leading && this.term !== null && kv.create_revision !== this.term.createRevision) void this.serialize(() => this.stepDown("another server leads"));
    });
    w.on("delete", (kv) => {
      if (this.stale(kv)) return;
      this.leaderInfo = null;
      this.leaderLease = "";
      if (this.leading) void this.serialize(() => this.stepDown("its leader key is gone"));
      void this.serialize(() => this.campaign());
    });
    w.on("error", (err) => {
      if (!this.stopped) this.log.warn({ err: errorMessage(err) }, "cluster: the watch on the leader key failed");
    });
    // A watch that reconnects may have missed the key's deletion: try again now and then.
    // And a leader key on this server's own lease while it does not lead names a leader
    // nobody is: every server would forward to it, and none campaign, for as long as this
    // server kept the lease. It lets that lease go, and campaigns again on a new one.
    const retry = setInterval(() => {
      if (this.stopped || this.leading) return;
      if (this.leaderInfo === null) void this.serialize(() => this.campaign());
      else if (this.lease !== undefined && this.leaderLease !== "" && this.leaderLease === this.leaseId) void this.serialize(() => this.healOwnKey());
    }, 1000);
    retry.unref();
    this.retryTimer = retry;
  }

  private async watchPrefix(prefix: string, into: Map<string, ServerInfo>): Promise<void> {
    const res = await this.client.getAll().prefix(prefix).exec();
    for (const kv of res.kvs) into.set(kv.key.toString("utf8").slice(prefix.length), parseInfo(kv.value.toString("utf8")));
    const w = await this.client
      .watch()
      .prefix(prefix)
      .startRevision(String(BigInt(res.header.revision) + 1n))
      .create();
    this.watchers.push(w);
    w.on("put", (kv) => {
      into.set(kv.key.toString("utf8").slice(prefix.length), parseInfo(kv.value.toString("utf8")));
    });
    w.on("delete", (kv) => {
      into.delete(kv.key.toString("utf8").slice(prefix.length));
    });
  }
}

/**
 * One keepalive of `lease`, tried up to three times: a keepalive is safe to repeat, and one
 * sent to an etcd member that has just died (with the leader it served, a server that runs its
 * own member) fails at once, the client then passing that member over.
 */
async function keepaliveOnce(lease: KeptLease): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await lease.keepaliveOnce();
      return;
    } catch (err) {
      if (i >= 3) throw err;
    }
  }
}

function parseInfo(text: string): ServerInfo {
  return JSON.parse(text) as ServerInfo;
}
