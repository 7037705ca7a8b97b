import { describe, expect, it } from "vitest";
import { describeFailure, failedGroupHeading, mock, type Allocation, type Deployment, type Job, type Node, type Plan } from "../structs/index.js";
import { binpackScore, MemoryView, schedule } from "./index.js";

const NOW = 1_700_000_000_000;

function placed(plan: Plan): Allocation[] {
  return Object.values(plan.NodeAllocation).flat();
}
function stopped(plan: Plan): Allocation[] {
  return Object.values(plan.NodeUpdate).flat();
}
function run(job: Job, nodes: Node[], allocs: Allocation[] = [], deployments: Deployment[] = []) {
  const view = new MemoryView({ nodes, allocs, jobs: [job], deployments });
  return schedule(mock.evaluation(job), view, NOW);
}

describe("placing a new job", () => {
  it("places every allocation, named job.group[index], without over-committing a node", () => {
    const nodes = [mock.node({ cpu: 1000, memory: 1024 }), mock.node({ cpu: 1000, memory: 1024 })];
    const job = mock.job({ id: "web", count: 4, cpu: 500, memory: 512 });
    const r = run(job, nodes);
    const allocs = placed(r.plan);
    expect(allocs.map((a) => a.Name).sort()).toEqual(["web.web[0]", "web.web[1]", "web.web[2]", "web.web[3]"]);
    for (const n of nodes) expect(allocs.filter((a) => a.NodeID === n.ID).length).toBe(2);
    expect(r.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ Place: 4 });
    expect(r.failed).toEqual({});
  });

  it("binpacks: fills the fuller node first", () => {
    const busy = mock.node({ cpu: 2000, memory: 2048 });
    const idle = mock.node({ cpu: 2000, memory: 2048 });
    const other = mock.job({ id: "other", cpu: 1000, memory: 1024 });
    const job = mock.job({ id: "web", count: 1, cpu: 500, memory: 512 });
    const r = run(job, [busy, idle], [mock.alloc(other, busy, 0)]);
    expect(placed(r.plan)[0]?.NodeID).toBe(busy.ID);
    const spread = run({ ...job, Placement: "spread" }, [busy, idle], [mock.alloc(other, busy, 0)]);
    expect(placed(spread.plan)[0]?.NodeID).toBe(idle.ID);
  });

  it("explains a placement it could not make, in a user's words", () => {
    const nodes = [
      mock.node({ meta: { role: "worker" } }),
      mock.node({ meta: { role: "worker" } }),
      mock.node({ meta: { role: "worker" } }),
      mock.node({ meta: { role: "manager" }, memory: 256 }),
      mock.node({ meta: { role: "manager" }, memory: 256 }),
    ];
    const job = mock.job({ id: "db", count: 2, memory: 512 });
    job.Constraints = [{ LTarget: "${meta.role}", RTarget: "manager", Operand: "=" }];
    const r = run(job, nodes);
    expect(placed(r.plan)).toEqual([]);
    expect(r.queued).toEqual({ web: 2 });
    expect(describeFailure(r.failed.web!)).toBe(
      "Constraint `${meta.role} = manager` filtered 3 nodes; Resources exhausted on 2 nodes: memory; 1 more allocation not placed for the same reasons",
    );
    expect(failedGroupHeading("web", r.failed.web!)).toBe('Task Group "web" (failed to place 2 allocations)');
  });

  it("names missing drivers and skips nodes that are down, ineligible or in another datacenter", () => {
    const nodes = [
      mock.node({ drivers: ["exec"] }),
      mock.node({ status: "down" }),
      mock.node({ eligible: false }),
      mock.node({ datacenter: "dc2" }),
      mock.node({ drivers: ["docker"] }),
    ];
    const job = mock.job({ id: "d", count: 1, driver: "docker" });
    const r = run(job, nodes);
    expect(placed(r.plan)[0]?.NodeID).toBe(nodes[4]!.ID);
    const none = run(mock.job({ id: "d2", count: 1, driver: "raw_exec" }), [nodes[0]!, nodes[4]!]);
    expect(describeFailure(none.failed.web!)).toBe("2 nodes missing drivers");
  });

  it("tells a job sent to a datacenter without nodes which datacenters the ready nodes are in", () => {
    const nodes = [mock.node({ datacenter: "dc1" }), mock.node({ datacenter: "dc1" }), mock.node({ datacenter: "dc2", status: "down" })];
    const r = run(mock.job({ id: "eu", count: 1, datacenters: ["europe-west1"] }), nodes);
    const m = r.failed.web!;
    expect(m.NodesAvailable).toEqual({ "europe-west1": 0 });
    expect(m.NodesInOtherDatacenters).toEqual({ dc1: 2 });
    expect(describeFailure(m)).toBe('No nodes were eligible for evaluation; No nodes are available in datacenter "europe-west1"; Ready nodes are in datacenter "dc1" (2 nodes), not in "europe-west1"');
    const placedOne = run(mock.job({ id: "both", count: 1, datacenters: ["dc1", "europe-west1"] }), nodes);
    expect(placed(placedOne.plan)[0]?.Metrics?.NodesAvailable).toEqual({ dc1: 2, "europe-west1": 0 });
  });

  it("gives every allocation its own host ports and refuses a static port already taken", () => {
    const n = mock.node();
    const job = mock.job({ id: "p", count: 3, ports: ["http", "admin"] });
    const allocs = placed(run(job, [n]).plan);
    const ports = allocs.flatMap((a) => a.Resources.Networks.flatMap((x) => x.DynamicPorts.map((p) => p.Value)));
    expect(new Set(ports).size).toBe(6);
    for (const p of ports) expect(p >= 20000 && p <= 32000).toBe(true);
    const fixed = mock.job({ id: "s", count: 2, staticPorts: { http: 8080 } });
    const r = run(fixed, [n]);
    expect(placed(r.plan)).toHaveLength(1);
    expect(describeFailure(r.failed.web!)).toBe("Resources exhausted on 1 node: network: reserved port collision http=8080");
  });

  it("a port held by an allocation told to stop is not offered until its client says it stopped", () => {
    // One dynamic port on the node, and 8080: both held by a purged job's allocation whose task still runs.
    const base = mock.node();
    const n: Node = { ...base, Resources: { ...base.Resources, MinDynamicPort: 20000, MaxDynamicPort: 20000 } };
    const net = (dyn: boolean): Allocation["Resources"]["Networks"] => [
      { Mode: "host", MBits: 0, IP: "", ReservedPorts: dyn ? [] : [{ Label: "http", Value: 8080, To: 0, HostNetwork: "default" }], DynamicPorts: dyn ? [{ Label: "http", Value: 20000, To: 0, HostNetwork: "default" }] : [] },
    ];
    const dynamic = mock.job({ id: "d", count: 1, ports: ["http"] });
    const fixed = mock.job({ id: "s", count: 1, staticPorts: { http: 8080 } });
    for (const [job, dyn] of [[dynamic, true], [fixed, false]] as const) {
      const stopping = mock.alloc(job, n, 0, { ID: `old-${job.ID}`, DesiredStatus: "stop", ClientStatus: "running" });
      stopping.Resources = { ...stopping.Resources, Networks: net(dyn) };
      const r = run(job, [n], [stopping]);
      expect(placed(r.plan)).toEqual([]);
      expect(describeFailure(r.failed.web!)).toBe(dyn ? "Resources exhausted on 1 node: network: dynamic port selection failed" : "Resources exhausted on 1 node: network: reserved port collision http=8080");
      // Its client reports it complete: the port is free.
      const after = run(job, [n], [{ ...stopping, ClientStatus: "complete" }]);
      expect(placed(after.plan)).toHaveLength(1);
      const ports = placed(after.plan)[0]!.Resources.Networks.flatMap((x) => [...x.ReservedPorts, ...x.DynamicPorts].map((p) => p.Value));
      expect(ports).toEqual([dyn ? 20000 : 8080]);
    }
  });

  it("is deterministic: the same evaluation places the same way", () => {
    const nodes = Array.from({ length: 50 }, () => mock.node());
    const job = mock.job({ id: "det", count: 20 });
    const view = new MemoryView({ nodes, jobs: [job] });
    const ev = mock.evaluation(job);
    const a = schedule(ev, view, NOW);
    const b = schedule(ev, view, NOW);
    expect(placed(a.plan).map((x) => [x.ID, x.NodeID])).toEqual(placed(b.plan).map((x) => [x.ID, x.NodeID]));
  });
});

