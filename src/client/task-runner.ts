import type { Driver, ExecOptions, ExecResult, ExitResult, TaskHandle, TaskSpec } from "../drivers/index.js";
import { NS, sleep, type Logger, type Task, type TaskEvent, type TaskState } from "../structs/index.js";
import type { RestartTracker } from "./restart.js";

/** How long a driver that cannot tell whether a task still runs is asked again after an agent restart. */
const RECOVER_PATIENCE_MS = 30_000;

/** Task events kept per task, newest last (Nomad keeps ten). */
const MAX_EVENTS = 10;

/** What a task runner keeps in the client's local state to pick the task up again. */
export interface SavedTask {
  handle: TaskHandle | null;
  state: TaskState;
  restarts: { count: number; windowStart: number };
}

export interface TaskRunnerDeps {
  driver: Driver;
  spec: TaskSpec;
  task: Task;
  restart: RestartTracker;
  /** The task's state or handle changed: report and save it. */
  changed(): void;
  log: Logger;
  now(): number;
  /** A number in [0, 1) for the restart delay's jitter. */
  random(): number;
}

export function newTaskState(): TaskState {
  return { State: "pending", Failed: false, Restarts: 0, StartedAt: 0, FinishedAt: 0, Events: [] };
}

/**
 * Runs one task of an allocation through its driver: start, wait, and on exit apply the
 * restart policy; stop with the task's kill signal and kill_timeout when told to. Every
 * step is a task event the user reads in `ruche alloc status`.
 */
export class TaskRunner {
  readonly state: TaskState;
  handle: TaskHandle | null;
  private killing = false;
  private readonly stopWaiting = new AbortController();
  private done: Promise<void> | null = null;

  constructor(
    private readonly d: TaskRunnerDeps,
    saved?: SavedTask,
  ) {
    this.state = saved?.state ?? newTaskState();
    this.handle = saved?.handle ?? null;
    if (saved !== undefined) d.restart.restore(saved.restarts);
  }

  get name(): string {
    return this.d.task.Name;
  }

  saved(): SavedTask {
    return { handle: this.handle, state: this.state, restarts: this.d.restart.state };
  }

  get dead(): boolean {
    return this.state.State === "dead";
  }

  /** Starts the task, or with a saved handle finds it again. Resolves when the task is dead for good. */
  run(): Promise<void> {
    this.done ??= this.loop();
    return this.done;
  }

