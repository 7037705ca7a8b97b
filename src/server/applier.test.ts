import { describe, expect, it } from "vitest";
import { schedule } from "../scheduler/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock, type Job, type Node } from "../structs/index.js";
import { PlanApplier } from "./applier.js";
import { storeView } from "./view.js";

describe("the plan applier", () => {
  it("refuses the part of a plan that no longer fits: two plans from one snapshot never over-commit a node", async () => {
    const store = await StateStore.open(memoryBackend());
    const node: Node = mock.node({ cpu: 1000, memory: 1024 });
    const a: Job = mock.job({ id: "a", count: 1, cpu: 800, memory: 512 });
    const b: Job = mock.job({ id: "b", count: 1, cpu: 800, memory: 512 });
    await store.write((tx) => {
      tx.put("nodes", node);
      tx.put("jobs", a);
      tx.put("jobs", b);
    });
    // Both plans are made before either is applied: each believes the node is free.
    const planA = schedule(mock.evaluation(a), storeView(store), Date.now()).plan;
    const planB = schedule(mock.evaluation(b), storeView(store), Date.now()).plan;
    expect(Object.keys(planA.NodeAllocation)).toEqual([node.ID]);
    expect(Object.keys(planB.NodeAllocation)).toEqual([node.ID]);
    const applier = new PlanApplier(store, Date.now);
    const [ra, rb] = await Promise.all([applier.apply(planA), applier.apply(planB)]);
    expect(ra.refused).toEqual([]);
    expect(rb.refused).toEqual([node.ID]);
    expect(store.allocsByNode(node.ID)).toHaveLength(1);
    expect(store.nodeUsage(node.ID).cpu).toBe(800);

  });

  it("refuses placements on a node that went down since the plan was made", async () => {
    const store = await StateStore.open(memoryBackend());
    const node = mock.node();
    const job = mock.job({ id: "j", count: 2 });
    await store.write((tx) => {
      tx.put("nodes", node);
      tx.put("jobs", job);
    });
    const plan = schedule(mock.evaluation(job), storeView(store), Date.now()).plan;
    await store.write((tx) => {
      tx.put("nodes", { ...node, Status: "down" });
    });
    const r = await new PlanApplier(store, Date.now).apply(plan);
    expect(r.refused).toEqual([node.ID]);
    expect(store.allocs()).toEqual([]);
  });
});