describe("placement constraints", () => {
  it("distinct_hosts keeps replicas apart", () => {
    const nodes = [mock.node(), mock.node()];
    const job = mock.job({ id: "dh", count: 3 });
    job.TaskGroups[0]!.Constraints = [{ LTarget: "", RTarget: "true", Operand: "distinct_hosts" }];
    const r = run(job, nodes);
    expect(new Set(placed(r.plan).map((a) => a.NodeID)).size).toBe(2);
    expect(describeFailure(r.failed.web!)).toBe("Constraint `distinct_hosts true` filtered 2 nodes");
  });

  it("beside_job and not_beside_job follow or avoid another job (fleet's MachineOf and Conflicts)", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const db = mock.job({ id: "db" });
    const dbAlloc = mock.alloc(db, nodes[1]!, 0);
    const with_ = mock.job({ id: "cache", count: 1 });
    with_.Constraints = [{ LTarget: "", RTarget: "db", Operand: "beside_job" }];
    expect(placed(run(with_, nodes, [dbAlloc]).plan)[0]?.NodeID).toBe(nodes[1]!.ID);
    const apart = mock.job({ id: "backup", count: 2 });
    apart.Constraints = [{ LTarget: "", RTarget: "db", Operand: "not_beside_job" }];
    expect(placed(run(apart, nodes, [dbAlloc]).plan).map((a) => a.NodeID)).not.toContain(nodes[1]!.ID);
  });

  it("distinct_property allows as many per value as asked", () => {
    const nodes = ["r1", "r1", "r2", "r2"].map((rack) => mock.node({ meta: { rack } }));
    const job = mock.job({ id: "dp", count: 3 });
    job.TaskGroups[0]!.Constraints = [{ LTarget: "${meta.rack}", RTarget: "1", Operand: "distinct_property" }];
    const r = run(job, nodes);
    const racks = placed(r.plan).map((a) => nodes.find((n) => n.ID === a.NodeID)!.Meta.rack);
    expect(racks.sort()).toEqual(["r1", "r2"]);
    expect(r.queued).toEqual({ web: 1 });
  });

  it("version and regexp constraints read node attributes", () => {
    const nodes = [mock.node({ attributes: { "kernel.version": "4.19.0" } }), mock.node({ attributes: { "kernel.version": "6.1.0" } })];
    const job = mock.job({ id: "v", count: 1 });
    job.Constraints = [{ LTarget: "${attr.kernel.version}", RTarget: ">= 5.0", Operand: "version" }];
    expect(placed(run(job, nodes).plan)[0]?.NodeID).toBe(nodes[1]!.ID);
  });

  it("spread over an attribute balances the values", () => {
    const nodes = ["a", "a", "a", "a", "b"].map((zone) => mock.node({ meta: { zone } }));
    const job = mock.job({ id: "sp", count: 4 });
    job.TaskGroups[0]!.Spreads = [{ Attribute: "${meta.zone}", Weight: 100, SpreadTarget: [] }];
    const zones = placed(run(job, nodes).plan).map((a) => nodes.find((n) => n.ID === a.NodeID)!.Meta.zone);
    expect(zones.filter((z) => z === "b").length).toBe(2);
  });
});

