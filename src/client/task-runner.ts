import type { AllocNetwork, Driver, ExecOptions, ExecResult, ExecSession, ExecStreamOptions, ExitResult, TaskHandle, TaskSpec } from "../drivers/index.js";
import { ErrorCode, errorMessage, NS, RucheError, sleep, type Logger, type Node, type Task, type TaskEvent, type TaskState, type TaskStats } from "../structs/index.js";
import { ArtifactHook, DispatchPayloadHook, HostVolumesHook, idleTemplateSource, TaskCheckpointHook, TaskDirHook, TaskNetworkHook, TaskValidateHook, TemplateHook, type PrestartResult, type TaskHook, type TaskHookContext } from "./hooks/index.js";
import type { RestartTracker } from "./restart.js";
import type { TemplateSource } from "./template/index.js";

/** How long a driver that cannot tell whether a task still runs is asked again after an agent restart. */
const RECOVER_PATIENCE_MS = 30_000;

/** Why a task restarted by `alloc restart` did, in Nomad's words. */
const USER_RESTART = "User requested restart";

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
  /** A dispatched job's payload (base64), for the task's `dispatch_payload`; undefined when the job is no dispatch. */
  payload?: string | undefined;
  /** The node the task runs on: its attributes and meta for `${...}` in artifacts; absent in tests that need none. */
  node?: Node;
  /** Host volumes the task's `volume_mount` blocks name that the node lacks (`planHostVolumes`); absent: none. */
  missingVolumes?: readonly string[];
  /** Where the task's `template` blocks read the cluster (as its workload identity); absent: templates that read it wait. */
  templateSource?: TemplateSource;
  /** A bridge group's shared network, once made (undefined outside bridge mode); absent: none. */
  network?: () => Promise<AllocNetwork | undefined>;
}

export function newTaskState(): TaskState {
  return { State: "pending", Failed: false, Restarts: 0, StartedAt: 0, FinishedAt: 0, Events: [] };
}

/**
 * Runs one task of an allocation through its driver: start, wait, and on exit apply the
 * restart policy; stop with the task's kill signal and kill_timeout when told to, saying
 * why. Every step is a task event the user reads in `ruche alloc status`, written by
 * `event()` alone. The restart policy (`restart.ts`) stays in the loop, whose next step it
 * decides; what a task needs around its start and end is in its hooks (`./hooks/`), run in
 * this order:
 *
 * 0. `network`: a bridge group's task waits for the group's shared network and joins it.
 * 1. `validate`: the driver checks the task's config; refused, the task fails for good.
 * 2. `task-dir`: the task's `local/`, `secrets/` and `tmp/` ("Task Setup").
 * 2b. `volumes`: the node has the host volumes the task mounts, and its driver mounts them.
 * 3. `dispatch-payload`: a dispatched job's payload written to `local/<dispatch_payload.file>`.
 * 3b. `artifacts`: the task's `artifact` blocks fetched ("Downloading Artifacts"); a failed download restarts the task by its policy.
 * 3c. `template`: the task's `template` blocks rendered (the start waits for every one), followed, and acted on when they change.
 * 4. `checkpoint`: saves what the driver changes in the running task's handle.
 */
export class TaskRunner {
  readonly state: TaskState;
  handle: TaskHandle | null;
  private readonly hooks: readonly TaskHook[];
  private killing = false;
  /** Why the task is being killed, once it is: the "Killing" event carries it. */
  private killReason = "";
  private stopped = false;
  /** Set by `restart()`: the next exit is the user's restart (or a template's), which the restart policy does not count. */
  private restartRequested = false;
  /** Why `restart()` was asked: the "Restarting" event's reason. */
  private restartReason = USER_RESTART;
  private readonly stopWaiting = new AbortController();
  private done: Promise<void> | null = null;

