import { existsSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliCluster, eventually, type CliCluster } from "./testing.js";

// Nomad's e2e spec (e2e/dynamic_host_volumes/input/volume-sticky.nomad.hcl), and a job of the mock driver asking for it
// sticky (the mock driver mounts nothing: the group's request places and claims; test/e2e/dynamic-host-volumes.test.ts mounts it).
const SPEC = `
name      = "sticky-volume"
type      = "host"
plugin_id = "mkdir"

capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}

constraint {
  attribute = "\${attr.kernel.name}"
  value     = "linux"
}

parameters {
  mode = "0700"
}
`;

const JOB = `
job "sticky" {
  datacenters = ["dc1"]
  group "g" {
    volume "data" {
      type   = "host"
      source = "sticky-volume"
      sticky = true
    }
    task "t" {
      driver = "mock"
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

describe("volume create, status, delete on a node agent of this process", () => {
  let c: CliCluster;

  beforeAll(async () => {
    c = await cliCluster({ name: "volume-cli", local: true, files: { "volume.hcl": SPEC, "job.hcl": JOB, "bad.hcl": 'name = "x"\ntype = "csi"\nsize = "1GB"\n' } });
  }, 60_000);

  afterAll(async () => {
    await c.close();
  });

  it("makes the volume on the node with the mkdir plugin, offers it, and places a sticky job's replacement on it", async () => {
    const created = await c.ruche(["volume", "create", "volume.hcl"]);
    expect(created.code, created.err).toBe(0);
    const id = /^Created host volume sticky-volume with ID ([0-9a-f-]{36})\n$/.exec(created.out)?.[1] ?? "";
    expect(id).not.toBe("");

    // The API answers Nomad's api.HostVolume, ready, at <data dir>/host_volumes/<id> with the mode asked.
    const vol = (await c.api.hostVolume(id)).body;
    expect(vol).toMatchObject({ ID: id, Name: "sticky-volume", Namespace: "default", PluginID: "mkdir", NodeID: c.client?.nodeId, NodePool: "default", State: "ready", CapacityBytes: 0 });
    expect(vol.HostPath).toBe(`${c.dir}/node/host_volumes/${id}`);
    expect(statSync(vol.HostPath).mode & 0o777).toBe(0o700);
    expect(vol.RequestedCapabilities).toEqual([{ AccessMode: "single-node-writer", AttachmentMode: "file-system" }]);
    expect(vol.Constraints).toEqual([{ LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "=" }]);
    // The node fingerprints it beside its static volumes, with its ID, and the plugin as an attribute.
    const node = c.store.node(c.client?.nodeId ?? "");
    expect(node?.HostVolumes?.["sticky-volume"]).toEqual({ Name: "sticky-volume", Path: vol.HostPath, ReadOnly: false, ID: id });
    expect(node?.Attributes["plugins.host_volume.mkdir.version"]).toBe("0.0.1");

    const list = await c.ruche(["volume", "status", "-type", "host"]);
    expect(list.code, list.err).toBe(0);
    expect(list.out).toMatch(/^ID +Name +Namespace +Plugin ID +Node ID +Node Pool +State\n/);
    expect(list.out).toMatch(new RegExp(`${id.slice(0, 8)} +sticky-volume +default +mkdir +${(c.client?.nodeId ?? "").slice(0, 8)} +default +ready\n`));

    const run = await c.ruche(["job", "run", "-detach", "job.hcl"]);
    expect(run.code, run.err).toBe(0);
    const [first] = await c.allocations("sticky", 1, (a) => a.ClientStatus === "running");
    expect(c.store.alloc(first?.ID ?? "")?.HostVolumeIDs).toEqual([id]);

    // Claimed: status lists the allocation, delete is refused in Nomad's words.
    const shown = await c.ruche(["volume", "status", id.slice(0, 8)]);
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out).toMatch(/^ID +=  ?[0-9a-f-]{36}\nName += sticky-volume\n/);
    expect(shown.out).toMatch(/Capacity += 0 B\nState += ready\nHost Path += \//);
    expect(shown.out).toMatch(/Capabilities\nAccess Mode +Attachment Mode\nsingle-node-writer +file-system\n/);
    expect(shown.out).toContain(`Allocations\nID        Job ID  Task Group  Desired  Status\n${(first?.ID ?? "").slice(0, 8)}  sticky  g           run      running`);
    const refused = await c.ruche(["volume", "delete", "-type", "host", id]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`volume ${id} in use by allocations: [${first?.ID ?? ""}]`);

    // alloc stop: the replacement keeps the volume.
    const stop = await c.ruche(["alloc", "stop", "-detach", first?.ID ?? ""]);
    expect(stop.code, stop.err).toBe(0);
    const [second] = await c.allocations("sticky", 1, (a) => a.ClientStatus === "running" && a.ID !== first?.ID);
    const replacement = c.store.alloc(second?.ID ?? "");
    expect(replacement?.PreviousAllocation).toBe(first?.ID);
    expect(replacement?.HostVolumeIDs).toEqual([id]);

    // Stopped, the job claims it no more: the delete removes the directory and the fingerprint.
    expect((await c.ruche(["job", "stop", "-detach", "sticky"])).code).toBe(0);
    await eventually("the allocations done", async () => (await c.api.jobAllocations("sticky")).body.every((a) => a.ClientStatus === "complete"), 20_000);
    const deleted = await c.ruche(["volume", "delete", id.slice(0, 8)]);
    expect(deleted.code, deleted.err).toBe(0);
    expect(deleted.out).toBe(`Successfully deleted volume "${id}"!\n`);
    expect(existsSync(vol.HostPath)).toBe(false);
    expect(c.store.node(c.client?.nodeId ?? "")?.HostVolumes?.["sticky-volume"]).toBeUndefined();
    expect((await c.ruche(["volume", "status"])).out).toBe("No dynamic host volumes\n");
  }, 60_000);

  it("refuses a spec with what is wrong at its key, CSI in one line, a plugin Ruche has not, and a node that cannot take it", async () => {
    const bad = await c.ruche(["volume", "create", "bad.hcl"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('bad.hcl: size: unknown key "size" in a volume specification');
    expect(bad.err).toContain('bad.hcl: type: type "csi": Ruche does not run CSI plugins');
    const csi = await c.ruche(["volume", "status", "-type", "csi"]);
    expect(csi.err).toContain("-type csi: Ruche does not run CSI plugins");

    const plugin = await c.api.hostVolumeCreate({ ...(await spec()), PluginID: "lvm" }).catch((e: unknown) => e);
    expect(String(plugin)).toContain('plugin_id "lvm": Ruche\'s clients have the built-in "mkdir" plugin only');
    const unfit = await c.api.hostVolumeCreate({ ...(await spec()), Name: "other", Constraints: [{ LTarget: "${attr.kernel.name}", RTarget: "windows", Operand: "=" }] }).catch((e: unknown) => e);
    expect(String(unfit)).toContain('could not place volume "other": no node fits (1 node: constraint ${attr.kernel.name} = windows not met)');
    const again = { ...(await spec()), Name: "again" };
    const taken = await c.api.hostVolumeCreate(again).then(() => c.api.hostVolumeCreate(again)).catch((e: unknown) => e);
    expect(String(taken)).toContain('could not place volume "again": no node fits (1 node: node already has a host volume named "again")');
    const claimed = await c.api.hostVolumeCreate({ ...(await spec()), RequestedCapacityMinBytes: 10, RequestedCapacityMaxBytes: 5 }).catch((e: unknown) => e);
    expect(String(claimed)).toContain("capacity_max (5) must be larger than capacity_min (10)");
  });
});

async function spec() {
  const { parseVolumeSpec } = await import("../jobspec/index.js");
  const r = await parseVolumeSpec(SPEC, "volume.hcl");
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.volume;
}
