import { describe, expect, it } from "vitest";
import { mock, nodeHasNetwork, parseNode } from "./index.js";

function registration(networks: unknown): Record<string, unknown> {
  const { ComputedClass: _, ...node } = mock.node();
  return { ...node, Resources: { ...node.Resources, Networks: networks } };
}

describe("the network modes a node offers", () => {
  it("are read from its registration's Resources.Networks, and none when absent or null", () => {
    const r = parseNode(registration([{ Mode: "cni/mynet", Device: "ignored" }]));
    expect(r.ok && r.node.Resources.Networks).toEqual([{ Mode: "cni/mynet" }]);
    const none = parseNode(registration(null));
    expect(none.ok && none.node.Resources.Networks).toBeUndefined();
  });

  it("refuse a network without a mode, or not a list, naming the field", () => {
    const r = parseNode(registration([{ Mode: "" }]));
    expect(r.ok ? [] : r.problems).toEqual([{ path: "Node.Resources.Networks[0].Mode", message: "required: the network mode the node offers" }]);
    const notList = parseNode(registration({ Mode: "cni/x" }));
    expect(notList.ok ? [] : notList.problems.map((p) => p.path)).toEqual(["Node.Resources.Networks"]);
  });

  it("include host, bridge and none on every node; a CNI network only where offered", () => {
    const n = mock.node({ networks: ["cni/mynet"] });
    for (const mode of ["host", "bridge", "none", "cni/mynet"]) expect(nodeHasNetwork(n, mode)).toBe(true);
    expect(nodeHasNetwork(n, "cni/other")).toBe(false);
    expect(nodeHasNetwork(mock.node(), "cni/mynet")).toBe(false);
  });
});