describe("placement metrics", () => {
  it("give each allocation what its placement saw: the nodes turned down, and the best scored with each scorer's part", () => {
    const small = mock.node({ id: "small", cpu: 1000, memory: 1024 });
    const big = mock.node({ id: "big", cpu: 4000, memory: 4096 });
    const busy = mock.node({ id: "busy", cpu: 2000, memory: 2048 });
    const execOnly = mock.node({ id: "exec-only", drivers: ["exec"], nodeClass: "batch" });
    const job = { ...mock.job({ id: "web", count: 2, cpu: 500, memory: 512, driver: "docker" }), FullScan: true };
    const r = run(job, [small, big, busy, execOnly], [mock.alloc(job, busy, 0, { ClientStatus: "running" })]);
    const [a] = placed(r.plan);
    const m = a?.Metrics;
    expect(m).toMatchObject({ NodesEvaluated: 4, NodesFiltered: 1, ConstraintFiltered: { "missing drivers": 1 }, ClassFiltered: { batch: 1 }, NodesExhausted: 0 });
    // Free fractions after the placement: small 1/2, big 7/8, busy (holding one already) 1/2.
    const half = binpackScore(0.5, 0.5);
    const anti = -1; // one collision of a group of 2: -min(1, (1 + 1) / 2)
    expect(m?.ScoreMetaData).toEqual([
      { NodeID: "small", Scores: { binpack: half }, NormScore: half },
      { NodeID: "big", Scores: { binpack: binpackScore(0.875, 0.875) }, NormScore: binpackScore(0.875, 0.875) },
      { NodeID: "busy", Scores: { binpack: half, "job-anti-affinity": anti }, NormScore: (half + anti) / 2 },
    ]);
    expect(a?.NodeID).toBe("small");
  });

  it("show the reschedule penalty on the node a replacement failed on", () => {
    const nodes = [mock.node({ id: "n0" }), mock.node({ id: "n1" })];
    const job = mock.job({ id: "f", count: 1 });
    const failed = mock.alloc(job, nodes[0]!, 0, { ClientStatus: "failed", ModifyTime: NOW - 60_000 });
    const [a] = placed(run(job, nodes, [failed]).plan);
    expect(a?.NodeID).toBe("n1");
    expect(a?.Metrics?.ScoreMetaData.find((e) => e.NodeID === "n0")?.Scores["node-reschedule-penalty"]).toBe(-1);
  });

  it("count a system job's failures on every node in the group's metric", () => {
    const nodes = [0, 1, 2].map((i) => mock.node({ id: `n${i}`, memory: 256 }));
    const job = mock.job({ id: "agent", type: "system", memory: 512 });
    const r = run(job, nodes);
    expect(r.queued).toEqual({ web: 3 });
    expect(failedGroupHeading("web", r.failed.web!)).toBe('Task Group "web" (failed to place 3 allocations)');
    expect(describeFailure(r.failed.web!)).toBe("Resources exhausted on 3 nodes: memory; 2 more allocations not placed for the same reasons");
    const fits = run(mock.job({ id: "agent", type: "system" }), nodes);
    expect(placed(fits.plan).map((x) => x.Metrics)).toEqual(nodes.map(() => expect.objectContaining({ NodesEvaluated: 1, ScoreMetaData: [] }) as unknown));
  });
});

