import { describe, expect, it } from "vitest";
import { groupTotal, mock, type Allocation, type Job, type Node, type Plan, type Task } from "../structs/index.js";
import { MemoryView, schedule } from "./index.js";

const NOW = 1_700_000_000_000;

function placed(plan: Plan): Allocation[] {
  return Object.values(plan.NodeAllocation).flat();
}
function run(job: Job, nodes: Node[]) {
  return schedule(mock.evaluation(job), new MemoryView({ nodes, allocs: [], jobs: [job], deployments: [] }), NOW);
}
function task(name: string, cpu: number, memory: number, hook?: string, sidecar = false): Task {
  const t: Task = { ...mock.task({ cpu, memory }), Name: name };
  if (hook !== undefined) t.Lifecycle = { Hook: hook, Sidecar: sidecar };
  return t;
}

describe("a group's resources with lifecycle tasks, as Nomad counts them", () => {
  it("adds sidecars and poststart tasks to the main tasks, and counts ephemeral prestart and poststop tasks as the larger phase", () => {
    expect(groupTotal([task("main", 100, 200), task("init", 300, 100, "prestart")])).toEqual({ CPU: 300, MemoryMB: 200 });
    expect(groupTotal([task("main", 100, 200), task("proxy", 50, 64, "prestart", true), task("init", 120, 100, "prestart")])).toEqual({ CPU: 170, MemoryMB: 264 });
    expect(groupTotal([task("main", 100, 200), task("notify", 10, 20, "poststart")])).toEqual({ CPU: 110, MemoryMB: 220 });
    expect(groupTotal([task("main", 100, 200), task("cleanup", 500, 50, "poststop")])).toEqual({ CPU: 500, MemoryMB: 200 });
    expect(groupTotal([task("a", 100, 200), task("b", 100, 200)])).toEqual({ CPU: 200, MemoryMB: 400 });
  });

  it("places a group whose prestart task and main task fit one after the other but not side by side", () => {
    const job = mock.job({ id: "migrate" });
    const group = job.TaskGroups[0];
    if (group === undefined) throw new Error("mock job without a group");
    group.Tasks = [task("app", 600, 600), task("migrate-db", 600, 600, "prestart")];
    const r = run(job, [mock.node({ cpu: 1000, memory: 1000 })]);
    expect(r.failed).toEqual({});
    const [a] = placed(r.plan);
    expect(a?.Resources).toMatchObject({ CPU: 600, MemoryMB: 600 });
  });

  it("still refuses a group whose sidecar and main task together do not fit", () => {
    const job = mock.job({ id: "meshed" });
    const group = job.TaskGroups[0];
    if (group === undefined) throw new Error("mock job without a group");
    group.Tasks = [task("app", 500, 600), task("proxy", 100, 600, "prestart", true)];
    const r = run(job, [mock.node({ cpu: 1000, memory: 1000 })]);
    expect(placed(r.plan)).toEqual([]);
    expect(Object.keys(r.failed)).toEqual(["web"]);
  });
});
