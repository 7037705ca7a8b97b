/**
 * `alloc restart` on the task runner (the loop is what is under test, on the mock driver as
 * in task-runner.test.ts; test/e2e/cli-nomad.test.ts restarts a raw_exec task through the
 * CLI): the task is stopped and started again at once, outside its restart policy.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MockDriver } from "../drivers/index.js";
import { ErrorCode, mock, NS, silentLogger, type TaskGroup } from "../structs/index.js";
import { allocPaths } from "./hooks/index.js";
import { tempDirPerTest, until } from "./hooks/testing.js";
import { RestartTracker } from "./restart.js";
import { TaskRunner } from "./task-runner.js";
import { taskSpec } from "./task-spec.js";

const root = tempDirPerTest("ruche-task-restart-");
const runners: TaskRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.kill("the test is over");
});

/** A task whose restart policy allows no restart at all: any exit the policy sees fails it. */
function runner(): TaskRunner {
  const job = mock.job();
  const group = job.TaskGroups[0] as TaskGroup;
  group.RestartPolicy = { Attempts: 0, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" };
  const task = group.Tasks[0]!;
  task.Config = {};
  task.KillTimeout = 100 * NS.millisecond;
  const node = mock.node();
  const alloc = mock.alloc(job, node, 0);
  const r = new TaskRunner({
    driver: new MockDriver(),
    spec: taskSpec(alloc, group, task, node, allocPaths(root(), alloc.ID)),
    task,
    restart: new RestartTracker(group.RestartPolicy, job.Type),
    changed: () => undefined,
    log: silentLogger,
    now: () => Date.now(),
    random: () => 0,
  });
  runners.push(r);
  return r;
}

describe("restarting a task as alloc restart does", () => {
  it("stops it and starts it again at once, as Nomad's events say, outside the restart policy's attempts", async () => {
    const r = runner();
    void r.run();
    await until("running", () => r.state.State === "running");
    const startedAt = r.state.StartedAt;
    await r.restart();
    await until("running again", () => r.state.State === "running" && r.state.Events.at(-1)?.Type === "Started");
    // The prestart hooks run again before the start, as for any restart ("Task Setup").
    expect(r.state.Events.map((e) => e.Type).slice(-6)).toEqual(["Restart Signaled", "Killing", "Terminated", "Restarting", "Task Setup", "Started"]);
    expect(r.state.Events.at(-6)?.RestartReason).toBe("User requested restart");
    expect(r.state).toMatchObject({ State: "running", Failed: false, Restarts: 1 });
    expect(r.state.StartedAt).toBeGreaterThanOrEqual(startedAt);
    // Twice more: a policy of 0 attempts would have failed it at the first exit.
    await r.restart();
    await until("running a third time", () => r.state.Restarts === 2 && r.state.State === "running");
    expect(r.state.Failed).toBe(false);
  });

  it("refuses a task that is not running", async () => {
    const r = runner();
    await expect(r.restart()).rejects.toMatchObject({ code: ErrorCode.Conflict });
    void r.run();
    await until("running", () => r.state.State === "running");
    await r.kill("the test is over");
    await expect(r.restart()).rejects.toMatchObject({ code: ErrorCode.Conflict });
  });
});
