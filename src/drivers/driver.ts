/**
 * One interface for every task driver. The client's task runner speaks only this; a
 * driver knows how to start, find again, wait for, signal, stop and exec into one kind
 * of task (a container, an isolated process, a plain process).
 */
import type { TaskStats } from "../structs/index.js";

export type { TaskStats } from "../structs/index.js";

/** What a driver reports of itself on this node (becomes `Node.Drivers[name]`). */
export interface DriverFingerprint {
  detected: boolean;
  healthy: boolean;
  description: string;
  /** E.g. `driver.docker.version`; become node attributes too. */
  attributes: Record<string, string>;
}

/** A port the task's allocation holds on the host. */
export interface TaskPort {
  label: string;
  /** Host port. */
  value: number;
  /** Port inside the task (docker's container port); equals `value` when not mapped. */
  to: number;
  /** Host address the port is published on. */
  ip: string;
}

/**
 * A host directory mounted in a task: a group's host volume through one of the task's
 * `volume_mount` blocks, as Nomad's `drivers.MountConfig`.
 */
export interface TaskMount {
  /** The node's host volume (the group's volume's `source`). */
  volume: string;
  /** Absolute path on the host. */
  hostPath: string;
  /** Absolute path inside the task. */
  taskPath: string;
  /** Read-only when the mount, the group's volume or the node's host volume says so. */
  readOnly: boolean;
  /** `private`, `host-to-task` or `bidirectional` (Nomad's names). */
  propagationMode: string;
  /** "", "z" or "Z": docker's SELinux relabelling. */
  selinuxLabel: string;
}

/** Everything a driver needs to start one task. Paths are absolute host paths. */
export interface TaskSpec {
  /** Unique per task run: `${allocId}/${taskName}`; drivers label what they make with it. */
  id: string;
  allocId: string;
  taskName: string;
  jobId: string;
  /** The job's name, its parent's ID ("" when it has none), and the node it runs on: Nomad's container labels name them. */
  jobName: string;
  parentJobId: string;
  group: string;
  namespace: string;
  nodeId: string;
  nodeName: string;
  /** The task's `config { }`, with runtime variables already interpolated. */
  config: Record<string, unknown>;
  /** The whole environment the task sees (RUCHE_*, NOMAD_*, the task's env). */
  env: Record<string, string>;
  /** User to run as; empty for the driver's default. */
  user: string;
  /** CPU in MHz (becomes cpu shares) and memory in MB (a hard limit where the driver can). */
  cpu: number;
  memoryMB: number;
  /**
   * Nomad's `memory_max`, set only when the scheduler oversubscribes memory: above
   * `memoryMB`, it is the hard limit and `memoryMB` the reservation (a soft limit); -1, no
   * hard limit at all and `memoryMB` the reservation. Absent, or not above `memoryMB`:
   * `memoryMB` is the limit.
   */
  memoryMaxMB?: number;
  ports: TaskPort[];
  /** The allocation dir (holds `alloc/`, shared by the tasks) and this task's dir (holds `local/`, `secrets/`). */
  allocDir: string;
  taskDir: string;
  /**
   * Where the task's output goes: the first file of each stream, `<task>.stdout.0` and
   * `<task>.stderr.0` in the allocation's `alloc/logs/`. The driver's writer goes on in `.1`,
   * `.2`, … (Nomad's names) as each file reaches `logLimits.maxFileBytes`, and keeps only the
   * newest `logLimits.maxFiles` of each stream.
   */
  stdoutPath: string;
  stderrPath: string;
  logLimits: LogLimits;
  /** The allocation's shared network namespace (`network { mode = "bridge" }`), which the task joins; absent: the driver's own. */
  network?: AllocNetwork;
  /** Host volumes mounted in the task (its `volume_mount` blocks); absent: none. Only a driver with `mountsHostVolumes` is given any. */
  mounts?: TaskMount[];
}

/**
 * The network namespace the tasks of an allocation share (`network { mode = "bridge" }`),
 * as Nomad's `NetworkIsolationSpec`: held by a pause container, reached by its id (docker
 * tasks join it as `container:<id>`) or by the namespace's path (other drivers).
 */
export interface AllocNetwork {
  /** The pause container that holds the namespace. */
  containerId: string;
  /** The namespace's path on the host (`/proc/<pid>/ns/net` of the pause container). */
  netnsPath: string;
}

/** What a driver is asked to make an allocation's shared network with (Nomad's `NetworkCreateRequest`). */
export interface AllocNetworkRequest {
  allocId: string;
  jobId: string;
  group: string;
  namespace: string;
  /** The allocation's ports, published on the host once for the whole group. */
  ports: TaskPort[];
  /** The network's hostname (already interpolated); absent: the driver's own. */
  hostname?: string;
  /**
   * "none": an empty namespace (loopback only) that the node's CNI plugins then wire
   * (`network { mode = "cni/<name>" }`), nothing published by the driver; absent: the
   * driver's own network with the ports published (bridge mode).
   */
  networkMode?: "none";
}

/** A task's `logs { max_files, max_file_size }`: what one stream of its output may keep on disk. */
export interface LogLimits {
  maxFiles: number;
  maxFileBytes: number;
}

/**
 * What the client keeps of a running task in its local state, to find it again after the
 * agent restarts. JSON-serialisable; `state` is the driver's own (a pid and start time,
 * a container id).
 */
