import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TaskDirHook } from "./task-dir.js";
import { taskBed } from "./testing.js";

let root = "";
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "ruche-task-dir-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("the task-dir hook", () => {
  it("makes the task's local, secrets (0700) and tmp directories, saying so", async () => {
    const { ctx, events } = taskBed(root);
    expect(await new TaskDirHook(ctx).prestart()).toEqual({ ok: true });
    expect(events.map((e) => [e.Type, e.Message])).toEqual([["Task Setup", "Building Task Directory"]]);
    const dir = ctx.spec.taskDir;
    for (const d of ["local", "tmp"]) expect((await stat(join(dir, d))).isDirectory()).toBe(true);
    expect((await stat(join(dir, "secrets"))).mode & 0o777).toBe(0o700);
  });
});
