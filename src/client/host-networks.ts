import type os from "node:os";
import { cidrContains, DEFAULT_HOST_NETWORK, ipFamily, type ClientHostNetworkConfig, type NodeNetworkAddress, type NodeNetworkResource } from "../structs/index.js";

/** What `os.networkInterfaces()` gives: each interface's addresses by its name. */
export type Interfaces = Readonly<Record<string, readonly os.NetworkInterfaceInfo[] | undefined>>;

/** Link speed Nomad assumes when it cannot read one, in Mbit/s. */
const DEFAULT_SPEED = 1000;

/**
 * The node's interfaces with each address labelled with the host networks it belongs to, as
 * Nomad's network fingerprint makes `NodeResources.NodeNetworks`: an address belongs to a
 * host network when it lies in one of its `cidr` blocks (or it has none) on its `interface`
 * (or it names none); the node's own address (`ownIp`, what its tasks are reached on) is
 * labelled "default". An address appears once per host network it belongs to; one that
 * belongs to none is left out, and an interface left with no address. Link-local addresses
 * count only on an interface that has no other. IPv4 addresses come before IPv6 ones, and
 * interfaces in the order the system lists them. When no interface holds `ownIp` (an
 * address the node is reached on through a NAT), it is listed on its own, with no device.
 */
export function labelNetworks(interfaces: Interfaces, hostNetworks: Readonly<Record<string, ClientHostNetworkConfig>>, ownIp: string): NodeNetworkResource[] {
  const out: NodeNetworkResource[] = [];
  let ownSeen = false;
  for (const [device, infos] of Object.entries(interfaces)) {
    const plain: NodeNetworkAddress[] = [];
    const linkLocal: NodeNetworkAddress[] = [];
    let mac = "";
    for (const info of infos ?? []) {
      mac = info.mac;
      const address = info.address.replace(/%.*$/, "");
      if (address === ownIp) ownSeen = true;
      const family = info.family === "IPv6" ? "ipv6" : "ipv4";
      for (const alias of aliasesOf(device, address, hostNetworks, ownIp)) {
        const entry: NodeNetworkAddress = { Family: family, Alias: alias, Address: address, ReservedPorts: hostNetworks[alias]?.ReservedPorts ?? "", Gateway: "" };
        (isLinkLocal(address) ? linkLocal : plain).push(entry);
      }
    }
    const addresses = plain.length > 0 ? plain : linkLocal;
    if (addresses.length === 0) continue;
    out.push({ Mode: "host", Device: device, MacAddress: mac === "00:00:00:00:00:00" ? "" : mac, Speed: DEFAULT_SPEED, Addresses: byFamily(addresses) });
  }
  if (!ownSeen && ownIp !== "") {
    const family = ipFamily(ownIp) === 6 ? "ipv6" : "ipv4";
    out.push({ Mode: "host", Device: "", MacAddress: "", Speed: DEFAULT_SPEED, Addresses: [{ Family: family, Alias: DEFAULT_HOST_NETWORK, Address: ownIp, ReservedPorts: "", Gateway: "" }] });
  }
  return out.sort((a, b) => familyRank(a.Addresses[0]) - familyRank(b.Addresses[0]));
}

/** The host networks an address of an interface belongs to, "default" last for the node's own address (Nomad's `deriveAddressAliases`). */
function aliasesOf(device: string, address: string, hostNetworks: Readonly<Record<string, ClientHostNetworkConfig>>, ownIp: string): string[] {
  const out: string[] = [];
  for (const [name, h] of Object.entries(hostNetworks)) {
    const cidrMatch = h.CIDR === "" || h.CIDR.split(",").some((c) => cidrContains(c.trim(), address));
    const ifaceMatch = h.Interface === "" || h.Interface === device;
    if (cidrMatch && ifaceMatch) out.push(name);
  }
  if (address === ownIp && !out.includes(DEFAULT_HOST_NETWORK)) out.push(DEFAULT_HOST_NETWORK);
  return out;
}

function familyRank(a: NodeNetworkAddress | undefined): number {
  return a?.Family === "ipv6" ? 1 : 0;
}

function byFamily(list: NodeNetworkAddress[]): NodeNetworkAddress[] {
  return [...list].sort((a, b) => familyRank(a) - familyRank(b));
}

function isLinkLocal(address: string): boolean {
  return address.startsWith("169.254.") || /^fe[89ab][0-9a-f]:/i.test(address);
}
