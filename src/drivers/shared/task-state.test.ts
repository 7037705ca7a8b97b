import { describe, expect, it } from "vitest";
import type { TaskHandle } from "../driver.js";
import { shimStateOf } from "./task-state.js";

const handle = (state: Record<string, unknown>): TaskHandle => ({ driver: "raw_exec", taskId: "a/web", startedAt: 0, state });
const good = { pid: 10, pgid: 10, startTime: 5, shimPid: 9, shimStartTime: 4, exitFile: "/data/a/web/.ruche/exit", stateDir: "/data/a/web/.ruche" };

describe("shimStateOf", () => {
  it("reads back a handle's state, and only a well-formed one whose files are where the driver puts them", () => {
    expect(shimStateOf(handle({ ...good, cgroup: {} }))).toEqual(good);
    expect(shimStateOf(handle({ ...good, pid: "10" }))).toBeUndefined();
    expect(shimStateOf(handle({ ...good, startTime: -1 }))).toBeUndefined();
    expect(shimStateOf(handle({ ...good, exitFile: "/etc/passwd" }))).toBeUndefined();
    expect(shimStateOf(handle({ ...good, stateDir: "/etc", exitFile: "/etc/exit" }))).toBeUndefined();
    expect(shimStateOf(handle({}))).toBeUndefined();
  });
});
