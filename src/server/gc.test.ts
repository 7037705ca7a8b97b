import { describe, expect, it } from "vitest";
import { memoryBackend, StateStore } from "../state/index.js";
import { mock } from "../structs/index.js";
import { collectGarbage } from "./gc.js";

describe("garbage collection", () => {
  it("removes old terminal evaluations and allocations, keeps live ones, what a live one points to, and a stopped one whose task still runs", async () => {
    const store = await StateStore.open(memoryBackend());
    const node = mock.node();
    const job = mock.job({ id: "g" });
    const now = 10_000_000;
    const old = now - 2 * 3_600_000;
    const done = mock.alloc(job, node, 0, { ID: "done", ClientStatus: "complete", DesiredStatus: "stop", ModifyTime: old });
    const replaced = mock.alloc(job, node, 1, { ID: "replaced", ClientStatus: "failed", ModifyTime: old, NextAllocation: "live" });
    const live = mock.alloc(job, node, 1, { ID: "live", PreviousAllocation: "replaced", ModifyTime: old });
    const fresh = mock.alloc(job, node, 2, { ID: "fresh", ClientStatus: "complete", DesiredStatus: "stop", ModifyTime: now });
    // Told to stop long ago (its job purged), its task still running: it holds its ports, and stays.
    const stopping = mock.alloc(job, node, 3, { ID: "stopping", ClientStatus: "running", DesiredStatus: "stop", ModifyTime: old });
    // The same on a node that is down: nothing will report it, it goes.
    const down = { ...mock.node(), Status: "down" as const };
    const orphan = mock.alloc(job, down, 4, { ID: "orphan", ClientStatus: "running", DesiredStatus: "stop", ModifyTime: old });
    await store.write((tx) => {
      tx.put("nodes", node);
      tx.put("nodes", down);
      tx.put("jobs", job);
      for (const a of [done, replaced, live, fresh, stopping, orphan]) tx.put("allocs", a);
      tx.put("evals", mock.evaluation(job, { ID: "e-old", Status: "complete", ModifyTime: old }));
      tx.put("evals", mock.evaluation(job, { ID: "e-pending", Status: "pending", ModifyTime: old }));
      tx.put("evals", mock.evaluation(job, { ID: "e-new", Status: "complete", ModifyTime: now }));
    });
    const r = await collectGarbage(store, now);
    expect(r).toMatchObject({ evals: 1, allocs: 2 });
    expect(store.allocs().map((a) => a.ID).sort()).toEqual(["fresh", "live", "replaced", "stopping"]);
    expect(store.evals().map((e) => e.ID).sort()).toEqual(["e-new", "e-pending"]);
  });
});
