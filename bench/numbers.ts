/**
 * The figures the benchmarks share: medians and percentiles of samples, rounding, and a
 * process's CPU time and memory read from /proc.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The middle sample (the upper one of an even count); 0 for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** The p-th percentile of samples already sorted ascending; 0 for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** x rounded to d decimals. */
export function round(x: number, d = 0): number {
  return Math.round(x * 10 ** d) / 10 ** d;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Clock ticks per second, the unit of /proc/PID/stat's times. */
const TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Resident memory now (VmRSS), or the most the process ever held (VmHWM), in MB to `d` decimals. */
export function rssMB(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS", d = 0): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return round(Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? "0") / 1024, d);
}