describe("updates", () => {
  function existing(job: Job, nodes: Node[], n: number): Allocation[] {
    return Array.from({ length: n }, (_, i) => mock.alloc(job, nodes[i % nodes.length]!, i, { DeploymentStatus: { Healthy: true, Timestamp: 0, Canary: false, ModifyIndex: 0 } }));
  }

  it("a canary update places one canary and leaves the others (1 canary, 2 ignore)", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const v0 = mock.job({ id: "demoapp", count: 2, cpu: 200, memory: 64, canary: 1 });
    const v1 = mock.job({ id: "demoapp", count: 2, cpu: 300, memory: 128, canary: 1, version: 1 });
    const r = run(v1, nodes, existing(v0, nodes, 2));
    expect(r.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ Canary: 1, Ignore: 2, Place: 0, Stop: 0 });
    const canary = placed(r.plan);
    expect(canary).toHaveLength(1);
    expect(canary[0]).toMatchObject({ Name: "demoapp.web[0]", DeploymentStatus: { Canary: true, Healthy: null } });
    expect(r.plan.Deployment).toMatchObject({ JobVersion: 1, Status: "running", TaskGroups: { web: { DesiredCanaries: 1, DesiredTotal: 2, PlacedCanaries: [canary[0]!.ID], Promoted: false } } });
    expect(stopped(r.plan)).toEqual([]);
  });

  it("after promotion, old allocations are replaced max_parallel at a time", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const v0 = mock.job({ id: "demoapp", count: 2, canary: 1 });
    const v1 = mock.job({ id: "demoapp", count: 2, cpu: 300, canary: 1, version: 1 });
    const old = existing(v0, nodes, 2);
    const d: Deployment = {
      ID: "dep-1", Namespace: "default", JobID: "demoapp", JobVersion: 1, JobModifyIndex: v1.JobModifyIndex, JobCreateIndex: v1.CreateIndex,
      TaskGroups: { web: { AutoRevert: false, AutoPromote: false, ProgressDeadline: 0, RequireProgressBy: 0, Promoted: true, PlacedCanaries: ["c"], DesiredCanaries: 1, DesiredTotal: 2, PlacedAllocs: 1, HealthyAllocs: 1, UnhealthyAllocs: 0 } },
      Status: "running", StatusDescription: "", CreateIndex: 20, ModifyIndex: 20,
    };
    const canary = mock.alloc(v1, nodes[2]!, 0, { ID: "c", DeploymentID: "dep-1", DeploymentStatus: { Healthy: true, Timestamp: 0, Canary: true, ModifyIndex: 0 } });
    const r = run(v1, nodes, [...old, canary], [d]);
    // The canary holds web[0]: the old web[0] stops; web[1] is replaced, one at a time.
    expect(stopped(r.plan).map((a) => a.Name).sort()).toEqual(["demoapp.web[0]", "demoapp.web[1]"]);
    expect(placed(r.plan).map((a) => a.Name)).toEqual(["demoapp.web[1]"]);
    expect(placed(r.plan)[0]?.DeploymentID).toBe("dep-1");
  });

  it("a rolling update without canaries waits for each batch to be healthy", () => {
    const nodes = [mock.node(), mock.node()];
    const v0 = mock.job({ id: "r", count: 3, maxParallel: 1 });
    const v1 = mock.job({ id: "r", count: 3, memory: 256, maxParallel: 1, version: 1 });
    const first = run(v1, nodes, existing(v0, nodes, 3));
    expect(first.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ DestructiveUpdate: 1, Ignore: 2 });
    const d = first.plan.Deployment!;
    const inFlight = placed(first.plan)[0]!;
    const old = existing(v0, nodes, 3).filter((a) => a.Name !== inFlight.Name);
    const second = run(v1, nodes, [...old, inFlight], [d]);
    expect(second.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ DestructiveUpdate: 0, Ignore: 3 });
  });

  it("a tag change updates in place, a count change only adds", () => {
    const nodes = [mock.node()];
    const v0 = mock.job({ id: "t", count: 1 });
    const v1 = { ...mock.job({ id: "t", count: 2, version: 1 }) };
    v1.TaskGroups[0]!.Tasks[0]!.Services = [{ Name: "t", PortLabel: "", AddressMode: "auto", Tags: ["new"], CanaryTags: [], Meta: {}, TaskName: "web", Checks: [] }];
    const r = run(v1, nodes, existing(v0, nodes, 1));
    expect(r.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ InPlaceUpdate: 1, Place: 1, DestructiveUpdate: 0 });
  });

  it("scaling down stops the highest indexes first", () => {
    const nodes = [mock.node()];
    const v0 = mock.job({ id: "s", count: 4 });
    const v1 = mock.job({ id: "s", count: 2, version: 1 });
    const r = run(v1, nodes, existing(v0, nodes, 4));
    expect(stopped(r.plan).map((a) => a.Name).sort()).toEqual(["s.web[2]", "s.web[3]"]);
  });

  it("stopping the job stops everything and cancels its deployment", () => {
    const nodes = [mock.node()];
    const job = { ...mock.job({ id: "x", count: 2 }), Stop: true };
    const r = run(job, nodes, existing(job, nodes, 2));
    expect(stopped(r.plan)).toHaveLength(2);
    expect(placed(r.plan)).toEqual([]);
  });
});

