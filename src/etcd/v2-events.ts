import type { StateStore, Txn } from "../state/index.js";
import type { KVEntry } from "../structs/index.js";
import { cleanKey, hiddenUnder, v2Expire, V2Code, V2Error, valueText, type V2Event, type V2Node, type V2Written } from "./v2-keys.js";

/** Events kept for `?wait=true&waitIndex=`: etcd v2 keeps the last 1000. */
export const V2_HISTORY = 1000;

interface Waiter {
  key: string;
  recursive: boolean;
  resolve: (e: { index: number; event: V2Event }) => void;
}

/**
 * etcd v2's event history and watchers over the store's change feed. A write made through
 * the v2 API records its own event (its action, node and prevNode, as it answered) at its
 * index; a write of the KV through another API (Consul's, etcd v3's) is seen as a `set` or a
 * `delete` of each key it changed. Watchers wait for the first event at or after an index, on
 * a key or (recursive) under it; the history holds the last `max` events, and an index before
 * them is answered with etcd's 401.
 */
export class V2Events {
  private readonly history: { index: number; event: V2Event }[] = [];
  /** The first index whose events are all known: this server saw every commit since. */
  private startIndex: number;
  /** Events of the v2 API's own writes, by the index they commit at; `quiet` ones (a TTL's refresh) are no watcher's. */
  private readonly own = new Map<number, { event: V2Event; quiet: boolean }>();
  /** The KV as of the last commit seen: what a key deleted through another API was. */
  private readonly mirror = new Map<string, KVEntry>();
  private readonly waiters = new Set<Waiter>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: StateStore,
    private readonly opts: { max?: number } = {},
  ) {
    this.startIndex = store.index + 1;
    for (const e of store.kvList("")) this.mirror.set(e.Key, e);
    this.unsubscribe = store.subscribe((ev) => {
      const mine = this.own.get(ev.index);
      for (const i of this.own.keys()) if (i <= ev.index) this.own.delete(i);
      const kvChanges = ev.changes.filter((c) => c.table === "kv");
      if (mine !== undefined) this.add(ev.index, mine.event, mine.quiet);
      for (const c of kvChanges) {
        const prev = this.mirror.get(c.key);
        if (c.op === "put") this.mirror.set(c.key, c.value);
        else this.mirror.delete(c.key);
        if (mine !== undefined) continue;
        const event = foreignEvent(c.key, c.op === "put" ? c.value : undefined, prev, ev.index);
        if (event !== undefined) this.add(ev.index, event);
      }
    });
  }

  /**
   * Runs a v2 write in one store transaction and records its event at its index, so that
   * watchers see the action and prevNode it answered with.
   */
  async write(mutate: (tx: Txn) => V2Written): Promise<V2Written & { index: number }> {
    let recorded: { index: number; own: { event: V2Event; quiet: boolean } } | undefined;
    try {
      const { index, result } = await this.store.write((tx) => {
        const r = mutate(tx);
        recorded = { index: tx.index, own: { event: r.event, quiet: r.quiet === true } };
        this.own.set(tx.index, recorded.own);
        return r;
      });
      return { ...result, index };
    } catch (err) {
      // Not committed: its index may be another write's.
      if (recorded !== undefined && this.own.get(recorded.index) === recorded.own) this.own.delete(recorded.index);
      throw err;
    }
  }

  /** Deletes the entries whose TTL has passed, one transaction each (so that each is its watchers' `expire`); resolves with how many expired. */
  async expire(nowMs: number): Promise<number> {
    let n = 0;
    for (const x of this.store.kvExpiries()) {
      if (x.ExpiresAt > nowMs) continue;
      let recorded: { index: number; own: { event: V2Event; quiet: boolean } } | undefined;
      try {
        await this.store.write((tx) => {
          const event = v2Expire(tx, x, nowMs);
          if (event === undefined) return;
          recorded = { index: tx.index, own: { event, quiet: false } };
          this.own.set(tx.index, recorded.own);
          n++;
          this.expired++;
        });
      } catch (err) {
        if (recorded !== undefined && this.own.get(recorded.index) === recorded.own) this.own.delete(recorded.index);
        throw err;
      }
    }
    return n;
  }

  /**
   * The first event at or after `from` on `key` (or under it, `recursive`), or undefined
   * when none has happened yet. Throws etcd's 401 when `from` is before the history.
   */
  scan(key: string, recursive: boolean, from: number): { index: number; event: V2Event } | undefined {
    if (from < this.startIndex) throw new V2Error(V2Code.EventIndexCleared, `the requested history has been cleared [${this.startIndex}/${from}]`, this.store.index);
    return this.history.find((h) => h.index >= from && matches(h.event, key, recursive));
  }

  /** Waits for the next event on `key` (or under it); rejects when `signal` aborts. */
  next(key: string, recursive: boolean, signal: AbortSignal): Promise<{ index: number; event: V2Event }> {
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        key,
        recursive,
        resolve: (e) => {
          signal.removeEventListener("abort", onAbort);
          resolve(e);
        },
      };
      const onAbort = (): void => {
        this.waiters.delete(w);
        reject(new Error("watch ended"));
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.add(w);
    });
  }

  /** Keys expired by this server since it started (etcd's `expireCount`). */
  expired = 0;

  /** How many watches wait now (etcd's `watchers` in `/v2/stats/store`). */
  get watchers(): number {
    return this.waiters.size;
  }

  close(): void {
    this.unsubscribe();
  }

  private add(index: number, event: V2Event, quiet = false): void {
    // A refresh is in no watcher's history, as in etcd (its store notifies nobody of one).
    if (quiet) return;
    this.history.push({ index, event });
    const max = this.opts.max ?? V2_HISTORY;
    if (this.history.length > max) {
      this.history.splice(0, this.history.length - max);
      this.startIndex = (this.history[0] as { index: number }).index;
    }
    for (const w of [...this.waiters]) {
      if (!matches(event, w.key, w.recursive)) continue;
      this.waiters.delete(w);
      w.resolve({ index, event });
    }
  }
}

