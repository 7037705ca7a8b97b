import { describe, expect, it } from "vitest";
import type { AllocStub } from "../../apiclient/index.js";
import { emptyMetric, FilterReason, mock, type AllocMetric, type Deployment } from "../../structs/index.js";
import { allocationsTable, allocDetail } from "./alloc.js";
import { awaitingPromotion, deployedTable, deploymentsTable, latestDeploymentKV } from "./deployment.js";
import { evalDetail, placementFailures } from "./eval.js";
import { jobHeader, jobsTable, summaryTable, versionsList } from "./job.js";
import { formatDrain, nodeDetail, nodesTable } from "./node.js";

const T0 = Date.UTC(2017, 8, 4, 12, 36, 41);

function demoJob(): ReturnType<typeof mock.job> {
  const j = mock.job({ id: "demoapp", datacenters: ["europe-west1"], canary: 1 });
  j.SubmitTime = T0 * 1_000_000;
  j.Status = "running";
  return j;
}

function deployment(o: Partial<Deployment> = {}, group: Partial<Deployment["TaskGroups"][string]> = {}): Deployment {
  return {
    ID: "b78e97cc-0000-4000-8000-000000000000",
    Namespace: "default",
    JobID: "demoapp",
    JobVersion: 1,
    JobModifyIndex: 16,
    JobCreateIndex: 5,
    TaskGroups: {
      webs: {
        AutoRevert: false,
        AutoPromote: false,
        ProgressDeadline: 600_000_000_000,
        RequireProgressBy: T0 + 600_000,
        Promoted: false,
        PlacedCanaries: ["c"],
        DesiredCanaries: 1,
        DesiredTotal: 2,
        PlacedAllocs: 1,
        HealthyAllocs: 1,
        UnhealthyAllocs: 0,
        ...group,
      },
    },
    Status: "running",
    StatusDescription: "Deployment is running but requires promotion",
    CreateIndex: 20,
    ModifyIndex: 22,
    ...o,
  };
}

function stub(id: string, node: string, o: Partial<AllocStub> = {}): AllocStub {
  const { Job: _job, ...rest } = mock.alloc(demoJob(), mock.node({ id: node }), 0, { ID: id });
  return { ...rest, TaskGroup: "webs", JobVersion: 0, ClientStatus: "running", CreateTime: T0, ModifyTime: T0, ...o };
}

describe("job sections", () => {
  it("prints the head of job status as Nomad does", () => {
    expect(jobHeader(demoJob())).toBe(
      [
        "ID            = demoapp",
        "Name          = demoapp",
        "Submit Date   = 09/04/17 12:36:41 UTC",
        "Type          = service",
        "Priority      = 50",
        "Datacenters   = europe-west1",
        "Namespace     = default",
        "Status        = running",
        "Periodic      = false",
        "Parameterized = false",
      ].join("\n"),
    );
  });

  it("lists every group of the job in the summary, with zeros for a group with no allocations", () => {
    expect(summaryTable(["webs", "db"], { webs: { Queued: 0, Starting: 0, Running: 2, Failed: 0, Complete: 0, Lost: 0 } })).toBe(
      "Task Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown\nwebs        0       0         2        0       0         0     0\ndb          0       0         0        0       0         0     0",
    );
  });

  it("lists jobs by ID, a stopped job as \"dead (stopped)\" as Nomad's getStatusString", () => {
    const stubs = [
      { ID: "web", Name: "web", Namespace: "default", Type: "service", Priority: 50, Status: "dead", Stop: true, Version: 1, Datacenters: [], JobSummary: { Summary: {} }, JobModifyIndex: 1, SubmitTime: T0 * 1_000_000 },
      { ID: "batch", Name: "batch", Namespace: "default", Type: "batch", Priority: 70, Status: "pending", Stop: false, Version: 0, Datacenters: [], JobSummary: { Summary: {} }, JobModifyIndex: 1, SubmitTime: T0 * 1_000_000 },
    ];
    expect(jobsTable(stubs)).toBe(
      "ID     Type     Priority  Status          Submit Date\nbatch  batch    70        pending         09/04/17 12:36:41 UTC\nweb    service  50        dead (stopped)  09/04/17 12:36:41 UTC",
    );
  });

  it("shows a stopped job's status in its header as \"dead (stopped)\"", () => {
    expect(jobHeader({ ...demoJob(), Status: "dead", Stop: true })).toContain("Status        = dead (stopped)\n");
  });

  it("lists versions newest first, with their diff when given", () => {
    const v0 = { ...demoJob(), Version: 0, Stable: true };
    const v1 = { ...demoJob(), Version: 1, Stable: false, SubmitTime: (T0 + 60_000) * 1_000_000 };
    expect(versionsList([v0, v1], new Map([[1, '+/- Job: "demoapp"']]))).toBe(
      'Version     = 1\nStable      = false\nSubmit Date = 09/04/17 12:37:41 UTC\nDiff        =\n+/- Job: "demoapp"\n\nVersion     = 0\nStable      = true\nSubmit Date = 09/04/17 12:36:41 UTC',
    );
  });
});

