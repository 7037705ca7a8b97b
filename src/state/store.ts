import {
  AllocKeys,
  type AclBootstrap,
  type AclPolicy,
  type AclToken,
  type JoinToken,
  EMPTY_USAGE,
  ErrorCode,
  holdsResources,
  RucheError,
  UsageTally,
  type Allocation,
  type Deployment,
  type Evaluation,
  type Job,
  type RegisteredService,
  type KVEntry,
  type KVExpiry,
  type Logger,
  type Node,
  type Session,
  type PeriodicLaunch,
  type Namespace,
  type NodeCoordinate,
  type PreparedQuery,
  type StoredUserEvent,
  type HostVolume,
  type StoredVariable,
  variableRowKey,
  defaultNamespace,
  DEFAULT_NAMESPACE,
  type SigningKey,
  type UsageSnapshot,
  defaultSchedulerConfig,
  SCHEDULER_CONFIG_KEY,
  type SchedulerConfiguration,
} from "../structs/index.js";
import { CommitRefused } from "./commit-refused.js";
import { GroupIndex, jobGroup } from "./group-index.js";
import { checkRow, jobRowKey } from "./rows.js";
import { BatchOverlay, BatchTxn } from "./txn.js";
import { TABLES, type Backend, type Change, type CommitEvent, type RawChange, type RemoteBatch, type Rows, type TableName, type Txn } from "./types.js";

/** The "default" namespace until someone writes it. */
const DEFAULT_NS: Namespace = Object.freeze(defaultNamespace());

interface PendingWrite {
  mutate: (tx: Txn) => unknown;
  resolve: (r: { index: number; result: unknown }) => void;
  reject: (err: unknown) => void;
}

interface Done {
  write: PendingWrite;
  index: number;
  result: unknown;
  changes: Change[];
}

