import type { AllocStub } from "../../apiclient/index.js";
import type { Node } from "../../structs/index.js";
import { allocTerminal } from "../../structs/index.js";
import { shortId } from "./ids.js";
import { formatKV, formatTable } from "./table.js";
import { formatTime } from "./time.js";
import { formatMB } from "./units.js";

export type PublicNode = Omit<Node, "SecretID">;

/** Nomad's `formatDrain`: "false", or "true" and what kind of drain. */
export function formatDrain(n: Pick<Node, "DrainStrategy">): string {
  const s = n.DrainStrategy;
  if (s === null) return "false";
  let out = "true";
  if (s.Deadline < 0) out += "; force drain";
  else if (s.ForceDeadline === 0) out += "; no deadline";
  else out += `; ${formatTime(s.ForceDeadline)} deadline`;
  if (s.IgnoreSystemJobs) out += "; ignoring system jobs";
  return out;
}

/** `ruche node status`: one line per node, by name. */
export function nodesTable(nodes: readonly PublicNode[], full = false): string {
  const sorted = [...nodes].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  return formatTable(
    ["ID", "Node Pool", "DC", "Name", "Class", "Drain", "Eligibility", "Status"],
    sorted.map((n) => [shortId(n.ID, full), n.NodePool, n.Datacenter, n.Name, n.NodeClass === "" ? "<none>" : n.NodeClass, String(n.DrainStrategy !== null), n.SchedulingEligibility, n.Status]),
  );
}

/** The head of `ruche node status ID`, and what its live allocations hold of it. */
export function nodeDetail(n: PublicNode, allocs: readonly AllocStub[], full = false): string {
  const drivers = Object.entries(n.Drivers)
    .filter(([, d]) => d.Detected && d.Healthy)
    .map(([name]) => name)
    .sort();
  const head = formatKV([
    ["ID", shortId(n.ID, full)],
    ["Name", n.Name],
    ["Node Pool", n.NodePool],
    ["Class", n.NodeClass === "" ? "<none>" : n.NodeClass],
    ["DC", n.Datacenter],
    ["Drain", formatDrain(n)],
    ["Eligibility", n.SchedulingEligibility],
    ["Status", n.Status],
    ["Address", n.HTTPAddr],
    // As Nomad's: the names here, the whole table in -verbose.
    ...(full ? [] : [["Host Volumes", Object.keys(n.HostVolumes ?? {}).sort().join(",")] as [string, string]]),
    ...(full ? [] : [["Host Networks", Object.keys(n.HostNetworks ?? {}).sort().join(",")] as [string, string]]),
    ["Drivers", drivers.join(",")],
  ]);
  const live = allocs.filter((a) => !allocTerminal(a));
  const used = live.reduce((acc, a) => ({ cpu: acc.cpu + a.Resources.CPU, mem: acc.mem + a.Resources.MemoryMB, disk: acc.disk + a.Resources.DiskMB }), { cpu: 0, mem: 0, disk: 0 });
  const cap = { cpu: n.Resources.CPU - n.Reserved.CPU, mem: n.Resources.MemoryMB - n.Reserved.MemoryMB, disk: n.Resources.DiskMB - n.Reserved.DiskMB };
  const resources = formatTable(["CPU", "Memory", "Disk"], [[`${used.cpu}/${cap.cpu} MHz`, `${formatMB(used.mem)}/${formatMB(cap.mem)}`, `${formatMB(used.disk)}/${formatMB(cap.disk)}`]]);
  return `${head}${full ? hostVolumesSection(n) + hostNetworksSection(n) : ""}\n\nAllocated Resources\n${resources}`;
}

/** Nomad's "Host Networks" section of `node status -verbose`: each host network's name, CIDR, interface and reserved ports; nothing without any. */
function hostNetworksSection(n: PublicNode): string {
  const networks = Object.entries(n.HostNetworks ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (networks.length === 0) return "";
  return `\n\nHost Networks\n${formatTable(["Name", "CIDR", "Interface", "ReservedPorts"], networks.map(([name, h]) => [name, h.CIDR, h.Interface, h.ReservedPorts]))}`;
}

/** Nomad's "Host Volumes" section of `node status -verbose`: each volume's name, whether read-only, and its path; nothing without any. */
function hostVolumesSection(n: PublicNode): string {
  const volumes = Object.entries(n.HostVolumes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (volumes.length === 0) return "";
  return `\n\nHost Volumes\n${formatTable(["Name", "ReadOnly", "Source"], volumes.map(([name, v]) => [name, String(v.ReadOnly), v.Path]))}`;
}
