import { describe, expect, it } from "vitest";
import { describeFailure, FilterReason, mock, type Job, type Node, type VolumeRequest } from "../structs/index.js";
import { hostVolumeCheck } from "./feasible.js";
import { MemoryView, schedule } from "./index.js";

const NOW = 1_700_000_000_000;

function volume(source: string, readOnly = false): VolumeRequest {
  return { Name: source, Type: "host", Source: source, ReadOnly: readOnly, Sticky: false, AccessMode: "", AttachmentMode: "", MountOptions: null, PerAlloc: false };
}

function withVolumes(job: Job, volumes: VolumeRequest[]): Job {
  const tg = job.TaskGroups[0];
  if (tg !== undefined) tg.Volumes = Object.fromEntries(volumes.map((v) => [v.Name, v]));
  return job;
}

function run(job: Job, nodes: Node[]) {
  const view = new MemoryView({ nodes, allocs: [], jobs: [job], deployments: [] });
  return schedule(mock.evaluation(job), view, NOW);
}

describe("host volumes in placement", () => {
  it("places only on nodes that offer the volume, read-write for a writable request", () => {
    const none = mock.node();
    const readOnly = mock.node({ hostVolumes: { data: { path: "/srv/data", readOnly: true } } });
    const writable = mock.node({ hostVolumes: { data: { path: "/srv/data" } } });
    const job = withVolumes(mock.job({ id: "db", count: 3 }), [volume("data")]);
    const r = run(job, [none, readOnly, writable]);
    const placed = Object.values(r.plan.NodeAllocation).flat();
    expect(placed).toHaveLength(3);
    expect(new Set(placed.map((a) => a.NodeID))).toEqual(new Set([writable.ID]));
  });

  it("places each allocation of a per_alloc request where its own volume, source[N], is offered", () => {
    const n0 = mock.node({ hostVolumes: { "data[0]": { path: "/srv/d0" } } });
    const n12 = mock.node({ hostVolumes: { "data[1]": { path: "/srv/d1" }, "data[2]": { path: "/srv/d2" } } });
    const plain = mock.node({ hostVolumes: { data: { path: "/srv/data" } } });
    const job = withVolumes(mock.job({ id: "db", count: 4 }), [{ ...volume("data"), PerAlloc: true }]);
    const r = run(job, [plain, n12, n0]);
    const placed = Object.values(r.plan.NodeAllocation).flat();
    const where = Object.fromEntries(placed.map((a) => [a.Name, a.NodeID]));
    expect(where).toEqual({ "db.web[0]": n0.ID, "db.web[1]": n12.ID, "db.web[2]": n12.ID });
    const failed = r.plan.FailedTGAllocs.web;
    expect(failed?.ConstraintFiltered[FilterReason.MissingHostVolumes]).toBeGreaterThan(0);
  });

  it("lets a read-only request use a read-only volume", () => {
    const readOnly = mock.node({ hostVolumes: { data: { path: "/srv/data", readOnly: true } } });
    const job = withVolumes(mock.job({ id: "db" }), [volume("data", true)]);
    expect(Object.values(run(job, [readOnly]).plan.NodeAllocation).flat()).toHaveLength(1);
  });

  it("says why when no node offers a compatible volume, in Nomad's words", () => {
    const nodes = [mock.node(), mock.node({ hostVolumes: { data: { path: "/srv/data", readOnly: true } } }), mock.node({ hostVolumes: { other: { path: "/srv/other" } } })];
    const job = withVolumes(mock.job({ id: "db", count: 1 }), [volume("data")]);
    const r = run(job, nodes);
    expect(Object.values(r.plan.NodeAllocation).flat()).toEqual([]);
    const m = r.failed.web;
    expect(m?.ConstraintFiltered).toEqual({ [FilterReason.MissingHostVolumes]: 3 });
    expect(describeFailure(m!)).toBe("3 nodes missing compatible host volumes");
  });

  it("is a named check that reads only the group's host volumes", () => {
    const job = mock.job({ id: "db" });
    expect(hostVolumeCheck(job.TaskGroups[0]!)).toBeNull();
    const tg = withVolumes(job, [volume("a"), volume("b", true)]).TaskGroups[0]!;
    const check = hostVolumeCheck(tg)!;
    expect(check.name).toBe("missing compatible host volumes");
    expect(check.test(mock.node({ hostVolumes: { a: { path: "/a" }, b: { path: "/b", readOnly: true } } }))).toBe(true);
    expect(check.test(mock.node({ hostVolumes: { a: { path: "/a" } } }))).toBe(false);
    expect(check.test(mock.node({ hostVolumes: { a: { path: "/a", readOnly: true }, b: { path: "/b" } } }))).toBe(false);
  });

  it("tells nodes with different host volumes apart by class, so a shared verdict is never wrong", () => {
    const a = mock.node({ hostVolumes: { data: { path: "/x" } } });
    const b = mock.node({ hostVolumes: { data: { path: "/x", readOnly: true } } });
    const c = mock.node();
    expect(new Set([a.ComputedClass, b.ComputedClass, c.ComputedClass]).size).toBe(3);
  });
});
