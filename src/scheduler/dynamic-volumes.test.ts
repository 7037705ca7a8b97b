import { describe, expect, it } from "vitest";
import { describeFailure, FilterReason, mock, type Allocation, type HostVolume, type Job, type Node, type VolumeRequest } from "../structs/index.js";
import { stickyOf, volumeServes } from "./dynamic-volumes.js";
import { MemoryView, schedule } from "./index.js";

const NOW = 1_700_000_000_000;

function request(o: Partial<VolumeRequest> = {}): VolumeRequest {
  return { Name: "data", Type: "host", Source: "sticky-volume", ReadOnly: false, Sticky: true, AccessMode: "", AttachmentMode: "", MountOptions: null, PerAlloc: false, ...o };
}

function hostVolume(id: string, node: Node, o: Partial<HostVolume> = {}): HostVolume {
  return {
    Namespace: "default",
    ID: id,
    Name: "sticky-volume",
    PluginID: "mkdir",
    NodePool: "default",
    NodeID: node.ID,
    RequestedCapacityMinBytes: 0,
    RequestedCapacityMaxBytes: 0,
    CapacityBytes: 0,
    RequestedCapabilities: [{ AccessMode: "single-node-writer", AttachmentMode: "file-system" }],
    HostPath: `/srv/host_volumes/${id}`,
    State: "ready",
    CreateIndex: 1,
    CreateTime: 0,
    ModifyIndex: 1,
    ModifyTime: 0,
    ...o,
  };
}

function dynamicNode(id: string): Node {
  return mock.node({ hostVolumes: { "sticky-volume": { path: `/srv/host_volumes/${id}`, id } } });
}

function stickyJob(count = 1, o: Partial<VolumeRequest> = {}): Job {
  const job = mock.job({ id: "example", count });
  const tg = job.TaskGroups[0];
  if (tg !== undefined) tg.Volumes = { data: request(o) };
  return job;
}

function run(job: Job, nodes: Node[], volumes: HostVolume[], allocs: Allocation[] = []) {
  const view = new MemoryView({ nodes, allocs, jobs: [job], deployments: [], hostVolumes: volumes });
  return schedule(mock.evaluation(job), view, NOW);
}

const placed = (r: ReturnType<typeof run>) => Object.values(r.plan.NodeAllocation).flat();

