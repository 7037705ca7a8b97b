import { describe, expect, it } from "vitest";
import { isAlive, parseStat, readStat } from "./proc.js";

describe("/proc", () => {
  it("parses a stat line whose command name holds spaces and parentheses", () => {
    const line = "4242 (a) b (c) S 1 4242 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
    expect(parseStat(line)).toEqual({ pid: 4242, state: "S", ppid: 1, pgrp: 4242, session: 4240, startTime: 987654 });
    expect(parseStat("not a stat line")).toBeUndefined();
    expect(parseStat("12 (x) S 1 2")).toBeUndefined();
  });

  it("tells a live process from a pid reused by another one", () => {
    const me = readStat(process.pid)!;
    expect(me.pid).toBe(process.pid);
    expect(isAlive(process.pid, me.startTime)).toBe(true);
    expect(isAlive(process.pid, me.startTime + 1)).toBe(false);
    expect(isAlive(0, 0)).toBe(false);
  });
});
