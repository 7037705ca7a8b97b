import { stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TaskDirHook } from "./task-dir.js";
import { taskBed, tempDirPerTest } from "./testing.js";

const root = tempDirPerTest("ruche-task-dir-");

describe("the task-dir hook", () => {
  it("makes the task's local, secrets (0700) and tmp directories, saying so", async () => {
    const { ctx, events } = taskBed(root());
    expect(await new TaskDirHook(ctx).prestart()).toEqual({ ok: true });
    expect(events.map((e) => [e.Type, e.Message])).toEqual([["Task Setup", "Building Task Directory"]]);
    const dir = ctx.spec.taskDir;
    for (const d of ["local", "tmp"]) expect((await stat(join(dir, d))).isDirectory()).toBe(true);
    expect((await stat(join(dir, "secrets"))).mode & 0o777).toBe(0o700);
  });
});
