import { parseCidr, type ClientHostNetworkConfig } from "../structs/index.js";

/**
 * A node's host network, as its agent config declares it (Nomad's
 * `client { host_network "NAME" { cidr = "10.0.0.0/8" interface = "eth1" reserved_ports = "22,80" } }`)
 * and as `ruche agent -host-network` takes it on the command line:
 * `NAME [cidr=BLOCK[,BLOCK...]] [interface=DEVICE] [reserved_ports=PORTS]`, space-separated.
 */

/** A host network's name: what a job's port names in `host_network = "NAME"`. */
export const HOST_NETWORK_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

const PORT_LIST = /^\s*(\d+(\s*-\s*\d+)?\s*(,\s*\d+(\s*-\s*\d+)?\s*)*)?$/;

/** What is wrong with a host network's settings, or undefined when nothing is; each message names the setting. */
export function checkHostNetwork(h: ClientHostNetworkConfig): string | undefined {
  if (!HOST_NETWORK_NAME.test(h.Name)) return `host_network name "${h.Name}" must be 1 to 128 letters, digits, ".", "_" or "-"`;
  if (h.Name === "default") return 'host_network "default" is the node\'s own address (-network-ip); give the host network another name';
  for (const block of h.CIDR === "" ? [] : h.CIDR.split(",")) {
    if (parseCidr(block.trim()) === null) return `host_network "${h.Name}": cidr "${block.trim()}" is not a CIDR block such as "10.0.0.0/8" or "fd00::/8"`;
  }
  if (h.Interface.includes("{{")) return `host_network "${h.Name}": interface "${h.Interface}" is a go-sockaddr template, which Ruche does not evaluate; name the interface (eth1)`;
  if (/\s/.test(h.Interface)) return `host_network "${h.Name}": interface "${h.Interface}" is not an interface name`;
  if (!PORT_LIST.test(h.ReservedPorts)) return `host_network "${h.Name}": reserved_ports "${h.ReservedPorts}" must be a list of ports and ranges such as "22,80,8000-8100"`;
  for (const part of h.ReservedPorts.split(",")) {
    const [lo = "", hi = lo] = part.split("-").map((x) => x.trim());
    if (lo !== "" && (Number(lo) > 65535 || Number(hi) > 65535 || Number(lo) > Number(hi))) return `host_network "${h.Name}": reserved_ports "${part.trim()}" is not a port or a range of ports (1-65535, low-high)`;
  }
  return undefined;
}

/** The `-host-network` value that stands for a host network's settings. */
export function hostNetworkFlag(h: ClientHostNetworkConfig): string {
  const parts = [h.Name];
  if (h.CIDR !== "") parts.push(`cidr=${h.CIDR.replace(/\s+/g, "")}`);
  if (h.Interface !== "") parts.push(`interface=${h.Interface}`);
  if (h.ReservedPorts !== "") parts.push(`reserved_ports=${h.ReservedPorts.replace(/\s+/g, "")}`);
  return parts.join(" ");
}

/** A `-host-network` value read back, checked (`checkHostNetwork`); a string says what is wrong. */
export function parseHostNetworkFlag(value: string): ClientHostNetworkConfig | string {
  const [name = "", ...settings] = value.trim().split(/\s+/);
  const h: ClientHostNetworkConfig = { Name: name, CIDR: "", Interface: "", ReservedPorts: "" };
  for (const s of settings) {
    const eq = s.indexOf("=");
    const key = s.slice(0, eq);
    const v = s.slice(eq + 1);
    if (eq <= 0) return `-host-network takes NAME [cidr=BLOCK,...] [interface=DEVICE] [reserved_ports=PORTS], got "${value}"`;
    if (key === "cidr") h.CIDR = v;
    else if (key === "interface") h.Interface = v;
    else if (key === "reserved_ports") h.ReservedPorts = v;
    else return `-host-network: unknown setting "${key}" in "${value}"; it takes cidr, interface and reserved_ports`;
  }
  return checkHostNetwork(h) ?? h;
}
