import { describe, expect, it } from "vitest";
import { mock, type Deployment, type Evaluation } from "../../structs/index.js";
import { deploymentProgress, drainProgress, evalOutcome, evalProgress, newDeploymentWatch, newDrainWatch, newEvalWatch, type DrainedAlloc, type MonitoredAlloc } from "./progress.js";

const job = mock.job({ id: "demoapp" });

function ev(o: Partial<Evaluation>): Evaluation {
  return mock.evaluation(job, { ID: "1d7b9a95-0000-4000-8000-000000000000", CreateIndex: 10, ...o });
}

function alloc(id: string, node: string, o: Partial<MonitoredAlloc> = {}): MonitoredAlloc {
  return { ID: id, NodeID: node, TaskGroup: "webs", DesiredStatus: "run", ClientStatus: "pending", ClientDescription: "", CreateIndex: 11, ...o };
}

describe("evaluation monitor", () => {
  it("prints the walkthrough's nomad run output for a finished evaluation seen at once", () => {
    const done = ev({ Status: "complete", DeploymentID: "e839ee3d-0000-4000-8000-000000000000" });
    const allocs = [alloc("e29e87d9-0000-4000-8000-000000000000", "bdd7c860-0000-4000-8000-000000000000"), alloc("98bf6555-0000-4000-8000-000000000000", "546f06e7-0000-4000-8000-000000000000", { CreateIndex: 12 })];
    const { lines } = evalProgress(newEvalWatch(), done, allocs);
    expect(["==> Monitoring evaluation \"1d7b9a95\"", ...lines, ...evalOutcome(done)].join("\n")).toBe(
      [
        '==> Monitoring evaluation "1d7b9a95"',
        '    Evaluation triggered by job "demoapp"',
        '    Evaluation within deployment: "e839ee3d"',
        '    Allocation "e29e87d9" created: node "bdd7c860", group "webs"',
        '    Allocation "98bf6555" created: node "546f06e7", group "webs"',
        '    Evaluation status changed: "pending" -> "complete"',
        '==> Evaluation "1d7b9a95" finished with status "complete"',
      ].join("\n"),
    );
  });

  it("prints each change once as the evaluation and its allocations move", () => {
    const first = evalProgress(newEvalWatch(), ev({ Status: "pending" }), []);
    expect(first.lines).toEqual(['    Evaluation triggered by job "demoapp"']);
    const a = alloc("aaaaaaaa-1", "nnnnnnnn-1");
    const second = evalProgress(first.watch, ev({ Status: "pending" }), [a]);
    expect(second.lines).toEqual(['    Allocation "aaaaaaaa" created: node "nnnnnnnn", group "webs"']);
    const third = evalProgress(second.watch, ev({ Status: "complete" }), [{ ...a, ClientStatus: "running" }]);
    expect(third.lines).toEqual(['    Allocation "aaaaaaaa" status changed: "pending" -> "running"', '    Evaluation status changed: "pending" -> "complete"']);
    expect(evalProgress(third.watch, ev({ Status: "complete" }), [{ ...a, ClientStatus: "running" }]).lines).toEqual([]);
  });

  it("tells an allocation updated in place (older than the evaluation) from a new one, and names the node of a node evaluation", () => {
    const { lines } = evalProgress(newEvalWatch(), ev({ Status: "complete", NodeID: "546f06e7-x", TriggeredBy: "node-update" }), [alloc("old00000-1", "546f06e7-x", { CreateIndex: 3 })]);
    expect(lines).toEqual(['    Evaluation triggered by node "546f06e7"', '    Allocation "old00000" modified: node "546f06e7", group "webs"', '    Evaluation status changed: "pending" -> "complete"']);
  });

  it("says what could not be placed and which evaluation waits for capacity", () => {
    const failed = ev({
      Status: "complete",
      BlockedEval: "6f7b23ca-0000",
      FailedTGAllocs: {
        webs: { NodesEvaluated: 3, NodesFiltered: 0, NodesAvailable: { dc1: 3 }, ConstraintFiltered: {}, NodesExhausted: 3, DimensionExhausted: { memory: 3 }, ClassFiltered: {}, QuotaExhausted: [], ScoreMetaData: [], CoalescedFailures: 0 },
      },
    });
    expect(evalOutcome(failed).join("\n")).toBe(
      [
        '==> Evaluation "1d7b9a95" finished with status "complete" but failed to place all allocations:',
        '    Task Group "webs" (failed to place 1 allocation):',
        "      * Resources exhausted on 3 nodes: memory",
        '    Evaluation "6f7b23ca" waiting for additional capacity to place remainder',
      ].join("\n"),
    );
  });
});

