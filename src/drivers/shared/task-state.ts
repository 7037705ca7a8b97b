import { basename, join } from "node:path";
import type { TaskHandle } from "../driver.js";

/** The driver's own dir inside a task dir: the shim, its exit file, the exec driver's root. */
export const STATE_DIR_NAME = ".ruche";

/**
 * What a shim-run task keeps in its handle, to be found again by a later agent process.
 * A pid alone could name another process after a reboot or a wrap-around; with its start
 * time it names one process.
 */
export interface ShimState {
  /** The task's pid as the host sees it. */
  pid: number;
  /** The task's process group (and session): the pid it started with. */
  pgid: number;
  startTime: number;
  shimPid: number;
  shimStartTime: number;
  /** Where the shim writes "EXIT_CODE SIGNAL" when the task ends. */
  exitFile: string;
  /** The driver's files for this task (the shim, the exit file, the exec driver's root). */
  stateDir: string;
}

/** The exit file's name in the state dir. */
export const EXIT_FILE = "exit";

const NUMBERS = ["pid", "pgid", "startTime", "shimPid", "shimStartTime"] as const;
const STRINGS = ["exitFile", "stateDir"] as const;

/**
 * The shim state of a handle read back from disk; undefined when it is not one. Its paths
 * must be where the driver puts them, since destroy deletes there.
 */
export function shimStateOf(handle: TaskHandle): ShimState | undefined {
  const s = handle.state;
  for (const k of NUMBERS) {
    const v = s[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) return undefined;
  }
  for (const k of STRINGS) {
    if (typeof s[k] !== "string" || s[k] === "") return undefined;
  }
  const stateDir = s.stateDir as string;
  if (basename(stateDir) !== STATE_DIR_NAME || s.exitFile !== join(stateDir, EXIT_FILE)) return undefined;
  return {
    pid: s.pid as number,
    pgid: s.pgid as number,
    startTime: s.startTime as number,
    shimPid: s.shimPid as number,
    shimStartTime: s.shimStartTime as number,
    exitFile: s.exitFile,
    stateDir,
  };
}