describe("healing", () => {
  it("replaces the allocations of a node that is down, on another node (lost at once with lost_after 0)", () => {
    const dead = mock.node({ status: "down" });
    const alive = mock.node();
    const job = mock.job({ id: "h", count: 2 });
    job.TaskGroups[0]!.Disconnect = { LostAfter: 0, Replace: true, Reconcile: "longest_running" };
    const r = run(job, [dead, alive], [mock.alloc(job, dead, 0), mock.alloc(job, alive, 1)]);
    expect(stopped(r.plan)).toMatchObject([{ Name: "h.web[0]", ClientStatus: "lost", DesiredStatus: "stop" }]);
    expect(placed(r.plan)).toMatchObject([{ Name: "h.web[0]", NodeID: alive.ID }]);
  });

  it("migrates allocations marked by a drain", () => {
    const draining = { ...mock.node(), SchedulingEligibility: "ineligible" as const };
    const other = mock.node();
    const job = mock.job({ id: "m", count: 1 });
    const a = mock.alloc(job, draining, 0, { DesiredTransition: { Migrate: true, Reschedule: false, ForceReschedule: false } });
    const r = run(job, [draining, other], [a]);
    expect(r.plan.Annotations?.DesiredTGUpdates.web).toMatchObject({ Migrate: 1 });
    expect(placed(r.plan)[0]).toMatchObject({ NodeID: other.ID, PreviousAllocation: a.ID });
  });

  it("reschedules a failed allocation after its delay, away from the node it failed on", () => {
    const nodes = [mock.node(), mock.node()];
    const job = mock.job({ id: "f", count: 1 });
    const failed = mock.alloc(job, nodes[0]!, 0, { ClientStatus: "failed", ModifyTime: NOW - 5_000 });
    const early = run(job, nodes, [failed]);
    expect(placed(early.plan)).toEqual([]);
    expect(early.followups).toMatchObject([{ WaitUntil: NOW - 5_000 + 30_000, TriggeredBy: "alloc-failure" }]);
    const late = run(job, nodes, [{ ...failed, ModifyTime: NOW - 60_000 }]);
    expect(placed(late.plan)).toMatchObject([{ NodeID: nodes[1]!.ID, PreviousAllocation: failed.ID }]);
    expect(placed(late.plan)[0]?.RescheduleTracker?.Events).toHaveLength(1);
  });

  it("does not replace batch work that completed", () => {
    const nodes = [mock.node()];
    const job = mock.job({ id: "b", type: "batch", count: 2 });
    const r = run(job, nodes, [mock.alloc(job, nodes[0]!, 0, { ClientStatus: "complete" }), mock.alloc(job, nodes[0]!, 1)]);
    expect(placed(r.plan)).toEqual([]);
  });
});

