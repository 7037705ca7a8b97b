import { ErrorCode, NS, parseDuration, RucheError } from "../../structs/index.js";
import { SIGNALS, type Driver, type DriverFingerprint, type ExecResult, type ExitResult, type TaskHandle, type TaskSpec, type TaskStats } from "../driver.js";

/**
 * A driver that runs nothing: a task "runs" in memory for `run_for`, then exits with
 * `exit_code` (or fails to start with `start_error`), as Nomad's mock driver does. For
 * simulated nodes in benchmarks and for tests of the client's own logic (restarts,
 * health, leaders); real tasks use docker, exec or raw_exec.
 *
 * Config: `run_for` (duration, default forever), `exit_code` (number), `start_error`
 * (string), `kill_after` (duration a stop takes), `exec_output` (what exec prints),
 * `stats_memory_mb` and `stats_cpu_mhz` (what `stats` reports it uses; by default a quarter
 * of its memory and a tenth of its CPU).
 */
export class MockDriver implements Driver {
  readonly name = "mock";
  private readonly tasks = new Map<string, MockTask>();
  /** Recoveries that throw before one answers, as an engine that is slow to come back does. */
  recoverFailures = 0;

  fingerprint(): Promise<DriverFingerprint> {
    return Promise.resolve({ detected: true, healthy: true, description: "healthy", attributes: { "driver.mock": "1" } });
  }

  validate(config: Record<string, unknown>): string[] {
    const out: string[] = [];
    for (const k of ["run_for", "kill_after"]) {
      const v = config[k];
      if (v !== undefined && (typeof v !== "string" || parseDuration(v) === undefined)) out.push(`config.${k} must be a duration such as "5s"`);
    }
    if (config.exit_code !== undefined && typeof config.exit_code !== "number") out.push("config.exit_code must be a number");
    for (const k of ["stats_memory_mb", "stats_cpu_mhz"]) {
      const v = config[k];
      if (v !== undefined && (typeof v !== "number" || !(v >= 0))) out.push(`config.${k} must be a number of 0 or more`);
    }
    return out;
  }

  start(spec: TaskSpec): Promise<TaskHandle> {
    const c = spec.config;
    if (typeof c.start_error === "string") return Promise.reject(new Error(c.start_error));
    const runFor = typeof c.run_for === "string" ? (parseDuration(c.run_for) ?? 0) / NS.millisecond : Infinity;
    const t = new MockTask(runFor, typeof c.exit_code === "number" ? c.exit_code : 0, typeof c.kill_after === "string" ? (parseDuration(c.kill_after) ?? 0) / NS.millisecond : 0, typeof c.exec_output === "string" ? c.exec_output : "");
    t.uses = { memoryMB: typeof c.stats_memory_mb === "number" ? c.stats_memory_mb : spec.memoryMB / 4, cpuMHz: typeof c.stats_cpu_mhz === "number" ? c.stats_cpu_mhz : spec.cpu / 10 };
    this.tasks.set(spec.id, t);
    return Promise.resolve({ driver: this.name, taskId: spec.id, startedAt: Date.now(), state: {} });
  }

  recover(handle: TaskHandle): Promise<boolean> {
    if (this.recoverFailures > 0) {
      this.recoverFailures--;
      return Promise.reject(new Error("mock: the engine does not answer"));
    }
    return Promise.resolve(this.tasks.has(handle.taskId));
  }

  wait(handle: TaskHandle): Promise<ExitResult> {
    return this.task(handle).exited;
  }

  signal(handle: TaskHandle, signal: string): Promise<void> {
    this.task(handle).signals.push(signal);
    return Promise.resolve();
  }

  stop(handle: TaskHandle, _timeoutMs: number, signal = "SIGTERM"): Promise<void> {
    const t = this.tasks.get(handle.taskId);
    if (t === undefined) return Promise.resolve();
    return t.kill(SIGNALS[signal] ?? 15);
  }

  destroy(handle: TaskHandle): Promise<void> {
    this.tasks.get(handle.taskId)?.kill(9).catch(() => undefined);
    this.tasks.delete(handle.taskId);
    return Promise.resolve();
  }

  exec(handle: TaskHandle, cmd: string[]): Promise<ExecResult> {
    const t = this.task(handle);
    return Promise.resolve({ exitCode: 0, stdout: Buffer.from(t.execOutput === "" ? cmd.join(" ") : t.execOutput), stderr: Buffer.alloc(0), timedOut: false });
  }

  /** The figures the task's config asks for, while it runs: memory as RSS, CPU as ticks (a percent of a 1000 MHz core). */
  stats(handle: TaskHandle): Promise<TaskStats | null> {
    const t = this.tasks.get(handle.taskId);
    if (t === undefined || t.done) return Promise.resolve(null);
    const rss = Math.round(t.uses.memoryMB * 1024 * 1024);
    const percent = t.uses.cpuMHz / 10;
    return Promise.resolve({
      memory: { rss, cache: 0, swap: 0, usage: rss, maxUsage: rss, measured: ["RSS", "Usage", "Max Usage"] },
      cpu: { percent, userMode: percent, systemMode: 0, totalTicks: t.uses.cpuMHz, throttledPeriods: 0, throttledTime: 0, measured: ["Percent", "User Mode", "Total Ticks"] },
      at: Date.now(),
    });
  }

  /** Signals a task received (for tests). */
  signalsOf(taskId: string): string[] {
    return this.tasks.get(taskId)?.signals ?? [];
  }

  /** Tasks running now, by id (for tests). */
  running(): string[] {
    return [...this.tasks.entries()].filter(([, t]) => !t.done).map(([id]) => id);
  }

  private task(handle: TaskHandle): MockTask {
    const t = this.tasks.get(handle.taskId);
    if (t === undefined) throw new RucheError(ErrorCode.Conflict, `mock task ${handle.taskId} is not running`);
    return t;
  }
}

class MockTask {
  readonly exited: Promise<ExitResult>;
  readonly signals: string[] = [];
  done = false;
  uses = { memoryMB: 0, cpuMHz: 0 };
  private finish!: (r: ExitResult) => void;
  private readonly timer: NodeJS.Timeout | null;

  constructor(
    runFor: number,
    exitCode: number,
    private readonly killAfter: number,
    readonly execOutput: string,
  ) {
    this.exited = new Promise((resolve) => {
      this.finish = (r) => {
        if (this.done) return;
        this.done = true;
        resolve(r);
      };
    });
    this.timer = Number.isFinite(runFor)
      ? setTimeout(() => {
          this.finish({ exitCode, signal: 0, oomKilled: false });
        }, runFor)
      : null;
  }

  async kill(signal: number): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.killAfter > 0) await new Promise((r) => setTimeout(r, this.killAfter));
    this.finish({ exitCode: 128 + signal, signal, oomKilled: false });
    await this.exited;
  }
}
