import { formatDuration, NS, TaskLifecycleHook, type JobType, type RestartPolicy, type TaskLifecycle } from "../structs/index.js";

/** What to do after a task exited or failed to start. Delays in ms. */
export type RestartDecision =
  | { restart: true; delayMs: number; reason: string }
  | { restart: false; failed: boolean; reason: string };

/**
 * The restart policy of a group (or the task's own `restart` block merged over it), applied to one task: `attempts` restarts within
 * `interval`, each after `delay` (plus up to a quarter of it, so tasks that fail together
 * do not restart together); past that, mode "delay" waits for the interval to end and
 * starts counting again, mode "fail" gives up and the task fails. A batch task that exits
 * 0 is complete; a service or system task is restarted whatever its exit code. A task's
 * `lifecycle` changes that: an ephemeral prestart or poststart task, or a poststop task,
 * that exits 0 is complete; a sidecar is restarted.
 * Pure: `now` and the jitter draw are passed in.
 */
export class RestartTracker {
  private count = 0;
  private windowStart = -1;

  /** Whether a task that exits 0 is started again (Nomad's `onSuccess`). */
  private readonly onSuccess: boolean;

  constructor(
    readonly policy: RestartPolicy,
    jobType: JobType,
    lifecycle: TaskLifecycle | null = null,
  ) {
    // As Nomad: a batch task that exits 0 is done; so is an ephemeral prestart or poststart
    // task and any poststop task, whatever the job's type; a sidecar is started again.
    let onSuccess = jobType !== "batch" && jobType !== "sysbatch";
    if (lifecycle !== null && lifecycle.Hook !== "") onSuccess = lifecycle.Hook !== TaskLifecycleHook.Poststop && lifecycle.Sidecar;
    this.onSuccess = onSuccess;
  }

  /** How many restarts were counted in the current interval (for local state). */
  get state(): { count: number; windowStart: number } {
    return { count: this.count, windowStart: this.windowStart };
  }

  restore(s: { count: number; windowStart: number }): void {
    this.count = s.count;
    this.windowStart = s.windowStart;
  }

  /** After the task exited with `exitCode` (or failed to start: `startError`). */
  next(now: number, exit: { exitCode: number; startError?: string; oomKilled?: boolean }, jitter: number): RestartDecision {
    if (exit.startError === undefined && exit.exitCode === 0 && !this.onSuccess) {
      return { restart: false, failed: false, reason: "task completed successfully" };
    }
    const intervalMs = this.policy.Interval / NS.millisecond;
    const delayMs = this.policy.Delay / NS.millisecond;
    if (this.windowStart < 0 || now - this.windowStart >= intervalMs) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count++;
    const why = exit.startError !== undefined ? "failed to start" : exit.oomKilled === true ? "was killed for using too much memory" : `exited with code ${exit.exitCode}`;
    if (this.count <= this.policy.Attempts) {
      return { restart: true, delayMs: Math.round(delayMs * (1 + 0.25 * jitter)), reason: `Restart within policy: task ${why}` };
    }
    if (this.policy.Mode === "fail") {
      return { restart: false, failed: true, reason: `Exceeded allowed attempts ${this.policy.Attempts} in interval ${formatDuration(this.policy.Interval)} and mode is "fail"` };
    }
    const wait = Math.max(delayMs, this.windowStart + intervalMs - now);
    this.windowStart = now + wait;
    this.count = 0;
    return { restart: true, delayMs: wait, reason: `Exceeded allowed attempts ${this.policy.Attempts} in interval ${formatDuration(this.policy.Interval)} and mode is "delay", thus delaying task restart by ${formatDuration(wait * NS.millisecond)}` };
  }
}

