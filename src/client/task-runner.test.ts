/**
 * The task runner on its own, on the mock driver (its loop is what is under test; the real
 * drivers run real tasks in their contract test), its directories in a temporary dir.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MockDriver } from "../drivers/index.js";
import { mock, NS, silentLogger, type TaskGroup } from "../structs/index.js";
import { allocPaths } from "./hooks/index.js";
import { tempDirPerTest, until } from "./hooks/testing.js";
import { RestartTracker } from "./restart.js";
import { TaskRunner, type SavedTask } from "./task-runner.js";
import { taskSpec } from "./task-spec.js";

const root = tempDirPerTest("ruche-task-runner-");
const runners: TaskRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.kill("the test is over");
});

function runner(config: Record<string, unknown>, o: { driver?: MockDriver; saved?: SavedTask; attempts?: number } = {}) {
  const job = mock.job();
  const group = job.TaskGroups[0] as TaskGroup;
  group.RestartPolicy = { Attempts: o.attempts ?? 0, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" };
  const task = group.Tasks[0]!;
  task.Config = config;
  task.KillTimeout = 100 * NS.millisecond;
  const node = mock.node();
  const alloc = mock.alloc(job, node, 0);
  const driver = o.driver ?? new MockDriver();
  let changes = 0;
  const r = new TaskRunner(
    {
      driver,
      spec: taskSpec(alloc, group, task, node, allocPaths(root(), alloc.ID)),
      task,
      restart: new RestartTracker(group.RestartPolicy, job.Type),
      changed: () => {
        changes++;
      },
      log: silentLogger,
      now: () => Date.now(),
      random: () => 0,
    },
    o.saved,
  );
  runners.push(r);
  return { r, driver, changes: () => changes, types: () => r.state.Events.map((e) => e.Type) };
}

describe("the task runner", () => {
  it("runs its prestart hooks in order before the start: a refused config fails the task before its directory is built", async () => {
    const ok = runner({});
    void ok.r.run();
    await until("running", () => ok.r.state.State === "running");
    expect(ok.types()).toEqual(["Received", "Task Setup", "Started"]);
    const bad = runner({ run_for: 5 });
    await bad.r.run();
    expect(bad.types()).toEqual(["Received", "Failed Validation"]);
    expect(bad.r.state).toMatchObject({ State: "dead", Failed: true, Restarts: 0 });
  });

  it("is killed with a reason: the event asked for, then Killing with the reason, Terminated, Killed", async () => {
    const { r, types } = runner({});
    void r.run();
    await until("running", () => r.state.State === "running");
    await r.kill('Task\'s sibling "db" failed', "Sibling Task Failed");
    expect(types().slice(-4)).toEqual(["Sibling Task Failed", "Killing", "Terminated", "Killed"]);
    expect(r.state.Events.at(-4)?.Message).toBe('Task\'s sibling "db" failed');
    expect(r.state.Events.at(-3)?.Details).toEqual({ kill_reason: 'Task\'s sibling "db" failed' });
    expect(r.state).toMatchObject({ State: "dead", Failed: false });
  });

  it("keeps its last ten events, whoever writes them", async () => {
    const { r } = runner({ run_for: "5ms", exit_code: 1 }, { attempts: 3 });
    await r.run();
    expect(r.state.Events).toHaveLength(10);
    for (let i = 0; i < 3; i++) r.event("Alloc Unhealthy", `number ${i}`);
    expect(r.state.Events).toHaveLength(10);
    expect(r.state.Events.at(-1)?.Message).toBe("number 2");
  });

  it("finds a running task again from its saved handle, without building or starting it again", async () => {
    const first = runner({});
    void first.r.run();
    await until("running", () => first.r.state.State === "running");
    first.r.detach();
    const again = runner({}, { driver: first.driver, saved: structuredClone(first.r.saved()) });
    void again.r.run();
    await until("running again", () => again.changes() > 0 && again.r.state.State === "running");
    expect(again.types()).toEqual(["Received", "Task Setup", "Started"]);
    expect(again.r.handle).toEqual(first.r.handle);
  });
});
