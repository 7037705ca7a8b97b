/**
 * The order of an allocation's tasks by their `lifecycle` blocks: the coordinator's rule on
 * its own, then the allocation runner with real task runners on the mock driver (the order
 * is what is under test), read from the reports it sends as the servers would see them.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MockDriver } from "../drivers/index.js";
import { mock, NS, silentLogger, type Allocation, type Job, type JobType, type Task, type TaskLifecycle, type TaskState } from "../structs/index.js";
import { AllocRunner, type AllocReport } from "./alloc-runner.js";
import { tempDirPerTest, until } from "./hooks/testing.js";
import { LifecyclePhase, nextPhase } from "./lifecycle.js";
import { RestartTracker } from "./restart.js";
import { newTaskState } from "./task-runner.js";

const root = tempDirPerTest("ruche-lifecycle-");
const runners: AllocRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.destroy("the test is over");
});

function task(name: string, config: Record<string, unknown>, lifecycle?: TaskLifecycle): Task {
  const t: Task = { ...mock.task(), Name: name, Config: config, KillTimeout: 200 * NS.millisecond };
  if (lifecycle !== undefined) t.Lifecycle = lifecycle;
  return t;
}

function job(type: JobType, tasks: Task[], attempts = 2): Job {
  const j = mock.job({ type, canary: 0, maxParallel: 1 });
  const g = j.TaskGroups[0]!;
  g.Tasks = tasks;
  g.RestartPolicy = { Attempts: attempts, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" };
  return j;
}

function runner(a: Allocation) {
  const reports: AllocReport[] = [];
  const driver = new MockDriver();
  const r = new AllocRunner(a, {
    node: mock.node(),
    drivers: new Map([["mock", driver]]),
    allocRoot: root(),
    report: (x) => reports.push(structuredClone(x)),
    save: () => undefined,
    log: silentLogger,
    now: () => Date.now(),
    random: () => 0,
  });
  runners.push(r);
  return { r, reports, driver, last: () => reports.at(-1) };
}

const prestart = { Hook: "prestart", Sidecar: false };
const sidecar = { Hook: "prestart", Sidecar: true };
const poststart = { Hook: "poststart", Sidecar: false };
const poststop = { Hook: "poststop", Sidecar: false };

function state(s: TaskState["State"], failed = false): TaskState {
  return { ...newTaskState(), State: s, Failed: failed };
}

describe("the lifecycle phases", () => {
  const tasks = [task("init", {}, prestart), task("proxy", {}, sidecar), task("web", {}), task("after", {}, poststop)];
  const states = (init: TaskState, proxy: TaskState, web: TaskState) => new Map([["init", init], ["proxy", proxy], ["web", web], ["after", state("pending")]]);

  it("stay in prestart until the ephemeral prestart tasks succeeded and the sidecars run", () => {
    expect(nextPhase(LifecyclePhase.Prestart, tasks, states(state("running"), state("running"), state("pending")))).toBe(LifecyclePhase.Prestart);
    expect(nextPhase(LifecyclePhase.Prestart, tasks, states(state("dead"), state("pending"), state("pending")))).toBe(LifecyclePhase.Prestart);
    expect(nextPhase(LifecyclePhase.Prestart, tasks, states(state("dead"), state("running"), state("pending")))).toBe(LifecyclePhase.Main);
  });

  it("never reach main after a failed prestart task; go to poststop once all but the poststop tasks are dead", () => {
    expect(nextPhase(LifecyclePhase.Prestart, tasks, states(state("dead", true), state("running"), state("pending")))).toBe(LifecyclePhase.Prestart);
    expect(nextPhase(LifecyclePhase.Prestart, tasks, states(state("dead", true), state("dead"), state("dead")))).toBe(LifecyclePhase.Poststop);
  });

  it("go from main to poststart once no main task is pending", () => {
    expect(nextPhase(LifecyclePhase.Main, tasks, states(state("dead"), state("running"), state("pending")))).toBe(LifecyclePhase.Main);
    expect(nextPhase(LifecyclePhase.Main, tasks, states(state("dead"), state("running"), state("running")))).toBe(LifecyclePhase.Poststart);
  });
});

describe("the restart policy of a lifecycle task", () => {
  const policy = { Attempts: 2, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" } as const;
  it("does not restart an ephemeral prestart or poststart task, or a poststop task, that exited 0, even in a service job", () => {
    for (const l of [prestart, poststart, poststop]) {
      expect(new RestartTracker(policy, "service", l).next(0, { exitCode: 0 }, 0)).toMatchObject({ restart: false, failed: false });
    }
    expect(new RestartTracker(policy, "service").next(0, { exitCode: 0 }, 0)).toMatchObject({ restart: true });
  });

  it("restarts a sidecar that exited 0, even in a batch job", () => {
    expect(new RestartTracker(policy, "batch", sidecar).next(0, { exitCode: 0 }, 0)).toMatchObject({ restart: true });
  });
});

describe("an allocation with lifecycle tasks", () => {
  it("runs prestart tasks first, the main task once they are done or running, poststart after, and poststop once stopped", async () => {
    const j = job("service", [
      task("init", { run_for: "100ms" }, prestart),
      task("proxy", {}, sidecar),
      task("web", {}),
      task("hello", { run_for: "10ms" }, poststart),
      task("after", { run_for: "10ms" }, poststop),
    ]);
    const { r, reports, last } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    await until("the poststart task done", () => last()?.TaskStates.hello?.State === "dead");
    const first = (name: string, s: TaskState["State"]) => reports.findIndex((x) => x.TaskStates[name]?.State === s);
    // The main task started only once init had exited successfully and proxy ran.
    const webUp = reports[first("web", "running")]!;
    expect(webUp.TaskStates.init).toMatchObject({ State: "dead", Failed: false });
    expect(webUp.TaskStates.proxy?.State).toBe("running");
    expect(first("hello", "running")).toBeGreaterThan(first("web", "running"));
    // A prestart task that exited 0 in a service job is done, not restarted; the poststop task waits.
    expect(last()?.TaskStates.init?.Restarts).toBe(0);
    expect(last()?.TaskStates.after?.State).toBe("pending");
    expect(last()?.ClientStatus).toBe("running");
    const stopAt = reports.length;
    await r.stop("alloc not needed since job is stopped");
    const after = reports.slice(stopAt);
    const postUp = after.find((x) => x.TaskStates.after?.State !== "pending");
    expect(postUp?.TaskStates.web?.State).toBe("dead");
    expect(postUp?.TaskStates.proxy?.State).toBe("dead");
    // stop() resolves once the poststop task is done.
    expect(last()?.TaskStates.after).toMatchObject({ State: "dead", Failed: false });
    expect(last()?.TaskStates.after?.Events.some((e) => e.Type === "Started")).toBe(true);
    expect(last()?.ClientStatus).toBe("complete");
  });

  it("completes a batch allocation when its main task completes: the sidecar is stopped, then poststop runs", async () => {
    const j = job("batch", [task("proxy", {}, sidecar), task("work", { run_for: "50ms" }), task("after", { run_for: "10ms" }, poststop)]);
    const { r, last } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    const done = await until("complete", () => (last()?.ClientStatus === "complete" ? last() : undefined));
    expect(done.TaskStates.work).toMatchObject({ State: "dead", Failed: false });
    expect(done.TaskStates.proxy?.Events.find((e) => e.Type === "Main Tasks Dead")?.Message).toBe("Main tasks in the group died");
    expect(done.TaskStates.after?.Events.some((e) => e.Type === "Started")).toBe(true);
  });

  it("fails the allocation when a prestart task fails for good: the main task never starts, poststop still runs", async () => {
    const j = job("service", [task("init", { run_for: "10ms", exit_code: 3 }, prestart), task("web", {}), task("after", { run_for: "10ms" }, poststop)], 0);
    const { r, last } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    const failed = await until("failed, poststop done", () => (last()?.ClientStatus === "failed" && last()?.TaskStates.after?.State === "dead" ? last() : undefined));
    expect(failed.TaskStates.init).toMatchObject({ State: "dead", Failed: true });
    expect(failed.TaskStates.init?.Events.at(-1)?.Type).toBe("Not Restarting");
    const web = failed.TaskStates.web;
    expect(web?.State).toBe("dead");
    expect(web?.Events.some((e) => e.Type === "Started")).toBe(false);
    expect(web?.Events.find((e) => e.Type === "Sibling Task Failed")?.Message).toBe('Task\'s sibling "init" failed');
    expect(failed.TaskStates.after?.Events.some((e) => e.Type === "Started")).toBe(true);
  });

  it("destroyed while its stop waits for a poststop task: the task is killed, the stop and gone() resolve", async () => {
    const j = job("service", [task("web", {}), task("after", {}, poststop)]);
    const { r, last, driver } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    await until("running", () => last()?.TaskStates.web?.State === "running");
    const stopped = r.stop("alloc not needed since job is stopped");
    await until("poststop running", () => last()?.TaskStates.after?.State === "running");
    await r.destroy("the servers no longer know the allocation");
    await stopped;
    await r.gone();
    expect(driver.running()).toEqual([]);
  });

  it("destroyed before its main tasks ended, never starts its poststop task", async () => {
    const j = job("service", [task("web", {}), task("after", {}, poststop)]);
    const { r, last, driver } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    await until("running", () => last()?.TaskStates.web?.State === "running");
    await r.destroy("the servers no longer know the allocation");
    await r.gone();
    expect(driver.running()).toEqual([]);
    const saved = r.task("after")?.state;
    expect(saved?.State).toBe("dead");
    expect(saved?.Events.some((e) => e.Type === "Started")).toBe(false);
  });

  it("kills a running poststop task when the allocation is destroyed", async () => {
    const j = job("batch", [task("work", { run_for: "10ms" }), task("after", {}, poststop)]);
    const { r, last, driver } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    await until("poststop running", () => last()?.TaskStates.after?.State === "running");
    await r.destroy("the servers no longer know the allocation");
    expect(driver.running()).toEqual([]);
    expect(r.clientStatus).toBe("complete");
  });
});
