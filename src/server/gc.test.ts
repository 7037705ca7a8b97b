import { describe, expect, it } from "vitest";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock } from "../structs/index.js";
import { collectGarbage } from "./gc.js";

describe("garbage collection", () => {
  it("removes old terminal evaluations and allocations, keeps live ones and what a live one points to", async () => {
    const store = await StateStore.open(memoryBackend());
    const node = mock.node();
    const job = mock.job({ id: "g" });
    const now = 10_000_000;
    const old = now - 2 * 3_600_000;
    const done = mock.alloc(job, node, 0, { ID: "done", ClientStatus: "complete", DesiredStatus: "stop", ModifyTime: old });
    const replaced = mock.alloc(job, node, 1, { ID: "replaced", ClientStatus: "failed", ModifyTime: old, NextAllocation: "live" });
    const live = mock.alloc(job, node, 1, { ID: "live", PreviousAllocation: "replaced", ModifyTime: old });
    const fresh = mock.alloc(job, node, 2, { ID: "fresh", ClientStatus: "complete", DesiredStatus: "stop", ModifyTime: now });
    await store.write((tx) => {
      tx.put("nodes", node);
      tx.put("jobs", job);
      for (const a of [done, replaced, live, fresh]) tx.put("allocs", a);
      tx.put("evals", mock.evaluation(job, { ID: "e-old", Status: "complete", ModifyTime: old }));
      tx.put("evals", mock.evaluation(job, { ID: "e-pending", Status: "pending", ModifyTime: old }));
      tx.put("evals", mock.evaluation(job, { ID: "e-new", Status: "complete", ModifyTime: now }));
    });
    const r = await collectGarbage(store, now);
    expect(r).toMatchObject({ evals: 1, allocs: 1 });
    expect(store.allocs().map((a) => a.ID).sort()).toEqual(["fresh", "live", "replaced"]);
    expect(store.evals().map((e) => e.ID).sort()).toEqual(["e-new", "e-pending"]);
  });
});