interface Waiter {
  tables: readonly TableName[];
  resolve: (index: number) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * The cluster's state: every table in memory with its secondary indexes, committed through
 * a backend that makes it durable (SQLite here, etcd later).
 *
 * Writes go through one committer. `write(mutate)` queues `mutate`; the committer takes
 * everything queued as one batch, runs each `mutate` in turn against the latest state (each
 * at its own, consecutive index), hands the batch to the backend as one commit (group
 * commit: one fsync for the lot), and only once that is durable applies it to memory, tells
 * the change feed, wakes blocking queries and resolves the writers. Readers therefore never
 * see a write that a crash could still take back, and memory changes only between turns of
 * the event loop, so a synchronous reader (the scheduler) sees one consistent state.
 *
 * Rows are frozen copies (top level) owned by the store: treat what the read methods return
 * as read-only, and do not change an object after handing it to `put` (go-memdb's rule).
 */
export class StateStore {
  private readonly rows: { [T in TableName]: Map<string, Rows[T]> } = {
    jobs: new Map(),
    jobVersions: new Map(),
    nodes: new Map(),
    allocs: new Map(),
    evals: new Map(),
    deployments: new Map(),
    kv: new Map(),
    sessions: new Map(),
    services: new Map(),
    aclPolicies: new Map(),
    aclTokens: new Map(),
    aclBootstrap: new Map(),
    joinTokens: new Map(),
    signingKeys: new Map(),
    periodicLaunches: new Map(),
    namespaces: new Map(),
    variables: new Map(),
    preparedQueries: new Map(),
    kvExpiry: new Map(),
    coordinates: new Map(),
    userEvents: new Map(),
    hostVolumes: new Map(),
    schedulerConfig: new Map(),
  };
  private readonly tableIndexes: Record<TableName, number>;
  private committed: number;

  private readonly versionsByJob = new GroupIndex<Job>();
  private readonly allocsByNodeIx = new GroupIndex<Allocation>();
  private readonly allocsByJobIx = new GroupIndex<Allocation>();
  private readonly evalsByJobIx = new GroupIndex<Evaluation>();
  private readonly deploymentsByJobIx = new GroupIndex<Deployment>();
  private readonly usage = new Map<string, UsageTally>();
  private readonly allocKeys = new AllocKeys();
  private nodeList: readonly Node[] | null = null;
  /** ACL tokens' AccessorIDs by their SecretID. */
  private readonly tokensBySecret = new Map<string, string>();

  private queue: PendingWrite[] = [];
  private committing = false;
  private failure: RucheError | null = null;
  /** A refused commit was logged and no commit has succeeded since: one log line per episode. */
  private refusing = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly idle: (() => void)[] = [];
  private readonly listeners = new Set<(e: CommitEvent) => void>();
  private readonly waiters = new Map<TableName, Set<Waiter>>(TABLES.map((t) => [t, new Set()]));

  private constructor(
    private readonly backend: Backend,
    index: number,
    private readonly log: Logger | undefined,
  ) {
    this.committed = index;
    // Loaded tables start at the loaded index: what changed before a restart is not known
    // table by table, and waking a blocking query once too often is harmless.
    this.tableIndexes = Object.fromEntries(TABLES.map((t) => [t, index])) as Record<TableName, number>;
  }

  /**
   * Loads the backend's state, checking every row, and builds the indexes. With `log`, the
   * store logs a commit the backend refused (a full disk) once per episode, at error level,
   * and at warn when writes succeed again; and a commit that stopped the store.
   */
  static async open(backend: Backend, opts: { log?: Logger } = {}): Promise<StateStore> {
    try {
      const { index, rows } = await backend.load();
      if (!Number.isSafeInteger(index) || index < 0) throw new RucheError(ErrorCode.Internal, `state: the backend's index ${String(index)} is not a whole number`);
      const store = new StateStore(backend, Math.max(index, 1), opts.log);
      for (const r of rows) {
        const row = checkRow(r.table, r.key, r.value);
        if (row.ModifyIndex > index) {
          throw new RucheError(ErrorCode.Internal, `state: corrupt row in table ${r.table}, key ${JSON.stringify(r.key)}: ModifyIndex ${row.ModifyIndex} is above the stored index ${index}`);
        }
        store.apply(r.table, r.key, Object.freeze(row));
      }
      backend.follow?.((b) => {
        store.applyRemote(b);
      });
      return store;
    } catch (err) {
      await backend.close().catch(() => undefined);
      throw err;
    }
  }

  /** The last committed index: durable and applied. Never 0: an empty store is at 1. */
  get index(): number {
    return this.committed;
  }

  /**
   * Resolves once memory holds every commit acknowledged anywhere before the call: at once
   * on a backend of its own; on a shared one (etcd), after a linearizable read of its index,
   * once the commits up to it have arrived. Concurrent callers share one read, started
   * after they called. Rejects with what the backend's read failed with, or on `signal`.
   */
  barrier(signal?: AbortSignal): Promise<void> {
    if (this.backend.readIndex === undefined) return Promise.resolve();
    return new Promise<number>((resolve, reject) => {
      this.barrierQueue.push({ resolve, reject });
      if (!this.barrierReading) void this.readBarrier();
    }).then((index) => this.reach(index, signal));
  }

  private readonly barrierQueue: { resolve: (index: number) => void; reject: (err: unknown) => void }[] = [];
  private barrierReading = false;
  private readonly reached: { index: number; resolve: () => void; reject: (err: unknown) => void }[] = [];

  /** One linearizable read for every caller queued before it started; callers queued during it wait for the next. */
  private async readBarrier(): Promise<void> {
    while (this.barrierQueue.length > 0) {
      const callers = this.barrierQueue.splice(0);
      this.barrierReading = true;
      try {
        const index = await (this.backend.readIndex as () => Promise<number>)();
        for (const c of callers) c.resolve(index);
      } catch (err) {
        for (const c of callers) c.reject(err);
      } finally {
        this.barrierReading = false;
      }
    }
  }

  /** Resolves once the store's index reaches `index`. */
  private reach(index: number, signal?: AbortSignal): Promise<void> {
    if (this.committed >= index) return Promise.resolve();
    if (this.closed) return Promise.reject(new RucheError(ErrorCode.Unavailable, "state: the store is closed"));
    return new Promise<void>((resolve, reject) => {
      const entry = { index, resolve, reject };
      this.reached.push(entry);
      signal?.addEventListener(
        "abort",
        () => {
          const i = this.reached.indexOf(entry);
          if (i >= 0) this.reached.splice(i, 1);
          reject(abortReason(signal));
        },
        { once: true },
      );
    });
  }

  /**
   * Applies a commit another server made (a shared backend's `follow`): memory, indexes, the
   * change feed and blocking queries, as for a commit of this store's own, at the batch's
   * last index.
   */
  private applyRemote(b: RemoteBatch): void {
    if (b.index <= this.committed) return;
    const changes: Change[] = [];
    const touched = new Set<TableName>();
    for (const c of b.whole === true ? this.difference(b.changes) : b.changes) {
      const value = c.op === "delete" ? null : Object.freeze(checkRow(c.table, c.key, c.value));
      this.apply(c.table, c.key, value);
      this.tableIndexes[c.table] = b.index;
      touched.add(c.table);
      changes.push({ table: c.table, key: c.key, op: c.op, value } as Change);
    }
    this.committed = b.index;
    this.emit({ index: b.index, changes });
    this.wake(touched);
    this.settleReached();
  }

  /** What turns memory into `all` (every row of a backend's state): the rows that differ or are new, and deletes of those `all` lacks. */
  private difference(all: readonly RawChange[]): RawChange[] {
    const out: RawChange[] = [];
    const present = new Map<TableName, Set<string>>(TABLES.map((t) => [t, new Set<string>()]));
    for (const c of all) {
      if (c.op !== "put") continue;
      present.get(c.table)?.add(c.key);
      const held = this.rows[c.table].get(c.key);
      if (held === undefined || JSON.stringify(held) !== JSON.stringify(c.value)) out.push(c);
    }
    for (const t of TABLES) {
      const keep = present.get(t) as Set<string>;
      for (const key of this.rows[t].keys()) if (!keep.has(key)) out.push({ table: t, key, op: "delete", value: null });
    }
    return out;
  }

  private settleReached(): void {
    if (this.reached.length === 0) return;
    for (let i = this.reached.length - 1; i >= 0; i--) {
      const r = this.reached[i] as { index: number; resolve: () => void; reject: (err: unknown) => void };
      if (r.index <= this.committed) {
        this.reached.splice(i, 1);
        r.resolve();
      }
    }
  }

  /** The index of the last commit that touched `table` (the loaded index after a restart). */
  tableIndex(table: TableName): number {
    return this.tableIndexes[table];
  }

  /**
   * Runs `mutate` at commit time against the latest state and resolves, once the commit is
   * durable and applied, with its index and what `mutate` returned. `mutate` must be
   * synchronous. If it throws, nothing it wrote is kept and the promise rejects with that
   * error; the other transactions of the batch are unaffected. Every transaction that does
   * not throw takes an index, even one that writes nothing.
   */
  write<R = void>(mutate: (tx: Txn) => R): Promise<{ index: number; result: R }> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new RucheError(ErrorCode.Unavailable, "state: the store is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ mutate, resolve: resolve as PendingWrite["resolve"], reject });
      if (!this.committing) {
        this.committing = true;
        // Wait one turn: writers woken by the same event all join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  // --- reads ---------------------------------------------------------------------------

  job(ns: string, id: string): Job | null {
    return this.rows.jobs.get(jobRowKey(ns, id)) ?? null;
  }
  jobs(): Job[] {
    return [...this.rows.jobs.values()];
  }
  /** Every stored version of the job, newest first. */
  jobVersions(ns: string, id: string): Job[] {
    return [...this.versionsByJob.list(jobGroup(ns, id))].sort((a, b) => b.Version - a.Version);
  }

  node(id: string): Node | undefined {
    return this.rows.nodes.get(id);
  }
  /** Every node; the same (frozen) array until a node changes, so callers may cache on it. */
  nodes(): readonly Node[] {
    this.nodeList ??= Object.freeze([...this.rows.nodes.values()]);
    return this.nodeList;
  }

  alloc(id: string): Allocation | undefined {
    return this.rows.allocs.get(id);
  }
  allocs(): Allocation[] {
    return [...this.rows.allocs.values()];
  }
  /** Every allocation on the node, terminal ones included; frozen, the same array until one of them changes. */
  allocsByNode(nodeId: string): readonly Allocation[] {
    return this.allocsByNodeIx.list(nodeId);
  }
  /** Every allocation of the job, terminal ones included; frozen, the same array until one of them changes. */
  allocsByJob(ns: string, jobId: string): readonly Allocation[] {
    return this.allocsByJobIx.list(jobGroup(ns, jobId));
  }

  eval(id: string): Evaluation | undefined {
    return this.rows.evals.get(id);
  }
  evals(): Evaluation[] {
    return [...this.rows.evals.values()];
  }
  evalsByJob(ns: string, jobId: string): Evaluation[] {
    return [...this.evalsByJobIx.rows(jobGroup(ns, jobId))];
  }

  deployment(id: string): Deployment | undefined {
    return this.rows.deployments.get(id);
  }
  deployments(): Deployment[] {
    return [...this.rows.deployments.values()];
  }
  deploymentsByJob(ns: string, jobId: string): Deployment[] {
    return [...this.deploymentsByJobIx.rows(jobGroup(ns, jobId))];
  }
  /** The job's deployment with the highest CreateIndex, whatever its status. */
  latestDeployment(ns: string, jobId: string): Deployment | null {
    let best: Deployment | null = null;
    for (const d of this.deploymentsByJobIx.rows(jobGroup(ns, jobId))) if (best === null || d.CreateIndex >= best.CreateIndex) best = d;
    return best;
  }

  /**
   * What the node's allocations that hold resources add up to, kept as a running total on
   * every allocation put and delete. Live: it changes with later commits, so read it within
   * one turn of the event loop.
   */
  nodeUsage(nodeId: string): UsageSnapshot {
    return this.usage.get(nodeId) ?? EMPTY_USAGE;
  }

  /** The KV entry under `key`, or undefined. */
  kvGet(key: string): KVEntry | undefined {
    return this.rows.kv.get(key);
  }
  /** Every KV entry whose key starts with `prefix`, sorted by key. */
  kvList(prefix: string): KVEntry[] {
    return [...this.scan("kv", prefix)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  /** The KV entries' times to live (etcd v2's `ttl=`), by key. */
  kvExpiries(): KVExpiry[] {
    return [...this.rows.kvExpiry.values()];
  }
  kvExpiry(key: string): KVExpiry | undefined {
    return this.rows.kvExpiry.get(key);
  }

  session(id: string): Session | undefined {
    return this.rows.sessions.get(id);
  }
  sessions(): Session[] {
    return [...this.rows.sessions.values()];
  }

  /** Services registered directly (not from allocations), every node's. */
  registeredServices(): RegisteredService[] {
    return [...this.rows.services.values()];
  }

  /** Every ACL policy. */
  aclPolicies(): AclPolicy[] {
    return [...this.rows.aclPolicies.values()];
  }
  aclPolicy(name: string): AclPolicy | undefined {
    return this.rows.aclPolicies.get(name);
  }
  /** Every ACL token, the anonymous one included once its policies are set. */
  aclTokens(): AclToken[] {
    return [...this.rows.aclTokens.values()];
  }
  aclToken(accessorID: string): AclToken | undefined {
    return this.rows.aclTokens.get(accessorID);
  }
  /** The token whose secret this is (what a request presents), expired or not. */
  aclTokenBySecret(secretID: string): AclToken | undefined {
    const accessor = this.tokensBySecret.get(secretID);
    return accessor === undefined ? undefined : this.rows.aclTokens.get(accessor);
  }
  /** Every join token, revoked ones included (their secrets' hashes only). */
  joinTokens(): JoinToken[] {
    return [...this.rows.joinTokens.values()];
  }

  /** The servers' keys that sign workload identities (their private halves: never shown). */
  signingKeys(): SigningKey[] {
    return [...this.rows.signingKeys.values()];
  }

  /** The last launch of a periodic job (until its first, when it was registered), if recorded. */
  periodicLaunch(namespace: string, jobId: string): PeriodicLaunch | undefined {
    return this.rows.periodicLaunches.get(jobRowKey(namespace, jobId));
  }

  /** Every namespace, by name, "default" among them whether written or not. */
  namespaces(): Namespace[] {
    const out = [...this.rows.namespaces.values()];
    if (!this.rows.namespaces.has(DEFAULT_NAMESPACE)) out.push(DEFAULT_NS);
    return out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  }
  /** A namespace by name; "default" is always there (as written, else as it starts). */
  namespace(name: string): Namespace | undefined {
    return this.rows.namespaces.get(name) ?? (name === DEFAULT_NAMESPACE ? DEFAULT_NS : undefined);
  }

  /** Nomad's variable at `path` of `namespace`, as stored (its items sealed or not). */
  variable(namespace: string, path: string): StoredVariable | undefined {
    return this.rows.variables.get(variableRowKey(namespace, path));
  }

  /** The variables of `namespace` (every namespace: undefined) whose path starts with `prefix`, by namespace and path. */
  variables(namespace: string | undefined, prefix = ""): StoredVariable[] {
    const out: StoredVariable[] = [];
    for (const v of this.rows.variables.values()) if ((namespace === undefined || v.Namespace === namespace) && v.Path.startsWith(prefix)) out.push(v);
    return out.sort((a, b) => (a.Namespace !== b.Namespace ? (a.Namespace < b.Namespace ? -1 : 1) : a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
  }

  /** Consul's prepared query of this ID. */
  preparedQuery(id: string): PreparedQuery | undefined {
    return this.rows.preparedQueries.get(id);
  }
  /** Every prepared query, by ID. */
  preparedQueries(): PreparedQuery[] {
    return [...this.rows.preparedQueries.values()].sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
  }

  /** Every node's network coordinate (Consul's), by node name. */
  coordinates(): NodeCoordinate[] {
    return [...this.rows.coordinates.values()].sort((a, b) => (a.Node < b.Node ? -1 : a.Node > b.Node ? 1 : 0));
  }
  /** One node's network coordinate. */
  coordinate(node: string): NodeCoordinate | undefined {
    return this.rows.coordinates.get(node);
  }
  /** A dynamic host volume by namespace and ID. */
  hostVolume(namespace: string, id: string): HostVolume | undefined {
    return this.rows.hostVolumes.get(jobRowKey(namespace, id));
  }
  /** The dynamic host volumes of `namespace` (every namespace: undefined), by namespace and ID. */
  hostVolumes(namespace: string | undefined): HostVolume[] {
    const out: HostVolume[] = [];
    for (const v of this.rows.hostVolumes.values()) if (namespace === undefined || v.Namespace === namespace) out.push(v);
    return out.sort((a, b) => (a.Namespace === b.Namespace ? (a.ID < b.ID ? -1 : 1) : a.Namespace < b.Namespace ? -1 : 1));
  }
  /** Consul's user events the cluster keeps (the last 256), oldest first (by LTime). */
  userEvents(): StoredUserEvent[] {
    return [...this.rows.userEvents.values()].sort((a, b) => a.LTime - b.LTime);
  }

  /** The record of the ACL system's bootstrap, once it was made. */
  /** The cluster's scheduler configuration: the one stored, or the defaults while none was set. */
  schedulerConfig(): SchedulerConfiguration {
    const row = this.rows.schedulerConfig.get(SCHEDULER_CONFIG_KEY);
    if (row === undefined) return defaultSchedulerConfig();
    const { ID: _id, ...cfg } = row;
    return cfg;
  }

  aclBootstrap(): AclBootstrap | undefined {
    return this.rows.aclBootstrap.get(ACL_BOOTSTRAP_KEY);
  }

  private *scan<T extends TableName>(table: T, prefix: string): Generator<[string, Rows[T]]> {
    for (const e of this.rows[table]) if (e[0].startsWith(prefix)) yield e;
  }

  // --- change feed and blocking queries ------------------------------------------------

  /**
   * Calls `fn` after each commit is applied, once per transaction, in index order; during
   * the call the store is at `e.index`. A listener that throws stops neither the others nor
   * the store: its error is rethrown on the next tick, as EventTarget does.
   */
  subscribe(fn: (e: CommitEvent) => void): () => void {
    const own = (e: CommitEvent): void => {
      fn(e);
    };
    this.listeners.add(own);
    return () => {
      this.listeners.delete(own);
    };
  }

  /**
   * A blocking query: resolves at once with the highest index of `tables` (every table when
   * empty) if it is above `minIndex`; else when a commit touches one of them; else after
   * `timeoutMs` with the current value. Rejects with the signal's reason if it aborts, and
   * when the store closes.
   */
  waitFor(tables: TableName[], minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const watched: readonly TableName[] = tables.length === 0 ? TABLES : [...tables];
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const now = this.maxIndex(watched);
    if (now > minIndex) return Promise.resolve(now);
    if (this.closed) return Promise.reject(new RucheError(ErrorCode.Unavailable, "state: the store is closed"));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        tables: watched,
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: () => {
          if (signal !== undefined) this.settle(w, abortReason(signal), true);
        },
      };
      w.timer = setTimeout(() => {
        this.settle(w, this.maxIndex(watched), false);
      }, clampDelay(timeoutMs));
      signal?.addEventListener("abort", w.onAbort, { once: true });
      for (const t of watched) this.waiters.get(t)?.add(w);
    });
  }

  /**
   * How many blocking queries wait now, on `table` or on any table (Consul's
   * `consul.rpc.queries_blocking`): a test sees that its query is parked before it writes.
   */
  blockingQueries(table?: TableName): number {
    if (table !== undefined) return this.waiters.get(table)?.size ?? 0;
    const open = new Set<Waiter>();
    for (const set of this.waiters.values()) for (const w of set) open.add(w);
    return open.size;
  }

  /** Commits what is queued, then closes the backend. Later writes and open blocking queries reject. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // --- the committer -------------------------------------------------------------------

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.commitBatch(batch);
      // Let the writers just resolved queue their next writes before the next batch is taken.
      if (this.queue.length > 0) await new Promise((r) => setImmediate(r));
    }
    this.committing = false;
    for (const f of this.idle.splice(0)) f();
  }

  /** Never throws: each write of the batch is resolved or rejected. */
  private async commitBatch(batch: PendingWrite[]): Promise<void> {
    if (this.failure !== null) {
      for (const w of batch) w.reject(this.failure);
      return;
    }
    const overlay = new BatchOverlay(
      (table, key) => this.rows[table].get(key),
      (table, prefix) => this.scan(table, prefix),
    );
    const done: Done[] = [];
    let next = this.committed + 1;
    for (const write of batch) {
      const tx = new BatchTxn(next, overlay);
      let result: unknown;
      try {
        result = write.mutate(tx);
        if (isThenable(result)) {
          result.then(undefined, () => undefined);
          throw new RucheError(ErrorCode.Internal, "state: write() needs a synchronous mutate function; this one returned a promise");
        }
      } catch (err) {
        tx.finish();
        write.reject(err);
        continue;
      }
      const changes = tx.finish();
      overlay.absorb(changes);
      done.push({ write, index: next, result, changes });
      next++;
    }
    const last = done.at(-1);
    if (last === undefined) return;

    try {
      await this.backend.commit({ index: last.index, changes: done.length === 1 ? last.changes : done.flatMap((d) => d.changes) });
    } catch (err) {
      if (err instanceof CommitRefused) {
        // None of it is on the disk and the backend takes the next commit: refuse these
        // writes, keep nothing of them, and go on (writes succeed again once there is space).
        if (!this.refusing) this.log?.error({ err }, "state: a commit was refused; writes are answered with this error until one succeeds");
        this.refusing = true;
        const refused = new RucheError(err.code, err.message, { cause: err, details: err.details, logged: this.log !== undefined });
        for (const d of done) d.write.reject(refused);
        return;
      }
      // Whether any of it reached the disk is unknown: stop writing rather than guess.
      const what = err instanceof RucheError ? err.message : `state: commit of indexes ${done[0]?.index ?? last.index}-${last.index} failed: ${String(err)}`;
      this.failure = new RucheError(err instanceof RucheError ? err.code : ErrorCode.Internal, `${what}; whether it reached the disk is unknown, so the store takes no more writes until the agent restarts`, {
        cause: err,
        logged: this.log !== undefined,
      });
      this.log?.error({ err: this.failure }, "state: a commit failed; the store takes no more writes");
      for (const d of done) d.write.reject(this.failure);
      for (const w of this.queue.splice(0)) w.reject(this.failure);
      return;
    }
    if (this.refusing) {
      this.refusing = false;
      this.log?.warn({ index: last.index }, "state: writes succeed again");
    }

    // A shared backend's watch may have delivered this commit before its answer came (with
    // later commits of another server behind it): memory holds it then, and applying it again
    // would put its rows back over newer ones.
    if (this.committed < last.index) {
      const touched = new Set<TableName>();
      for (const d of done) {
        for (const c of d.changes) {
          this.apply(c.table, c.key, c.value);
          this.tableIndexes[c.table] = d.index;
          touched.add(c.table);
        }
        this.committed = d.index;
        this.emit({ index: d.index, changes: d.changes });
      }
      this.wake(touched);
      this.settleReached();
    }
    for (const d of done) d.write.resolve({ index: d.index, result: d.result });
  }

  private emit(e: CommitEvent): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(e);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  private wake(touched: Set<TableName>): void {
    const woken = new Set<Waiter>();
    for (const t of touched) for (const w of this.waiters.get(t) ?? []) woken.add(w);
    for (const w of woken) this.settle(w, this.maxIndex(w.tables), false);
  }

  private settle(w: Waiter, value: unknown, failed: boolean): void {
    clearTimeout(w.timer);
    w.signal?.removeEventListener("abort", w.onAbort);
    for (const t of w.tables) this.waiters.get(t)?.delete(w);
    if (failed) w.reject(value);
    else w.resolve(value as number);
  }

  private maxIndex(tables: readonly TableName[]): number {
    let max = 0;
    for (const t of tables) max = Math.max(max, this.tableIndexes[t]);
    return max;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    if (this.committing) await new Promise<void>((r) => this.idle.push(r));
    const err = new RucheError(ErrorCode.Unavailable, "state: the store is closed");
    const open = new Set<Waiter>();
    for (const set of this.waiters.values()) for (const w of set) open.add(w);
    for (const w of open) this.settle(w, err, true);
    // A consistent read waiting for memory to reach an index: it will not now.
    for (const r of this.reached.splice(0)) r.reject(err);
    this.listeners.clear();
    await this.backend.close();
  }

  // --- applying rows to memory and the indexes -----------------------------------------

  private apply<T extends TableName>(table: T, key: string, value: Rows[T] | null): void {
    const rows = this.rows[table];
    const prev = rows.get(key);
    if (value === null) rows.delete(key);
    else rows.set(key, value);
    this.reindex[table](key, prev, value);
  }

  /** What a put (`next`) or delete (`next` null) in each table does to the secondary indexes. */
  private readonly reindex: { [T in TableName]: (key: string, prev: Rows[T] | undefined, next: Rows[T] | null) => void } = {
    jobs: noIndex,
    jobVersions: (key, prev, next) => {
      regroup(this.versionsByJob, key, prev, next, (j) => jobGroup(j.Namespace, j.ID));
    },
    nodes: () => {
      this.nodeList = null;
    },
    allocs: (key, prev, next) => {
      this.applyAlloc(key, prev, next);
    },
    evals: (key, prev, next) => {
      regroup(this.evalsByJobIx, key, prev, next, (e) => jobGroup(e.Namespace, e.JobID));
    },
    deployments: (key, prev, next) => {
      regroup(this.deploymentsByJobIx, key, prev, next, (d) => jobGroup(d.Namespace, d.JobID));
    },
    kv: noIndex,
    sessions: noIndex,
    services: noIndex,
    aclPolicies: noIndex,
    aclTokens: (key, prev, next) => {
      if (prev !== undefined && this.tokensBySecret.get(prev.SecretID) === key) this.tokensBySecret.delete(prev.SecretID);
      if (next !== null) this.tokensBySecret.set(next.SecretID, key);
    },
    aclBootstrap: noIndex,
    joinTokens: noIndex,
    signingKeys: noIndex,
    periodicLaunches: noIndex,
    namespaces: noIndex,
    variables: noIndex,
    preparedQueries: noIndex,
    kvExpiry: noIndex,
    coordinates: noIndex,
    userEvents: noIndex,
    hostVolumes: noIndex,
    schedulerConfig: noIndex,
  };

  private applyAlloc(key: string, prev: Allocation | undefined, next: Allocation | null): void {
    regroup(this.allocsByNodeIx, key, prev, next, (a) => a.NodeID);
    regroup(this.allocsByJobIx, key, prev, next, (a) => jobGroup(a.Namespace, a.JobID));
    if (prev !== undefined && holdsResources(prev)) {
      const t = this.usage.get(prev.NodeID);
      if (t !== undefined) {
        t.remove(prev);
        // Every allocation counts in byJob: an empty byJob is an idle node.
        if (t.byJob.size === 0) this.usage.delete(prev.NodeID);
      }
    }
    if (next !== null && holdsResources(next)) {
      let t = this.usage.get(next.NodeID);
      if (t === undefined) {
        t = new UsageTally(this.allocKeys);
        this.usage.set(next.NodeID, t);
      }
      t.add(next);
    }
  }
}

/** The key of the one row of `aclBootstrap`. */
export const ACL_BOOTSTRAP_KEY = "bootstrap";

/** For a table without secondary indexes. */
function noIndex(): void {
  // Nothing to update.
}

/** Moves a row between groups of an index as it is put or deleted; an update in place keeps its position. */
function regroup<T>(ix: GroupIndex<T>, key: string, prev: T | undefined, next: T | null, group: (row: T) => string): void {
  const from = prev === undefined ? null : group(prev);
  const to = next === null ? null : group(next);
  if (from !== null && from !== to) ix.delete(from, key);
  if (to !== null && next !== null) ix.set(to, key, next);
}

/** setTimeout fires at once past 2^31-1 ms; wait that long at most. */
function clampDelay(ms: number): number {
  return Number.isNaN(ms) ? 0 : Math.min(Math.max(0, ms), 2 ** 31 - 1);
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason));
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === "object" && x !== null && typeof (x as { then?: unknown }).then === "function";
}