describe("allocation sections", () => {
  it("lists allocations newest first with short ids and ages", () => {
    const allocs = [stub("98bf6555-0000-4000-8000-000000000000", "546f06e7-0000-4000-8000-000000000000", { CreateIndex: 10 }), stub("2db75cbe-0000-4000-8000-000000000000", "93864b30-0000-4000-8000-000000000000", { CreateIndex: 20, JobVersion: 1, CreateTime: T0 + 60_000, ModifyTime: T0 + 60_000 })];
    expect(allocationsTable(allocs, T0 + 120_000)).toBe(
      [
        "ID        Node ID   Task Group  Version  Desired  Status   Created   Modified",
        "2db75cbe  93864b30  webs        1        run      running  1m0s ago  1m0s ago",
        "98bf6555  546f06e7  webs        0        run      running  2m0s ago  2m0s ago",
      ].join("\n"),
    );
  });

  it("shows an allocation with its deployment health and its tasks", () => {
    const j = demoJob();
    const a = mock.alloc(j, mock.node({ id: "93864b30-0000-4000-8000-000000000000", name: "n1" }), 0, {
      ID: "2db75cbe-0000-4000-8000-000000000000",
      ClientStatus: "running",
      DeploymentID: "b78e97cc-0000-4000-8000-000000000000",
      DeploymentStatus: { Healthy: true, Timestamp: T0, Canary: true, ModifyIndex: 0 },
      CreateTime: T0,
      ModifyTime: T0,
      TaskResources: { web: { CPU: 100, MemoryMB: 128, DiskMB: 300, Networks: [{ Mode: "host", MBits: 10, ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 23456, To: 80, HostNetwork: "default" }], IP: "10.0.0.1" }] } },
    });
    const text = allocDetail(a, T0 + 5_000);
    expect(text).toMatch(/^ID {18}= 2db75cbe\n/);
    expect(text).toContain("Node ID             = 93864b30\nNode Name           = n1\n");
    expect(text).toContain("Deployment Health   = healthy\nCanary              = true\n");
    expect(text).toContain('Task "web" is "running"\nTask Resources\nCPU      Memory   Disk     Addresses\n100 MHz  128 MiB  300 MiB  http: 10.0.0.1:23456');
    expect(text).not.toContain("Placement Metrics");
  });

  it("shows with -verbose the placement metrics: nodes looked at and turned down, and a row per scored node with each scorer's part", () => {
    const m: AllocMetric = {
      ...emptyMetric({ dc1: 5 }),
      NodesEvaluated: 5,
      NodesFiltered: 1,
      ConstraintFiltered: { "${meta.role} = web": 1 },
      NodesExhausted: 1,
      DimensionExhausted: { memory: 1 },
      ScoreMetaData: [
        { NodeID: "93864b30-0000-4000-8000-000000000000", Scores: { binpack: 0.7634 }, NormScore: 0.7634 },
        { NodeID: "546f06e7-0000-4000-8000-000000000000", Scores: { binpack: 0.09291, "node-affinity": 0.5 }, NormScore: 0.296455 },
        { NodeID: "0a1b2c3d-0000-4000-8000-000000000000", Scores: { binpack: 0.5, "job-anti-affinity": -1, "node-affinity": -0.5 }, NormScore: -1 / 3 },
      ],
    };
    const a = mock.alloc(demoJob(), mock.node({ id: "93864b30-0000-4000-8000-000000000000", name: "n1" }), 0, { ID: "2db75cbe-0000-4000-8000-000000000000", CreateTime: T0, ModifyTime: T0, Metrics: m });
    const text = allocDetail(a, T0 + 5_000, true);
    expect(text).toMatch(/^ID {18}= 2db75cbe-0000-4000-8000-000000000000\n/);
    expect(text).toContain("Evaluated Nodes     = 5\nFiltered Nodes      = 1\nExhausted Nodes     = 1\n");
    expect(text.endsWith(
      [
        "Placement Metrics",
        "  * Constraint `${meta.role} = web` filtered 1 node",
        "  * Resources exhausted on 1 node: memory",
        "Node                                  binpack  job-anti-affinity  node-affinity  final score",
        "93864b30-0000-4000-8000-000000000000  0.763    -                  -              0.763",
        "546f06e7-0000-4000-8000-000000000000  0.0929   -                  0.5            0.296",
        "0a1b2c3d-0000-4000-8000-000000000000  0.5      -1                 -0.5           -0.333",
      ].join("\n"),
    )).toBe(true);
    const { Metrics: _, ...unmeasured } = a;
    expect(allocDetail(unmeasured, T0, true)).toMatch(/\n\nPlacement Metrics\n {2}\* No placement metrics recorded$/);
    expect(allocDetail({ ...a, Metrics: { ...m, ScoreMetaData: [] } }, T0, true)).toMatch(/\n {2}\* No nodes were scored$/);
  });
});

