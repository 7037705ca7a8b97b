import { LIMITS } from "../../structs/index.js";

/**
 * How many processes and threads a task may have at once (the kernel's pids controller:
 * every thread counts). A task that forks without end stops at its limit (fork fails with
 * EAGAIN) instead of taking the node's pid space and with it every other task and the agent.
 *
 * The default, 4096: well above what real services run (a JVM with a 200-thread pool, its GC
 * and JIT threads stays under 500; a forking server with a worker per core, far below),
 * and an eighth of the kernel's default `pid_max` of 32768, about systemd's `DefaultTasksMax`
 * (15% of it), so one runaway task leaves the rest of the node room. Docker and Nomad set
 * no limit by default; a task that needs more says so with `config { pids_limit = N }`.
 */
export const DEFAULT_PIDS_LIMIT = 4096;

/** What is wrong with a `config.pids_limit` value, or undefined when it is a limit. */
export function pidsLimitProblem(v: unknown): string | undefined {
  if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= LIMITS.maxPidsLimit) return undefined;
  return `config.pids_limit must be a whole number of processes from 1 to ${LIMITS.maxPidsLimit}, got ${JSON.stringify(v)}`;
}

/** The task's limit: its `config.pids_limit`, else the default. Expects a validated config. */
export function pidsLimit(config: Record<string, unknown>): number {
  return typeof config.pids_limit === "number" ? config.pids_limit : DEFAULT_PIDS_LIMIT;
}