/**
 * Whether a watch on `key` sees the event: one on the key itself; with `recursive`, one under
 * it unless hidden (a segment starting with `_`); and the deletion or expiry of a directory
 * the key is under.
 */
export function matches(event: V2Event, key: string, recursive: boolean): boolean {
  const at = event.node.key ?? "/";
  if (at === key) return true;
  if (recursive && (key === "/" || at.startsWith(`${key}/`)) && !hiddenUnder(key, at)) return true;
  const gone = event.action === "delete" || event.action === "expire" || event.action === "compareAndDelete";
  return gone && event.node.dir === true && key.startsWith(`${at}/`);
}

/** A KV write made through another API, as a v2 watcher sees it; undefined for a key no v2 path names. */
function foreignEvent(storeKeyName: string, now: KVEntry | undefined, prev: KVEntry | undefined, index: number): V2Event | undefined {
  const dir = storeKeyName.endsWith("/");
  const key = `/${dir ? storeKeyName.slice(0, -1) : storeKeyName}`;
  if (key === "/" || cleanKey(key) !== key) return undefined;
  const shown = (e: KVEntry): V2Node => (dir ? { key, dir: true, modifiedIndex: e.ModifyIndex, createdIndex: e.CreateIndex } : { key, value: valueText(e), modifiedIndex: e.ModifyIndex, createdIndex: e.CreateIndex });
  const prevNode = prev === undefined ? {} : { prevNode: shown(prev) };
  if (now !== undefined) return { action: "set", node: shown(now), ...prevNode };
  return { action: "delete", node: { key, ...(dir ? { dir: true as const } : {}), modifiedIndex: index, createdIndex: prev?.CreateIndex ?? index }, ...prevNode };
}

/**
 * Deletes the KV entries whose v2 TTL has passed, every `intervalMs` (etcd's leader expires
 * keys at its 500 ms sync): run by the leader alone, as the session reaper is.
 */
export class V2Expiry {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;

  constructor(
    private readonly events: V2Events,
    private readonly opts: { now(): number; intervalMs?: number; onError?: (err: unknown) => void },
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.running ??= this.events
        .expire(this.opts.now())
        .then(
          () => undefined,
          (err: unknown) => this.opts.onError?.(err),
        )
        .finally(() => {
          this.running = null;
        });
    }, this.opts.intervalMs ?? 500);
  }

  /** Stops the loop and waits for a sweep under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
