import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { Driver, DriverFingerprint, TaskStats, ExecOptions, ExecResult, ExecSession, ExecStreamOptions, ExitResult, TaskHandle, TaskSpec } from "../driver.js";
import {
  asUser,
  findBinary,
  isAlive,
  pidsLimit,
  pidsLimitProblem,
  parseCommandConfig,
  promised,
  runCommand,
  ShimTasks,
  sessionStats,
  startSession,
  STATE_DIR_NAME,
  taskEnvironment,
  validateCommandConfig,
  type CommandConfig,
} from "../shared/index.js";
import { boundingSet, taskCaps, validateCaps } from "./caps.js";
import { TaskCgroup } from "./cgroup.js";
import { cgroupName, isolationOptions, TASK_SUBDIRS, unshareArgs, validateModes } from "./isolation.js";
import { probeExec } from "./probe.js";

export interface ExecDriverOptions {
  /** Ends the watching of tasks when the agent shuts down (the tasks run on). */
  signal?: AbortSignal;
}

/**
 * The task config keys of the isolation, beside what the task runs: Nomad's `cap_add`,
 * `cap_drop`, `pid_mode`, `ipc_mode` and `work_dir`, and Ruche's `pids_limit` (Nomad's exec
 * driver has none; the name is its docker driver's).
 */
export const ISOLATION_KEYS = ["cap_add", "cap_drop", "pid_mode", "ipc_mode", "work_dir", "pids_limit"] as const;

/**
 * What an isolated task runs, made of its config: the exec driver's `command` and `args`;
 * a driver that runs its tasks as exec does (java) gives its own.
 */
export interface IsolatedProgram {
  /** The driver's name, in handles and messages. */
  name: string;
  /** Problems with the config, each naming its key, the isolation's keys (ISOLATION_KEYS) known but left to the driver. */
  validate: (config: Record<string, unknown>) => string[];
  /** The command of a config; throws what `validate` finds. */
  command: (config: Record<string, unknown>) => CommandConfig;
}

/** The exec driver's program: `command` and `args`, as in Nomad. */
const EXEC_PROGRAM: IsolatedProgram = {
  name: "exec",
  validate: (config) => validateCommandConfig(config, "exec", ISOLATION_KEYS),
  command: (config) => parseCommandConfig(config, "exec", ISOLATION_KEYS),
};

/** The task's root dir on the host, inside the driver's state dir (a mount point in the task's namespace only). */
const ROOT_DIR = "root";

/**
 * Joins the cgroups named before `--`, then becomes the command after it: so an exec'd
 * command is under the task's limits from its first instruction. Constant; values are arguments.
 */
const JOIN_THEN_EXEC = `while [ "$1" != -- ]; do printf '0\\n' >"$1" || exit 125; shift; done; shift; exec "$@"`;

/**
 * `exec`: a task is a process isolated from the host: its own pid, mount, ipc and uts
 * namespaces (the host's network, or a bridge group's shared one), the host's system read-only as its root, the
 * allocation's dirs at /alloc, /local and /secrets, and a cgroup that limits its memory
 * (hard: beyond it the kernel kills it) and weighs its CPU. The client gives an exec task
 * these in-task paths in RUCHE_ALLOC_DIR, RUCHE_TASK_DIR and RUCHE_SECRETS_DIR. The cgroup
 * also limits its processes (`pids_limit`, default `DEFAULT_PIDS_LIMIT`). The task,
 * and what is exec'd in it, holds only the capabilities of caps.ts (`cap_add`, `cap_drop`).
 */
export class ExecDriver implements Driver {
  readonly name: string;
  /** Host volumes are bind mounts in the task's mount namespace (`isolation.ts`, the shim's --volume). */
  readonly mountsHostVolumes = true;
  private readonly tasks: ShimTasks;
  private readonly program: IsolatedProgram;

  /** `program`: what the tasks run (default: exec's `command` and `args`); the java driver gives its own. */
  constructor(opts: ExecDriverOptions = {}, program: IsolatedProgram = EXEC_PROGRAM) {
    this.name = program.name;
    this.program = program;
    this.tasks = new ShimTasks({
      driver: this.name,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      onExit: (handle, exit) => ({ ...exit, oomKilled: cgroupOf(handle)?.oomKilled() ?? false }),
      command: program.command,
    });
  }

  fingerprint(): Promise<DriverFingerprint> {
    return probeExec();
  }

  validate(config: Record<string, unknown>): string[] {
    const pids = config.pids_limit === undefined ? undefined : pidsLimitProblem(config.pids_limit);
    return [...this.program.validate(config), ...validateCaps(config), ...validateModes(config), ...(pids === undefined ? [] : [pids])];
  }

