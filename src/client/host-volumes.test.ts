import { describe, expect, it } from "vitest";
import { mock, type TaskGroup } from "../structs/index.js";
import { planHostVolumes } from "./host-volumes.js";

function group(readOnly: boolean, mountReadOnly: boolean, destination = "/srv/data"): TaskGroup {
  const tg = mock.job({ id: "db" }).TaskGroups[0]!;
  tg.Volumes = { data: { Name: "data", Type: "host", Source: "shared", ReadOnly: readOnly, Sticky: false, AccessMode: "", AttachmentMode: "", MountOptions: null, PerAlloc: false } };
  const task = tg.Tasks[0]!;
  task.VolumeMounts = [{ Volume: "data", Destination: destination, ReadOnly: mountReadOnly, PropagationMode: "private", SELinuxLabel: "" }];
  return tg;
}

describe("a task's host volume mounts on its node", () => {
  it("mount the node's path at the destination, read-only when the node, the request or the mount says so", () => {
    const rw = mock.node({ hostVolumes: { shared: { path: "/srv/shared" } } });
    const ro = mock.node({ hostVolumes: { shared: { path: "/srv/shared", readOnly: true } } });
    const plan = (tg: TaskGroup, n = rw) => planHostVolumes(tg, tg.Tasks[0]!, n);
    expect(plan(group(false, false))).toEqual({ mounts: [{ volume: "shared", hostPath: "/srv/shared", taskPath: "/srv/data", readOnly: false, propagationMode: "private", selinuxLabel: "" }], missing: [] });
    expect(plan(group(true, false)).mounts[0]?.readOnly).toBe(true);
    expect(plan(group(false, true)).mounts[0]?.readOnly).toBe(true);
    expect(plan(group(false, false), ro).mounts[0]?.readOnly).toBe(true);
  });

  it("read the task's variables in the destination, as Nomad's volume hook does", () => {
    const tg = group(false, false, "${NOMAD_TASK_DIR}/data");
    const n = mock.node({ hostVolumes: { shared: { path: "/srv/shared" } } });
    const env: Record<string, string> = { NOMAD_TASK_DIR: "/local" };
    expect(planHostVolumes(tg, tg.Tasks[0]!, n, (t) => t.replace(/\$\{(\w+)\}/g, (_, k: string) => env[k] ?? "")).mounts[0]?.taskPath).toBe("/local/data");
  });

  it("mount an allocation's own volume for a per_alloc request, source[N] by its index", () => {
    const tg = group(false, false);
    tg.Volumes!.data!.PerAlloc = true;
    const n = mock.node({ hostVolumes: { "shared[1]": { path: "/srv/shared-1" } } });
    expect(planHostVolumes(tg, tg.Tasks[0]!, n, undefined, "db.web[1]").mounts.map((m) => [m.volume, m.hostPath])).toEqual([["shared[1]", "/srv/shared-1"]]);
    expect(planHostVolumes(tg, tg.Tasks[0]!, n, undefined, "db.web[0]")).toEqual({ mounts: [], missing: ["shared[0]"] });
  });

  it("name the sources the node lacks (an agent started again without them)", () => {
    const tg = group(false, false);
    expect(planHostVolumes(tg, tg.Tasks[0]!, mock.node())).toEqual({ mounts: [], missing: ["shared"] });
  });
});
