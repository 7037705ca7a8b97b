import { platform } from "node:os";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { Driver, DriverFingerprint, TaskStats, ExecOptions, ExecResult, ExecSession, ExecStreamOptions, ExitResult, TaskHandle, TaskSpec } from "../driver.js";
import { asUser, findBinary, isAlive, promised, runCommand, ShimTasks, startSession, taskEnvironment, validateCommandConfig, sessionStats } from "../shared/index.js";

export interface RawExecOptions {
  /** Ends the watching of tasks when the agent shuts down (the tasks run on). */
  signal?: AbortSignal;
  /**
   * Whether this node offers the driver (Nomad's `plugin "raw_exec" { config { enabled } }`):
   * default true here; the agent turns it on in `-dev` and when its config says so, as Nomad does.
   */
  enabled?: boolean;
}

/** What a node whose raw_exec is off says about it, and how to turn it on. */
export const RAW_EXEC_DISABLED = 'disabled: tasks would run as the agent\'s user with no isolation; enable it with plugin "raw_exec" { config { enabled = true } } in the agent config (or -raw-exec)';

/**
 * `raw_exec`: a task is a plain process on the host, with the agent's privileges and no
 * isolation; only its exit is watched, by a shim. Off (undetected, "disabled") unless made
 * with `enabled`, as Nomad ships it: a job that may use it may run anything as the agent's
 * user. A task it started before it was turned off is still recovered, watched and stopped.
 */
export class RawExecDriver implements Driver {
  readonly name = "raw_exec";
  private readonly tasks: ShimTasks;
  private readonly enabled: boolean;

  constructor(opts: RawExecOptions = {}) {
    this.tasks = new ShimTasks({ driver: this.name, ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
    this.enabled = opts.enabled ?? true;
  }

  fingerprint(): Promise<DriverFingerprint> {
    if (!this.enabled) return Promise.resolve({ detected: false, healthy: false, description: RAW_EXEC_DISABLED, attributes: {} });
    const attributes = { "driver.raw_exec": "1" };
    if (platform() !== "linux") {
      return Promise.resolve({ detected: false, healthy: false, description: "raw_exec runs on Linux only", attributes: {} });
    }
    if (findBinary("setsid") === undefined) {
      return Promise.resolve({ detected: true, healthy: false, description: "setsid (util-linux) is not installed", attributes });
    }
    return Promise.resolve({ detected: true, healthy: true, description: "Healthy: tasks run as host processes, without isolation", attributes });
  }

  validate(config: Record<string, unknown>): string[] {
    return validateCommandConfig(config, this.name);
  }

  start(spec: TaskSpec): Promise<TaskHandle> {
    if (!this.enabled) return Promise.reject(new RucheError(ErrorCode.BadRequest, `raw_exec is ${RAW_EXEC_DISABLED}`));
    return promised(() => this.tasks.start(spec, { prefix: joinNetwork(spec), shimOptions: [] }));
  }

  recover(handle: TaskHandle, spec: TaskSpec): Promise<boolean> {
    return promised(() => this.tasks.recover(handle, spec));
  }

  wait(handle: TaskHandle): Promise<ExitResult> {
    return promised(() => this.tasks.wait(handle));
  }

  signal(handle: TaskHandle, signal: string): Promise<void> {
    return promised(() => {
      this.tasks.signal(handle, signal);
    });
  }

  stop(handle: TaskHandle, timeoutMs: number, signal?: string): Promise<void> {
    return promised(() => this.tasks.stop(handle, timeoutMs, signal));
  }

  destroy(handle: TaskHandle): Promise<void> {
    return promised(() => this.tasks.destroy(handle));
  }

  /** Runs `cmd` on the host as the task would, while the task runs: its env, its task dir, its user. */
  exec(handle: TaskHandle, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    return promised(() => {
      const spec = this.tasks.specOf(handle);
      const state = this.tasks.stateOf(handle);
      if (!isAlive(state.pid, state.startTime)) throw new RucheError(ErrorCode.Conflict, `task ${handle.taskId} is not running`);
      return runCommand([...enterNetwork(spec, state.pid), ...asUser(spec.user), ...cmd], { ...opts, env: taskEnvironment(spec.env), cwd: spec.taskDir });
    });
  }

  /** What the task's processes (its session, as /proc shows it) use now. */
  stats(handle: TaskHandle): Promise<TaskStats | null> {
    return promised(() => {
      const state = this.tasks.stateOf(handle);
      if (!isAlive(state.pid, state.startTime)) return null;
      return sessionStats(state.pgid);
    });
  }

  /** An interactive command on the host as the task would run it, with a terminal when asked (python3's pty). */
  execStreaming(handle: TaskHandle, cmd: string[], opts: ExecStreamOptions): Promise<ExecSession> {
    return promised(() => {
      const spec = this.tasks.specOf(handle);
      const state = this.tasks.stateOf(handle);
      if (!isAlive(state.pid, state.startTime)) throw new RucheError(ErrorCode.Conflict, `task ${handle.taskId} is not running`);
      return startSession([...enterNetwork(spec, state.pid), ...asUser(spec.user), ...cmd], { ...opts, env: taskEnvironment(spec.env), cwd: spec.taskDir });
    });
  }
}

/**
 * In a bridge group the task starts in the group's shared network namespace (the pause
 * container's), as Nomad's raw_exec joins the group's: it reaches the group's other tasks on
 * localhost. Entering a namespace takes root; an agent that is not is refused, saying so.
 */
function joinNetwork(spec: TaskSpec): string[] {
  if (spec.network === undefined) return [];
  return [nsenter(), `--net=${spec.network.netnsPath}`, "--"];
}

/** What `alloc exec` runs in a bridge group's task: the task's network (by its pid), as the task. */
function enterNetwork(spec: TaskSpec, pid: number): string[] {
  if (spec.network === undefined) return [];
  return [nsenter(), "--target", String(pid), "--net", "--"];
}

function nsenter(): string {
  if (process.getuid?.() !== 0) {
    throw new RucheError(ErrorCode.BadRequest, 'raw_exec: a task of a bridge group (network { mode = "bridge" }) joins the group\'s network namespace, which needs the agent to run as root');
  }
  const bin = findBinary("nsenter");
  if (bin === undefined) throw new RucheError(ErrorCode.Internal, "raw_exec: nsenter (util-linux) is not installed");
  return bin;
}
