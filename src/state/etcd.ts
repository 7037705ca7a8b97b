import { randomUUID } from "node:crypto";
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError, GRPCUnauthenticatedError, type Etcd3, type IKeyValue, type IRequestOp, type IWatchResponse, type Watcher } from "etcd3";
import { ErrorCode, errorMessage, RucheError, sleep, type Logger } from "../structs/index.js";
import { CommitRefused } from "./commit-refused.js";
import { TABLES, type Backend, type RawChange, type RemoteBatch, type TableName } from "./types.js";

/**
 * Who may commit now: the leader's election key and the revision that created it. Every
 * commit compares them, so a server that lost its lease (paused, cut off) writes nothing once
 * another server holds the key, or once the key is gone.
 */
export interface Fence {
  key: string;
  createRevision: string;
}

export interface EtcdBackendOptions {
  client: Etcd3;
  /** Everything lives under `/ruche/<region>/`. */
  region: string;
  /** The fence of the current term; null when this server does not lead (its commits are refused). */
  fence: () => Fence | null;
  log?: Logger;
  /** Operations in one etcd transaction; default 120 (etcd's `--max-txn-ops` is 128; a few go to the compares and the index). */
  maxTxnOps?: number;
  /** Bytes of values in one etcd transaction; default 1 MiB (etcd's `--max-request-bytes` is 1.5 MiB). */
  maxTxnBytes?: number;
  /**
   * How long `load` keeps trying a read that etcd did not answer in time or could not take
   * (a cluster just started, or restored, electing its leader); default 60 s.
   */
  loadWithinMs?: number;
}

/** The key prefix of a region's state. */
export function regionPrefix(region: string): string {
  return `/ruche/${region}/`;
}

const TABLE_SET: ReadonlySet<string> = new Set(TABLES);

/** A change serialized for etcd (`encode`): the row's key and JSON value (none for a delete), and the change as a staged chunk holds it. */
interface Encoded {
  key: string;
  value: string | undefined;
  staged: string;
}

interface PendingRecord {
  index: number;
  prev: number;
  chunks: number;
}

/** A region's keys read at one revision (`readRegion`). */
interface Region {
  index: number;
  /** `meta/index`'s etcd version (0: absent): one more with every commit. */
  indexVersion: bigint;
  rows: { table: TableName; key: string; value: unknown }[];
  revision: bigint;
  /** Every staged chunk, by its key under the region (`staging/<index>/<n>`). */
  staging: Map<string, string>;
  /** Whether `meta/pending` was there. */
  pending: boolean;
}

/**
 * The state on etcd, shared by every server of a region: each row one key,
 * `/ruche/<region>/<table>/<key>`, and the store's index at `/ruche/<region>/meta/index`.
 *
 * A commit is one etcd transaction that compares the leader's fence, the stored index (the
 * store's own: a server whose memory is behind cannot commit over what it has not seen) and
 * the absence of an unfinished large commit, then writes the rows and the new index. A batch
 * too large for one transaction (more than `maxTxnOps` rows or `maxTxnBytes` bytes) is
 * committed in three steps: its changes are staged under `staging/<index>/<n>`; one
 * transaction then writes the index with a record of the staged batch at `meta/pending` —
 * the commit point; the rows are then written from the staged chunks and the record removed.
 * Until the record is gone no other commit can pass its compare, and whoever next commits,
 * or loads, finishes the batch from its chunks first: all of it or none.
 *
 * Followers: after `load`, a watch from the loaded revision feeds `follow`'s callback with
 * every commit other servers make, one `RemoteBatch` per etcd revision that wrote the index
 * (the rows written with it, or the staged chunks of a large one); a commit of this server's
 * own that the watch shows before etcd's answer comes is delivered too. Writes of a large batch's
 * rows after its commit point carry no index and are not delivered again. A watch that
 * broke resumes after the last revision it delivered; one that fell behind etcd's compaction
 * is replaced by a reload of the region, delivered whole (`reload`).
 */
export function etcdBackend(opts: EtcdBackendOptions): Backend {
  return new EtcdBackend(opts);
}

