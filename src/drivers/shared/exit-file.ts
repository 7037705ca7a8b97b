import { readFileSync } from "node:fs";
import type { ExitResult } from "../driver.js";

/**
 * Reads the exit file the shim writes when its task ends: one line "EXIT_CODE SIGNAL".
 * Undefined while there is none, or while it is still being written (no whole line yet).
 */
export function readExitFile(path: string): ExitResult | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const m = /^(\d+) (\d+)\n/.exec(text);
  if (m === null) return undefined;
  return { exitCode: Number(m[1]), signal: Number(m[2]), oomKilled: false };
}
