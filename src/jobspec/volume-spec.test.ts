import { describe, expect, it } from "vitest";
import { hostVolumeFromWire, hostVolumeProblems } from "../structs/index.js";
import { parseByteSize, parseVolumeSpec } from "./volume-spec.js";

// Nomad's e2e spec (e2e/dynamic_host_volumes/input/volume-sticky.nomad.hcl) with the rest of what `volume create` reads.
const HCL = `
name      = "sticky-volume"
type      = "host"
plugin_id = "mkdir"
node_pool = "prod"
capacity_min = "1GiB"
capacity_max = "10 GB"

capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}
capability {
  access_mode     = "single-node-reader-only"
  attachment_mode = "file-system"
}

constraint {
  attribute = "\${attr.kernel.name}"
  value     = "linux"
}
constraint {
  attribute = "\${meta.rack}"
  regexp    = "^r[0-9]$"
}

parameters {
  mode = "0700"
  uid  = 1000
}
`;

describe("a volume specification (volume create FILE)", () => {
  it("reads Nomad's HCL into api.HostVolume: capabilities, constraints with their shorthands, sizes, parameters", async () => {
    const r = await parseVolumeSpec(HCL, "volume.hcl");
    expect(r.ok ? r.volume : r.errors).toEqual({
      Namespace: "",
      ID: "",
      Name: "sticky-volume",
      PluginID: "mkdir",
      NodePool: "prod",
      NodeID: "",
      Constraints: [
        { LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "=" },
        { LTarget: "${meta.rack}", RTarget: "^r[0-9]$", Operand: "regexp" },
      ],
      RequestedCapacityMinBytes: 1024 ** 3,
      RequestedCapacityMaxBytes: 10e9,
      CapacityBytes: 0,
      RequestedCapabilities: [
        { AccessMode: "single-node-writer", AttachmentMode: "file-system" },
        { AccessMode: "single-node-reader-only", AttachmentMode: "file-system" },
      ],
      Parameters: { mode: "0700", uid: "1000" },
      HostPath: "",
      State: "",
      CreateIndex: 0,
      CreateTime: 0,
      ModifyIndex: 0,
      ModifyTime: 0,
    });
  });

  it("reads the same keys in JSON", async () => {
    const r = await parseVolumeSpec(JSON.stringify({ name: "data", type: "host", node_id: "n1", host_path: "/srv/data", capability: [{ access_mode: "single-node-multi-writer", attachment_mode: "file-system" }] }), "volume.json");
    expect(r.ok && r.volume).toMatchObject({ Name: "data", NodeID: "n1", HostPath: "/srv/data", RequestedCapabilities: [{ AccessMode: "single-node-multi-writer", AttachmentMode: "file-system" }] });
  });

  it("refuses what it cannot read, each at its key: unknown keys with the nearest, CSI in one line, bad sizes, a missing name", async () => {
    const r = await parseVolumeSpec('type = "csi"\nnode_poll = "prod"\ncapacity_min = "lots"\ncapability {\n  acess_mode = "x"\n}\n', "v.hcl");
    expect(r.ok ? [] : r.errors).toEqual([
      'v.hcl: node_poll: unknown key "node_poll" in a volume specification; did you mean "node_pool"?',
      'v.hcl: type: type "csi": Ruche does not run CSI plugins; a volume here is a host volume (type = "host")',
      'v.hcl: capability[0].acess_mode: invalid capability: unknown key "acess_mode"; did you mean "access_mode"?',
      'v.hcl: capacity_min: invalid capacity_min: a size such as "10GiB" or "500MB", got "lots"',
      'v.hcl: name: missing name: name = "data"',
    ]);
    const none = await parseVolumeSpec('name = "x"\n', "v.hcl");
    expect(none.ok ? [] : none.errors).toEqual(['v.hcl: type: missing type: a volume specification says type = "host"']);
  });

  it("reads sizes as humanize.ParseBytes does", () => {
    expect([parseByteSize("1GiB"), parseByteSize("500MB"), parseByteSize("1.5 KiB"), parseByteSize(42), parseByteSize("x"), parseByteSize(-1)]).toEqual([1024 ** 3, 500e6, 1536, 42, null, null]);
  });
});

describe("a host volume in a request body (api.HostVolume)", () => {
  it("takes zero values as defaults and ignores unknown fields, and is checked in Nomad's words", () => {
    const r = hostVolumeFromWire({ Name: "data", Unknown: 1, Constraints: [{ LTarget: "${node.unique.id}", Operand: "distinct_hosts" }], RequestedCapabilities: [{ AccessMode: "multi-node", AttachmentMode: "block-device" }], RequestedCapacityMinBytes: 10, RequestedCapacityMaxBytes: 5, ID: "nope" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.volume).toMatchObject({ Name: "data", PluginID: "", NodeID: "" });
    expect("Parameters" in r.volume || "Unknown" in r.volume).toBe(false);
    expect(hostVolumeProblems(r.volume).map((p) => `${p.path}: ${p.message}`)).toEqual([
      'Volume.ID: invalid ID "nope"',
      "Volume.RequestedCapacityMaxBytes: capacity_max (5) must be larger than capacity_min (10)",
      'Volume.RequestedCapabilities[0].AttachmentMode: attachment mode "block-device": Ruche mounts host volumes as a file-system only',
      'Volume.RequestedCapabilities[0].AccessMode: invalid access mode: "multi-node"',
      "Volume.Constraints[0].Operand: invalid constraint distinct_hosts: host volumes of the same name are always on distinct hosts",
    ]);
  });

  it("refuses a field of the wrong type at its path", () => {
    const r = hostVolumeFromWire({ Name: 3, RequestedCapacityMinBytes: "1GiB", Parameters: { mode: 7 } });
    expect(r.ok ? [] : r.problems).toEqual([
      { path: "Volume.Parameters.mode", message: "must be a string" },
      { path: "Volume.Name", message: "must be a string" },
      { path: "Volume.RequestedCapacityMinBytes", message: "must be a whole number of bytes, 0 or more" },
    ]);
  });
});
