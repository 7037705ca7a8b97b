import { describe, expect, it } from "vitest";
import { mock, NS, type Allocation, type Deployment, type Job, type Node, type Plan } from "../structs/index.js";
import { MemoryView, schedule } from "./index.js";

/**
 * A system job's rollouts as Nomad 1.11 makes them: a deployment per version, replacements
 * `max_parallel` at a time as the ones in flight turn healthy, and `canary` as a percentage of
 * the nodes to update, placed first and waiting for the promotion.
 */
const NOW = 1_700_000_000_000;

function placed(plan: Plan): Allocation[] {
  return Object.values(plan.NodeAllocation).flat();
}
function stopped(plan: Plan): Allocation[] {
  return Object.values(plan.NodeUpdate).flat();
}
function run(job: Job, nodes: Node[], allocs: Allocation[] = [], deployments: Deployment[] = []) {
  return schedule(mock.evaluation(job), new MemoryView({ nodes, allocs, jobs: [job], deployments }), NOW);
}
function sys(version: number, o: { canary?: number; maxParallel?: number } = {}): Job {
  return mock.job({ id: "agent", type: "system", memory: 128 + version, version, ...o });
}
/** The allocations after the plan: what it stopped gone, what it placed running with the health given. */
function after(before: Allocation[], plan: Plan, healthy: boolean | null): Allocation[] {
  const gone = new Set(stopped(plan).map((a) => a.ID));
  const fresh = placed(plan).map((a) => ({ ...a, ClientStatus: "running" as const, DeploymentStatus: { Healthy: healthy, Timestamp: 0, Canary: a.DeploymentStatus?.Canary ?? false, ModifyIndex: 0 } }));
  return [...before.filter((a) => !gone.has(a.ID)), ...fresh];
}
/** The deployment as the applier stores it: placed canaries recorded. */
function stored(d: Deployment, prior: Deployment | null, plan: Plan): Deployment {
  const groups: Deployment["TaskGroups"] = {};
  for (const [name, s] of Object.entries(d.TaskGroups)) {
    const canaries = placed(plan).filter((a) => a.TaskGroup === name && a.DeploymentStatus?.Canary === true).map((a) => a.ID);
    groups[name] = { ...s, PlacedCanaries: [...(prior?.TaskGroups[name]?.PlacedCanaries ?? []), ...canaries] };
  }
  return { ...d, TaskGroups: groups };
}