describe("system jobs", () => {
  it("run once on every node that can run them, new nodes included, and nowhere their constraints forbid", () => {
    const nodes = [mock.node(), mock.node(), mock.node({ meta: { role: "edge" } })];
    const job = mock.job({ id: "agent", type: "system" });
    job.Constraints = [{ LTarget: "${meta.role}", RTarget: "edge", Operand: "!=" }];
    const first = run(job, nodes);
    expect(placed(first.plan).map((a) => a.NodeID).sort()).toEqual([nodes[0]!.ID, nodes[1]!.ID].sort());
    expect(first.failed).toEqual({});
    const joined = mock.node();
    const existingAllocs = placed(first.plan).map((a) => ({ ...a, ClientStatus: "running" as const }));
    const second = run(job, [...nodes, joined], existingAllocs);
    expect(placed(second.plan)).toMatchObject([{ NodeID: joined.ID, Name: `agent.web[0]` }]);
  });

  it("roll out max_parallel at a time, as a deployment (system-deployments.test.ts)", () => {
    const nodes = [mock.node(), mock.node(), mock.node()];
    const v0 = mock.job({ id: "sys", type: "system" });
    const v1 = mock.job({ id: "sys", type: "system", memory: 256, version: 1 });
    const old = nodes.map((n) => mock.alloc(v0, n, 0));
    const r = run(v1, nodes, old);
    expect(placed(r.plan)).toHaveLength(1);
    expect(placed(r.plan)[0]?.DeploymentID).toBe(r.plan.Deployment?.ID);
    expect(r.followups).toEqual([]);
  });
});
