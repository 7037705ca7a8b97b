import { describe, expect, it } from "vitest";
import { hostNetworkAddresses, mock, parseNode } from "./index.js";

/** A registration as a client sends it, with these fields over a mock node's. */
function registration(extra: Record<string, unknown>): Record<string, unknown> {
  const { ComputedClass: _c, ...n } = mock.node({ id: "a1b2c3d4-0000-4000-8000-0000000000aa" });
  return { ...n, ...extra };
}

const ADDRESS = { Family: "ipv4", Alias: "lan", Address: "192.168.1.10", ReservedPorts: "22", Gateway: "" };

describe("a node's host networks in its registration", () => {
  it("keeps Ruche's NodeNetworks and HostNetworks, and reads Nomad's NodeResources.NodeNetworks, host interfaces only", () => {
    const hostNetworks = { lan: { Name: "lan", CIDR: "192.168.0.0/16", Interface: "", ReservedPorts: "22" } };
    const own = parseNode(registration({ HostNetworks: hostNetworks, NodeNetworks: [{ Mode: "host", Device: "eth1", MacAddress: "", Speed: 1000, Addresses: [ADDRESS] }] }));
    expect(own.ok && own.node.HostNetworks).toEqual(hostNetworks);
    expect(own.ok && own.node.NodeNetworks).toEqual([{ Mode: "host", Device: "eth1", MacAddress: "", Speed: 1000, Addresses: [ADDRESS] }]);

    const nomad = parseNode(
      registration({
        NodeResources: {
          NodeNetworks: [
            { Mode: "host", Device: "eth1", Addresses: [{ Alias: "lan", Address: "192.168.1.10" }, { Alias: "lan", Address: "fd00::10" }] },
            { Mode: "bridge", Device: "", Addresses: [{ Alias: "nomad", Address: "172.26.64.1" }] },
          ],
        },
      }),
    );
    expect(nomad.ok).toBe(true);
    if (!nomad.ok) return;
    expect(nomad.node.NodeNetworks?.map((n) => n.Addresses.map((a) => `${a.Family} ${a.Alias} ${a.Address}`))).toEqual([["ipv4 lan 192.168.1.10", "ipv6 lan fd00::10"]]);
    expect(hostNetworkAddresses(nomad.node, "lan")).toEqual(["192.168.1.10", "fd00::10"]);
    // A node that reports its interfaces has "default" only where it labels it.
    expect(hostNetworkAddresses(nomad.node, "default")).toEqual([]);
    // One that reports none (an older client) has its own address as "default".
    const plain = parseNode(registration({}));
    expect(plain.ok && hostNetworkAddresses(plain.node, "default")).toEqual(["10.0.0.1"]);
  });

  it("names the path of what is wrong", () => {
    const r = parseNode(registration({ HostNetworks: { lan: { CIDR: 10 } }, NodeNetworks: [{ Mode: "host", Addresses: [{ Address: "192.168.1.10", Family: "ip4" }] }, "eth0"] }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      "Node.HostNetworks.lan.CIDR: must be a string",
      'Node.NodeNetworks[0].Addresses[0].Family: must be "ipv4" or "ipv6"',
      "Node.NodeNetworks[0].Addresses[0].Alias: required",
      "Node.NodeNetworks[1]: must be an object",
    ]);
  });
});