function deployment(status: Deployment["Status"], group: Partial<Deployment["TaskGroups"][string]>, description = ""): Deployment {
  return {
    ID: "b78e97cc-0000-4000-8000-000000000000",
    Namespace: "default",
    JobID: "demoapp",
    JobVersion: 1,
    JobModifyIndex: 16,
    JobCreateIndex: 5,
    TaskGroups: {
      webs: { AutoRevert: false, AutoPromote: false, ProgressDeadline: 0, RequireProgressBy: 0, Promoted: false, PlacedCanaries: [], DesiredCanaries: 0, DesiredTotal: 2, PlacedAllocs: 2, HealthyAllocs: 0, UnhealthyAllocs: 0, ...group },
    },
    Status: status,
    StatusDescription: description,
    CreateIndex: 20,
    ModifyIndex: 22,
  };
}

describe("deployment monitor", () => {
  it("prints progress per change, then success", () => {
    const a = deploymentProgress(newDeploymentWatch(), deployment("running", {}));
    expect(a).toMatchObject({ lines: ['    Deployment "b78e97cc" in progress...', '    "webs": 0 of 2 healthy'], outcome: null });
    const b = deploymentProgress(a.watch, deployment("running", {}));
    expect(b.lines).toEqual([]);
    const c = deploymentProgress(b.watch, deployment("running", { HealthyAllocs: 1 }));
    expect(c.lines).toEqual(['    "webs": 1 of 2 healthy']);
    const d = deploymentProgress(c.watch, deployment("successful", { HealthyAllocs: 2 }));
    expect(d).toMatchObject({ lines: ['    "webs": 2 of 2 healthy', '==> Deployment "b78e97cc" successful'], outcome: "successful" });
  });

  it("stops at canaries that wait for promotion, and says how to promote them", () => {
    const a = deploymentProgress(newDeploymentWatch(), deployment("running", { DesiredCanaries: 1, HealthyAllocs: 0, PlacedAllocs: 1 }));
    expect(a).toMatchObject({ lines: ['    Deployment "b78e97cc" in progress...', '    "webs": 0 of 1 canary healthy'], outcome: null });
    const b = deploymentProgress(a.watch, deployment("running", { DesiredCanaries: 1, HealthyAllocs: 1, PlacedAllocs: 1 }));
    expect(b).toMatchObject({
      lines: ['    "webs": 1 of 1 canary healthy', '==> Deployment "b78e97cc" waiting for promotion', '    Promote it with "ruche deployment promote b78e97cc"'],
      outcome: "awaiting-promotion",
    });
  });

  it("reports a failure with its description", () => {
    const r = deploymentProgress(newDeploymentWatch(), deployment("failed", { UnhealthyAllocs: 1 }, "Failed due to unhealthy allocations"));
    expect(r).toMatchObject({ lines: ['    "webs": 0 of 2 healthy, 1 unhealthy', '==> Deployment "b78e97cc" failed: Failed due to unhealthy allocations'], outcome: "failed" });
  });
});

describe("drain monitor", () => {
  const a = (id: string, o: Partial<DrainedAlloc> = {}): DrainedAlloc => ({ ID: id, DesiredStatus: "run", ClientStatus: "running", DesiredTransition: { Migrate: false, Reschedule: false, ForceReschedule: false }, ...o });
  const draining = { ID: "node0001-x", DrainStrategy: { Deadline: 0, IgnoreSystemJobs: false, ForceDeadline: 0, StartedAt: 1 } };

  it("follows allocations as they are marked, stopped and complete, then the drain's end", () => {
    const w = newDrainWatch([a("alloc001-x"), a("alloc002-x", { DesiredStatus: "stop", ClientStatus: "complete" })]);
    const marked = drainProgress(w, draining, [a("alloc001-x", { DesiredTransition: { Migrate: true, Reschedule: false, ForceReschedule: false } }), a("alloc002-x", { DesiredStatus: "stop", ClientStatus: "complete" })]);
    expect(marked).toMatchObject({ lines: ['    Allocation "alloc001" marked for migration'], done: false });
    const stopped = drainProgress(marked.watch, { ...draining, DrainStrategy: null }, [a("alloc001-x", { DesiredStatus: "stop", DesiredTransition: { Migrate: true, Reschedule: false, ForceReschedule: false } })]);
    expect(stopped).toMatchObject({ lines: ['    Allocation "alloc001" draining', '==> Drain complete for node "node0001"'], done: false });
    const done = drainProgress(stopped.watch, { ...draining, DrainStrategy: null }, [a("alloc001-x", { DesiredStatus: "stop", ClientStatus: "complete" })]);
    expect(done).toMatchObject({ lines: ['    Allocation "alloc001" status changed: "running" -> "complete"', '==> All allocations on node "node0001" have stopped'], done: true });
  });

  it("is done at once for a node with nothing on it", () => {
    expect(drainProgress(newDrainWatch([]), { ...draining, DrainStrategy: null }, [])).toMatchObject({ done: true });
  });
});