export interface TaskHandle {
  driver: string;
  taskId: string;
  /** Unix ms the task started. */
  startedAt: number;
  state: Record<string, unknown>;
}

export interface ExitResult {
  /** -1 when the exit code could not be known. */
  exitCode: number;
  /** The signal that ended it, 0 if none. */
  signal: number;
  /** Killed by the kernel for going over its memory limit. */
  oomKilled: boolean;
  /** Set when the driver lost track of the task rather than saw it exit. */
  err?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  /** The command ran past its timeout and was killed. */
  timedOut: boolean;
}

export interface ExecOptions {
  timeoutMs: number;
  /** Bytes written to the command's stdin, then closed. */
  stdin?: Buffer;
  /** Output kept per stream, beyond which it is cut (default 1 MiB). */
  maxOutputBytes?: number;
}

/** How an interactive command (`alloc exec` over a WebSocket) runs: with a terminal or plain pipes. */
export interface ExecStreamOptions {
  /** A pseudo-terminal for the command (stdout and stderr are then one stream, sent as stdout). */
  tty: boolean;
  /** The terminal's first size, in rows and columns (tty only). */
  height?: number;
  width?: number;
  /** Each piece of output as it comes. */
  output(stream: "stdout" | "stderr", data: Buffer): void;
}

/** A command running in a task, fed and resized while it runs (Nomad's `ExecTaskStreaming`). */
export interface ExecSession {
  /** Bytes to the command's input. */
  write(data: Buffer): void;
  /** The end of the command's input (a tty gets an end-of-file character). */
  closeStdin(): void;
  /** The terminal's new size (no-op without a tty). */
  resize(height: number, width: number): void;
  /** Resolves with the exit code once the command ended and all its output was given to `output`. */
  readonly exited: Promise<number>;
  /** Kills the command and what it started (the client went away). */
  kill(): void;
}

export interface Driver {
  readonly name: string;
  /** Whether the driver can run tasks on this node, and its attributes. Never throws. */
  fingerprint(): Promise<DriverFingerprint>;
  /**
   * How often (ms) the client fingerprints the driver again while it runs, and sends the
   * servers the node's new driver health when it changed; absent: only at start.
   */
  readonly fingerprintPeriodMs?: number;
  /**
   * The driver mounts a task's host volumes (`TaskSpec.mounts`), as Nomad's `MountConfigs`
   * capability; absent or false: it does not, and a task that asks is refused before it starts.
   */
  readonly mountsHostVolumes?: boolean;
  /**
   * Problems with a task's config, each a sentence naming the key ("config.image must be
   * a string"); empty when it can start. Checked before `start`.
   */
  validate(config: Record<string, unknown>): string[];
  /** Starts the task; resolves once it runs (its handle is then saved by the client). */
  start(spec: TaskSpec): Promise<TaskHandle>;
  /**
   * Finds a task again from a saved handle after the agent restarted. True when the task
   * is still there (running, or exited with its result still known); false when it is gone.
   * The spec is the one it was started with.
   */
  recover(handle: TaskHandle, spec: TaskSpec): Promise<boolean>;
  /** Resolves when the task exits (started or recovered by this process). */
  wait(handle: TaskHandle): Promise<ExitResult>;
  /** Sends a signal by name ("SIGHUP") to the task. */
  signal(handle: TaskHandle, signal: string): Promise<void>;
  /**
   * Stops the task: `signal` (SIGTERM by default), then SIGKILL after `timeoutMs`.
   * Resolves once it has exited. Stopping a task that already exited is not an error.
   */
  stop(handle: TaskHandle, timeoutMs: number, signal?: string): Promise<void>;
  /** Frees what the task leaves behind (a container, a cgroup). After stop or exit. */
  destroy(handle: TaskHandle): Promise<void>;
  /**
   * Runs a command inside the task (same filesystem view, environment and limits). A task
   * that is not running rejects with a `RucheError` answered 409 (Conflict, DockerNotRunning).
   */
  exec(handle: TaskHandle, cmd: string[], opts: ExecOptions): Promise<ExecResult>;
  /**
   * What the running task uses now, read once (Nomad's task stats): its memory in bytes and
   * its CPU as a percent of one core, from the driver's own source (the engine's stats, the
   * task's processes in /proc). Null when the task is not running.
   */
  stats(handle: TaskHandle): Promise<TaskStats | null>;
  /**
   * Starts a command inside the task for an interactive session, with no time limit. Absent:
   * the driver has none (refused). Refusals as `exec`'s.
   */
  execStreaming?(handle: TaskHandle, cmd: string[], opts: ExecStreamOptions): Promise<ExecSession>;
  /**
   * Makes (or, after an agent restart, finds again) the network namespace an allocation's
   * tasks share, with the allocation's ports published on it (Nomad's `DriverNetworkManager`).
   * Absent: the driver cannot make one. Idempotent per allocation.
   */
  createNetwork?(req: AllocNetworkRequest): Promise<AllocNetwork>;
  /** Removes what `createNetwork` made for the allocation; nothing there is not an error. */
  destroyNetwork?(allocId: string): Promise<void>;
  /**
   * The agent is stopping: lets go of what the driver holds open for the tasks it follows (their
   * output, the waits for their exits, which reject), and leaves the tasks running. Absent: the
   * driver holds nothing that would keep the agent's process alive.
   */
  close?(): Promise<void>;
}

/** Signal names the drivers accept, with their numbers on Linux. */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGWINCH: 28,
};
