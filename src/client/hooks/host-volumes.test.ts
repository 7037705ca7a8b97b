import { describe, expect, it } from "vitest";
import type { Driver, TaskMount } from "../../drivers/index.js";
import { HostVolumesHook } from "./host-volumes.js";
import { taskBed, tempDirPerTest } from "./testing.js";

const root = tempDirPerTest("ruche-host-volumes-hook-");
const MOUNT: TaskMount = { volume: "shared", hostPath: "/srv/shared", taskPath: "/srv/data", readOnly: false, propagationMode: "private", selinuxLabel: "" };

/** The bed's context with a driver that says whether it mounts host volumes, and the spec's mounts. */
function bed(mounts: TaskMount[], mountsHostVolumes: boolean) {
  const { ctx } = taskBed(root());
  const driver: Driver = Object.assign(Object.create(ctx.driver) as Driver, { name: mountsHostVolumes ? "docker" : "raw_exec", mountsHostVolumes });
  return { ...ctx, driver, spec: { ...ctx.spec, mounts } };
}

describe("the volumes hook", () => {
  it("lets a task start whose mounts the node has and the driver makes, and one without any", async () => {
    expect(await new HostVolumesHook(bed([MOUNT], true), []).prestart()).toEqual({ ok: true });
    expect(await new HostVolumesHook(bed([], false), []).prestart()).toEqual({ ok: true });
  });

  it("refuses a task whose node lost a volume, a driver that mounts nothing, a destination that is not absolute once read", async () => {
    expect(await new HostVolumesHook(bed([], true), ["shared"]).prestart()).toEqual({ ok: false, event: "Setup Failure", reason: 'host volume validation error: missing "shared" on this node' });
    const ctx = bed([MOUNT], false);
    expect(await new HostVolumesHook(ctx, []).prestart()).toEqual({ ok: false, event: "Setup Failure", reason: `task driver "raw_exec" for "${ctx.task.Name}" does not support host volumes` });
    expect(await new HostVolumesHook(bed([{ ...MOUNT, taskPath: "data" }], true), []).prestart()).toMatchObject({ ok: false, reason: 'volume_mount destination must be an absolute path in the task without "..", got "data"' });
    expect(await new HostVolumesHook(bed([{ ...MOUNT, taskPath: "/local/../../etc" }], true), []).prestart()).toMatchObject({ ok: false });
  });
});
