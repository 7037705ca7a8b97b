import { describe, expect, it } from "vitest";
import type { TaskHandle } from "../../drivers/index.js";
import { TaskCheckpointHook } from "./task-checkpoint.js";
import { taskBed, tempDirPerTest, until } from "./testing.js";

const root = tempDirPerTest("ruche-task-checkpoint-");

describe("the checkpoint hook", () => {
  it("saves the running task's handle when its driver changed it, and once more when the agent lets go", async () => {
    const { ctx, saves, setHandle } = taskBed(root());
    const handle: TaskHandle = { driver: "mock", taskId: "t", startedAt: 1, state: { lastLogTime: "" } };
    setHandle(handle);
    const hook = new TaskCheckpointHook(ctx, 10);
    hook.poststart();
    // The driver notes its progress in the handle without telling, as the docker driver does.
    handle.state.lastLogTime = "2024-01-01T00:00:01Z";
    await until("the changed handle saved", () => saves() === 1);
    handle.state.lastLogTime = "2024-01-01T00:00:02Z";
    await until("the next change saved", () => saves() === 2);
    handle.state.lastLogTime = "2024-01-01T00:00:03Z";
    hook.shutdown();
    expect(saves()).toBe(3);
    // Let go: a second shutdown, or an exit, saves nothing more.
    hook.shutdown();
    hook.exited();
    expect(saves()).toBe(3);
  });
});
