import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { sleep, type TaskStats } from "../../structs/index.js";

/**
 * A task's use of the node read from /proc, for the drivers whose tasks are processes
 * (exec, raw_exec): the live processes of the task's session (every task is a session of
 * its own, its leader's pid), their resident and swapped memory summed (VmRSS, VmSwap of
 * /proc/<pid>/status), and their CPU time (utime, stime of /proc/<pid>/stat) over a short
 * span, as a percent of one core — what Nomad's executor measures ("RSS", "Swap";
 * "System Mode", "User Mode", "Percent", and "Total Ticks" in MHz of this node's clock).
 */

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux Ruche runs on). */
const CLK_TCK = 100;
/** The span CPU time is measured over when there is no earlier reading of the task. */
const SAMPLE_MS = 200;

interface ProcSample {
  user: number;
  system: number;
  rssBytes: number;
  swapBytes: number;
}

/** One process's CPU ticks and memory, or undefined when it is gone or not of the session. */
function sampleProcess(pid: number, session: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const rest = stat.slice(close + 2).trim().split(" ");
    // rest[0] is field 3 (state); session is field 6, utime 14, stime 15.
    const field = (n: number): number => Number(rest[n - 3]);
    if (field(6) !== session || rest[0] === "Z" || rest[0] === "X") return undefined;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? "0") * 1024;
    return { user: field(14), system: field(15), rssBytes: kb("VmRSS"), swapBytes: kb("VmSwap") };
  } catch {
    return undefined;
  }
}

/** The session's processes summed; null when none is alive. */
function sampleSession(session: number): ProcSample | null {
  let total: ProcSample | null = null;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = sampleProcess(Number(name), session);
    if (s === undefined) continue;
    total = total === null ? s : { user: total.user + s.user, system: total.system + s.system, rssBytes: total.rssBytes + s.rssBytes, swapBytes: total.swapBytes + s.swapBytes };
  }
  return total;
}

/** The most sessions whose last reading is kept. */
const MAX_KEPT = 1024;
/** Readings kept per session so the next one measures CPU since then, as Nomad's executor keeps its previous sample. */
const previous = new Map<number, { sample: ProcSample; atMs: number }>();

/** The MHz of one core of this node (Nomad's ticks are MHz). */
function coreMHz(): number {
  const [first] = cpus();
  return first === undefined || first.speed <= 0 ? 1000 : first.speed;
}

/**
 * Reads what the processes of session `session` use now; null when none of them is alive.
 * CPU is measured since the last reading of the session, or over `SAMPLE_MS` when there is none.
 */
export async function sessionStats(session: number): Promise<TaskStats | null> {
  let before = previous.get(session);
  if (before === undefined) {
    const first = sampleSession(session);
    if (first === null) return null;
    before = { sample: first, atMs: Date.now() };
    await sleep(SAMPLE_MS);
  }
  const now = sampleSession(session);
  const atMs = Date.now();
  if (now === null) {
    previous.delete(session);
    return null;
  }
  previous.delete(session);
  previous.set(session, { sample: now, atMs });
  // The readings of tasks long gone are let go, oldest first (a Map keeps insertion order).
  for (const key of previous.keys()) {
    if (previous.size <= MAX_KEPT) break;
    previous.delete(key);
  }
  const seconds = Math.max(0.001, (atMs - before.atMs) / 1000);
  const pct = (ticks: number): number => Math.max(0, (ticks / CLK_TCK / seconds) * 100);
  const user = pct(now.user - before.sample.user);
  const system = pct(now.system - before.sample.system);
  const percent = user + system;
  return {
    memory: { rss: now.rssBytes, cache: 0, swap: now.swapBytes, usage: 0, maxUsage: 0, measured: ["RSS", "Swap"] },
    cpu: { percent, userMode: user, systemMode: system, totalTicks: (percent / 100) * coreMHz(), throttledPeriods: 0, throttledTime: 0, measured: ["System Mode", "User Mode", "Percent", "Total Ticks"] },
    at: atMs,
  };
}

/** Forgets a session's last reading (its task is gone). */
export function forgetSessionStats(session: number): void {
  previous.delete(session);
}
