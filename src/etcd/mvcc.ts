import { kvDelete, kvSet, kvVersion, type LockDelays } from "../catalog/index.js";
import type { StateStore, Txn } from "../state/index.js";
import type { KVEntry } from "../structs/index.js";
import { EtcdError } from "./errors.js";

/** etcd's `mvccpb.KeyValue`, as the gRPC and JSON faces send it. */
export interface KeyValue {
  key: Buffer;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: Buffer;
  lease: number;
}

/** etcd's `mvccpb.Event`: a put carries the key as written, a delete the key with the revision of its deletion. */
export interface KvEvent {
  type: "PUT" | "DELETE";
  kv: KeyValue;
  prev_kv?: KeyValue;
}

/** A range of keys: `[key, rangeEnd)`; an empty `rangeEnd` is the key alone; rangeEnd `\0` is every key from `key` on. */
export interface KeyRange {
  key: Buffer;
  rangeEnd: Buffer;
}

/** The events of one commit, at its revision. */
export interface Revision {
  revision: number;
  events: KvEvent[];
}

/** Events kept for watches from an old revision and reads at one; past them a revision is compacted. */
export const DEFAULT_HISTORY = 10_000;

const EMPTY = Buffer.alloc(0);

/** An entry of the store as etcd shows it. Its key bytes are the key's UTF-8. */
export function keyValue(e: KVEntry): KeyValue {
  return {
    key: Buffer.from(e.Key, "utf8"),
    create_revision: e.CreateIndex,
    mod_revision: e.ModifyIndex,
    version: kvVersion(e),
    value: e.Value === null ? EMPTY : Buffer.from(e.Value, "base64"),
    lease: e.Lease ?? 0,
  };
}

/**
 * A key's bytes as the store's key: UTF-8 text, as Consul's keys are (a key written by
 * etcdctl is read by `consul kv get`). Bytes that are not UTF-8 are refused rather than
 * stored under another key.
 */
export function storeKey(key: Buffer, what = "key"): string {
  const s = key.toString("utf8");
  if (!Buffer.from(s, "utf8").equals(key)) throw EtcdError.invalid(`etcdserver: ${what} is not UTF-8 text: Ruche keeps etcd's keys in its KV store as Consul's, which are text`);
  return s;
}

/** Whether a key (bytes) is in the range. */
export function inRange(k: Buffer, r: KeyRange): boolean {
  if (r.rangeEnd.length === 0) return k.equals(r.key);
  if (Buffer.compare(k, r.key) < 0) return false;
  if (r.rangeEnd.length === 1 && r.rangeEnd[0] === 0) return true;
  return Buffer.compare(k, r.rangeEnd) < 0;
}

/** The longest prefix every key of the range starts with, as store text (a prefix to list). */
function listPrefix(r: KeyRange): string {
  if (r.rangeEnd.length === 0) return r.key.toString("utf8");
  if (r.rangeEnd.length === 1 && r.rangeEnd[0] === 0) return "";
  let n = 0;
  while (n < r.key.length && n < r.rangeEnd.length && r.key[n] === r.rangeEnd[n]) n++;
  // Cut back to a whole UTF-8 character.
  while (n > 0 && n < r.key.length && ((r.key[n] ?? 0) & 0xc0) === 0x80) n--;
  const p = r.key.subarray(0, n).toString("utf8");
  return Buffer.from(p, "utf8").equals(r.key.subarray(0, n)) ? p : "";
}

/** The entries of a range, sorted by key, read through `list` (a store's or a transaction's). */
export function entriesIn(list: (prefix: string) => KVEntry[], get: (key: string) => KVEntry | undefined, r: KeyRange): KVEntry[] {
  if (r.rangeEnd.length === 0) {
    const k = r.key.toString("utf8");
    if (!Buffer.from(k, "utf8").equals(r.key)) return [];
    const e = get(k);
    return e === undefined ? [] : [e];
  }
  return list(listPrefix(r)).filter((e) => inRange(Buffer.from(e.Key, "utf8"), r));
}

/**
 * etcd's multi-version view of the KV store. The store's index is etcd's revision: every
 * commit that touches the KV moves it, and an entry's CreateIndex and ModifyIndex are its
 * create and mod revisions (`Version` counts its writes). A revision may skip numbers
 * (the store's other tables share its index), never goes back.
 *
 * From the store's change feed it keeps the last entry of every key (so that a delete
 * shows what it deleted) and a bounded history of events: watches from an old revision
 * are replayed from it and reads at an old revision undo it; below it a revision is
 * compacted (`ErrCompacted`). The history starts when this view does: a revision from
 * before is compacted.
 */
export class Mvcc {
  private readonly last = new Map<string, KVEntry>();
  private readonly history: Revision[] = [];
  private compacted: number;
  private readonly listeners = new Set<(r: Revision) => void>();
  private readonly unsubscribe: () => void;