describe("dynamic host volumes in placement", () => {
  it("gives a sticky request's allocation the ID of the volume it was placed on (HostVolumeIDs)", () => {
    const a = dynamicNode("vol-a");
    const r = run(stickyJob(), [a], [hostVolume("vol-a", a)]);
    const [alloc] = placed(r);
    expect(alloc?.NodeID).toBe(a.ID);
    expect(alloc?.HostVolumeIDs).toEqual(["vol-a"]);
  });

  it("places the replacement of an allocation where its sticky volume is, whatever else fits", () => {
    const a = dynamicNode("vol-a");
    const b = dynamicNode("vol-b");
    const job = stickyJob();
    const volumes = [hostVolume("vol-a", a), hostVolume("vol-b", b)];
    // The allocation on b was told to move (alloc stop): its replacement must go back to b's volume.
    for (let i = 0; i < 8; i++) {
      const old = mock.alloc(job, b, 0, { HostVolumeIDs: ["vol-b"], DesiredTransition: { Migrate: true, Reschedule: false, ForceReschedule: false } });
      const r = run(job, [a, b], volumes, [old]);
      const next = placed(r).find((x) => x.DesiredStatus === "run");
      expect(next?.NodeID).toBe(b.ID);
      expect(next?.HostVolumeIDs).toEqual(["vol-b"]);
      expect(next?.PreviousAllocation).toBe(old.ID);
    }
  });

  it("holds a job run again after a stop to the volumes its last allocations had", () => {
    const a = dynamicNode("vol-a");
    const b = dynamicNode("vol-b");
    const job = stickyJob();
    const stopped = mock.alloc(job, a, 0, { HostVolumeIDs: ["vol-a"], DesiredStatus: "stop", ClientStatus: "complete" });
    for (let i = 0; i < 8; i++) {
      const r = run(job, [b, a], [hostVolume("vol-a", a), hostVolume("vol-b", b)], [stopped]);
      expect(placed(r).find((x) => x.DesiredStatus === "run")?.NodeID).toBe(a.ID);
    }
  });

  it("explains a replacement whose sticky volume is gone, rather than placing it elsewhere", () => {
    const b = dynamicNode("vol-b");
    const job = stickyJob();
    const old = mock.alloc(mock.job({ id: "example" }), b, 0, { HostVolumeIDs: ["vol-gone"], DesiredStatus: "stop", ClientStatus: "complete" });
    old.Job = job;
    const r = run(job, [b], [hostVolume("vol-b", b)], [old]);
    expect(placed(r).filter((x) => x.DesiredStatus === "run")).toEqual([]);
    const m = r.failed.web;
    expect(m?.ConstraintFiltered).toEqual({ [FilterReason.StickyHostVolume]: 1 });
    expect(describeFailure(m!)).toBe("1 node missing the sticky host volume of the allocation replaced");
  });

  it("wants a dynamic volume that is ready, in the job's namespace, with the request's modes; sticky never takes a static one", () => {
    const a = dynamicNode("vol-a");
    const staticNode = mock.node({ hostVolumes: { "sticky-volume": { path: "/srv/static" } } });
    const cases: [HostVolume[], Node[]][] = [
      [[hostVolume("vol-a", a, { State: "pending" })], [a]],
      [[hostVolume("vol-a", a, { Namespace: "prod" })], [a]],
      [[hostVolume("vol-a", a, { RequestedCapabilities: [{ AccessMode: "single-node-reader-only", AttachmentMode: "file-system" }] })], [a]],
      [[], [staticNode]],
    ];
    for (const [volumes, nodes] of cases) {
      const r = run(stickyJob(), nodes, volumes);
      expect(placed(r)).toEqual([]);
      expect(r.failed.web?.ConstraintFiltered).toEqual({ [FilterReason.MissingHostVolumes]: 1 });
    }
    // Not sticky, a static volume of the name serves.
    expect(placed(run(stickyJob(1, { Sticky: false }), [staticNode], []))).toHaveLength(1);
  });

  it("reads a request's access mode from read_only when it names none, as Nomad's hostVolumeIsAvailable", () => {
    const a = dynamicNode("vol-a");
    const writer = hostVolume("vol-a", a);
    expect(volumeServes(writer, { AccessMode: "", AttachmentMode: "", ReadOnly: false })).toBe(true);
    expect(volumeServes(writer, { AccessMode: "", AttachmentMode: "", ReadOnly: true })).toBe(false);
    const multi = hostVolume("vol-a", a, { RequestedCapabilities: [{ AccessMode: "single-node-multi-writer", AttachmentMode: "file-system" }] });
    expect(volumeServes(multi, { AccessMode: "single-node-multi-writer", AttachmentMode: "file-system", ReadOnly: true })).toBe(true);
  });

  it("takes the sticky volumes of the allocation replaced first, else of the newest allocation of the name", () => {
    const n = dynamicNode("x");
    const job = stickyJob();
    const older = mock.alloc(job, n, 0, { HostVolumeIDs: ["v1"], CreateIndex: 5 });
    const newer = mock.alloc(job, n, 0, { HostVolumeIDs: ["v2"], CreateIndex: 9 });
    const other = mock.alloc(job, n, 1, { HostVolumeIDs: ["v3"], CreateIndex: 12 });
    expect(stickyOf(null, [older, newer, other], newer.Name)).toEqual(["v2"]);
    expect(stickyOf(older, [older, newer, other], newer.Name)).toEqual(["v1"]);
    expect(stickyOf(null, [], newer.Name)).toEqual([]);
  });
});