describe("system job deployments", () => {
  it("a first version's placements make a deployment whose desired total is the nodes it runs on", () => {
    const nodes = [mock.node(), mock.node(), mock.node({ meta: { role: "edge" } })];
    const job = sys(0);
    job.Constraints = [{ LTarget: "${meta.role}", RTarget: "edge", Operand: "!=" }];
    const r = run(job, nodes);
    const d = r.plan.Deployment;
    expect(d).toMatchObject({ JobVersion: 0, Status: "running", TaskGroups: { web: { DesiredTotal: 2, DesiredCanaries: 0, Promoted: false } } });
    expect(placed(r.plan).every((a) => a.DeploymentID === d?.ID)).toBe(true);
  });

  it("a node that joins once the deployment is over gets the job without a new deployment", () => {
    const nodes = [mock.node(), mock.node()];
    const job = sys(0);
    const first = run(job, nodes);
    const d: Deployment = { ...first.plan.Deployment!, Status: "successful" };
    const r = run(job, [...nodes, mock.node()], after([], first.plan, true), [d]);
    expect(placed(r.plan)).toHaveLength(1);
    expect(r.plan.Deployment).toBeNull();
    expect(placed(r.plan)[0]?.DeploymentID).toBe("");
  });

  it("rolls max_parallel at a time: the next batch once those in flight are healthy, no stagger evaluation", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const old = nodes.map((n) => mock.alloc(sys(0), n, 0));
    const v1 = sys(1);
    const first = run(v1, nodes, old);
    expect(placed(first.plan)).toHaveLength(1);
    expect(first.followups).toEqual([]);
    const d = first.plan.Deployment!;
    expect(d).toMatchObject({ JobVersion: 1, TaskGroups: { web: { DesiredTotal: 3 } } });
    expect(first.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ DestructiveUpdate: 1, Ignore: 2 });

    // In flight (health not known yet): nothing more.
    const waiting = run(v1, nodes, after(old, first.plan, null), [d]);
    expect(placed(waiting.plan)).toEqual([]);
    expect(waiting.followups).toEqual([]);

    // Healthy: the next node.
    const now = after(old, first.plan, true);
    const second = run(v1, nodes, now, [d]);
    expect(placed(second.plan)).toHaveLength(1);
    expect(placed(second.plan)[0]?.DeploymentID).toBe(d.ID);
    expect(placed(second.plan)[0]?.NodeID).not.toBe(placed(first.plan)[0]?.NodeID);
  });

  it("a newer version cancels the deployment of the older one", () => {
    const nodes = [mock.node(), mock.node()];
    const old = nodes.map((n) => mock.alloc(sys(0), n, 0));
    const first = run(sys(1), nodes, old);
    const d1 = first.plan.Deployment!;
    const r = run(sys(2), nodes, after(old, first.plan, null), [d1]);
    expect(r.plan.DeploymentUpdates).toContainEqual({ DeploymentID: d1.ID, Status: "cancelled", StatusDescription: "Cancelled due to newer version of job" });
    expect(r.plan.Deployment).toMatchObject({ JobVersion: 2 });
  });

  it("canary = 50 updates half the nodes first (rounded up) and the others wait for the promotion", () => {
    const nodes = [mock.node(), mock.node(), mock.node(), mock.node(), mock.node()];
    const old = nodes.map((n) => mock.alloc(sys(0, { canary: 50, maxParallel: 5 }), n, 0));
    const v1 = sys(1, { canary: 50, maxParallel: 5 });
    const first = run(v1, nodes, old);
    const canaries = placed(first.plan);
    expect(canaries).toHaveLength(3);
    expect(canaries.every((a) => a.DeploymentStatus?.Canary === true)).toBe(true);
    // A canary takes the place of the old allocation on its node.
    expect(stopped(first.plan).map((a) => a.NodeID).sort()).toEqual(canaries.map((a) => a.NodeID).sort());
    expect(first.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ Canary: 3, DestructiveUpdate: 0, Ignore: 2 });
    const d = stored(first.plan.Deployment!, null, first.plan);
    expect(d.TaskGroups.web).toMatchObject({ DesiredCanaries: 3, DesiredTotal: 5, Promoted: false });
    expect(d.TaskGroups.web?.PlacedCanaries).toHaveLength(3);

    // Healthy canaries, not promoted: the other nodes keep the old version.
    const now = after(old, first.plan, true);
    const waiting = run(v1, nodes, now, [d]);
    expect(placed(waiting.plan)).toEqual([]);
    expect(stopped(waiting.plan)).toEqual([]);

    // Promoted: the other two are replaced (max_parallel 5), as plain updates.
    const promoted: Deployment = { ...d, TaskGroups: { web: { ...d.TaskGroups.web!, Promoted: true } } };
    const rest = run(v1, nodes, now.map((a) => (a.DeploymentStatus === null ? a : { ...a, DeploymentStatus: { ...a.DeploymentStatus, Canary: false } })), [promoted]);
    expect(placed(rest.plan)).toHaveLength(2);
    expect(placed(rest.plan).every((a) => a.DeploymentStatus === null && a.DeploymentID === d.ID)).toBe(true);
    expect(new Set([...placed(rest.plan), ...canaries].map((a) => a.NodeID)).size).toBe(5);
  });

  it("canaries are at most max_parallel (Nomad's e2e: canary = 50, max_parallel = 1 → one canary)", () => {
    const nodes = [mock.node(), mock.node(), mock.node(), mock.node()];
    const old = nodes.map((n) => mock.alloc(sys(0, { canary: 50 }), n, 0));
    const v1 = sys(1, { canary: 50 });
    const first = run(v1, nodes, old);
    expect(placed(first.plan)).toHaveLength(1);
    expect(first.plan.Deployment?.TaskGroups.web?.DesiredCanaries).toBe(1);
    // The canary in flight and the one wanted: nothing more until promotion.
    const d = stored(first.plan.Deployment!, null, first.plan);
    expect(placed(run(v1, nodes, after(old, first.plan, true), [d]).plan)).toEqual([]);
  });

  it("a canary that ended is replaced on its node by a canary, and no other node gets one in its stead", () => {
    const nodes = [mock.node(), mock.node(), mock.node(), mock.node()];
    const old = nodes.map((n) => mock.alloc(sys(0, { canary: 50, maxParallel: 4 }), n, 0));
    const v1 = sys(1, { canary: 50, maxParallel: 4 });
    const first = run(v1, nodes, old);
    const d = stored(first.plan.Deployment!, null, first.plan);
    const [dead, ok] = placed(first.plan);
    const now = after(old, first.plan, null).map((a) => (a.ID === dead?.ID ? { ...a, ClientStatus: "failed" as const } : a));
    const r = run(v1, nodes, now, [d]);
    expect(placed(r.plan)).toMatchObject([{ NodeID: dead?.NodeID, PreviousAllocation: dead?.ID, DeploymentID: d.ID, DeploymentStatus: { Canary: true } }]);
    expect(stopped(r.plan)).toEqual([]);
    expect(r.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ Canary: 1, Ignore: 3 });
    expect(ok?.DeploymentStatus?.Canary).toBe(true);
  });

  it("canary = 100 updates every node as a canary, still waiting for the promotion", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const old = nodes.map((n) => mock.alloc(sys(0, { canary: 100, maxParallel: 3 }), n, 0));
    const v1 = sys(1, { canary: 100, maxParallel: 3 });
    const first = run(v1, nodes, old);
    expect(placed(first.plan).filter((a) => a.DeploymentStatus?.Canary === true)).toHaveLength(3);
    const d = stored(first.plan.Deployment!, null, first.plan);
    expect(d.TaskGroups.web).toMatchObject({ DesiredCanaries: 3, Promoted: false });
    const next = run(v1, nodes, after(old, first.plan, true), [d]);
    expect(placed(next.plan)).toEqual([]);
    expect(next.plan.Deployment).toBeNull();
  });

  it("a failed deployment holds the replacements it has not made", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const old = nodes.map((n) => mock.alloc(sys(0), n, 0));
    const v1 = sys(1);
    const first = run(v1, nodes, old);
    const failed: Deployment = { ...first.plan.Deployment!, Status: "failed" };
    const r = run(v1, nodes, after(old, first.plan, false), [failed]);
    expect(placed(r.plan)).toEqual([]);
    expect(stopped(r.plan)).toEqual([]);
    expect(r.followups).toEqual([]);
  });

  it("without a deployment for its version (allocations of it already run), replacements roll one stagger apart", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const v1 = sys(1);
    const allocs = [mock.alloc(v1, nodes[0]!, 0), mock.alloc(sys(0), nodes[1]!, 0), mock.alloc(sys(0), nodes[2]!, 0)];
    const r = run(v1, nodes, allocs);
    expect(placed(r.plan)).toHaveLength(1);
    expect(r.plan.Deployment).toBeNull();
    expect(r.followups).toMatchObject([{ TriggeredBy: "rolling-update", WaitUntil: NOW + (30 * NS.second) / NS.millisecond }]);
  });

  it("stopping the job cancels its deployment", () => {
    const nodes = [mock.node()];
    const first = run(sys(0), nodes);
    const d = first.plan.Deployment!;
    const r = run({ ...sys(0), Stop: true }, nodes, after([], first.plan, null), [d]);
    expect(r.plan.DeploymentUpdates).toEqual([{ DeploymentID: d.ID, Status: "cancelled", StatusDescription: "Cancelled because job is stopped" }]);
  });
});
