import { accessSync, constants } from "node:fs";
import { join } from "node:path";

/**
 * The directories system tools are looked up in: the agent's own PATH is not trusted to
 * find them, and a task's PATH is the task's business. The shim uses the same list.
 */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The absolute path of an executable on `SYSTEM_PATH`, or undefined. */
export function findBinary(name: string): string | undefined {
  for (const dir of SYSTEM_PATH.split(":")) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not in this one.
    }
  }
  return undefined;
}