  constructor(
    private readonly d: TaskRunnerDeps,
    saved?: SavedTask,
  ) {
    this.state = saved?.state ?? newTaskState();
    this.handle = saved?.handle ?? null;
    if (saved !== undefined) d.restart.restore(saved.restarts);
    const ctx: TaskHookContext = {
      task: d.task,
      spec: d.spec,
      driver: d.driver,
      log: d.log,
      handle: () => this.handle,
      event: (type, message, details) => this.event(type, message, details),
      changed: () => {
        d.changed();
      },
      killing: this.stopWaiting.signal,
    };
    this.hooks = [
      new TaskNetworkHook(ctx, d.network),
      new TaskValidateHook(ctx),
      new TaskDirHook(ctx),
      new HostVolumesHook(ctx, d.missingVolumes ?? []),
      new DispatchPayloadHook(ctx, d.payload),
      new ArtifactHook(ctx, d.node),
      new TemplateHook(ctx, {
        source: d.templateSource ?? idleTemplateSource,
        ...(d.node === undefined ? {} : { node: d.node }),
        stopping: this.stopWaiting.signal,
        running: () => this.handle !== null && this.state.State === "running" && !this.killing,
        restart: (reason) => this.restart(reason),
        signal: (sig, message) => this.signal(sig, message),
        exec: (cmd, opts) => this.exec(cmd, opts),
        kill: (reason) => this.kill(reason),
        random: () => d.random(),
        renderOnRestart: d.restart.policy.RenderTemplates === true,
      }),
      new TaskCheckpointHook(ctx),
    ];
  }

  get name(): string {
    return this.d.task.Name;
  }

