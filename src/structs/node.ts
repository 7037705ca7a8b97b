/** A machine that runs allocations, as its client agent fingerprints and reports it. */
export const NodeStatus = { Initializing: "initializing", Ready: "ready", Down: "down", Disconnected: "disconnected" } as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

export const NodeEligibility = { Eligible: "eligible", Ineligible: "ineligible" } as const;
export type NodeEligibility = (typeof NodeEligibility)[keyof typeof NodeEligibility];

export interface DriverInfo {
  Detected: boolean;
  Healthy: boolean;
  HealthDescription: string;
  Attributes: Record<string, string>;
}

/**
 * A directory the node offers to jobs (`client { host_volume "NAME" { path read_only } }`
 * in its agent config), as Nomad's `ClientHostVolumeConfig`: a group's `volume` of type
 * host names it by `Source`.
 */
export interface ClientHostVolumeConfig {
  Name: string;
  /** Absolute path on the node; it existed when the agent started. */
  Path: string;
  ReadOnly: boolean;
  /** A dynamic host volume's ID (made by `volume create` or `volume register`); absent for the agent config's. */
  ID?: string;
}

/**
 * A network the node's agent config declares (`client { host_network "NAME" { cidr interface
 * reserved_ports } }`), as Nomad's `ClientHostNetworkConfig`: the node's addresses inside
 * `CIDR` (a comma list of blocks; empty: any) on `Interface` (empty: any) belong to it, and a
 * job's port with `host_network = "NAME"` is given one of them. `ReservedPorts` ("22,80")
 * are kept from jobs on those addresses, beside the node's own reserved ports.
 */
export interface ClientHostNetworkConfig {
  Name: string;
  CIDR: string;
  Interface: string;
  ReservedPorts: string;
}

/** The name of the node's own address among its host networks, as Nomad labels its default interface's. */
export const DEFAULT_HOST_NETWORK = "default";

/** One address of a node's network interface, with the host network it belongs to (Nomad's `NodeNetworkAddress`). */
export interface NodeNetworkAddress {
  Family: "ipv4" | "ipv6";
  /** The host network's name, or "default" for the node's own address. */
  Alias: string;
  Address: string;
  /** The host network's reserved ports. */
  ReservedPorts: string;
  Gateway: string;
}

/**
 * A network interface of the node and its addresses, one entry per host network each belongs
 * to (Nomad's `NodeNetworkResource`, `Node.NodeResources.NodeNetworks`); an address no host
 * network takes in is left out, and an interface with none.
 */
export interface NodeNetworkResource {
  Mode: "host";
  Device: string;
  MacAddress: string;
  Speed: number;
  Addresses: NodeNetworkAddress[];
}

/** The addresses of the node's host network `alias`, in the order the node lists them (none: the node lacks it). */
export function hostNetworkAddresses(node: Pick<Node, "NodeNetworks" | "Resources">, alias: string): string[] {
  const out: string[] = [];
  for (const n of node.NodeNetworks ?? []) for (const a of n.Addresses) if (a.Alias === alias && !out.includes(a.Address)) out.push(a.Address);
  // A node that reports no networks (an older client, a simulated one) has its own address as "default".
  if (out.length === 0 && alias === DEFAULT_HOST_NETWORK && (node.NodeNetworks ?? []).length === 0 && node.Resources.IP !== "") out.push(node.Resources.IP);
  return out;
}

export interface NodeResources {
  /** Total MHz (cores × MHz). */
  CPU: number;
  Cores: number;
  MemoryMB: number;
  DiskMB: number;
  /** Dynamic host ports are chosen in [MinDynamicPort, MaxDynamicPort]. */
  MinDynamicPort: number;
  MaxDynamicPort: number;
  /** Address tasks are reachable on. */
  IP: string;
  /**
   * The network modes the node offers besides host and bridge (Nomad's
   * `NodeResources.Networks`): `cni/<name>` for each network of its CNI config dir; absent: none.
   */
  Networks?: NodeNetworkMode[];
}

/** A network mode a node offers (an entry of Nomad's `NodeResources.Networks`, of which Ruche keeps the mode). */
export interface NodeNetworkMode {
  Mode: string;
}

/** Whether the node offers a network mode (Nomad's `NetworkChecker.hasNetwork`); host and bridge every node offers. */
export function nodeHasNetwork(node: Pick<Node, "Resources">, mode: string): boolean {
  if (mode === "" || mode === "host" || mode === "bridge" || mode === "none") return true;
  return (node.Resources.Networks ?? []).some((n) => n.Mode === mode);
}

export interface DrainStrategy {
  /** Nanoseconds; 0 = no deadline; -1 = force now. */
  Deadline: number;
  IgnoreSystemJobs: boolean;
  /** Unix ms at which the deadline falls; 0 when none. */
  ForceDeadline: number;
  StartedAt: number;
}

