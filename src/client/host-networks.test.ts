import type os from "node:os";
import { describe, expect, it } from "vitest";
import type { ClientHostNetworkConfig } from "../structs/index.js";
import { fingerprint } from "./fingerprint.js";
import { labelNetworks, type Interfaces } from "./host-networks.js";

const v4 = (address: string, mac = "02:42:ac:11:00:02"): os.NetworkInterfaceInfo => ({ address, netmask: "255.255.255.0", family: "IPv4", mac, internal: false, cidr: `${address}/24` });
const v6 = (address: string, mac = "02:42:ac:11:00:02"): os.NetworkInterfaceInfo => ({ address, netmask: "ffff:ffff:ffff:ffff::", family: "IPv6", mac, internal: false, cidr: `${address}/64`, scopeid: 0 });

const IFACES: Interfaces = {
  lo: [v4("127.0.0.1", "00:00:00:00:00:00"), v6("::1", "00:00:00:00:00:00")],
  eth0: [v4("192.168.1.10"), v6("fe80::42:acff:fe11:2")],
  eth1: [v4("10.20.0.5", "02:42:ac:11:00:03"), v6("fd00::5", "02:42:ac:11:00:03")],
};

const net = (Name: string, o: Partial<ClientHostNetworkConfig> = {}): ClientHostNetworkConfig => ({ Name, CIDR: "", Interface: "", ReservedPorts: "", ...o });

describe("labelling the node's addresses with its host networks", () => {
  it("labels each address with the host networks whose cidr and interface it matches, the node's own address \"default\"", () => {
    const nets = labelNetworks(IFACES, { lo: net("lo", { CIDR: "127.0.0.0/8" }), private: net("private", { CIDR: "10.0.0.0/8,fd00::/8", ReservedPorts: "22" }), lan: net("lan", { Interface: "eth0" }) }, "192.168.1.10");
    const labels = nets.flatMap((n) => n.Addresses.map((a) => `${n.Device} ${a.Alias} ${a.Address}${a.ReservedPorts === "" ? "" : ` reserved ${a.ReservedPorts}`}`));
    expect(labels).toEqual([
      "lo lo 127.0.0.1",
      "eth0 lan 192.168.1.10",
      "eth0 default 192.168.1.10",
      "eth1 private 10.20.0.5 reserved 22",
      "eth1 private fd00::5 reserved 22",
    ]);
    // The link-local address of eth0 is left out: eth0 has another; a loopback's MAC is none.
    expect(nets.find((n) => n.Device === "lo")?.MacAddress).toBe("");
    expect(nets.find((n) => n.Device === "eth1")).toMatchObject({ Mode: "host", MacAddress: "02:42:ac:11:00:03", Speed: 1000 });
    expect(nets.find((n) => n.Device === "eth1")?.Addresses.map((a) => a.Family)).toEqual(["ipv4", "ipv6"]);
  });

  it("matches an interface and a cidr together when a host network names both", () => {
    const nets = labelNetworks(IFACES, { both: net("both", { CIDR: "10.0.0.0/8", Interface: "eth0" }) }, "192.168.1.10");
    expect(nets.flatMap((n) => n.Addresses.map((a) => a.Alias))).toEqual(["default"]);
  });

  it("lists the node's own address on its own when no interface holds it", () => {
    const nets = labelNetworks(IFACES, {}, "203.0.113.7");
    expect(nets).toEqual([{ Mode: "host", Device: "", MacAddress: "", Speed: 1000, Addresses: [{ Family: "ipv4", Alias: "default", Address: "203.0.113.7", ReservedPorts: "", Gateway: "" }] }]);
  });

  it("is what the node reports: HostNetworks and NodeNetworks from this machine's interfaces", async () => {
    const node = await fingerprint(
      { ID: "a1b2c3d4-0000-4000-8000-000000000001", SecretID: "s" },
      { name: "n", datacenter: "dc1", nodeClass: "", nodePool: "default", meta: {}, ip: "127.0.0.1", httpAddr: "127.0.0.1:4646", minDynamicPort: 20000, maxDynamicPort: 32000, reserved: { CPU: 0, MemoryMB: 0, DiskMB: 0, ReservedHostPorts: "" }, hostNetworks: { loop: net("loop", { CIDR: "127.0.0.0/8" }) } },
      [],
    );
    expect(node.HostNetworks).toEqual({ loop: net("loop", { CIDR: "127.0.0.0/8" }) });
    const lo = node.NodeNetworks?.flatMap((n) => n.Addresses).filter((a) => a.Address === "127.0.0.1");
    expect(lo?.map((a) => a.Alias)).toEqual(["loop", "default"]);
  });
});