  /**
   * Finds the task again after an agent restart. A driver that cannot tell (its engine slow
   * or restarting) is asked again for a while: a task is declared lost, and started anew,
   * only when the driver says it is gone, or after that while.
   */
  private async recover(handle: TaskHandle): Promise<boolean> {
    const deadline = this.d.now() + RECOVER_PATIENCE_MS;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
      try {
        return await this.d.driver.recover(handle, this.d.spec);
      } catch (err) {
        if (this.d.now() + delay > deadline || this.isKilling()) {
          this.d.log.warn({ task: this.name, err: String(err) }, "recovering the task failed; it is taken as lost");
          return false;
        }
        this.d.log.warn({ task: this.name, err: String(err) }, "recovering the task failed; trying again");
        await sleep(delay, this.stopWaiting.signal).catch(() => undefined);
      }
    }
  }

  private async loop(): Promise<void> {
    if (this.dead) return;
    let handle = this.handle;
    if (handle !== null) {
      const found = await this.recover(handle);
      if (!found) {
        this.event("Driver", "The task was gone when the agent came back", {});
        handle = null;
        this.setHandle(null);
        if (this.isKilling()) {
          this.finish(false);
          return;
        }
        const go = await this.afterExit({ exitCode: -1, signal: 0, oomKilled: false, err: "task lost while the agent was away" });
        if (!go) return;
      }
    } else {
      this.event("Received", "Task received by client", {});
    }
    for (;;) {
      if (this.isKilling()) {
        this.finish(false);
        return;
      }
      if (handle === null) {
        const problems = this.d.driver.validate(this.d.spec.config);
        if (problems.length > 0) {
          this.event("Failed Validation", problems.join("; "), {});
          this.finish(true);
          return;
        }
        this.event("Task Setup", "Building Task Directory", {});
        try {
          handle = await this.d.driver.start(this.d.spec);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.event("Driver Failure", message, {});
          const go = await this.afterExit({ exitCode: -1, signal: 0, oomKilled: false, err: message }, true);
          if (!go) return;
          continue;
        }
        this.setHandle(handle);
        this.state.State = "running";
        this.state.StartedAt = this.d.now();
        this.event("Started", "Task started by client", {});
        if (this.isKilling()) await this.stopHandle(handle);
      } else {
        this.state.State = "running";
        this.d.changed();
      }
      const exit = await this.d.driver.wait(handle);
      await this.d.driver.destroy(handle).catch((err: unknown) => {
        this.d.log.warn({ task: this.name, err: String(err) }, "cleaning up after the task failed");
      });
      handle = null;
      this.setHandle(null);
      const e = this.event("Terminated", exit.oomKilled ? "OOM Killed" : exit.err ?? `Exit Code: ${exit.exitCode}${exit.signal > 0 ? `, Signal: ${exit.signal}` : ""}`, {
        exit_code: String(exit.exitCode),
        signal: String(exit.signal),
        oom_killed: String(exit.oomKilled),
      });
      e.ExitCode = exit.exitCode;
      e.Signal = exit.signal;
      if (this.isKilling()) {
        this.event("Killed", "Task successfully killed", {});
        this.finish(false);
        return;
      }
      const go = await this.afterExit(exit);
      if (!go) return;
    }
  }

  /** Applies the restart policy after an exit; true when the task is to start again. */
  private async afterExit(exit: ExitResult, startFailed = false): Promise<boolean> {
    const decision = this.d.restart.next(this.d.now(), startFailed ? { exitCode: exit.exitCode, startError: exit.err ?? "" } : exit, this.d.random());
    if (!decision.restart) {
      this.event("Not Restarting", decision.reason, {}).RestartReason = decision.reason;
      this.finish(decision.failed);
      return false;
    }
    this.state.Restarts++;
    this.state.State = "pending";
    const e = this.event("Restarting", `Task restarting in ${Math.round(decision.delayMs)}ms`, { restart_reason: decision.reason });
    e.RestartReason = decision.reason;
    await sleep(decision.delayMs, this.stopWaiting.signal);
    if (!this.isKilling()) return true;
    this.finish(false);
    return false;
  }

  /** Read through a method: `kill()` sets it while the loop awaits. */
  private isKilling(): boolean {
    return this.killing;
  }

  private finish(failed: boolean): void {
    this.state.State = "dead";
    this.state.Failed = failed;
    this.state.FinishedAt = this.d.now();
    this.d.changed();
  }

  /**
   * Stops the task for good: its kill signal, then SIGKILL after kill_timeout. Resolves
   * once it is dead. `why` is the event the user reads ("Sibling Task Failed", ...).
   */
  async kill(why?: { type: string; message: string }): Promise<void> {
    if (this.killing || this.dead) {
      await this.done;
      return;
    }
    this.killing = true;
    if (why !== undefined) this.event(why.type, why.message, {});
    this.stopWaiting.abort();
    const h = this.handle;
    if (h !== null) await this.stopHandle(h);
    if (this.done === null) this.finish(false);
    await this.done;
  }

  private async stopHandle(h: TaskHandle): Promise<void> {
    const timeoutMs = this.d.task.KillTimeout / NS.millisecond;
    const e = this.event("Killing", `Sent interrupt. Waiting ${Math.round(timeoutMs)}ms before force killing`, {});
    e.KillTimeout = this.d.task.KillTimeout;
    await this.d.driver.stop(h, timeoutMs, this.d.task.KillSignal === "" ? "SIGTERM" : this.d.task.KillSignal).catch((err: unknown) => {
      this.d.log.warn({ task: this.name, err: String(err) }, "stopping the task failed");
    });
  }

  async exec(cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    const h = this.handle;
    if (h === null || this.state.State !== "running") throw new Error(`task "${this.name}" is not running`);
    return this.d.driver.exec(h, cmd, opts);
  }

  async signal(sig: string): Promise<void> {
    const h = this.handle;
    if (h === null) throw new Error(`task "${this.name}" is not running`);
    this.event("Signaling", `Task being sent signal ${sig}`, {});
    await this.d.driver.signal(h, sig);
  }

  private setHandle(h: TaskHandle | null): void {
    this.handle = h;
    this.d.changed();
  }

  private event(type: string, message: string, details: Record<string, string>): TaskEvent {
    const e: TaskEvent = { Type: type, Time: this.d.now() * NS.millisecond, Message: message, Details: details, ExitCode: 0, Signal: 0, KillTimeout: 0, RestartReason: "" };
    this.state.Events.push(e);
    if (this.state.Events.length > MAX_EVENTS) this.state.Events.splice(0, this.state.Events.length - MAX_EVENTS);
    this.d.log.debug({ task: this.name, event: type }, message);
    this.d.changed();
    return e;
  }
}
