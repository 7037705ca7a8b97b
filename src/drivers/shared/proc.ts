import { readdirSync, readFileSync } from "node:fs";

/**
 * What the drivers read of a process in /proc. Reads are synchronous: /proc lives in
 * memory and one read takes microseconds.
 */
export interface ProcStat {
  pid: number;
  /** R, S, D, Z (zombie), ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Field 22: clock ticks after boot. With the pid, names one process for the whole boot. */
  startTime: number;
}

/** Parses one line of /proc/<pid>/stat; undefined when it is not one. */
export function parseStat(line: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and ")".
  const open = line.indexOf(" (");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(line.slice(0, open));
  const rest = line.slice(close + 2).trim().split(" ");
  // rest[0] is field 3.
  const field = (n: number): number => Number(rest[n - 3]);
  const stat = { pid, state: rest[0] ?? "", ppid: field(4), pgrp: field(5), session: field(6), startTime: field(22) };
  const numbers = [stat.pid, stat.ppid, stat.pgrp, stat.session, stat.startTime];
  return stat.state !== "" && numbers.every((n) => Number.isInteger(n) && n >= 0) ? stat : undefined;
}

export function readStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The process `pid` runs and is the one that started at `startTime` (not a reuse of its pid). */
export function isAlive(pid: number, startTime: number): boolean {
  const s = readStat(pid);
  return s !== undefined && s.startTime === startTime && s.state !== "Z" && s.state !== "X";
}

/** Every process there is, as /proc shows it. */
export function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s !== undefined && s.state !== "Z" && s.state !== "X") out.push(s);
  }
  return out;
}

/**
 * The live members of process group `pgid` when that group is also a session of its own,
 * as every task's group is (the shim starts it with setsid).
 */
export function sessionGroupMembers(pgid: number): number[] {
  return allProcesses()
    .filter((s) => s.pgrp === pgid && s.session === pgid)
    .map((s) => s.pid);
}
