import { ErrorCode, RucheError } from "../../structs/index.js";
import { SIGNALS } from "../driver.js";

export const SIGKILL = 9;

/** The number of a signal named "SIGHUP" (or "HUP", any case); throws on a name we do not know. */
export function signalNumber(name: string): number {
  const upper = name.trim().toUpperCase();
  const n = SIGNALS[upper.startsWith("SIG") ? upper : `SIG${upper}`];
  if (n === undefined) {
    throw new RucheError(ErrorCode.BadRequest, `unknown signal "${name}" (known: ${Object.keys(SIGNALS).join(", ")})`);
  }
  return n;
}

/** Sends `signal` to every process of group `pgid`; false when the group is empty. */
export function killGroup(pgid: number, signal: number): boolean {
  return killPid(-pgid, signal);
}

/** kill(2): false when there is no such process (ESRCH); other errors throw. */
export function killPid(pid: number, signal: number): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}