  /** The task's driver ("docker", "raw_exec", …). */
  get driverName(): string {
    return this.d.driver.name;
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

  /** Resolves once the task is gone (its driver done with it); at once if it never ran. */
  gone(): Promise<void> {
    return this.done ?? Promise.resolve();
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
          this.d.log.warn({ task: this.name, err }, "recovering the task failed; it is taken as lost");
          return false;
        }
        this.d.log.warn({ task: this.name, err }, "recovering the task failed; trying again");
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
        const refused = await this.prestart();
        if (refused !== null && this.isKilling()) {
          // Killed while a hook worked (a download aborted): stopped, not failed.
          this.finish(false);
          return;
        }
        if (refused !== null) {
          this.event(refused.event, refused.reason, refused.details ?? {});
          if (refused.recoverable === true) {
            const go = await this.afterExit({ exitCode: -1, signal: 0, oomKilled: false, err: refused.reason }, true);
            if (!go) return;
            continue;
          }
          this.finish(true);
          return;
        }
        if (this.isKilling()) {
          this.finish(false);
          return;
        }
        try {
          handle = await this.d.driver.start(this.d.spec);
        } catch (err) {
          const message = errorMessage(err);
          this.event("Driver Failure", message, {});
          const go = await this.afterExit({ exitCode: -1, signal: 0, oomKilled: false, err: message }, true);
          if (!go) return;
          continue;
        }
        this.setHandle(handle);
        this.state.State = "running";
        this.state.StartedAt = this.d.now();
        this.event("Started", "Task started by client", {});
        for (const h of this.hooks) h.poststart?.();
        if (this.isKilling()) await this.stopHandle(handle);
      } else {
        this.state.State = "running";
        this.d.changed();
        for (const h of this.hooks) h.poststart?.();
      }
      const exit = await this.d.driver.wait(handle);
      await this.d.driver.destroy(handle).catch((err: unknown) => {
        this.d.log.warn({ task: this.name, err }, "cleaning up after the task failed");
      });
      handle = null;
      this.setHandle(null);
      for (const h of this.hooks) h.exited?.();
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
      if (this.takeRestartRequest()) {
        this.state.Restarts++;
        this.state.State = "pending";
        this.event("Restarting", "Task restarting in 0ms", { restart_reason: this.restartReason }).RestartReason = this.restartReason;
        continue;
      }
      const go = await this.afterExit(exit);
      if (!go) return;
    }
  }

  /** Runs the prestart hooks in order; the first refusal (a throw is a "Setup Failure") stops them. */
  private async prestart(): Promise<Exclude<PrestartResult, { ok: true }> | null> {
    for (const h of this.hooks) {
      if (h.prestart === undefined) continue;
      let r: PrestartResult;
      try {
        r = await h.prestart();
      } catch (err) {
        this.d.log.warn({ task: this.name, hook: h.name, err }, "a prestart hook failed");
        return { ok: false, event: "Setup Failure", reason: `${h.name}: ${errorMessage(err)}` };
      }
      if (!r.ok) return r;
    }
    return null;
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
    if (!this.stopped) {
      this.stopped = true;
      for (const h of this.hooks) h.stop?.();
    }
    this.d.changed();
  }

  /**
   * Stops the task for good: its kill signal, then SIGKILL after kill_timeout. Resolves
   * once it is dead. `reason` says why ("alloc not needed since job is stopped"); the
   * "Killing" event carries it. With `eventType` ("Sibling Task Failed"), an event of that
   * type with the reason is written first.
   */
  async kill(reason: string, eventType?: string): Promise<void> {
    if (this.killing || this.dead) {
      await this.done;
      return;
    }
    this.killing = true;
    this.killReason = reason;
    if (eventType !== undefined) this.event(eventType, reason);
    this.stopWaiting.abort();
    const h = this.handle;
    if (h !== null) await this.stopHandle(h);
    if (this.done === null) this.finish(false);
    await this.done;
  }

  private async stopHandle(h: TaskHandle): Promise<void> {
    const timeoutMs = this.d.task.KillTimeout / NS.millisecond;
    const why = this.killReason === "" ? "" : ` (${this.killReason})`;
    const e = this.event("Killing", `Sent interrupt${why}. Waiting ${Math.round(timeoutMs)}ms before force killing`, this.killReason === "" ? {} : { kill_reason: this.killReason });
    e.KillTimeout = this.d.task.KillTimeout;
    await this.d.driver.stop(h, timeoutMs, this.d.task.KillSignal === "" ? "SIGTERM" : this.d.task.KillSignal).catch((err: unknown) => {
      this.d.log.warn({ task: this.name, err }, "stopping the task failed");
    });
  }

  async exec(cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    const h = this.handle;
    if (h === null || this.state.State !== "running") throw new RucheError(ErrorCode.Conflict, `task "${this.name}" is not running`);
    return this.d.driver.exec(h, cmd, opts);
  }

  /** An interactive command in the running task (`alloc exec` over a WebSocket). */
  async execStreaming(cmd: string[], opts: ExecStreamOptions): Promise<ExecSession> {
    const h = this.handle;
    if (h === null || this.state.State !== "running") throw new RucheError(ErrorCode.Conflict, `task "${this.name}" is not running`);
    if (this.d.driver.execStreaming === undefined) throw new RucheError(ErrorCode.BadRequest, `the ${this.d.driver.name} driver cannot run interactive commands`);
    return this.d.driver.execStreaming(h, cmd, opts);
  }

  /**
   * Nomad's `alloc restart`: the running task is stopped with its kill signal and started
   * again at once, outside the restart policy's attempts ("Restart Signaled", "Killing",
   * "Terminated", "Restarting", "Started"). Resolves once it is stopped.
   */
  async restart(reason = USER_RESTART): Promise<void> {
    const h = this.handle;
    if (h === null || this.state.State !== "running" || this.killing) throw new RucheError(ErrorCode.Conflict, `task "${this.name}" is not running`);
    this.restartRequested = true;
    this.restartReason = reason;
    this.event("Restart Signaled", reason, {}).RestartReason = reason;
    await this.stopHandle(h);
  }

  /** Read through a method, as `isKilling`: `restart()` sets it while the loop awaits. */
  private takeRestartRequest(): boolean {
    const r = this.restartRequested;
    this.restartRequested = false;
    return r;
  }

  /** What the task uses now, as its driver reads it; null when it is not running. */
  async stats(): Promise<TaskStats | null> {
    const h = this.handle;
    if (h === null || this.state.State !== "running") return null;
    return this.d.driver.stats(h);
  }

  /** Variables of the task's environment from its next start on (a workload identity renewed). */
  setEnv(vars: Readonly<Record<string, string>>): void {
    Object.assign(this.d.spec.env, vars);
  }

  async signal(sig: string, message = `Task being sent signal ${sig}`): Promise<void> {
    const h = this.handle;
    if (h === null) throw new RucheError(ErrorCode.Conflict, `task "${this.name}" is not running`);
    this.event("Signaling", message, {});
    await this.d.driver.signal(h, sig);
  }

  private setHandle(h: TaskHandle | null): void {
    this.handle = h;
    this.d.changed();
  }

  /** The agent stops watching the task, which goes on running; its hooks let go (and save what they hold). */
  detach(): void {
    for (const h of this.hooks) h.shutdown?.();
  }

  /** Appends a task event, keeping the last ten, and reports it: the one writer of the task's events. */
  event(type: string, message: string, details: Record<string, string> = {}): TaskEvent {
    const e: TaskEvent = { Type: type, Time: this.d.now() * NS.millisecond, Message: message, Details: details, ExitCode: 0, Signal: 0, KillTimeout: 0, RestartReason: "" };
    this.state.Events.push(e);
    if (this.state.Events.length > MAX_EVENTS) this.state.Events.splice(0, this.state.Events.length - MAX_EVENTS);
    this.d.log.debug({ task: this.name, event: type }, message);
    this.d.changed();
    return e;
  }
}
