import type { Evaluation } from "../structs/index.js";

/**
 * The evaluation broker: evaluations wait here until a scheduler worker takes one. Highest
 * priority first, oldest first within a priority; at most one evaluation of a job is out
 * at a time (later ones of the same job wait behind it); an evaluation that is not acked
 * comes back (nack, or a lost worker) until its delivery limit, with a growing delay.
 */
export interface BrokerOptions {
  /** Deliveries before an evaluation is given up as failed. */
  deliveryLimit?: number;
  /** Delay before a nacked evaluation is offered again: base × 2^(deliveries-1), ms. */
  nackDelayMs?: number;
  now?: () => number;
}

interface Outstanding {
  ev: Evaluation;
  token: string;
  deliveries: number;
}

export class EvalBroker {
  private readonly ready: Evaluation[] = [];
  /** Job key → evaluations waiting behind the one that is out. */
  private readonly blocked = new Map<string, Evaluation[]>();
  /** Evaluation id → evaluations handed to a worker. */
  private readonly unacked = new Map<string, Outstanding>();
  private readonly jobOut = new Set<string>();
  private readonly deliveries = new Map<string, number>();
  private readonly delayed: { at: number; ev: Evaluation }[] = [];
  private readonly waiters: ((e: { ev: Evaluation; token: string } | null) => void)[] = [];
  private readonly known = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private tokenSeq = 0;
  private closed = false;
  readonly deliveryLimit: number;
  private readonly nackDelayMs: number;
  private readonly now: () => number;
  /** Called when an evaluation exhausts its deliveries. */
  onFailed: (ev: Evaluation) => void = () => undefined;

  constructor(opts: BrokerOptions = {}) {
    this.deliveryLimit = opts.deliveryLimit ?? 3;
    this.nackDelayMs = opts.nackDelayMs ?? 200;
    this.now = opts.now ?? Date.now;
  }

  /** Offers an evaluation; one already known (waiting or out) is ignored. */
  enqueue(ev: Evaluation): void {
    if (this.closed || this.known.has(ev.ID)) return;
    this.known.add(ev.ID);
    if (ev.WaitUntil > this.now()) {
      this.delay(ev, ev.WaitUntil);
      return;
    }
    this.offer(ev);
  }

  get stats(): { ready: number; unacked: number; blocked: number; delayed: number } {
    let blocked = 0;
    for (const l of this.blocked.values()) blocked += l.length;
    return { ready: this.ready.length, unacked: this.unacked.size, blocked, delayed: this.delayed.length };
  }

  private offer(ev: Evaluation): void {
    const jk = `${ev.Namespace}/${ev.JobID}`;
    if (this.jobOut.has(jk) || this.ready.some((r) => `${r.Namespace}/${r.JobID}` === jk)) {
      const l = this.blocked.get(jk) ?? [];
      l.push(ev);
      this.blocked.set(jk, l);
      return;
    }
    const w = this.waiters.shift();
    if (w !== undefined) {
      w(this.handOut(ev));
      return;
    }
    // Priority high to low, then creation order.
    let i = this.ready.length;
    while (i > 0 && (this.ready[i - 1] as Evaluation).Priority < ev.Priority) i--;
    this.ready.splice(i, 0, ev);
  }

  private handOut(ev: Evaluation): { ev: Evaluation; token: string } {
    const token = `t${++this.tokenSeq}`;
    const deliveries = (this.deliveries.get(ev.ID) ?? 0) + 1;
    this.deliveries.set(ev.ID, deliveries);
    this.unacked.set(ev.ID, { ev, token, deliveries });
    this.jobOut.add(`${ev.Namespace}/${ev.JobID}`);
    return { ev, token };
  }

  /** The next evaluation, waiting until one comes or `signal` aborts (then null). */
  dequeue(signal?: AbortSignal): Promise<{ ev: Evaluation; token: string } | null> {
    if (this.closed || signal?.aborted === true) return Promise.resolve(null);
    const ev = this.ready.shift();
    if (ev !== undefined) return Promise.resolve(this.handOut(ev));
    return new Promise((resolve) => {
      const w = (e: { ev: Evaluation; token: string } | null): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve(e);
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /** The evaluation is done: the next one of its job may go out. */
  ack(evalId: string, token: string): void {
    const o = this.unacked.get(evalId);
    if (o === undefined || o.token !== token) return;
    this.unacked.delete(evalId);
    this.deliveries.delete(evalId);
    this.known.delete(evalId);
    this.release(o.ev);
  }

  /** The evaluation could not be processed: offered again later, or failed past the delivery limit. */
  nack(evalId: string, token: string): void {
    const o = this.unacked.get(evalId);
    if (o === undefined || o.token !== token) return;
    this.unacked.delete(evalId);
    this.release(o.ev, false);
    if (o.deliveries >= this.deliveryLimit) {
      this.deliveries.delete(evalId);
      this.known.delete(evalId);
      this.onFailed(o.ev);
      this.releaseNext(o.ev);
      return;
    }
    this.delay(o.ev, this.now() + this.nackDelayMs * 2 ** (o.deliveries - 1));
  }

  private release(ev: Evaluation, next = true): void {
    this.jobOut.delete(`${ev.Namespace}/${ev.JobID}`);
    if (next) this.releaseNext(ev);
  }

  private releaseNext(ev: Evaluation): void {
    const jk = `${ev.Namespace}/${ev.JobID}`;
    const waiting = this.blocked.get(jk);
    if (waiting === undefined || waiting.length === 0 || this.jobOut.has(jk)) return;
    // Several evaluations of one job waiting: the newest says all the older ones do.
    waiting.sort((a, b) => a.CreateIndex - b.CreateIndex);
    const nextEv = waiting.pop() as Evaluation;
    for (const older of waiting) this.known.delete(older.ID);
    this.superseded.push(...waiting);
    this.blocked.delete(jk);
    this.offer(nextEv);
  }

  /** Evaluations made redundant by a newer one of the same job; the server marks them canceled. */
  readonly superseded: Evaluation[] = [];

  private delay(ev: Evaluation, at: number): void {
    this.delayed.push({ at, ev });
    this.delayed.sort((a, b) => a.at - b.at);
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const first = this.delayed[0];
    if (first === undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = this.now();
      while (this.delayed.length > 0 && (this.delayed[0] as { at: number }).at <= now) {
        const d = this.delayed.shift() as { at: number; ev: Evaluation };
        this.offer(d.ev);
      }
      this.arm();
    }, Math.max(0, first.at - this.now()));
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w(null);
  }

  /**
   * Empties a closed broker and takes evaluations again: a server that leads anew rebuilds
   * its queue from the evaluations in the state.
   */
  reopen(): void {
    this.close();
    this.ready.length = 0;
    this.blocked.clear();
    this.unacked.clear();
    this.jobOut.clear();
    this.deliveries.clear();
    this.delayed.length = 0;
    this.known.clear();
    this.closed = false;
  }
}
