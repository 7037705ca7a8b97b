import { describe, expect, it } from "vitest";
import { constraintReason, describeFailure, emptyMetric, exhaustNode, failedGroupHeading, failureReasons, FilterReason, filterNode, reservedPortCollision } from "./index.js";
import { node } from "./mock.js";

describe("AllocMetric in words", () => {
  it("names each reason nodes were turned down, most nodes first, and how many more allocations it stands for", () => {
    const m = emptyMetric({ dc1: 6 });
    const gpu = node({ nodeClass: "gpu" });
    const plain = node();
    m.NodesEvaluated = 6;
    filterNode(m, gpu, FilterReason.MissingDrivers);
    const role = constraintReason({ LTarget: "${meta.role}", RTarget: "manager", Operand: "=" });
    for (let i = 0; i < 3; i++) filterNode(m, plain, role);
    exhaustNode(m, "memory");
    exhaustNode(m, reservedPortCollision("http", 8080));
    m.CoalescedFailures = 1;
    expect(failureReasons(m)).toEqual([
      'Class "gpu": 1 node filtered',
      "Constraint `${meta.role} = manager` filtered 3 nodes",
      "1 node missing drivers",
      "Resources exhausted on 2 nodes: memory (1), network: reserved port collision http=8080 (1)",
      "1 more allocation not placed for the same reasons",
    ]);
    expect(describeFailure(m)).toBe(failureReasons(m).join("; "));
    expect(failedGroupHeading("web", m)).toBe('Task Group "web" (failed to place 2 allocations)');
  });

  it("says when no node was there to look at", () => {
    expect(failureReasons(emptyMetric())).toEqual(["No nodes were eligible for evaluation"]);
    expect(failedGroupHeading("web", emptyMetric())).toBe('Task Group "web" (failed to place 1 allocation)');
  });

  it("names a datacenter the job asks for that has no ready node, and where the ready nodes are", () => {
    const m = { ...emptyMetric({ "europe-west1": 0, "europe-west2": 0 }), NodesInOtherDatacenters: { dc1: 1, dc2: 3 } };
    expect(failureReasons(m)).toEqual([
      "No nodes were eligible for evaluation",
      'No nodes are available in datacenter "europe-west1"',
      'No nodes are available in datacenter "europe-west2"',
      'Ready nodes are in datacenters "dc1" (1 node), "dc2" (3 nodes), not in "europe-west1", "europe-west2"',
    ]);
  });

  it("writes a constraint as the job file does, without empty sides", () => {
    expect(constraintReason({ LTarget: "", RTarget: "true", Operand: "distinct_hosts" })).toBe("distinct_hosts true");
    expect(constraintReason({ LTarget: "${attr.kernel.name}", RTarget: "", Operand: "is_set" })).toBe("${attr.kernel.name} is_set");
  });
});