describe("deployment sections", () => {
  it("shows canary columns only when a group has canaries, as the walkthrough's two Deployed tables", () => {
    expect(deployedTable(deployment(), { progressDeadline: false })).toBe("Task Group  Promoted  Desired  Canaries  Placed  Healthy  Unhealthy\nwebs        false     2        1         1       1        0");
    expect(deployedTable(deployment({ Status: "successful" }, { DesiredCanaries: 0, PlacedAllocs: 2, HealthyAllocs: 2 }), { progressDeadline: false })).toBe(
      "Task Group  Desired  Placed  Healthy  Unhealthy\nwebs        2        2       2        0",
    );
  });

  it("adds the progress deadline (N/A only when the group has none, as Nomad) and Auto Revert when a group has it", () => {
    expect(deployedTable(deployment({}, { AutoRevert: true }), { progressDeadline: true })).toBe(
      "Task Group  Auto Revert  Promoted  Desired  Canaries  Placed  Healthy  Unhealthy  Progress Deadline\nwebs        true         false     2        1         1       1        0          09/04/17 12:46:41 UTC",
    );
    expect(deployedTable(deployment({ Status: "failed", StatusDescription: "Failed due to unhealthy allocations" }, { UnhealthyAllocs: 1 }), { progressDeadline: true })).toMatch(/ 1 {10}09\/04\/17 12:46:41 UTC$/);
    expect(deployedTable(deployment({}, { RequireProgressBy: 0 }), { progressDeadline: true })).toMatch(/ {10}N\/A$/);
  });

  it("lists deployments newest first and shows the latest as job status does", () => {
    const old = deployment({ ID: "e839ee3d-0000-4000-8000-000000000000", JobVersion: 0, Status: "successful", StatusDescription: "Deployment completed successfully", CreateIndex: 6 });
    expect(deploymentsTable([old, deployment()])).toBe(
      [
        "ID        Job ID   Job Version  Status      Description",
        "b78e97cc  demoapp  1            running     Deployment is running but requires promotion",
        "e839ee3d  demoapp  0            successful  Deployment completed successfully",
      ].join("\n"),
    );
    expect(latestDeploymentKV(old)).toBe("ID          = e839ee3d\nStatus      = successful\nDescription = Deployment completed successfully");
  });

  it("waits for promotion only when every canary is healthy and nothing promotes them automatically", () => {
    expect(awaitingPromotion(deployment())).toBe(true);
    expect(awaitingPromotion(deployment({}, { HealthyAllocs: 0 }))).toBe(false);
    expect(awaitingPromotion(deployment({}, { AutoPromote: true }))).toBe(false);
    expect(awaitingPromotion(deployment({}, { Promoted: true }))).toBe(false);
    expect(awaitingPromotion(deployment({ Status: "failed" }))).toBe(false);
  });
});

