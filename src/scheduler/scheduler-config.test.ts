import { describe, expect, it } from "vitest";
import { mock, type Job, type Node, type SchedulerConfiguration } from "../structs/index.js";
import { schedule } from "./schedule.js";
import { MemoryView } from "./view.js";

/** What the cluster's scheduler configuration changes in placement: memory_max on the allocation, the ranking algorithm. */
const NOW = 1_700_000_000_000;

function viewWith(cfg: Pick<SchedulerConfiguration, "SchedulerAlgorithm" | "MemoryOversubscriptionEnabled">, nodes: Node[], job: Job): MemoryView {
  return new MemoryView({ nodes, jobs: [job], schedulerConfig: cfg });
}

function withMemoryMax(job: Job, max: number): Job {
  for (const t of job.TaskGroups[0]?.Tasks ?? []) t.Resources.MemoryMaxMB = max;
  return job;
}

describe("the scheduler configuration in placement", () => {
  it("gives a task its memory_max only while memory oversubscription is on, and counts its memory on the node", () => {
    const nodes = [mock.node({ id: "n1", memory: 1024 })];
    for (const on of [false, true]) {
      const job = withMemoryMax(mock.job({ id: "web", count: 1, memory: 256 }), 2048);
      const r = schedule(mock.evaluation(job), viewWith({ SchedulerAlgorithm: "binpack", MemoryOversubscriptionEnabled: on }, nodes, job), NOW);
      const [alloc] = Object.values(r.plan.NodeAllocation).flat();
      const task = Object.values(alloc?.TaskResources ?? {})[0];
      expect({ on, max: task?.MemoryMaxMB }).toEqual({ on, max: on ? 2048 : undefined });
      expect(alloc?.Resources.MemoryMB).toBe(256);
    }
  });

  it("ranks emptiest first under the spread algorithm for a job that asks for binpack, fullest first otherwise", () => {
    const busy = mock.node({ id: "busy", cpu: 10_000, memory: 8192 });
    const idle = mock.node({ id: "idle", cpu: 10_000, memory: 8192 });
    const holder = mock.job({ id: "holder", count: 1, cpu: 6000, memory: 4096 });
    const placedOn = (algorithm: "binpack" | "spread", placement?: Job["Placement"]): string | undefined => {
      const job = mock.job({ id: "web", count: 1, cpu: 500, memory: 256, ...(placement === undefined ? {} : { placement }) });
      const view = new MemoryView({ nodes: [busy, idle], jobs: [job, holder], allocs: [mock.alloc(holder, busy, 0)], schedulerConfig: { SchedulerAlgorithm: algorithm, MemoryOversubscriptionEnabled: false } });
      return Object.values(schedule(mock.evaluation(job), view, NOW).plan.NodeAllocation).flat()[0]?.NodeID;
    };
    expect(placedOn("binpack")).toBe("busy");
    expect(placedOn("spread")).toBe("idle");
    // A job's own strategy other than binpack stands.
    expect(placedOn("binpack", "spread")).toBe("idle");
  });
});
