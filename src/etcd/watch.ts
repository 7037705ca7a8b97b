import { AclPrefixKind } from "../structs/index.js";
import { EtcdError } from "./errors.js";
import { inRange, type KeyRange, type KvEvent, type Mvcc, type Revision } from "./mvcc.js";
import { int, rangeOf, type Caller, type Header } from "./kv.js";

/** etcd's WatchRequest (proto-loader's object). */
export interface WatchRequest {
  request_union?: string;
  create_request?: {
    key: Buffer;
    range_end: Buffer;
    start_revision: string | number;
    progress_notify: boolean;
    filters: string[];
    prev_kv: boolean;
    watch_id: string | number;
  } | null;
  cancel_request?: { watch_id: string | number } | null;
  progress_request?: object | null;
}

export interface WatchResponse {
  header: Header;
  watch_id: number;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: number;
  cancel_reason?: string;
  events: KvEvent[];
}

/** How often a watch that asked for progress notifications gets one when nothing happened (etcd's default: 10 minutes). */
export const DEFAULT_PROGRESS_MS = 10 * 60 * 1000;

interface Watcher {
  id: number;
  range: KeyRange;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  progress: boolean;
}

/**
 * One Watch stream: the watches a client creates on it, each on a range from a revision,
 * and their events as etcd sends them (one response per watch per commit). A watch from a
 * revision in the past replays the history first; one from a compacted revision is
 * canceled with `compact_revision`, as etcd does. Events on keys the caller may not read
 * are left out.
 */
export class WatchSession {
  private readonly watchers = new Map<number, Watcher>();
  private nextId = 0;
  private readonly stopListening: () => void;
  private readonly progressTimer: NodeJS.Timeout;

  constructor(
    private readonly mvcc: Mvcc,
    private readonly caller: Caller,
    private readonly header: (revision: number) => Header,
    private readonly send: (r: WatchResponse) => void,
    progressMs = DEFAULT_PROGRESS_MS,
  ) {
    this.stopListening = mvcc.listen((r) => {
      for (const w of this.watchers.values()) this.deliver(w, r);
    });
    this.progressTimer = setInterval(() => {
      const rev = this.mvcc.revision();
      for (const w of this.watchers.values()) if (w.progress) this.send({ header: this.header(rev), watch_id: w.id, events: [] });
    }, progressMs);
    this.progressTimer.unref();
  }

  handle(req: WatchRequest): void {
    if (req.create_request != null) this.create(req.create_request);
    else if (req.cancel_request != null) this.cancel(int(req.cancel_request.watch_id, "watch_id"));
    else if (req.progress_request != null) this.send({ header: this.header(this.mvcc.revision()), watch_id: -1, events: [] });
  }

  close(): void {
    this.stopListening();
    clearInterval(this.progressTimer);
    this.watchers.clear();
  }

  private create(c: NonNullable<WatchRequest["create_request"]>): void {
    const now = this.mvcc.revision();
    let id = int(c.watch_id, "watch_id");
    const range = rangeOf(c.key, c.range_end);
    const refuse = (reason: string, watchId: number): void => {
      this.send({ header: this.header(now), watch_id: watchId, created: true, canceled: true, cancel_reason: reason, events: [] });
    };
    if (id !== 0 && this.watchers.has(id)) { refuse("etcdserver: mvcc: duplicate watch ID provided on the WatchStream", id); return; }
    if (id === 0) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    }
    if (!this.caller.acl.prefix(AclPrefixKind.Key, range.key.toString("utf8"), "read")) { refuse(EtcdError.denied().message, id); return; }
    const start = int(c.start_revision, "start_revision");
    const filters = c.filters;
    const w: Watcher = { id, range, prevKv: c.prev_kv, noPut: filters.includes("NOPUT"), noDelete: filters.includes("NODELETE"), progress: c.progress_notify };
    if (start > 0 && start <= now) {
      const past = this.mvcc.since(start);
      if (past === null) {
        this.send({ header: this.header(now), watch_id: id, created: true, events: [] });
        this.send({ header: this.header(now), watch_id: id, canceled: true, compact_revision: this.mvcc.compactRevision(), cancel_reason: "etcdserver: mvcc: required revision has been compacted", events: [] });
        return;
      }
      this.watchers.set(id, w);
      this.send({ header: this.header(now), watch_id: id, created: true, events: [] });
      for (const r of past) this.deliver(w, r);
    } else {
      this.watchers.set(id, w);
      this.send({ header: this.header(now), watch_id: id, created: true, events: [] });
    }
  }

  private cancel(id: number): void {
    if (!this.watchers.delete(id)) return;
    this.send({ header: this.header(this.mvcc.revision()), watch_id: id, canceled: true, events: [] });
  }

  private deliver(w: Watcher, r: Revision): void {
    const events = r.events.filter((e) => {
      if (!inRange(e.kv.key, w.range)) return false;
      if (e.type === "PUT" ? w.noPut : w.noDelete) return false;
      return this.caller.acl.prefix(AclPrefixKind.Key, e.kv.key.toString("utf8"), "read");
    });
    if (events.length === 0) return;
    this.send({ header: this.header(r.revision), watch_id: w.id, events: w.prevKv ? events : events.map(({ type, kv }) => ({ type, kv })) });
  }
}
