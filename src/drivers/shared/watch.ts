import type { ChildProcess } from "node:child_process";
import type { ExitResult } from "../driver.js";
import { readExitFile } from "./exit-file.js";
import { isAlive } from "./proc.js";
import type { ShimState } from "./task-state.js";

export interface WatchOptions {
  /** The process this agent spawned for the task, when it did: its exit is noticed at once. */
  child?: ChildProcess;
  /** Polling /proc for a task this agent did not spawn (it cannot wait(2) for it). */
  pollMs: number;
  /** Stops watching (the agent shuts down; the task goes on): the promise rejects. */
  signal?: AbortSignal;
}

/**
 * How the task ended, read from the shim's exit file once it is there. The shim writes the
 * file just before it exits; while it lives the task may still run. The poll timer does
 * not keep the agent's process alive: an agent may exit while its tasks run on.
 */
export function watchExit(state: ShimState, opts: WatchOptions): Promise<ExitResult> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (result: ExitResult | undefined, err?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.child?.off("exit", check);
      opts.signal?.removeEventListener("abort", onAbort);
      if (result !== undefined) resolve(result);
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onAbort = (): void => {
      finish(undefined, opts.signal?.reason ?? new Error("stopped watching the task"));
    };
    function check(): void {
      if (settled) return;
      clearTimeout(timer);
      const exit = look(state);
      if (exit === undefined) {
        // A shim this agent spawned says when it exits: no need to poll /proc meanwhile.
        const c = opts.child;
        if (c !== undefined && c.exitCode === null && c.signalCode === null) return;
        timer = setTimeout(check, opts.pollMs);
        timer.unref();
      } else {
        finish(exit);
      }
    }
    if (opts.signal?.aborted === true) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    opts.child?.on("exit", check);
    check();
  });
}

/** How the task ended, or undefined while it may still run. */
function look(state: ShimState): ExitResult | undefined {
  const exit = readExitFile(state.exitFile);
  if (exit !== undefined) return exit;
  if (isAlive(state.shimPid, state.shimStartTime)) return undefined;
  // The shim is gone; it may have written the file just before it ended.
  const last = readExitFile(state.exitFile);
  if (last !== undefined) return last;
  // Someone killed the shim and not the task: wait for the task, whose status is then lost.
  if (isAlive(state.pid, state.startTime)) return undefined;
  return { exitCode: -1, signal: 0, oomKilled: false, err: "the task's shim ended without recording how the task exited" };
}