describe("placement failures", () => {
  const metric = (o: Partial<AllocMetric>): AllocMetric => ({ ...emptyMetric({ dc1: 3 }), NodesEvaluated: 3, ...o });

  it("prints each group with how many allocations failed and one bullet per reason", () => {
    const failed = {
      webs: metric({ NodesEvaluated: 3, NodesFiltered: 1, ConstraintFiltered: { [FilterReason.MissingDrivers]: 1 }, NodesExhausted: 2, DimensionExhausted: { memory: 2 }, CoalescedFailures: 1 }),
    };
    expect(placementFailures(failed, "  ")).toBe('  Task Group "webs" (failed to place 2 allocations):\n    * 1 node missing drivers\n    * Resources exhausted on 2 nodes: memory\n    * 1 more allocation not placed for the same reasons');
  });

  it("shows them in eval status", () => {
    const ev = mock.evaluation(demoJob(), { ID: "1d7b9a95-0000-4000-8000-000000000000", Status: "complete", CreateTime: T0, ModifyTime: T0, FailedTGAllocs: { webs: metric({ NodesEvaluated: 0, NodesAvailable: {} }) } });
    const text = evalDetail(ev, T0);
    expect(text).toContain("Placement Failures = true");
    expect(text).toContain('Failed Placements\nTask Group "webs" (failed to place 1 allocation):\n  * No nodes were eligible for evaluation');
  });
});

describe("node sections", () => {
  it("lists nodes by name and tells a drain's kind", () => {
    const a = mock.node({ id: "f7476465-0000-4000-8000-000000000000", name: "b" });
    const b = mock.node({ id: "0a1b2c3d-0000-4000-8000-000000000000", name: "a", eligible: false });
    b.DrainStrategy = { Deadline: 3_600_000_000_000, IgnoreSystemJobs: true, ForceDeadline: T0, StartedAt: T0 };
    expect(nodesTable([a, b])).toBe(
      "ID        Node Pool  DC   Name  Class   Drain  Eligibility  Status\n0a1b2c3d  default    dc1  a     <none>  true   ineligible   ready\nf7476465  default    dc1  b     <none>  false  eligible     ready",
    );
    expect(formatDrain(b)).toBe("true; 09/04/17 12:36:41 UTC deadline; ignoring system jobs");
    expect(formatDrain({ DrainStrategy: { ...b.DrainStrategy, Deadline: -1 } })).toBe("true; force drain; ignoring system jobs");
    expect(formatDrain({ DrainStrategy: { ...b.DrainStrategy, Deadline: 0, ForceDeadline: 0, IgnoreSystemJobs: false } })).toBe("true; no deadline");
  });

  it("sums what the node's live allocations hold", () => {
    const n = mock.node({ id: "f7476465-0000-4000-8000-000000000000", cpu: 4000, memory: 8192 });
    const allocs = [stub("a1", n.ID), stub("a2", n.ID, { DesiredStatus: "stop", ClientStatus: "complete" })];
    expect(nodeDetail(n, allocs)).toContain("Allocated Resources\nCPU           Memory           Disk\n100/4000 MHz  128 MiB/8.0 GiB");
  });
});
