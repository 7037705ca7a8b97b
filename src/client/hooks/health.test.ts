import { afterEach, describe, expect, it } from "vitest";
import { mock, NS, type Job, type UpdateStrategy } from "../../structs/index.js";
import { HealthHook } from "./health.js";
import { type HookBed, hookBed, tempDirPerTest, until } from "./testing.js";

const root = tempDirPerTest("ruche-health-hook-");
const beds: HookBed[] = [];
afterEach(async () => {
  for (const b of beds.splice(0)) await b.close();
});

function job(update: Partial<UpdateStrategy>, config: Record<string, unknown> = {}): Job {
  const j = mock.job({ canary: 0, maxParallel: 1 });
  const g = j.TaskGroups[0]!;
  g.Update = { ...g.Update!, HealthCheck: "task_states", MinHealthyTime: 100 * NS.millisecond, HealthyDeadline: 5 * NS.second, ...update };
  g.RestartPolicy = { Attempts: 0, Interval: 60 * NS.second, Delay: 10 * NS.millisecond, Mode: "fail" };
  g.Tasks[0]!.Config = config;
  return j;
}

function bedFor(j: Job, checksPassing = (): boolean => true): { bed: HookBed; hook: HealthHook } {
  const bed = hookBed(j, root(), { DeploymentID: "d1" });
  beds.push(bed);
  const hook = new HealthHook(bed.ctx, { initial: null, checksPassing });
  bed.use(hook);
  return { bed, hook };
}

describe("the health hook", () => {
  it("says healthy once every task has run for min_healthy_time", async () => {
    const { bed, hook } = bedFor(job({}));
    await hook.prerun();
    bed.runTasks();
    const running = await until("the task running", () => (bed.tasks.get("web")?.state.State === "running" ? Date.now() : undefined));
    expect(hook.healthy).toBeNull();
    expect(hook.deploymentStatus()).toBeUndefined();
    await until("healthy", () => hook.healthy === true);
    expect(Date.now() - running).toBeGreaterThanOrEqual(90);
    expect(hook.deploymentStatus()).toMatchObject({ Healthy: true, Canary: false });
  });

  it("says unhealthy when a task fails first, in an event on each task", async () => {
    const { bed, hook } = bedFor(job({}, { run_for: "20ms", exit_code: 1 }));
    await hook.prerun();
    bed.runTasks();
    await until("unhealthy", () => hook.healthy === false);
    expect(bed.tasks.get("web")?.state.Events.at(-1)).toMatchObject({ Type: "Alloc Unhealthy", Message: "Unhealthy because of failed task" });
  });

  it("with health_check = checks, says unhealthy at healthy_deadline when the checks never pass", async () => {
    const { bed, hook } = bedFor(job({ HealthCheck: "checks", HealthyDeadline: 150 * NS.millisecond }), () => false);
    await hook.prerun();
    bed.runTasks();
    await until("unhealthy", () => hook.healthy === false);
    expect(bed.tasks.get("web")?.state.Events.at(-1)).toMatchObject({ Type: "Alloc Unhealthy", Message: "Services not healthy by healthy_deadline of 150ms" });
  });

  it("judges an allocation moved into a new deployment again, and only then", async () => {
    const { bed, hook } = bedFor(job({}));
    await hook.prerun();
    bed.runTasks();
    await until("healthy", () => hook.healthy === true);
    // The same deployment: what was said stays said.
    hook.update({ ...bed.ctx.alloc(), ModifyIndex: 99 });
    expect(hook.healthy).toBe(true);
    const moved = { ...bed.ctx.alloc(), DeploymentID: "d2", DeploymentStatus: null };
    bed.setAlloc(moved);
    hook.update(moved);
    expect(hook.healthy).toBeNull();
    bed.ctx.changed();
    await until("healthy in the new deployment", () => hook.healthy === true);
  });

  it("says nothing once the allocation is being stopped, nor with health_check = manual", async () => {
    const stopping = bedFor(job({}, { run_for: "20ms", exit_code: 1 }));
    await stopping.hook.prerun();
    stopping.hook.prekill();
    stopping.bed.runTasks();
    await until("the task failed", () => stopping.bed.tasks.get("web")?.state.Failed);
    expect(stopping.hook.healthy).toBeNull();
    const manual = bedFor(job({ HealthCheck: "manual" }, { run_for: "20ms", exit_code: 1 }));
    await manual.hook.prerun();
    manual.bed.runTasks();
    await until("the task failed", () => manual.bed.tasks.get("web")?.state.Failed);
    expect(manual.hook.healthy).toBeNull();
  });
});
