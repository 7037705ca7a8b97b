import type { CatalogSnapshot } from "../catalog/index.js";
import { errorMessage, silentLogger, sleep, type Logger } from "../structs/index.js";
import type { DatacentersView } from "./types.js";

/**
 * The other datacenters of the federation, as the router reads them: what failing over to
 * them needs. In process, the servers' federation; the router only knows this interface.
 */
export interface Datacenters {
  /** The datacenters other than the router's own (its region's, where it can tell them), nearest first (measured round trips). */
  nearest(signal: AbortSignal): Promise<string[]>;
  /** The catalog of `dc` once its index passes `index` (a blocking query of at most `waitMs`), read from one of its servers. */
  snapshot(dc: string, index: number, waitMs: number, signal: AbortSignal): Promise<CatalogSnapshot>;
}

/** What the routes asking for failover say while the federation knows no other datacenter. */
export const NO_OTHER_DATACENTER = "the federation knows no other datacenter (this region joined no other): serving local instances only";

/** How long one blocking query on another datacenter's catalog lasts. */
const WAIT_MS = 300_000;
/** How often the list of datacenters (and their order, nearest first) is read again. */
const LIST_MS = 5_000;
/** How long another datacenter's catalog is still used while its servers do not answer: then it is dropped. */
const STALE_MS = 30_000;

interface Watched {
  name: string;
  snapshot: CatalogSnapshot | null;
  error: string | null;
  stop: AbortController;
}

/**
 * Follows the catalogs of the other datacenters while a route asks for failover (`want`),
 * one blocking query per datacenter, so that their passing instances are known before the
 * local ones go: when the last local instance leaves, the table the router builds in that
 * tick already has where to send requests. Each change calls `changed`. A datacenter whose
 * servers stop answering keeps its last catalog `STALE_MS`, then is dropped (its instances
 * unknown, not trusted); it is asked again each second, its error shown on the dashboard.
 * Stopped by `signal`.
 */
export class FailoverWatch {
  private readonly watched = new Map<string, Watched>();
  private order: string[] = [];
  private wanted = false;
  private lister: AbortController | null = null;
  private readonly loops = new Set<Promise<void>>();
  private poked = false;
  /** Whether the list of datacenters has been read since the watch started: until then none is known, and none is said missing. */
  private listed = false;

  constructor(
    private readonly source: Datacenters,
    private readonly changed: () => void,
    private readonly signal: AbortSignal,
    private readonly log: Logger = silentLogger,
  ) {
    signal.addEventListener(
      "abort",
      () => {
        this.want(false);
      },
      { once: true },
    );
  }

  /** The other datacenters nearest first, each with its last catalog read: the routing table's input. */
  view(): DatacentersView {
    if (this.order.length === 0) return { unavailable: this.listed ? NO_OTHER_DATACENTER : null, datacenters: [] };
    return { unavailable: null, datacenters: this.order.flatMap((name) => {
      const w = this.watched.get(name);
      return w === undefined ? [] : [{ name, snapshot: w.snapshot, error: w.error }];
    }) };
  }

  /**
   * Starts following the other datacenters (when a route asks for failover), or stops (when
   * none does any longer). It stops only once every datacenter listed has been read: another
   * datacenter's instances that ask for failover make a route too, so until they are known
   * (its servers silent when the last local instance went), no route asking says nothing —
   * the next catalog read builds the table again, which says.
   */
  want(on: boolean): void {
    const wanted = on && !this.signal.aborted;
    if (wanted === this.wanted) return;
    if (!wanted && !this.signal.aborted && (!this.listed || [...this.watched.values()].some((w) => w.snapshot === null))) return;
    this.wanted = wanted;
    if (wanted) {
      const lister = new AbortController();
      this.lister = lister;
      this.track(this.listLoop(lister.signal));
      return;
    }
    this.lister?.abort();
    this.lister = null;
    for (const w of this.watched.values()) w.stop.abort();
    this.watched.clear();
    this.order = [];
    this.listed = false;
  }

  /** Resolves when every loop has ended (after `want(false)` or the signal). */
  async closed(): Promise<void> {
    while (this.loops.size > 0) await Promise.all([...this.loops]);
  }

  /** Calls `changed` once after what happens in this tick (never from within the caller's own call: it may be building a table). */
  private poke(): void {
    if (this.poked) return;
    this.poked = true;
    queueMicrotask(() => {
      this.poked = false;
      if (!this.signal.aborted) this.changed();
    });
  }

  private track(p: Promise<void>): void {
    this.loops.add(p);
    void p.finally(() => this.loops.delete(p));
  }

  /** Reads the list of datacenters now and every `LIST_MS`: a loop per new one, an end to those gone. */
  private async listLoop(signal: AbortSignal): Promise<void> {
    const stopped = (): boolean => signal.aborted;
    let failing = "";
    while (!stopped()) {
      let names: string[];
      try {
        names = await this.source.nearest(signal);
        if (stopped()) return;
        failing = "";
      } catch (err) {
        if (stopped()) return;
        // Logged once, and again when the error changes; the datacenters known go on being followed.
        if (errorMessage(err) !== failing) this.log.warn({ err }, "router: reading the federation's datacenters failed; the ones known are still followed");
        failing = errorMessage(err);
        names = this.order;
      }
      const before = this.order.join(",");
      for (const [name, w] of this.watched) {
        if (names.includes(name)) continue;
        w.stop.abort();
        this.watched.delete(name);
      }
      for (const name of names) {
        if (this.watched.has(name)) continue;
        const w: Watched = { name, snapshot: null, error: null, stop: new AbortController() };
        this.watched.set(name, w);
        this.track(this.follow(w, AbortSignal.any([signal, w.stop.signal])));
      }
      this.order = names;
      if (this.order.join(",") !== before || !this.listed) this.poke();
      this.listed = true;
      await sleep(LIST_MS, signal).catch(() => undefined);
    }
  }

  /** One datacenter's catalog, followed with blocking queries. */
  private async follow(w: Watched, signal: AbortSignal): Promise<void> {
    let index = 0;
    let lastOk = Date.now();
    // Read afresh each time: the signal aborts while a query is pending.
    const stopped = (): boolean => signal.aborted;
    while (!stopped()) {
      try {
        const snap = await this.source.snapshot(w.name, index, WAIT_MS, signal);
        if (stopped()) return;
        lastOk = Date.now();
        const was = w.error;
        w.error = null;
        if (was !== null) this.log.info({ datacenter: w.name }, "router: the other datacenter's catalog is read again");
        if (snap.index !== index || w.snapshot === null) {
          w.snapshot = snap;
          index = snap.index;
          this.poke();
        } else if (was !== null) this.poke();
      } catch (err) {
        if (stopped()) return;
        const why = errorMessage(err);
        if (why !== w.error) this.log.warn({ datacenter: w.name, err }, "router: reading another datacenter's catalog for failover failed; retrying each second");
        const shown = w.error !== why;
        w.error = why;
        if (w.snapshot !== null && Date.now() - lastOk > STALE_MS) {
          w.snapshot = null;
          index = 0;
          this.poke();
        } else if (shown) this.poke();
        await sleep(1000, signal).catch(() => undefined);
      }
    }
  }
}