export interface Node {
  ID: string;
  /** Only the node itself and the servers know it; never returned by the public API. */
  SecretID: string;
  Name: string;
  Datacenter: string;
  NodeClass: string;
  NodePool: string;
  /** Fingerprinted attributes: `kernel.name`, `cpu.arch`, `unique.hostname`, `driver.docker`, ... */
  Attributes: Record<string, string>;
  Meta: Record<string, string>;
  Drivers: Record<string, DriverInfo>;
  Resources: NodeResources;
  /** The host volumes the node's agent config offers, by name (Nomad's `Node.HostVolumes`); absent: none. */
  HostVolumes?: Record<string, ClientHostVolumeConfig>;
  /** The host networks the node's agent config declares, by name (Nomad's `Node.HostNetworks`); absent: none. */
  HostNetworks?: Record<string, ClientHostNetworkConfig>;
  /** The node's interfaces and their addresses labelled with their host networks (Nomad's `NodeResources.NodeNetworks`); absent: not reported. */
  NodeNetworks?: NodeNetworkResource[];
  /** Held back for the operating system and other programs. */
  Reserved: { CPU: number; MemoryMB: number; DiskMB: number; ReservedHostPorts: string };
  /**
   * Everything placement may read of the node but what is unique to it, hashed: nodes of
   * one class pass or fail the same constraints, so the scheduler checks a class once.
   * Set by `computeNodeClass` when the node registers.
   */
  ComputedClass: string;
  Status: NodeStatus;
  StatusDescription: string;
  SchedulingEligibility: NodeEligibility;
  DrainStrategy: DrainStrategy | null;
  /** Address of the agent's HTTP endpoint (logs, exec). */
  HTTPAddr: string;
  CreateIndex: number;
  ModifyIndex: number;
  /** Unix ms of the last heartbeat the servers saw. */
  LastHeartbeat: number;
}

/** Whether the scheduler may place new work on the node. */
export function nodeIsSchedulable(node: Node): boolean {
  return node.Status === "ready" && node.SchedulingEligibility === "eligible" && node.DrainStrategy === null;
}

/** The node's computed class (see `Node.ComputedClass`): a short hash of its non-unique properties. */
export function computeNodeClass(node: Omit<Node, "ComputedClass">): string {
  const attrs = Object.keys(node.Attributes)
    .filter((k) => !k.startsWith("unique."))
    .sort()
    .map((k) => `${k}=${node.Attributes[k] ?? ""}`);
  const meta = Object.keys(node.Meta)
    .sort()
    .map((k) => `${k}=${node.Meta[k] ?? ""}`);
  const drivers = Object.keys(node.Drivers)
    .sort()
    .map((d) => `${d}:${node.Drivers[d]?.Detected === true ? 1 : 0}${node.Drivers[d]?.Healthy === true ? 1 : 0}`);
  // Host volumes decide feasibility too; a node without any hashes as it did before they existed.
  const volumes = Object.keys(node.HostVolumes ?? {})
    .sort()
    .map((v) => `${v}:${node.HostVolumes?.[v]?.ReadOnly === true ? "ro" : "rw"}`);
  // So do the networks it offers (CNI); a node without any hashes as it did before they existed.
  const networks = (node.Resources.Networks ?? []).map((n) => n.Mode).sort();
  // And its host networks, by name (not address).
  const hostNetworks = [...new Set((node.NodeNetworks ?? []).flatMap((n) => n.Addresses.map((a) => a.Alias)).filter((a) => a !== DEFAULT_HOST_NETWORK))].sort();
  const parts: unknown[] = [node.Datacenter, node.NodeClass, node.NodePool, attrs, meta, drivers];
  if (volumes.length > 0 || networks.length > 0 || hostNetworks.length > 0) parts.push(volumes);
  if (networks.length > 0 || hostNetworks.length > 0) parts.push(networks);
  if (hostNetworks.length > 0) parts.push(hostNetworks);
  const text = JSON.stringify(parts);
  // FNV-1a, 64 bits as two 32-bit halves: short, stable, and enough to tell classes apart.
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 7);
  }
  return `v1:${(h1 >>> 0).toString(16).padStart(8, "0")}${(h2 >>> 0).toString(16).padStart(8, "0")}`;
}

/**
 * What a job's `${...}` reference to a node reads, by its name inside the braces:
 * `attr.kernel.name`, `meta.role`, `node.unique.id`, `node.unique.name`, `node.datacenter`,
 * `node.class`, `node.pool`. Undefined when the node lacks it or the name is not a node's.
 */
export function nodeVariable(name: string, node: Node): string | undefined {
  switch (name) {
    case "node.unique.id":
      return node.ID;
    case "node.datacenter":
      return node.Datacenter;
    case "node.unique.name":
      return node.Name;
    case "node.class":
      return node.NodeClass;
    case "node.pool":
      return node.NodePool;
    default:
      break;
  }
  if (name.startsWith("attr.")) return node.Attributes[name.slice(5)];
  if (name.startsWith("meta.")) return node.Meta[name.slice(5)];
  return undefined;
}