  constructor(
    readonly store: StateStore,
    private readonly opts: { delays: LockDelays; now(): number; historyEvents?: number },
  ) {
    for (const e of store.kvList("")) this.last.set(e.Key, e);
    this.compacted = this.revision();
    this.unsubscribe = store.subscribe((c) => {
      const events: KvEvent[] = [];
      for (const ch of c.changes) {
        if (ch.table !== "kv") continue;
        const prev = this.last.get(ch.key);
        if (ch.op === "put") {
          this.last.set(ch.key, ch.value);
          events.push({ type: "PUT", kv: keyValue(ch.value), ...(prev === undefined ? {} : { prev_kv: keyValue(prev) }) });
        } else {
          this.last.delete(ch.key);
          const kv: KeyValue = { key: Buffer.from(ch.key, "utf8"), create_revision: 0, mod_revision: c.index, version: 0, value: EMPTY, lease: 0 };
          events.push({ type: "DELETE", kv, ...(prev === undefined ? {} : { prev_kv: keyValue(prev) }) });
        }
      }
      if (events.length === 0) return;
      const r = { revision: c.index, events };
      this.history.push(r);
      this.trim();
      for (const l of this.listeners) l(r);
    });
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  /** The current revision: the store's index of the KV (never 0). */
  revision(): number {
    return Math.max(1, this.store.tableIndex("kv"));
  }

  /** The revision below which history is gone. */
  compactRevision(): number {
    return this.compacted;
  }

  /** Calls `fn` with every commit's KV events, in revision order; returns the unsubscribe. */
  listen(fn: (r: Revision) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The events of revisions from `from` on, or null when `from` is compacted. */
  since(from: number): Revision[] | null {
    if (from <= this.compacted) return null;
    return this.history.filter((r) => r.revision >= from);
  }

  /** Entries with the lease, as last seen. */
  keysOfLease(lease: number): string[] {
    const out: string[] = [];
    for (const e of this.last.values()) if (e.Lease === lease) out.push(e.Key);
    return out;
  }

  /** Every lease a key carries, as last seen. */
  leasesInUse(): Set<number> {
    const out = new Set<number>();
    for (const e of this.last.values()) if (e.Lease !== undefined && e.Lease !== 0) out.add(e.Lease);
    return out;
  }

  /** Drops history below `revision` (etcd's Compact); a revision above the current one is refused. */
  compact(revision: number): void {
    const now = this.revision();
    if (revision > now) throw EtcdError.outOfRange("etcdserver: mvcc: required revision is a future revision");
    if (revision <= this.compacted) throw EtcdError.outOfRange("etcdserver: mvcc: required revision has been compacted");
    this.compacted = revision;
    while (this.history.length > 0 && (this.history[0]?.revision ?? 0) <= revision) this.history.shift();
  }

  /**
   * The entries of a range at `revision` (0: now), sorted by key: the current ones with the
   * history after `revision` undone. A compacted revision or one in the future is refused
   * as etcd refuses it.
   */
  rangeAt(r: KeyRange, revision: number): KVEntry[] {
    const now = this.revision();
    const current = entriesIn((p) => this.store.kvList(p), (k) => this.store.kvGet(k), r);
    if (revision <= 0 || revision >= now) {
      if (revision > now) throw EtcdError.outOfRange("etcdserver: mvcc: required revision is a future revision");
      return current;
    }
    if (revision < this.compacted) throw EtcdError.outOfRange("etcdserver: mvcc: required revision has been compacted");
    const at = new Map(current.map((e) => [e.Key, e]));
    for (let i = this.history.length - 1; i >= 0; i--) {
      const h = this.history[i];
      if (h === undefined || h.revision <= revision) break;
      for (const ev of h.events) {
        if (!inRange(ev.kv.key, r)) continue;
        const k = ev.kv.key.toString("utf8");
        if (ev.prev_kv === undefined) at.delete(k);
        else at.set(k, entryOf(ev.prev_kv));
      }
    }
    return [...at.values()].sort((a, b) => Buffer.compare(Buffer.from(a.Key, "utf8"), Buffer.from(b.Key, "utf8")));
  }

  /** Runs `mutate` as one store commit (one revision); etcd's writes go through it. */
  async write<R>(mutate: (tx: Txn, w: Writer) => R): Promise<{ revision: number; result: R }> {
    const { index, result } = await this.store.write((tx) => mutate(tx, new Writer(tx, this.opts.delays, this.opts.now())));
    return { revision: index, result };
  }

  private trim(): void {
    const max = this.opts.historyEvents ?? DEFAULT_HISTORY;
    let n = 0;
    for (const h of this.history) n += h.events.length;
    while (n > max && this.history.length > 1) {
      const h = this.history.shift();
      if (h === undefined) break;
      n -= h.events.length;
      this.compacted = h.revision;
    }
  }
}

/** An entry back from a KeyValue (for reads at an old revision). */
function entryOf(kv: KeyValue): KVEntry {
  return {
    Key: kv.key.toString("utf8"),
    Value: kv.value.length === 0 ? null : kv.value.toString("base64"),
    Flags: 0,
    Session: "",
    LockIndex: 0,
    CreateIndex: kv.create_revision,
    ModifyIndex: kv.mod_revision,
    Version: kv.version,
    ...(kv.lease === 0 ? {} : { Lease: kv.lease }),
  };
}

/** etcd's put and delete inside one store transaction, with the KV store's rules (catalog's kvSet). */
export class Writer {
  constructor(
    readonly tx: Txn,
    private readonly delays: LockDelays,
    private readonly nowMs: number,
  ) {}

  get(key: string): KVEntry | undefined {
    return this.tx.get("kv", key);
  }

  range(r: KeyRange): KVEntry[] {
    return entriesIn(
      (p) => this.tx.list("kv", p),
      (k) => this.tx.get("kv", k),
      r,
    );
  }

  /** Writes a key; its flags and any Consul lock it has stay as they are. Returns what it replaced. */
  put(key: string, value: Buffer, lease: number): KVEntry | undefined {
    const prev = this.get(key);
    const r = kvSet(this.tx, { key, value: value.length === 0 ? null : value.toString("base64"), flags: prev?.Flags ?? 0, lease }, { nowMs: this.nowMs, delays: this.delays });
    if (!r.ok) throw EtcdError.failedPrecondition(`etcdserver: ${r.reason}`);
    return prev;
  }

  delete(key: string): void {
    kvDelete(this.tx, key, {});
  }
}