class EtcdBackend implements Backend {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly indexKey: string;
  private readonly pendingKey: string;
  private readonly maxOps: number;
  private readonly maxBytes: number;
  /** The last index this backend knows committed: loaded, its own commits, and what the watch delivered. */
  private index = 0;
  /** The last etcd revision whose events reached this backend: a watch resumes after it. */
  private revision = 0n;
  /**
   * The etcd version of `meta/index` as last seen: every commit puts it once, so each one the
   * watch shows must be the next. One that is not means a commit went by unseen (a watch
   * resumed past it): memory can no longer be trusted to follow, and the region is reloaded.
   */
  private indexVersion = 0n;
  /** Set from a missed commit until the reload: the watch's later events are not applied on top of the gap. */
  private missed = false;
  /** The key each commit point writes its commit's unique id to: the watch knows this server's own commits by it. */
  private readonly commitKey: string;
  /** Ids of this server's commits sent and not yet answered: the watch delivers them (one seen here did land). */
  private readonly sending = new Set<string>();
  /** Ids of this server's commits seen on the watch before their answer came. */
  private readonly seenWhileSending = new Set<string>();
  /** Ids of this server's commits that landed and that the watch has not delivered yet: it drops them. */
  private readonly landed = new Set<string>();
  private watcher: Watcher | undefined;
  private closed = false;
  /** Set while a reload reads the region: commits wait for it (see `reload`). */
  private gate: Promise<void> | null = null;
  /** Commits under way: a reload waits for them. */
  private readonly inflight = new Set<Promise<void>>();
  /** Staged chunks of large commits seen on the watch, by index then chunk number. */
  private readonly staged = new Map<number, Map<number, string>>();
  private deliver: ((b: RemoteBatch) => void) | undefined;
  /** What arrived before `follow` was called (watch responses, a reload), in order. */
  private early: (() => void)[] = [];
  /** Whether `meta/pending` may hold an unfinished large commit: checked before the next commit. */
  private pendingMaybe = true;

  constructor(private readonly opts: EtcdBackendOptions) {
    this.client = opts.client;
    this.prefix = regionPrefix(opts.region);
    this.indexKey = `${this.prefix}meta/index`;
    this.pendingKey = `${this.prefix}meta/pending`;
    this.commitKey = `${this.prefix}meta/commit`;
    this.maxOps = opts.maxTxnOps ?? 120;
    this.maxBytes = opts.maxTxnBytes ?? 1024 * 1024;
  }

  async load(): Promise<{ index: number; rows: { table: TableName; key: string; value: unknown }[] }> {
    const region = await this.readRegionWhileStarting();
    this.index = region.index;
    this.indexVersion = region.indexVersion;
    this.takeStaged(region);
    this.watchFrom(region.revision + 1n);
    return { index: region.index, rows: region.rows };
  }

  follow(apply: (batch: RemoteBatch) => void): void {
    this.deliver = apply;
    const early = this.early;
    this.early = [];
    for (const f of early) f();
  }

  /** A linearizable read of the stored index: every commit acknowledged before the call is at or below it. */
  async readIndex(): Promise<number> {
    const res = await this.client.kv.range({ key: Buffer.from(this.indexKey) });
    const kv = res.kvs[0];
    return kv === undefined ? 0 : parseIndex(kv.value.toString("utf8"), this.indexKey);
  }

  async commit(batch: { index: number; changes: readonly RawChange[] }): Promise<void> {
    while (this.gate !== null) await this.gate;
    const p = this.commitNow(batch);
    this.inflight.add(p);
    try {
      await p;
    } finally {
      this.inflight.delete(p);
    }
  }

