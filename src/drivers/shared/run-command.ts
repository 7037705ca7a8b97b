import { spawn } from "node:child_process";
import { constants } from "node:os";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { ExecOptions, ExecResult } from "../driver.js";
import { killGroup, SIGKILL } from "./signals.js";

const DEFAULT_MAX_OUTPUT = 1024 * 1024;

export interface RunOptions extends ExecOptions {
  env: Record<string, string>;
  cwd: string;
}

/**
 * Runs a command to its end for `Driver.exec`: its own process group (so a timeout kills
 * whatever it started too), stdin the given bytes or /dev/null, each output stream kept up
 * to `maxOutputBytes`. A program that cannot be found or run gives exit code 127 or 126,
 * as a shell would.
 */
export function runCommand(argv: readonly string[], opts: RunOptions): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined || file === "") {
    return Promise.reject(new RucheError(ErrorCode.BadRequest, "exec needs a command", { path: "command" }));
  }
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out = capped(max);
    const err = capped(max);
    child.stdout?.on("data", out.add);
    child.stderr?.on("data", err.add);
    child.stdin?.on("error", () => undefined); // The command need not read all of it.
    child.stdin?.end(opts.stdin);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, SIGKILL);
    }, opts.timeoutMs);
    child.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ENOENT" || e.code === "EACCES") {
        const exitCode = e.code === "ENOENT" ? 127 : 126;
        resolve({ exitCode, stdout: Buffer.alloc(0), stderr: Buffer.from(`${file}: ${e.message}\n`), timedOut: false });
      } else {
        reject(e);
      }
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const exitCode = code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
      resolve({ exitCode, stdout: out.bytes(), stderr: err.bytes(), timedOut });
    });
  });
}

/** Keeps the first `max` bytes of a stream and drops the rest (still reading it, so the writer never blocks). */
function capped(max: number): { add: (chunk: Buffer) => void; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    add: (chunk) => {
      if (size >= max) return;
      const part = chunk.subarray(0, max - size);
      chunks.push(part);
      size += part.length;
    },
    bytes: () => Buffer.concat(chunks),
  };
}
