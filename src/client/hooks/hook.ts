import type { Driver, ExecOptions, ExecResult, TaskHandle, TaskSpec } from "../../drivers/index.js";
import type { Allocation, AllocNetworkStatus, Logger, Node, Task, TaskEvent, TaskGroup, TaskState } from "../../structs/index.js";

/**
 * The runners' extension points. An allocation runner and a task runner each run a list
 * of hooks, in order, at fixed points of their life; what the runner does itself is only
 * what every allocation (every task) needs in the same way. A hook implements the points
 * it cares about and nothing else. Nomad's `allocrunner/interfaces` name the same points.
 */

/** A task of the allocation as the allocation's hooks see it. */
export interface TaskView {
  readonly name: string;
  readonly state: Readonly<TaskState>;
  /** Runs a command inside the running task (script checks). */
  exec(cmd: string[], opts: ExecOptions): Promise<ExecResult>;
  /** Appends an event to the task's events, the one way to write them (the last ten are kept), and reports it. */
  event(type: string, message: string, details?: Record<string, string>): TaskEvent;
  /** Restarts the running task at once, outside its restart policy ("Restart Signaled" with the reason). */
  restart(reason: string): Promise<void>;
  /** Sends the running task a signal ("Signaling" with the message). */
  signal(sig: string, message: string): Promise<void>;
  /** Kills the task for good, the reason in its "Killing" event. */
  kill(reason: string): Promise<void>;
  /** Variables of the task's environment from its next start on (a renewed token). */
  setEnv(vars: Readonly<Record<string, string>>): void;
}

/** What an allocation runner shows its hooks. The allocation and its group change on update: read them each time. */
export interface AllocHookContext {
  alloc(): Allocation;
  group(): TaskGroup;
  readonly node: Node;
  readonly log: Logger;
  /** Unix ms. */
  now(): number;
  /** The task runners, by task name (empty before the tasks are made). */
  tasks(): ReadonlyMap<string, TaskView>;
  /** Something a hook owns changed (a check's status, the health): report and save the allocation. */
  changed(): void;
  /** The allocation's own network once made (mode `cni/<name>`), for checks with address_mode "alloc"; absent: none. */
  networkStatus?(): AllocNetworkStatus | undefined;
}

/** A hook of the allocation runner. Every method is optional; the runner calls each hook in its list's order. */
export interface AllocHook {
  readonly name: string;
  /**
   * Before the tasks are made and run, also for an allocation found again after an agent
   * restart. A throw stops the allocation from starting: it is reported failed.
   */
  prerun?(): Promise<void>;
  /** After any change of the allocation: a task's state or event, a check's status, the health. Synchronous, and it may be re-entered. */
  changed?(): void;
  /** The servers sent a newer version of the allocation that still runs here (the context already shows it). */
  update?(alloc: Allocation): void;
  /** The allocation is being stopped (the servers stopped it, or it is destroyed): before its tasks get their kill signal. */
  prekill?(): void;
  /**
   * The runner lets go of the allocation: the agent shuts down and leaves the tasks running,
   * or the allocation is destroyed. Timers and probes end here. Called once.
   */
  shutdown?(): void;
  /** After the tasks are dead and the runner let go: remove what the allocation left on the node. */
  destroy?(): Promise<void>;
}

/** What a task runner shows its hooks. */
export interface TaskHookContext {
  readonly task: Task;
  /** What the driver is given to start the task; its paths are where the task's files go. */
  readonly spec: TaskSpec;
  readonly driver: Driver;
  readonly log: Logger;
  /** The running task's handle; null when the task does not run. */
  handle(): TaskHandle | null;
  /** Appends a task event (the task runner's one writer of them). */
  event(type: string, message: string, details?: Record<string, string>): TaskEvent;
  /** The task's state or handle changed: report and save it. */
  changed(): void;
  /** Aborted once the task is being killed: a prestart hook's long work (a download) ends there. */
  readonly killing?: AbortSignal;
}

/**
 * A prestart hook's answer: go on, or refuse with the event the user reads (and its
 * details). A refused task fails for good, unless the refusal is `recoverable` (a download
 * that may work next time): then the restart policy decides, as after a failed start.
 */
export type PrestartResult = { ok: true } | { ok: false; event: string; reason: string; details?: Record<string, string>; recoverable?: boolean };

/** A hook of the task runner. Every method is optional; the runner calls each hook in its list's order. */
export interface TaskHook {
  readonly name: string;
  /**
   * Before each start of the task: the first and every restart, not when a running task is
   * found again after an agent restart. A refusal (or a throw, as "Setup Failure") fails the
   * task without a restart; the hooks after it are not run.
   */
  prestart?(): Promise<PrestartResult>;
  /** The task runs: it just started, or it was found running again after an agent restart. */
  poststart?(): void;
  /** The task exited; the restart policy decides next whether it starts again. */
  exited?(): void;
  /** The task is dead for good: it will not be started again. May come without any other call; called at most once. */
  stop?(): void;
  /** The agent stops watching the task, which goes on running (the next agent finds it again). */
  shutdown?(): void;
}
