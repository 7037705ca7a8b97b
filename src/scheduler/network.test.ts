import { describe, expect, it } from "vitest";
import { describeFailure, FilterReason, mock, type Job, type Node } from "../structs/index.js";
import { networkCheck } from "./feasible.js";
import { MemoryView, schedule } from "./index.js";

const NOW = 1_700_000_000_000;

function inNetwork(job: Job, mode: string): Job {
  const tg = job.TaskGroups[0];
  if (tg !== undefined) tg.Networks = [{ Mode: mode as Job["TaskGroups"][number]["Networks"][number]["Mode"], MBits: 0, IP: "", ReservedPorts: [], DynamicPorts: [] }];
  return job;
}

function run(job: Job, nodes: Node[]) {
  const view = new MemoryView({ nodes, allocs: [], jobs: [job], deployments: [] });
  return schedule(mock.evaluation(job), view, NOW);
}

describe("CNI networks in placement (Nomad's NetworkChecker)", () => {
  it("places a group in cni/<name> only on nodes that offer that network", () => {
    const none = mock.node();
    const other = mock.node({ networks: ["cni/other"] });
    const offers = mock.node({ networks: ["cni/other", "cni/mynet"] });
    const r = run(inNetwork(mock.job({ id: "web", count: 3 }), "cni/mynet"), [none, other, offers]);
    const placed = Object.values(r.plan.NodeAllocation).flat();
    expect(placed).toHaveLength(3);
    expect(new Set(placed.map((a) => a.NodeID))).toEqual(new Set([offers.ID]));
  });

  it("says why when no node offers the network, in Nomad's words", () => {
    const r = run(inNetwork(mock.job({ id: "web", count: 1 }), "cni/mynet"), [mock.node(), mock.node({ networks: ["cni/other"] })]);
    expect(Object.values(r.plan.NodeAllocation).flat()).toEqual([]);
    const m = r.failed.web;
    expect(m?.ConstraintFiltered).toEqual({ [FilterReason.MissingNetwork]: 2 });
    expect(describeFailure(m!)).toBe("2 nodes missing network");
  });

  it("checks nothing for host, bridge and none, which every node offers", () => {
    for (const mode of ["host", "bridge", "none"]) expect(networkCheck(inNetwork(mock.job({ id: "x" }), mode).TaskGroups[0]!)).toBeNull();
    const check = networkCheck(inNetwork(mock.job({ id: "x" }), "cni/mynet").TaskGroups[0]!)!;
    expect(check.name).toBe("missing network");
    expect(check.test(mock.node({ networks: ["cni/mynet"] }))).toBe(true);
    expect(check.test(mock.node())).toBe(false);
  });

  it("tells nodes with different networks apart by class, so a shared verdict is never wrong", () => {
    const a = mock.node({ networks: ["cni/mynet"] });
    const b = mock.node({ networks: ["cni/other"] });
    const c = mock.node();
    expect(new Set([a.ComputedClass, b.ComputedClass, c.ComputedClass]).size).toBe(3);
  });
});
