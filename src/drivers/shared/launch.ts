import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ErrorCode, errorMessage, RucheError } from "../../structs/index.js";
import type { TaskSpec } from "../driver.js";
import type { CommandConfig } from "./config.js";
import { taskEnvironment } from "./env.js";
import { startLogWriters, writersDone, type LogWriters } from "./log-writer.js";
import { parseStat, readStat, type ProcStat } from "./proc.js";
import { streamPrefix, streamIndexes } from "./rotating-log.js";
import { writeShim } from "./shim.js";
import { killGroup, SIGKILL } from "./signals.js";
import { EXIT_FILE, STATE_DIR_NAME, type ShimState } from "./task-state.js";
import { lookupUser } from "./users.js";

export interface LaunchOptions {
  driver: string;
  command: CommandConfig;
  /** What runs the shim (the exec driver's `unshare ...`); empty to run it directly. */
  prefix: string[];
  /** Shim options, carried out in this order before the task starts (see shim.ts). */
  shimOptions: string[];
  /** How long the shim may take to report that the task runs. */
  timeoutMs?: number;
}

export interface Launched {
  state: ShimState;
  /** The process the agent spawned (the shim, or what runs it); exits when the task is done. */
  child: ChildProcess;
  /** The writers of the task's output; they end once it is all on disk. */
  writers: LogWriters;
}

/** How long a failed start waits for the task's last words to reach its stderr file. */
const FAILED_START_DRAIN_MS = 1000;

/**
 * Starts a task under a shim: detached (its own session, so it outlives the agent), stdin
 * /dev/null, stdout and stderr each a pipe to a log writer of its own (log-writer.ts; no
 * pipe through the agent, which may die), cwd the task dir, env exactly the task's.
 * Resolves once the shim reports the task's pid, that is once the task runs.
 */
export async function launchShim(spec: TaskSpec, opts: LaunchOptions): Promise<Launched> {
  const user = spec.user === "" ? undefined : lookupUser(spec.user);
  if (spec.user !== "" && user === undefined) {
    throw new RucheError(ErrorCode.BadRequest, `user "${spec.user}" is not in /etc/passwd`, { path: "user" });
  }
  const stateDir = join(spec.taskDir, STATE_DIR_NAME);
  const exitFile = join(stateDir, EXIT_FILE);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // A restarted task runs in the same task dir: the last run's exit must not be read as this one's.
  await rm(exitFile, { force: true });
  const shim = await writeShim(stateDir);

  const argv = [
    ...opts.prefix,
    "/bin/sh",
    shim,
    "--exit",
    exitFile,
    ...(user === undefined ? [] : ["--user", String(user.uid), String(user.gid)]),
    ...opts.shimOptions,
    "--",
    opts.command.command,
    ...opts.command.args,
  ];
  const [file, ...args] = argv as [string, ...string[]];

  const writers = await startLogWriters(stateDir, spec);
  let child: ChildProcess;
  let report: Promise<[string, string]>;
  try {
    child = spawn(file, args, {
      cwd: spec.taskDir,
      env: taskEnvironment(spec.env),
      detached: true,
      stdio: ["ignore", writers.stdout.stdin, writers.stderr.stdin, "pipe"],
    });
    // Listen before anything else awaits: a shim that fails at once closes its pipe right
    // away, and a close that happens before the listener is there is never seen.
    report = readReport(child, opts.timeoutMs ?? 30_000);
    // Closing the log files below awaits: a shim that fails at once rejects `report` before
    // `await report` is reached, which would count as an unhandled rejection in between.
    report.catch(() => undefined);
  } finally {
    // The task holds the pipes now; a writer ends once the task and all it started closed theirs.
    writers.stdout.stdin.destroy();
    writers.stderr.stdin.destroy();
  }

  let lines: [string, string];
  try {
    lines = await report;
  } catch (err) {
    if (child.pid !== undefined) killGroup(child.pid, SIGKILL);
    const why = errorMessage(err);
    await writersDone(writers, FAILED_START_DRAIN_MS);
    const tail = await stderrTail(spec.stderrPath);
    throw new RucheError(ErrorCode.Internal, `${opts.driver}: the task did not start: ${why}${tail === "" ? "" : `: ${tail}`}`, { cause: err });
  }
  child.unref();

  const [shimStat, taskStat] = lines.map(parseStat) as [ProcStat | undefined, ProcStat | undefined];
  if (shimStat === undefined || taskStat === undefined) {
    throw new RucheError(ErrorCode.Internal, `${opts.driver}: the shim reported what is not /proc/<pid>/stat: ${JSON.stringify(lines)}`);
  }
  await ownGroup(taskStat);
  const state: ShimState = {
    pid: taskStat.pid,
    pgid: taskStat.pid,
    startTime: taskStat.startTime,
    shimPid: shimStat.pid,
    shimStartTime: shimStat.startTime,
    exitFile,
    stateDir,
  };
  return { state, child, writers };
}

/**
 * Waits for the task to be in its own process group, which it enters (setsid) just after
 * the shim reported it: until then a signal to its group would find no one. Also done when
 * it is already gone.
 */
async function ownGroup(task: ProcStat): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = readStat(task.pid);
    if (now === undefined || now.startTime !== task.startTime || now.state === "Z" || now.pgrp === task.pid) return;
    if (Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The shim's two report lines on fd 3 (its own /proc stat, then the task's). */
function readReport(child: ChildProcess, timeoutMs: number): Promise<[string, string]> {
  return new Promise((resolve, reject) => {
    const pipe = child.stdio[3];
    if (!(pipe instanceof Readable)) {
      reject(new Error("no report pipe to the shim"));
      return;
    }
    let text = "";
    const timer = setTimeout(() => {
      done(new Error(`the shim did not report within ${timeoutMs} ms`));
    }, timeoutMs);
    let settled = false;
    const done = (err: Error | undefined, lines?: [string, string]): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pipe.removeAllListeners("data");
      pipe.destroy();
      if (lines !== undefined) resolve(lines);
      else reject(err ?? new Error("the shim stopped before the task ran"));
    };
    if (pipe.closed || pipe.readableEnded) {
      done(undefined);
      return;
    }
    pipe.setEncoding("utf8");
    pipe.on("data", (chunk: string) => {
      text += chunk;
      const lines = text.split("\n");
      if (lines.length >= 3) done(undefined, [lines[0] ?? "", lines[1] ?? ""]);
    });
    pipe.once("close", () => {
      done(undefined);
    });
    child.once("error", (err) => {
      done(err);
    });
  });
}

/** The last lines of the task's stderr: where the shim (or unshare) says what went wrong. */
async function stderrTail(first: string): Promise<string> {
  const prefix = streamPrefix(first);
  const newest = (await streamIndexes(prefix)).at(-1) ?? 0;
  let f: FileHandle | undefined;
  try {
    f = await open(`${prefix}.${newest}`, "r");
    const { size } = await f.stat();
    const length = Math.min(size, 1024);
    const { buffer } = await f.read(Buffer.alloc(length), 0, length, size - length);
    return buffer.toString("utf8").trim().split("\n").slice(-3).join(" / ");
  } catch {
    return "";
  } finally {
    await f?.close();
  }
}
