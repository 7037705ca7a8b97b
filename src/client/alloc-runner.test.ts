/**
 * The allocation runner on its own: real task runners on the mock driver (the runner's
 * logic is what is under test), its directory in a temporary dir, its reports and saves
 * gathered as the client would send and write them.
 */
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MockDriver } from "../drivers/index.js";
import { mock, NS, silentLogger, type Allocation, type Job } from "../structs/index.js";
import { AllocRunner, type AllocReport, type SavedAlloc } from "./alloc-runner.js";
import { tempDirPerTest, until } from "./hooks/testing.js";

const root = tempDirPerTest("ruche-alloc-runner-");
const runners: AllocRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.destroy("the test is over");
});

function job(config: Record<string, unknown> = {}): Job {
  const j = mock.job({ canary: 0, maxParallel: 1 });
  const g = j.TaskGroups[0]!;
  g.Tasks[0]!.Config = config;
  g.Tasks[0]!.KillTimeout = 200 * NS.millisecond;
  g.RestartPolicy = { Attempts: 2, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" };
  return j;
}

function runner(a: Allocation, allocRoot = root()) {
  const reports: AllocReport[] = [];
  const saves: SavedAlloc[] = [];
  const driver = new MockDriver();
  const r = new AllocRunner(a, {
    node: mock.node(),
    drivers: new Map([["mock", driver]]),
    allocRoot,
    report: (x) => reports.push(structuredClone(x)),
    save: (s) => saves.push(structuredClone(s)),
    log: silentLogger,
    now: () => Date.now(),
    random: () => 0,
  });
  runners.push(r);
  return { r, reports, saves, driver, last: () => reports.at(-1) };
}

describe("the allocation runner", () => {
  it("stops with the reason it is given: each task's Killing event carries it", async () => {
    const a = mock.alloc(job(), mock.node(), 0);
    const { r, last, driver } = runner(a);
    await r.start();
    await until("running", () => last()?.ClientStatus === "running");
    await r.stop("alloc not needed since job is stopped");
    const killing = last()?.TaskStates.web?.Events.find((e) => e.Type === "Killing");
    expect(killing).toMatchObject({ Message: "Sent interrupt (alloc not needed since job is stopped). Waiting 200ms before force killing", Details: { kill_reason: "alloc not needed since job is stopped" }, KillTimeout: 200 * NS.millisecond });
    expect(last()?.ClientStatus).toBe("complete");
    expect(driver.running()).toEqual([]);
  });

  it("stopped by the servers, says why in their words", async () => {
    const a = mock.alloc(job(), mock.node(), 0);
    const { r, last } = runner(a);
    await r.start();
    await until("running", () => last()?.ClientStatus === "running");
    r.update({ ...a, DesiredStatus: "stop", DesiredDescription: "alloc was replaced by a promoted canary" });
    const done = await until("complete", () => (last()?.ClientStatus === "complete" ? last() : undefined));
    expect(done.TaskStates.web?.Events.find((e) => e.Type === "Killing")?.Details).toEqual({ kill_reason: "alloc was replaced by a promoted canary" });
  });

  it("kills every task once the group's max_run_duration from the allocation's creation has passed: complete, saying so, restart policy aside", async () => {
    const j = job();
    j.Type = "batch";
    j.TaskGroups[0]!.MaxRunDuration = 300 * NS.millisecond;
    const a = { ...mock.alloc(j, mock.node(), 0), CreateTime: Date.now() };
    const { r, last, driver } = runner(a);
    await r.start();
    await until("running", () => last()?.ClientStatus === "running");
    const done = await until("complete", () => (last()?.ClientStatus === "complete" && driver.running().length === 0 ? last() : undefined));
    expect(done.ClientDescription).toBe("allocation exceeded max_run_duration");
    expect(done.TaskStates.web?.Events.find((e) => e.Type === "Killing")?.Details).toEqual({ kill_reason: "allocation exceeded max_run_duration" });
    expect(done.TaskStates.web?.Restarts).toBe(0);
  });

  it("an allocation created longer ago than its max_run_duration is stopped at once (an agent restarted past the deadline)", async () => {
    const j = job();
    j.Type = "batch";
    j.TaskGroups[0]!.MaxRunDuration = 5 * NS.second;
    const a = { ...mock.alloc(j, mock.node(), 0), CreateTime: Date.now() - 60_000 };
    const { r, last } = runner(a);
    await r.start();
    const done = await until("complete", () => (last()?.ClientStatus === "complete" ? last() : undefined));
    expect(done.ClientDescription).toBe("allocation exceeded max_run_duration");
  });

  it("keeps ten events per task, the health events included", async () => {
    const j = job({ run_for: "10ms", exit_code: 1 });
    j.TaskGroups[0]!.Update = { ...j.TaskGroups[0]!.Update!, HealthCheck: "task_states", MinHealthyTime: 5 * NS.second };
    const a = mock.alloc(j, mock.node(), 0, { DeploymentID: "d1" });
    const { r, last } = runner(a);
    await r.start();
    // Received, then Task Setup, Started, Terminated and Restarting twice, then Task Setup, Started, Terminated, Not Restarting: 13 events, and Alloc Unhealthy.
    const unhealthy = await until("unhealthy", () => (last()?.DeploymentStatus?.Healthy === false ? last() : undefined));
    const events = unhealthy.TaskStates.web?.Events ?? [];
    expect(events).toHaveLength(10);
    expect(events.at(-1)).toMatchObject({ Type: "Alloc Unhealthy", Message: "Unhealthy because of failed task" });
    expect(events.at(-2)?.Type).toBe("Not Restarting");
  });

  it("waits out the group's and the task's shutdown_delay before the kill signal, saying so; a destroy cuts it short", async () => {
    const j = job();
    j.TaskGroups[0]!.ShutdownDelay = 60 * NS.second;
    j.TaskGroups[0]!.Tasks[0]!.ShutdownDelay = 30 * NS.second;
    const { r, last, driver } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    await until("running", () => last()?.ClientStatus === "running");
    const stopped = r.stop("alloc not needed since job is stopped");
    const waiting = await until("the waiting event", () => last()?.TaskStates.web?.Events.find((e) => e.Type === "Waiting for shutdown delay"));
    expect(waiting.Message).toBe("Waiting for shutdown_delay of 1m30s before killing the task.");
    // Told to wait, the task has not been sent its signal.
    expect(driver.running()).toHaveLength(1);
    expect(last()?.TaskStates.web?.Events.some((e) => e.Type === "Killing")).toBe(false);
    await r.destroy("the allocation is gone");
    await stopped;
    expect(driver.running()).toEqual([]);
  });

  it("restarts a task by its own restart block when it has one, not its group's", async () => {
    const j = job({ run_for: "10ms", exit_code: 1 });
    // The group allows 2 restarts; the task's own block (the jobspec merged it over the group's) allows none.
    j.TaskGroups[0]!.Tasks[0]!.RestartPolicy = { ...j.TaskGroups[0]!.RestartPolicy, Attempts: 0 };
    const { r, last } = runner(mock.alloc(j, mock.node(), 0));
    await r.start();
    const failed = await until("failed", () => (last()?.ClientStatus === "failed" ? last() : undefined));
    const types = (failed.TaskStates.web?.Events ?? []).map((e) => e.Type);
    expect(types.filter((t) => t === "Restarting")).toEqual([]);
    expect(types.at(-1)).toBe("Not Restarting");
  });

  it("saves the allocation where its state changes: the health said, the task's handle", async () => {
    const j = job();
    j.TaskGroups[0]!.Update = { ...j.TaskGroups[0]!.Update!, HealthCheck: "task_states", MinHealthyTime: 50 * NS.millisecond };
    const a = mock.alloc(j, mock.node(), 0, { DeploymentID: "d1" });
    const { r, saves } = runner(a);
    await r.start();
    const running = await until("the handle saved", () => saves.find((s) => s.tasks.web?.handle !== null && s.tasks.web?.state.State === "running"));
    expect(running.health).toBeNull();
    await until("the health saved", () => saves.at(-1)?.health === true);
  });

  it("names the hook whose prerun failed, and destroys what it made", async () => {
    const notADir = join(root(), "file");
    await writeFile(notADir, "");
    const { r } = runner(mock.alloc(job(), mock.node(), 0), notADir);
    await expect(r.start()).rejects.toThrow(/^alloc-dir: /);
    const ok = runner(mock.alloc(job(), mock.node(), 0));
    await ok.r.start();
    await until("running", () => ok.last()?.ClientStatus === "running");
    expect((await stat(join(ok.r.dir, "web", "secrets"))).isDirectory()).toBe(true);
    await ok.r.destroy("the servers no longer know the allocation");
    expect(await stat(ok.r.dir).catch(() => null)).toBeNull();
    expect(ok.driver.running()).toEqual([]);
  });
});
