import { describe, expect, it } from "vitest";
import { mock, parseNode } from "./index.js";

function registration(hostVolumes: unknown): Record<string, unknown> {
  const { ComputedClass: _, ...node } = mock.node();
  return { ...node, HostVolumes: hostVolumes };
}

describe("a node registration's host volumes", () => {
  it("are read as Nomad's ClientHostVolumeConfig by name (its ID ignored), and none when absent or null", () => {
    const r = parseNode(registration({ data: { Name: "data", Path: "/srv/data", ReadOnly: true, ID: "" } }));
    expect(r.ok && r.node.HostVolumes).toEqual({ data: { Name: "data", Path: "/srv/data", ReadOnly: true } });
    const none = parseNode(registration(null));
    expect(none.ok && none.node.HostVolumes).toBeUndefined();
  });

  it("refuse a volume without an absolute path, naming its field", () => {
    const r = parseNode(registration({ data: { Path: "srv/data" }, other: { ReadOnly: "yes" } }));
    expect(r.ok ? [] : r.problems).toEqual([
      { path: "Node.HostVolumes.data.Path", message: 'must be an absolute path, got "srv/data"' },
      { path: "Node.HostVolumes.other.Path", message: "required: the volume's absolute path on the node" },
      { path: "Node.HostVolumes.other.ReadOnly", message: "must be a boolean" },
    ]);
  });
});