  private async commitNow(batch: { index: number; changes: readonly RawChange[] }): Promise<void> {
    const fence = this.opts.fence();
    if (fence === null) throw new CommitRefused(ErrorCode.NoLeader, "this server does not lead: no write was made (it is forwarded to the leader, or the cluster has none now)");
    if (batch.index <= this.index) throw new CommitRefused(ErrorCode.IndexConflict, `state: commit at index ${batch.index}, but the state is at ${this.index}`);
    // The last write of each key wins: etcd refuses a key twice in one transaction.
    const last = new Map<string, RawChange>();
    for (const c of batch.changes) last.set(`${c.table}/${c.key}`, c);
    // Each row is serialized once, here: a batch of 10,000 allocations is tens of MB of JSON,
    // and this runs in one go on the leader's only thread (its lease is renewed on it too).
    const encoded = [...last.values()].map((c) => this.encode(c));
    const bytes = encoded.reduce((n, e) => n + e.key.length + (e.value?.length ?? 0), 0);
    try {
      await this.finishPending(fence);
      if (encoded.length + 2 <= this.maxOps && bytes <= this.maxBytes) await this.commitPoint(fence, batch.index, encoded.map((e) => this.encodedOp(e)));
      else await this.commitLarge(fence, batch.index, encoded);
    } catch (err) {
      if (err instanceof CommitRefused) throw err;
      // Before the commit point (finishing an earlier batch, staging, reading why a compare
      // failed): nothing of this batch is committed.
      throw new CommitRefused(ErrorCode.Unavailable, `state: etcd did not answer (${errorMessage(err)}): the write at index ${batch.index} was not made; try again`, { cause: err });
    }
    this.index = Math.max(this.index, batch.index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel().catch(() => undefined);
  }

  // --- committing -----------------------------------------------------------------------

  private fenceCompares(fence: Fence): { key: Buffer; target: "Create"; result: "Equal"; create_revision: string }[] {
    return [{ key: Buffer.from(fence.key), target: "Create", result: "Equal", create_revision: fence.createRevision }];
  }

  private indexCompares(): object[] {
    return [
      this.index === 0 ? { key: Buffer.from(this.indexKey), target: "Version", result: "Equal", version: 0 } : { key: Buffer.from(this.indexKey), target: "Value", result: "Equal", value: Buffer.from(String(this.index)) },
      { key: Buffer.from(this.pendingKey), target: "Version", result: "Equal", version: 0 },
    ];
  }

  /**
   * The one transaction that commits a batch: the compares, `ops`, the new index and the
   * commit's id. When etcd does not answer, whether it landed is found out by reading the id
   * back; what stays unknown is refused with `RUCHE_UNAVAILABLE` ("may have been made"), and
   * should it land after all, the watch delivers it like another server's commit: memory and
   * etcd never part.
   */
  private async commitPoint(fence: Fence, index: number, ops: IRequestOp[]): Promise<void> {
    const id = randomUUID();
    this.sending.add(id);
    let res;
    try {
      res = await this.client.kv.txn({
        compare: [...this.fenceCompares(fence), ...this.indexCompares()] as never,
        success: [...ops, this.putOp(this.indexKey, String(index)), this.putOp(this.commitKey, id)],
        failure: [],
      });
    } catch (err) {
      const landed = await this.outcome(id);
      this.sending.delete(id);
      if (landed === true) {
        this.ownLanded(id);
        return;
      }
      this.seenWhileSending.delete(id);
      throw new CommitRefused(
        ErrorCode.Unavailable,
        landed === false
          ? `state: etcd did not answer the write at index ${index} (${errorMessage(err)}) and has not made it so far; it may still be made: read before you try again`
          : `state: etcd did not answer the write at index ${index} (${errorMessage(err)}); whether it was made is unknown: read before you try again`,
        { cause: err },
      );
    }
    this.sending.delete(id);
    if (!res.succeeded) {
      this.seenWhileSending.delete(id);
      await this.refused(fence, index);
    }
    this.ownLanded(id);
  }

  private ownLanded(id: string): void {
    // Seen on the watch already: dropped there. Else the watch drops it when it comes.
    if (!this.seenWhileSending.delete(id)) this.landed.add(id);
  }

  /** Whether the commit with this id landed: true, false (not so far), or null (etcd did not answer for 3 s). */
  private async outcome(id: string): Promise<boolean | null> {
    const until = Date.now() + 3000;
    for (let delay = 100; Date.now() < until; delay = Math.min(delay * 2, 1000)) {
      try {
        const res = await this.client.kv.range({ key: Buffer.from(this.commitKey) });
        return res.kvs[0]?.value.toString("utf8") === id || this.seenWhileSending.has(id);
      } catch {
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    return this.seenWhileSending.has(id) ? true : null;
  }

  private async commitLarge(fence: Fence, index: number, changes: Encoded[]): Promise<void> {
    const chunks = this.chunk(changes);
    // 1. Stage the chunks: invisible to readers until the commit point names them.
    for (let n = 0; n < chunks.length; n++) {
      const res = await this.client.kv.txn({
        compare: this.fenceCompares(fence),
        success: [this.putOp(`${this.prefix}staging/${index}/${n}`, `[${(chunks[n] ?? []).map((e) => e.staged).join(",")}]`)],
        failure: [],
      });
      if (!res.succeeded) {
        await this.dropStaging(index);
        await this.refused(fence, index);
      }
    }
    // 2. The commit point: the index and the record of the staged batch, in one transaction.
    const record: PendingRecord = { index, prev: this.index, chunks: chunks.length };
    try {
      await this.commitPoint(fence, index, [this.putOp(this.pendingKey, JSON.stringify(record))]);
    } catch (err) {
      if (err instanceof CommitRefused && err.code !== ErrorCode.Unavailable) await this.dropStaging(index).catch(() => undefined);
      throw err;
    }
    // 3. The rows, then the record goes. Committed whatever happens now: a failure here is
    // finished by whoever commits or loads next.
    try {
      await this.applyPending(fence, record, chunks.map((chunk) => () => chunk.map((e) => this.encodedOp(e))));
    } catch (err) {
      this.pendingMaybe = true;
      this.opts.log?.warn({ err, index }, "state: the rows of a large commit are not all written yet; the next commit finishes them");
    }
  }

  /** A large commit a previous leader (or this one) left unfinished is finished before the next one. */
  private async finishPending(fence: Fence): Promise<void> {
    if (!this.pendingMaybe) return;
    const res = await this.client.kv.range({ key: Buffer.from(this.pendingKey) });
    const kv = res.kvs[0];
    if (kv === undefined) {
      this.pendingMaybe = false;
      return;
    }
    const record = parsePending(kv.value.toString("utf8"), this.pendingKey);
    const chunks: RawChange[][] = [];
    for (let n = 0; n < record.chunks; n++) {
      const c = await this.client.kv.range({ key: Buffer.from(`${this.prefix}staging/${record.index}/${n}`) });
      const v = c.kvs[0];
      if (v === undefined) throw new RucheError(ErrorCode.Internal, `state: chunk ${n} of the large commit at index ${record.index} is missing from etcd`);
      chunks.push(JSON.parse(v.value.toString("utf8")) as RawChange[]);
    }
    this.opts.log?.info({ index: record.index }, "state: finishing a large commit left unfinished");
    await this.applyPending(fence, record, chunks.map((chunk) => () => chunk.map((c) => this.op(c))));
    this.pendingMaybe = false;
  }

  /** Writes the rows of a large commit, one transaction per chunk (each chunk's operations made when it is sent), then drops its record and staging. */
  private async applyPending(fence: Fence, record: PendingRecord, chunks: (() => IRequestOp[])[]): Promise<void> {
    for (const ops of chunks) {
      const res = await this.client.kv.txn({ compare: this.fenceCompares(fence), success: ops(), failure: [] });
      if (!res.succeeded) throw new CommitRefused(ErrorCode.NoLeader, "this server stopped leading while it wrote a large commit's rows");
    }
    const res = await this.client.kv.txn({
      compare: [...this.fenceCompares(fence), { key: Buffer.from(this.pendingKey), target: "Value", result: "Equal", value: Buffer.from(JSON.stringify(record)) }] as never,
      success: [{ request_delete_range: { key: Buffer.from(this.pendingKey) } }, this.deletePrefixOp(`${this.prefix}staging/${record.index}/`)],
      failure: [],
    });
    if (!res.succeeded) throw new CommitRefused(ErrorCode.NoLeader, "this server stopped leading while it finished a large commit");
  }

  private async dropStaging(index: number): Promise<void> {
    await this.client.kv.txn({ compare: [], success: [this.deletePrefixOp(`${this.prefix}staging/${index}/`)], failure: [] });
  }

  /** Why a commit's compare failed, as the error the store rejects its writers with. */
  private async refused(fence: Fence, index: number): Promise<never> {
    const [lead, stored] = await Promise.all([this.client.kv.range({ key: Buffer.from(fence.key) }), this.client.kv.range({ key: Buffer.from(this.indexKey) })]);
    const leadKv = lead.kvs[0];
    if (leadKv?.create_revision !== fence.createRevision) {
      throw new CommitRefused(ErrorCode.NoLeader, "this server no longer leads (its lease ended and another server may lead): no write was made; try again");
    }
    const at = stored.kvs[0] === undefined ? 0 : parseIndex(stored.kvs[0].value.toString("utf8"), this.indexKey);
    if (at === this.index) {
      // The index matched: an unfinished large commit stood in the way; the next commit finishes it.
      this.pendingMaybe = true;
      throw new CommitRefused(ErrorCode.IndexConflict, `state: commit at index ${index} refused: a large commit's rows are still being written; no write was made; try again`);
    }
    throw new CommitRefused(ErrorCode.IndexConflict, `state: commit at index ${index} refused: the stored index is ${at}, this server's memory is at ${this.index}; no write was made`);
  }

  /** Chunks of at most `maxOps` changes and about `maxBytes` (as staged), in order. */
  private chunk(changes: Encoded[]): Encoded[][] {
    const out: Encoded[][] = [];
    let cur: Encoded[] = [];
    let size = 0;
    for (const c of changes) {
      const n = c.staged.length;
      if (cur.length > 0 && (cur.length + 1 > this.maxOps || size + n > this.maxBytes)) {
        out.push(cur);
        cur = [];
        size = 0;
      }
      cur.push(c);
      size += n;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  private op(c: RawChange): IRequestOp {
    return this.encodedOp(this.encode(c));
  }

  /** A change with its row serialized once: its etcd key and value, and its entry in a staged chunk (`JSON.stringify(c)`'s equal). */
  private encode(c: RawChange): Encoded {
    const key = `${this.prefix}${c.table}/${c.key}`;
    const value = c.op === "put" ? JSON.stringify(c.value) : undefined;
    const staged = `{"table":${JSON.stringify(c.table)},"key":${JSON.stringify(c.key)},"op":"${c.op}","value":${value ?? "null"}}`;
    return { key, value, staged };
  }

  private encodedOp(e: Encoded): IRequestOp {
    return e.value === undefined ? { request_delete_range: { key: Buffer.from(e.key) } } : this.putOp(e.key, e.value);
  }

  private putOp(key: string, value: string): IRequestOp {
    return { request_put: { key: Buffer.from(key), value: Buffer.from(value) } };
  }

  private deletePrefixOp(prefix: string): IRequestOp {
    return { request_delete_range: { key: Buffer.from(prefix), range_end: prefixEnd(Buffer.from(prefix)) } };
  }

  // --- reading --------------------------------------------------------------------------

  /**
   * The region at one revision: its index and rows (a large commit whose rows are not all
   * written yet read from its staged chunks), and the staged chunks of large commits whose
   * commit point comes after that revision.
   */
  /**
   * The region's keys, read again while etcd answers late or not at all, as a cluster does
   * that has just started or been restored and is still electing its leader: the server
   * waits for it, up to `loadWithinMs`, rather than stopping. A refusal (etcd's auth) and
   * a region that does not parse stop the load at once.
   */
  private async readRegionWhileStarting(): Promise<Region> {
    const until = Date.now() + (this.opts.loadWithinMs ?? 60_000);
    let said = false;
    for (;;) {
      try {
        return await this.readRegion();
      } catch (err) {
        const refused = err instanceof RucheError || err instanceof EtcdPermissionDeniedError || err instanceof EtcdAuthenticationFailedError || err instanceof GRPCUnauthenticatedError;
        if (refused || Date.now() >= until || this.closed) throw err;
        if (!said) this.opts.log?.warn({ err }, "state: etcd did not answer the read of the region's keys (its cluster electing a leader?): trying again");
        said = true;
        await sleep(500);
      }
    }
  }

  private async readRegion(): Promise<Region> {
    const all = await this.rangeAll();
    const rows = new Map<string, { table: TableName; key: string; value: unknown }>();
    let index = 0;
    let indexVersion = 0n;
    let pending: PendingRecord | null = null;
    const staging = new Map<string, string>();
    for (const kv of all.kvs) {
      const key = kv.key.toString("utf8").slice(this.prefix.length);
      if (key === "meta/index") {
        index = parseIndex(kv.value.toString("utf8"), this.indexKey);
        indexVersion = BigInt(kv.version);
      }
      else if (key === "meta/pending") pending = parsePending(kv.value.toString("utf8"), this.pendingKey);
      else if (key.startsWith("staging/")) staging.set(key, kv.value.toString("utf8"));
      else {
        const row = this.rowOf(key);
        if (row === null) continue;
        rows.set(key, { table: row.table, key: row.key, value: parseValue(kv.value.toString("utf8"), kv.key.toString("utf8")) });
      }
    }
    // A large commit whose rows were not all written: its staged chunks are the truth.
    if (pending !== null && pending.index === index) {
      for (const c of stagedChanges(pending, (n) => staging.get(`staging/${pending.index}/${n}`), this.prefix)) {
        const k = `${c.table}/${c.key}`;
        if (c.op === "delete") rows.delete(k);
        else rows.set(k, { table: c.table, key: c.key, value: c.value });
      }
    }
    return { index, indexVersion, rows: [...rows.values()], revision: BigInt(all.revision), staging, pending: pending !== null };
  }

  /**
   * Keeps the chunks staged for a large commit whose commit point is still to come: the watch
   * starts after the revision they were read at, so it will not show them again.
   */
  private takeStaged(region: Region): void {
    this.staged.clear();
    for (const [key, text] of region.staging) this.stage(key, text, region.index);
    if (region.pending) this.pendingMaybe = true;
  }

  /**
   * Keeps a staged chunk (`staging/<index>/<n>`) as its text, for a commit point after
   * `after`: parsed only by a server that applies that commit from the chunks (the leader
   * that staged it, and a commit never made, never parse it).
   */
  private stage(key: string, text: string, after: number): void {
    const [, i, n] = key.split("/");
    const at = Number(i);
    if (!(at > after)) return;
    let m = this.staged.get(at);
    if (m === undefined) this.staged.set(at, (m = new Map<number, string>()));
    m.set(Number(n), text);
  }

  /** Every key of the region at one revision, in pages. */
  private async rangeAll(): Promise<{ kvs: IKeyValue[]; revision: string }> {
    const start = Buffer.from(this.prefix);
    const end = prefixEnd(start);
    const kvs: IKeyValue[] = [];
    let key = start;
    let revision = "";
    for (;;) {
      const res = await this.client.kv.range({ key, range_end: end, limit: 1000, ...(revision === "" ? {} : { revision }) });
      if (revision === "") revision = res.header.revision;
      kvs.push(...res.kvs);
      if (!res.more || res.kvs.length === 0) break;
      const lastKey = (res.kvs.at(-1) as IKeyValue).key;
      key = Buffer.concat([lastKey, Buffer.from([0])]);
    }
    return { kvs, revision: revision === "" ? "0" : revision };
  }

  private rowOf(key: string): { table: TableName; key: string } | null {
    const slash = key.indexOf("/");
    if (slash < 0) return null;
    const table = key.slice(0, slash);
    if (!TABLE_SET.has(table)) return null;
    return { table: table as TableName, key: key.slice(slash + 1) };
  }

  // --- following ------------------------------------------------------------------------

  /**
   * Watches the region from `start`. The watch is this backend's own to resume: when its
   * stream breaks, it is dropped and a new one starts after the last revision that arrived
   * (etcd3 would resume after the revision of the last response's header, which for a watch
   * catching up can be past events not yet sent). A watch etcd cancels — its start revision
   * compacted away, the usual cause — is replaced by a reload (`recover`).
   */
  private watchFrom(start: bigint, attempt = 0): void {
    if (this.closed) return;
    // `watcher()` rather than `create()`: the handlers are on before the first response.
    const w = this.client.watch().prefix(this.prefix).startRevision(String(start)).watcher();
    this.watcher = w;
    w.on("connected", () => {
      attempt = 0;
    });
    w.on("data", (res) => {
      if (this.watcher !== w) return;
      for (const ev of res.events) {
        const r = BigInt(ev.kv.mod_revision);
        if (r > this.revision) this.revision = r;
      }
      if (this.deliver === undefined) this.early.push(() => { this.onWatch(res); });
      else this.onWatch(res);
    });
    w.on("disconnected", (err: unknown) => {
      if (this.watcher !== w || this.closed) return;
      this.watcher = undefined;
      void w.cancel().catch(() => undefined);
      this.opts.log?.warn({ err }, "state: the watch on etcd broke; resuming it");
      const delay = Math.min(100 * 2 ** attempt, 2000);
      setTimeout(() => {
        this.watchFrom(this.revision + 1n, attempt + 1);
      }, delay).unref();
    });
    w.on("error", (err: unknown) => {
      if (this.watcher !== w || this.closed) return;
      // etcd cancelled it (it is off etcd3's list already): most often its start revision
      // was compacted while the watch was away, so the revisions it missed are gone.
      this.watcher = undefined;
      this.opts.log?.warn({ err, revision: String(this.revision) }, "state: etcd cancelled the watch (its revision was compacted?): reloading the region's keys");
      void this.recover();
    });
  }

  /** Reloads until it succeeds (or the backend closes), waiting longer after each failure. */
  private async recover(): Promise<void> {
    for (let delay = 100; !this.closed; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.reload();
        return;
      } catch (err) {
        this.opts.log?.warn({ err }, "state: reloading the region's keys failed; trying again");
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  /**
   * What a watch that fell behind etcd's compaction missed, found again: the region's keys
   * are read at the current revision and delivered whole (`RemoteBatch.whole`: the store
   * applies their difference from its memory as one commit), and a new watch starts after
   * that revision. Commits are held meanwhile, and those under way finish first: each of
   * this server's commits then either landed at or before the read (the read has it, and
   * memory already does) or was refused; none is left for the watch to recognise, so its
   * ids are dropped.
   */
  private async reload(): Promise<void> {
    let open = (): void => undefined;
    this.gate = new Promise<void>((r) => {
      open = r;
    });
    try {
      await Promise.allSettled([...this.inflight]);
      const region = await this.readRegion();
      if (this.closed) return;
      this.sending.clear();
      this.seenWhileSending.clear();
      this.landed.clear();
      this.takeStaged(region);
      this.pendingMaybe = true;
      this.revision = region.revision;
      this.indexVersion = region.indexVersion;
      this.missed = false;
      if (region.index > this.index) {
        this.index = region.index;
        const batch: RemoteBatch = { index: region.index, changes: region.rows.map((r) => ({ table: r.table, key: r.key, op: "put", value: r.value })), whole: true };
        const deliver = (): void => {
          try {
            this.deliver?.(batch);
          } catch (err) {
            this.opts.log?.error({ err, index: batch.index }, "state: the region's keys, reloaded, could not be applied");
          }
        };
        if (this.deliver === undefined) this.early.push(deliver);
        else deliver();
      }
      this.opts.log?.info({ index: region.index, revision: String(region.revision) }, "state: the region's keys reloaded; following again");
      this.watchFrom(region.revision + 1n);
    } finally {
      this.gate = null;
      open();
    }
  }

  private onWatch(res: IWatchResponse): void {
    // Group the events by revision: one revision is one etcd transaction.
    let rev = "";
    let group: IWatchResponse["events"] = [];
    const flush = (): void => {
      if (group.length > 0) this.onRevision(group);
      group = [];
    };
    for (const ev of res.events) {
      const r = ev.kv.mod_revision;
      if (r !== rev) {
        flush();
        rev = r;
      }
      group.push(ev);
    }
    flush();
  }

  private onRevision(events: IWatchResponse["events"]): void {
    if (this.missed) return;
    let index: number | null = null;
    let version = 0n;
    let commit: string | null = null;
    let pending: PendingRecord | null = null;
    const rows: RawChange[] = [];
    for (const ev of events) {
      const full = ev.kv.key.toString("utf8");
      const key = full.slice(this.prefix.length);
      const value = ev.kv.value.toString("utf8");
      if (key === "meta/index") {
        if (ev.type === "Put") {
          index = parseIndex(value, full);
          version = BigInt(ev.kv.version);
        }
      } else if (key === "meta/commit") {
        if (ev.type === "Put") commit = value;
      } else if (key === "meta/pending") {
        if (ev.type === "Put") {
          pending = parsePending(value, full);
          this.pendingMaybe = true;
        }
      } else if (key.startsWith("staging/")) {
        if (ev.type === "Put") this.stage(key, value, Number.NEGATIVE_INFINITY);
      } else {
        const row = this.rowOf(key);
        if (row === null) continue;
        rows.push(ev.type === "Put" ? { table: row.table, key: row.key, op: "put", value: parseValue(value, full) } : { table: row.table, key: row.key, op: "delete", value: null });
      }
    }
    // A revision that wrote no index is not a commit: the rows of a large commit, written after its commit point.
    if (index === null) return;
    if (version !== this.indexVersion + 1n) {
      this.opts.log?.error(
        { index, version: String(version), expected: String(this.indexVersion + 1n) },
        "state: a commit went by without this server seeing it (the watch skipped it): reloading the region's keys",
      );
      this.missed = true;
      const w = this.watcher;
      this.watcher = undefined;
      void w?.cancel().catch(() => undefined);
      void this.recover();
      return;
    }
    this.indexVersion = version;
    for (const i of [...this.staged.keys()]) if (i < index) this.staged.delete(i);
    // This server's own commits. One whose answer came first is in memory already. One seen
    // before its answer is delivered now, like another server's: a later commit (another
    // leader's, this server having been paused) may come before the answer, and memory must
    // take them in etcd's order. The store then finds its batch applied when the answer comes.
    if (commit !== null) {
      if (this.sending.has(commit)) this.seenWhileSending.add(commit);
      else if (this.landed.delete(commit)) return;
    }
    if (index <= this.index) return;
    let changes = rows;
    if (pending !== null) {
      const chunks = this.staged.get(pending.index);
      changes = stagedChanges(pending, (n) => chunks?.get(n), this.prefix);
      this.staged.delete(pending.index);
    }
    this.index = index;
    try {
      this.deliver?.({ index, changes });
    } catch (err) {
      this.opts.log?.error({ err, index }, "state: a commit from the leader could not be applied");
    }
  }
}

/** The changes of a staged batch, chunk by chunk. */
function stagedChanges(record: PendingRecord, chunk: (n: number) => string | undefined, prefix: string): RawChange[] {
  const out: RawChange[] = [];
  for (let n = 0; n < record.chunks; n++) {
    const text = chunk(n);
    if (text === undefined) throw new RucheError(ErrorCode.Internal, `state: chunk ${n} of the large commit at index ${record.index} is missing under ${prefix}staging/`);
    out.push(...(JSON.parse(text) as RawChange[]));
  }
  return out;
}

function parseIndex(text: string, key: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new RucheError(ErrorCode.Internal, `state: ${key} holds ${JSON.stringify(text.slice(0, 40))}, not an index`);
  return n;
}

function parsePending(text: string, key: string): PendingRecord {
  try {
    const r = JSON.parse(text) as PendingRecord;
    if (Number.isSafeInteger(r.index) && Number.isSafeInteger(r.chunks)) return r;
  } catch {
    // Said below.
  }
  throw new RucheError(ErrorCode.Internal, `state: ${key} holds ${JSON.stringify(text.slice(0, 80))}, not a large commit's record`);
}

function parseValue(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RucheError(ErrorCode.Internal, `state: the row at ${key} is not JSON: ${errorMessage(err)}`);
  }
}

/** The end of the key range of every key starting with `prefix` (etcd's `range_end`). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