  async start(spec: TaskSpec): Promise<TaskHandle> {
    const unshare = findBinary("unshare");
    if (unshare === undefined) throw new RucheError(ErrorCode.Internal, "exec: unshare (util-linux) is not installed");
    const joinNet = netnsPrefix(spec);
    const root = join(spec.taskDir, STATE_DIR_NAME, ROOT_DIR);
    for (const dir of [root, join(spec.allocDir, "alloc"), ...TASK_SUBDIRS.map((d) => join(spec.taskDir, d))]) await mkdir(dir, { recursive: true });
    const cgroup = await TaskCgroup.create(cgroupName(spec), { memoryMB: spec.memoryMB, ...(spec.memoryMaxMB === undefined ? {} : { memoryMaxMB: spec.memoryMaxMB }), cpuMHz: spec.cpu, pids: pidsLimit(spec.config) });
    try {
      return await this.tasks.start(
        spec,
        { prefix: [...joinNet, unshare, ...unshareArgs(spec.config)], shimOptions: [...isolationOptions(spec, root, cgroup.procsFiles()), "--caps", boundingSet(taskCaps(spec.config))] },
        { cgroup: cgroup.state },
      );
    } catch (err) {
      await cgroup.remove().catch(() => undefined);
      throw err;
    }
  }

  recover(handle: TaskHandle, spec: TaskSpec): Promise<boolean> {
    return promised(() => cgroupOf(handle) !== undefined && this.tasks.recover(handle, spec));
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

  /** Kills what is left, removes the task's cgroup and the driver's files in its task dir. */
  async destroy(handle: TaskHandle): Promise<void> {
    await this.tasks.destroy(handle, [ROOT_DIR]);
    await cgroupOf(handle)?.remove();
  }

  /** What the task's processes (its session, as /proc shows it) use now. */
  stats(handle: TaskHandle): Promise<TaskStats | null> {
    return promised(() => {
      const state = this.tasks.stateOf(handle);
      if (!isAlive(state.pid, state.startTime)) return null;
      return sessionStats(state.pgid);
    });
  }

  /**
   * Runs `cmd` inside the task: in its cgroup, its namespaces (nsenter), its root and
   * working dir, with its env and user.
   */
  exec(handle: TaskHandle, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    return promised(() => {
      const { argv, env } = this.inTask(handle, () => [], cmd);
      return runCommand(argv, { ...opts, env, cwd: "/" });
    });
  }

  /**
   * The argument vector that runs `cmd` inside the task — its cgroup joined, its namespaces
   * entered (nsenter), its root and working dir, as its user — with what `before` gives (a
   * session leader), once the task is found running, between the entry and the command; and
   * the task's environment for it.
   */
  private inTask(handle: TaskHandle, before: () => string[], cmd: string[]): { argv: string[]; env: Record<string, string> } {
    const spec = this.tasks.specOf(handle);
    const state = this.tasks.stateOf(handle);
    const cgroup = cgroupOf(handle);
    const nsenter = findBinary("nsenter");
    if (cgroup === undefined || nsenter === undefined) throw new RucheError(ErrorCode.Internal, "exec: no cgroup in the handle, or nsenter is not installed");
    if (!isAlive(state.pid, state.startTime)) throw new RucheError(ErrorCode.Conflict, `task ${handle.taskId} is not running`);
    const enter = [nsenter, "--target", String(state.pid), "--mount", "--uts", "--ipc", "--pid", "--cgroup", ...(spec.network === undefined ? [] : ["--net"]), "--root", "--wd", "--"];
    const argv = ["/bin/sh", "-c", JOIN_THEN_EXEC, "ruche-exec-join", ...cgroup.procsFiles(), "--", ...enter, ...before(), ...asUser(spec.user, boundingSet(taskCaps(spec.config))), ...cmd];
    return { argv, env: taskEnvironment(spec.env) };
  }

  /** An interactive command inside the task's namespaces and cgroup, as `exec`'s, with a terminal when asked. */
  execStreaming(handle: TaskHandle, cmd: string[], opts: ExecStreamOptions): Promise<ExecSession> {
    return promised(() => {
      // With a terminal, the command leads a session of the task's pid namespace that takes the
      // terminal over: a shell's job control then finds its process groups (not the helper's, outside).
      const session = (): string[] => {
        const setsid = findBinary("setsid");
        if (opts.tty && setsid === undefined) throw new RucheError(ErrorCode.Internal, "exec with a terminal needs setsid (util-linux)");
        return opts.tty && setsid !== undefined ? [setsid, "--ctty", "--wait", "--"] : [];
      };
      const { argv, env } = this.inTask(handle, session, cmd);
      return startSession(argv, { ...opts, env, cwd: "/" });
    });
  }
}

/**
 * In a bridge group, the task starts inside the allocation's shared network namespace (the
 * pause container's), as Nomad's exec driver joins the group's: it reaches the group's other
 * tasks on localhost. Elsewhere it keeps the host's network.
 */
function netnsPrefix(spec: TaskSpec): string[] {
  if (spec.network === undefined) return [];
  const nsenter = findBinary("nsenter");
  if (nsenter === undefined) throw new RucheError(ErrorCode.Internal, "exec: nsenter (util-linux) is not installed");
  return [nsenter, `--net=${spec.network.netnsPath}`, "--"];
}

function cgroupOf(handle: TaskHandle): TaskCgroup | undefined {
  return TaskCgroup.fromState(handle.state.cgroup);
}
