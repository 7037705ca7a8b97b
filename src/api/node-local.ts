import type { AllocCheckStatus, AllocResourceUsage } from "../structs/index.js";

/**
 * What the API asks of a node agent running in the same process: the output of a task
 * and commands run inside it. The agent wires its client in (the API does not import the
 * client); an allocation on another node is reached through that node's HTTP address.
 */
export interface NodeLocal {
  /** Whether this process runs the allocation. */
  has(allocId: string): boolean;
  /** The allocation's task names (to pick the only one when none is named). */
  tasks(allocId: string): string[];
  logs(allocId: string, task: string, stream: "stdout" | "stderr", opts: { follow: boolean; tailBytes?: number; signal: AbortSignal }): AsyncIterable<Buffer>;
  /**
   * Runs a command in a task. Refusals are `RucheError`s, answered with their own code: a
   * task that is not running is a Conflict (409), a command the driver refuses its 400;
   * anything else thrown is answered 500 and logged.
   */
  exec(allocId: string, task: string, cmd: string[], opts: { timeoutMs: number; stdin?: Buffer }): Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer; timedOut: boolean }>;
  /**
   * Starts an interactive command in a task (`alloc exec` over a WebSocket): output as it
   * comes, input and terminal sizes while it runs, no time limit. Absent: refused. Refusals as `exec`'s.
   */
  execStreaming?(allocId: string, task: string, cmd: string[], opts: LocalExecOptions): Promise<LocalExecSession>;
  /** The driver of the allocation's task ("raw_exec" asks `alloc-node-exec` of the caller). */
  driverOf?(allocId: string, task: string): string | undefined;
  /** The allocation's directory on this host (`alloc fs`); absent: the agent serves no files. */
  allocDir?(allocId: string): string;
  /** Sends a signal to the task named, or to each running task when none is (`alloc signal`); refusals as `exec`'s. Absent: refused (501). */
  signal?(allocId: string, task: string | undefined, signal: string): Promise<void>;
  /** Restarts the task named, or each running task when none is, in place (`alloc restart`); refusals as `exec`'s. */
  restart?(allocId: string, task: string | undefined): Promise<void>;
  /** The allocation's service checks' latest results, by check ID (`alloc checks`). Absent: refused. */
  checks?(allocId: string): Record<string, AllocCheckStatus>;
  /** What the allocation's running tasks (or the one named) use now (`alloc status`, the dashboard). Absent: refused. */
  stats?(allocId: string, task: string | undefined): Promise<AllocResourceUsage>;
}

/** How an interactive command runs (the drivers' `ExecStreamOptions`). */
export interface LocalExecOptions {
  tty: boolean;
  height?: number;
  width?: number;
  output(stream: "stdout" | "stderr", data: Buffer): void;
}

/** An interactive command running in a task (the drivers' `ExecSession`). */
export interface LocalExecSession {
  write(data: Buffer): void;
  closeStdin(): void;
  resize(height: number, width: number): void;
  readonly exited: Promise<number>;
  kill(): void;
}
