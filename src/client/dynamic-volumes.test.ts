import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HostVolume } from "../structs/index.js";
import { DynamicHostVolumes } from "./dynamic-volumes.js";

let dir = "";

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-dynamic-volumes-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function vol(id: string, o: Partial<HostVolume> = {}): HostVolume {
  return { Namespace: "default", ID: id, Name: `v-${id}`, PluginID: "mkdir", NodePool: "default", NodeID: "n", RequestedCapacityMinBytes: 0, RequestedCapacityMaxBytes: 0, CapacityBytes: 0, RequestedCapabilities: [], HostPath: "", State: "pending", CreateIndex: 0, CreateTime: 0, ModifyIndex: 0, ModifyTime: 0, ...o };
}

describe("a node's dynamic host volumes", () => {
  it("are made by the mkdir plugin with its mode, offered again by a new agent on the same data dir, and removed by delete", async () => {
    const volumes = join(dir, "host_volumes");
    const m = new DynamicHostVolumes(volumes, join(dir, "client"));
    const made = await m.create(vol("a", { Parameters: { mode: "0750" } }));
    expect(made).toEqual({ HostPath: join(volumes, "a"), CapacityBytes: 0 });
    expect(statSync(made.HostPath).mode & 0o777).toBe(0o750);
    const registered = mkdtempSync(join(dir, "existing-"));
    await m.register(vol("b", { HostPath: registered }));

    // Another agent process on the same data dir.
    const again = new DynamicHostVolumes(volumes, join(dir, "client"));
    expect(await again.restore()).toEqual({
      "v-a": { Name: "v-a", Path: made.HostPath, ReadOnly: false, ID: "a" },
      "v-b": { Name: "v-b", Path: registered, ReadOnly: false, ID: "b" },
    });
    await again.delete(vol("a", { HostPath: made.HostPath }));
    await again.delete(vol("b", { HostPath: registered }));
    expect(existsSync(made.HostPath)).toBe(false);
    expect(existsSync(registered)).toBe(true);
    expect(await again.restore()).toEqual({});
  });

  it("refuse what the mkdir plugin does not take, another plugin, and a registered path that is not there", async () => {
    const m = new DynamicHostVolumes(join(dir, "host_volumes"), join(dir, "client"));
    await expect(m.create(vol("a", { Parameters: { size: "1G" } }))).rejects.toThrow('the mkdir plugin takes the parameters mode, uid and gid; not "size"');
    await expect(m.create(vol("a", { Parameters: { mode: "rwx" } }))).rejects.toThrow('parameter mode: an octal file mode such as "0755", got "rwx"');
    await expect(m.create(vol("a", { PluginID: "lvm" }))).rejects.toThrow('no such plugin: "lvm"');
    await expect(m.register(vol("b", { HostPath: join(dir, "nowhere") }))).rejects.toThrow(`host_path ${join(dir, "nowhere")} cannot be used`);
  });
});
