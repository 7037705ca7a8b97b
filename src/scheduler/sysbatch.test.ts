import { describe, expect, it } from "vitest";
import { mock, type Allocation, type Job, type Node, type Plan } from "../structs/index.js";
import { MemoryView, schedule } from "./index.js";

const NOW = 1_700_000_000_000;

function placed(plan: Plan): Allocation[] {
  return Object.values(plan.NodeAllocation).flat();
}
function stopped(plan: Plan): Allocation[] {
  return Object.values(plan.NodeUpdate).flat();
}
function run(job: Job, nodes: Node[], allocs: Allocation[] = []) {
  return schedule(mock.evaluation(job), new MemoryView({ nodes, allocs, jobs: [job], deployments: [] }), NOW);
}

describe("sysbatch jobs", () => {
  it("run once on every eligible node, and nowhere their constraints forbid", () => {
    const nodes = [mock.node(), mock.node(), mock.node({ meta: { role: "edge" } })];
    const job = mock.job({ id: "sweep", type: "sysbatch" });
    job.Constraints = [{ LTarget: "${meta.role}", RTarget: "edge", Operand: "!=" }];
    const r = run(job, nodes);
    expect(placed(r.plan).map((a) => a.NodeID).sort()).toEqual([nodes[0]!.ID, nodes[1]!.ID].sort());
    expect(placed(r.plan).every((a) => a.Name === "sweep.web[0]")).toBe(true);
    expect(r.failed).toEqual({});
  });

  it("do not run again where this version already finished, complete or failed, but do on a node that joins later", () => {
    const nodes = [mock.node(), mock.node()];
    const job = mock.job({ id: "sweep", type: "sysbatch" });
    const done = [mock.alloc(job, nodes[0]!, 0, { ClientStatus: "complete" }), mock.alloc(job, nodes[1]!, 0, { ClientStatus: "failed" })];
    const again = run(job, nodes, done);
    expect(placed(again.plan)).toEqual([]);
    expect(stopped(again.plan)).toEqual([]);
    expect(again.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ Place: 0, Ignore: 2 });

    const joined = mock.node();
    const later = run(job, [...nodes, joined], done);
    expect(placed(later.plan)).toMatchObject([{ NodeID: joined.ID, Name: "sweep.web[0]" }]);
  });

  it("run again everywhere for a new version of the job", () => {
    const nodes = [mock.node(), mock.node()];
    const v0 = mock.job({ id: "sweep", type: "sysbatch" });
    const v1 = mock.job({ id: "sweep", type: "sysbatch", memory: 256, version: 1 });
    const done = nodes.map((n) => mock.alloc(v0, n, 0, { ClientStatus: "complete" }));
    const r = run(v1, nodes, done);
    expect(placed(r.plan).map((a) => a.NodeID).sort()).toEqual(nodes.map((n) => n.ID).sort());
    expect(placed(r.plan).every((a) => a.Job.Version === 1)).toBe(true);
  });

  it("leave a running allocation running, and stop it when the job stops", () => {
    const nodes = [mock.node()];
    const job = mock.job({ id: "sweep", type: "sysbatch" });
    const live = [mock.alloc(job, nodes[0]!, 0)];
    const r = run(job, nodes, live);
    expect(placed(r.plan)).toEqual([]);
    expect(stopped(r.plan)).toEqual([]);
    const stop = run({ ...job, Stop: true }, nodes, live);
    expect(stopped(stop.plan).map((a) => a.ID)).toEqual([live[0]!.ID]);
  });
});

describe("parameterized jobs", () => {
  it("are templates: nothing of theirs is placed, while their dispatched children are", () => {
    const nodes = [mock.node()];
    const template: Job = { ...mock.job({ id: "report", type: "batch" }), ParameterizedJob: { Payload: "optional", MetaRequired: [], MetaOptional: [] } };
    expect(placed(run(template, nodes).plan)).toEqual([]);
    const child: Job = { ...template, ID: "report/dispatch-1700000000-0123abcd", ParentID: "report", Dispatched: true };
    expect(placed(run(child, nodes).plan)).toMatchObject([{ JobID: child.ID, Name: "report/dispatch-1700000000-0123abcd.web[0]" }]);
  });
});
