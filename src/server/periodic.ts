import { clientTerminal, ErrorCode, isParameterized, isPeriodicActive, periodicChild, periodicNext, PERIODIC_LAUNCH_SUFFIX, RucheError, type Job, type Logger } from "../structs/index.js";
import { jobRowKey, type StateStore } from "../state/index.js";
import { registerJob, type RegisterResult } from "./jobs.js";

/** The longest a timer waits before the dispatcher looks again (a far launch is re-armed, not slept on). */
const MAX_WAIT_MS = 60_000;

interface Tracked {
  job: Job;
  /** The next launch, ms; null when the schedule has none left. */
  next: number | null;
}

/**
 * The leader's periodic dispatcher (Nomad's `PeriodicDispatch`): it tracks every active periodic
 * parent in the state and, at each time its schedule gives, launches a child job
 * (`<parent>/periodic-<unix seconds>`, registered as any job with a `periodic-job` evaluation).
 * The child's ID is the launch's: registering it only where none exists makes a second leader's
 * launch of the same time a no-op. A leader that starts reads each parent's last launch
 * (`periodicLaunches`) and launches once now if a time was missed meanwhile — the next, not the
 * backlog, as Nomad's `restorePeriodicDispatcher`.
 */
export class PeriodicDispatcher {
  private readonly tracked = new Map<string, Tracked>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private running = false;
  /** Launches under way, awaited by `stop`. */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly store: StateStore,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.store.subscribe((e) => {
      let touched = false;
      for (const c of e.changes) {
        if (c.table !== "jobs") continue;
        touched = true;
        if (c.op === "put") this.track(c.value);
        else this.tracked.delete(c.key);
      }
      if (touched) this.arm();
    });
    for (const job of this.store.jobs()) this.track(job);
    this.restore();
    this.arm();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.tracked.clear();
    await Promise.allSettled([...this.inflight]);
  }

  /** Resolves once the launches under way are written (or refused). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** The next launch of a tracked parent (ms), or null: not tracked, or no time left. */
  nextLaunch(namespace: string, id: string): number | null {
    return this.tracked.get(jobRowKey(namespace, id))?.next ?? null;
  }

  /**
   * `job periodic force`: launches a child now, whatever the schedule and `prohibit_overlap`
   * say (Nomad's `ForceEval`). Refused for a job that is not an active periodic parent.
   */
  async force(namespace: string, id: string): Promise<RegisterResult> {
    const job = this.store.job(namespace, id);
    if (job === null) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" not found`);
    if (job.Periodic === null) throw new RucheError(ErrorCode.BadRequest, `can't force launch non-periodic job "${id}"`);
    if (!isPeriodicActive(job)) throw new RucheError(ErrorCode.BadRequest, `can't force launch periodic job "${id}": it is ${job.Stop ? "stopped" : "disabled (enabled = false)"}`);
    try {
      return await this.register(job, this.now());
    } catch (err) {
      if (err instanceof RucheError && err.code === ErrorCode.IndexConflict) throw new RucheError(ErrorCode.IndexConflict, `job "${id}" was already launched this second; try again`, { cause: err });
      throw err;
    }
  }

  /** Whether a child of `job` still runs: an evaluation not done, or an allocation not terminal (Nomad's `RunningChildren`). */
  runningChildren(job: Job): boolean {
    const prefix = `${job.ID}${PERIODIC_LAUNCH_SUFFIX}`;
    for (const child of this.store.jobs()) {
      if (child.Namespace !== job.Namespace || child.ParentID !== job.ID || !child.ID.startsWith(prefix)) continue;
      if (this.store.evalsByJob(child.Namespace, child.ID).some((e) => e.Status === "pending" || e.Status === "blocked")) return true;
      if (this.store.allocsByJob(child.Namespace, child.ID).some((a) => a.DesiredStatus === "run" && !clientTerminal(a.ClientStatus))) return true;
    }
    return false;
  }

  private track(job: Job): void {
    const key = jobRowKey(job.Namespace, job.ID);
    if (!isPeriodicActive(job) || isParameterized(job) || job.Periodic === null) {
      this.tracked.delete(key);
      return;
    }
    const prev = this.tracked.get(key);
    // The same schedule keeps its next launch: a write of the job just before it is due does not skip it.
    if (prev?.job.Periodic !== undefined && JSON.stringify(prev.job.Periodic) === JSON.stringify(job.Periodic)) {
      prev.job = job;
      return;
    }
    this.tracked.set(key, { job, next: periodicNext(job.Periodic, this.now()) });
  }

  /** A new leader: one launch now for each parent whose next time after its last launch has passed. */
  private restore(): void {
    const now = this.now();
    for (const { job } of this.tracked.values()) {
      if (job.Periodic === null) continue;
      const last = this.store.periodicLaunch(job.Namespace, job.ID);
      if (last === undefined) continue;
      const due = periodicNext(job.Periodic, last.Launch);
      if (due === null || due >= now) continue;
      if (job.Periodic.ProhibitOverlap && this.runningChildren(job)) continue;
      this.log.info({ jobId: job.ID, namespace: job.Namespace, missed: new Date(due).toISOString() }, "periodic job missed a launch while no leader ran it; launching it now");
      this.launch(job, now);
    }
  }

  private arm(): void {
    if (!this.running) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    let soonest: number | null = null;
    for (const t of this.tracked.values()) if (t.next !== null && (soonest === null || t.next < soonest)) soonest = t.next;
    this.timer = undefined;
    if (soonest === null) return;
    this.timer = setTimeout(
      () => {
        this.fire();
      },
      Math.min(Math.max(soonest - this.now(), 0), MAX_WAIT_MS),
    );
    this.timer.unref();
  }

  private fire(): void {
    if (!this.running) return;
    const now = this.now();
    for (const t of this.tracked.values()) {
      if (t.next === null || t.next > now || t.job.Periodic === null) continue;
      const at = t.next;
      // The next time after this launch, or after now if the leader was held up: no backlog.
      t.next = periodicNext(t.job.Periodic, Math.max(at, now));
      if (t.job.Periodic.ProhibitOverlap && this.runningChildren(t.job)) {
        this.log.debug({ jobId: t.job.ID, namespace: t.job.Namespace }, "skipping a periodic launch: a previous child still runs and the job prohibits overlap");
        continue;
      }
      this.launch(t.job, at);
    }
    this.arm();
  }

  private launch(job: Job, at: number): void {
    const p = this.register(job, at).then(
      (r) => {
        this.log.info({ jobId: job.ID, namespace: job.Namespace, evalId: r.EvalID, launch: new Date(at).toISOString() }, "launched periodic job");
      },
      (err: unknown) => {
        if (err instanceof RucheError && err.code === ErrorCode.IndexConflict) {
          this.log.debug({ jobId: job.ID, namespace: job.Namespace }, "periodic launch already made");
          return;
        }
        this.log.warn({ err, jobId: job.ID, namespace: job.Namespace }, "could not launch periodic job");
      },
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Registers the child of `job` for `at`, only where none exists (a second launch of the same time is refused 409). */
  private register(job: Job, at: number): Promise<RegisterResult> {
    return registerJob(this.store, periodicChild(job, at), { enforceIndex: 0, now: this.now(), trigger: "periodic-job" });
  }
}
