import type { ChildProcess } from "node:child_process";
import { rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { ExitResult, TaskHandle, TaskSpec } from "../driver.js";
import { parseCommandConfig, type CommandConfig } from "./config.js";
import { readExitFile } from "./exit-file.js";
import { launchShim, type LaunchOptions } from "./launch.js";
import { LOG_WRITER_FILE, writersDone, type LogWriters } from "./log-writer.js";
import { isAlive, readStat, sessionGroupMembers } from "./proc.js";
import { killGroup, SIGKILL, signalNumber } from "./signals.js";
import { shimStateOf, type ShimState } from "./task-state.js";
import { watchExit } from "./watch.js";

export interface ShimTasksOptions {
  /** The driver's name, as in handles. */
  driver: string;
  /** Ends the watching of tasks when the agent shuts down (their waits reject; the tasks run on). */
  signal?: AbortSignal;
  /** How often a task this agent did not spawn is looked at in /proc (ms). */
  pollMs?: number;
  /** Adds to how a task ended what only the driver knows (the exec driver: an OOM kill). */
  onExit?: (handle: TaskHandle, exit: ExitResult) => ExitResult;
  /** The driver's own task config keys, beside command and args. */
  configKeys?: readonly string[];
  /**
   * The command a task config runs, for a driver whose config is not `command` and `args`
   * (java: `java` and its options); throws what is wrong with it. Default: `command`, `args`.
   */
  command?: (config: Record<string, unknown>) => CommandConfig;
}

/**
 * How long `wait` gives the log writers to write the task's last output after it exited
 * (longer only when something the task started still holds its output open).
 */
const LOG_DRAIN_MS = 2000;

/** One run of a task as this agent process knows it. */
interface Run {
  handle: TaskHandle;
  state: ShimState;
  /** The spec it was started or recovered with. */
  spec?: TaskSpec;
  /** The process this agent spawned for it, if this agent started it. */
  child?: ChildProcess;
  /** The writers of its output, if this agent started it. */
  writers?: LogWriters;
  exit?: Promise<ExitResult>;
}

/**
 * The part of the raw_exec and exec drivers that is the same: tasks run under a shim that
 * records their exit, found again by pid and start time, signalled as a process group.
 * The drivers add what runs the shim (namespaces, cgroups) and how to exec into a task.
 */
export class ShimTasks {
  private readonly runs = new Map<string, Run>();
  private readonly pollMs: number;

  constructor(private readonly opts: ShimTasksOptions) {
    this.pollMs = opts.pollMs ?? 250;
  }

  /** Starts a task; `extra` joins the shim's state in the handle. */
  async start(spec: TaskSpec, launch: Pick<LaunchOptions, "prefix" | "shimOptions">, extra: Record<string, unknown> = {}): Promise<TaskHandle> {
    const command = this.opts.command?.(spec.config) ?? parseCommandConfig(spec.config, this.opts.driver, this.opts.configKeys);
    const { state, child, writers } = await launchShim(spec, { ...launch, driver: this.opts.driver, command });
    const handle: TaskHandle = { driver: this.opts.driver, taskId: spec.id, startedAt: Date.now(), state: { ...extra, ...state } };
    this.runs.set(runKey(state), { handle, state, spec, child, writers });
    return handle;
  }

  /** True when the task still runs, or has ended and its exit file says how. */
  recover(handle: TaskHandle, spec: TaskSpec): boolean {
    const state = shimStateOf(handle);
    if (handle.driver !== this.opts.driver || state === undefined) return false;
    const there =
      readExitFile(state.exitFile) !== undefined ||
      isAlive(state.pid, state.startTime) ||
      isAlive(state.shimPid, state.shimStartTime);
    if (!there) return false;
    const known = this.runs.get(runKey(state));
    this.runs.set(runKey(state), { ...known, handle, state, spec });
    return true;
  }

  wait(handle: TaskHandle): Promise<ExitResult> {
    const run = this.run(handle, true);
    run.exit ??= watchExit(run.state, {
      pollMs: this.pollMs,
      ...(run.child === undefined ? {} : { child: run.child }),
      ...(this.opts.signal === undefined ? {} : { signal: this.opts.signal }),
    }).then(async (exit) => {
      // The client reads the output once it hears of the exit: let the last lines land first.
      if (run.writers !== undefined) await writersDone(run.writers, LOG_DRAIN_MS);
      return this.opts.onExit?.(handle, exit) ?? exit;
    });
    return run.exit;
  }

  signal(handle: TaskHandle, name: string): void {
    const sig = signalNumber(name);
    const { state } = this.run(handle);
    if (!signalGroup(state, sig)) {
      throw new RucheError(ErrorCode.Conflict, `task ${handle.taskId} is not running`);
    }
  }

  async stop(handle: TaskHandle, timeoutMs: number, signal = "SIGTERM"): Promise<void> {
    const sig = signalNumber(signal);
    const { state } = this.run(handle);
    const exited = this.wait(handle);
    await holdingProcess(async () => {
      signalGroup(state, sig);
      if (!(await settlesWithin(exited, timeoutMs))) signalGroup(state, SIGKILL);
      await exited;
      // What the task started in its group and left behind goes with it.
      signalGroup(state, SIGKILL);
    });
  }

  /** Kills whatever is left of the task, then removes the driver's files in its task dir. */
  async destroy(handle: TaskHandle, subdirs: readonly string[] = []): Promise<void> {
    const run = this.run(handle);
    if (signalGroup(run.state, SIGKILL) || isAlive(run.state.shimPid, run.state.shimStartTime)) {
      await holdingProcess(() => this.wait(handle)).catch(() => undefined);
    }
    this.runs.delete(runKey(run.state));
    // File by file, never recursively: in the exec driver's namespace the root held mounts
    // of the host (gone with the namespace, but a recursive delete must never meet one).
    const dir = run.state.stateDir;
    await rm(run.state.exitFile, { force: true });
    await rm(join(dir, "shim.sh"), { force: true });
    await rm(join(dir, LOG_WRITER_FILE), { force: true });
    await rm(join(dir, `${LOG_WRITER_FILE}.new`), { force: true });
    for (const sub of [...subdirs, "."]) {
      await rmdir(join(dir, sub)).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      });
    }
  }

  /** The spec a task was started or recovered with; exec needs its env and user. */
  specOf(handle: TaskHandle): TaskSpec {
    const spec = this.run(handle).spec;
    if (spec === undefined) {
      throw new RucheError(ErrorCode.NotFound, `task ${handle.taskId} was neither started nor recovered by this ${this.opts.driver} driver`);
    }
    return spec;
  }

  stateOf(handle: TaskHandle): ShimState {
    return this.run(handle).state;
  }

  /**
   * The run of a handle, known or not: a handle alone is enough to wait for, signal, stop
   * and destroy a task. `keep` remembers an unknown one (its wait is shared).
   */
  private run(handle: TaskHandle, keep = false): Run {
    const state = shimStateOf(handle);
    if (state === undefined) {
      throw new RucheError(ErrorCode.BadRequest, `not a ${this.opts.driver} task handle: ${JSON.stringify(handle.state)}`);
    }
    const key = runKey(state);
    let run = this.runs.get(key);
    if (run === undefined) {
      run = { handle, state };
      if (keep) this.runs.set(key, run);
    }
    return run;
  }
}

function runKey(s: ShimState): string {
  return `${s.pid}:${s.startTime}`;
}

/**
 * Sends a signal to the task's process group, when that group is still the task's: its
 * leader is the task (same start time), or the leader is gone and members of its session
 * remain (while they do, the pid cannot be reused). False when there is nothing to signal.
 */
function signalGroup(s: ShimState, signal: number): boolean {
  const ours = isAlive(s.pid, s.startTime) || (readStat(s.pgid) === undefined && sessionGroupMembers(s.pgid).length > 0);
  return ours && killGroup(s.pgid, signal);
}

/**
 * Runs `work` keeping the agent's process up meanwhile. Watching a task does not (an agent
 * may exit while its tasks run on); stopping or destroying one does, to the end.
 */
async function holdingProcess<T>(work: () => Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 60_000);
  try {
    return await work();
  } finally {
    clearInterval(hold);
  }
}

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
