import type { AllocStub } from "../../apiclient/index.js";
import type { Allocation, AllocatedResources, AllocResourceUsage, Port, TaskResourceUsage, TaskState } from "../../structs/index.js";
import { shortId } from "./ids.js";
import { placementCounts, placementMetrics } from "./metrics.js";
import { formatKV, formatTable } from "./table.js";
import { formatAgo, formatTime, nanosToMs } from "./time.js";
import { formatBytes, formatMB } from "./units.js";

type AllocRow = Pick<AllocStub, "ID" | "NodeID" | "TaskGroup" | "JobVersion" | "DesiredStatus" | "ClientStatus" | "CreateIndex" | "CreateTime" | "ModifyTime">;

/** The `Allocations` table of job and node status, newest first. */
export function allocationsTable(allocs: readonly AllocRow[], nowMs: number, full = false): string {
  const sorted = [...allocs].sort((a, b) => b.CreateIndex - a.CreateIndex || (a.ID < b.ID ? -1 : 1));
  return formatTable(
    ["ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created", "Modified"],
    sorted.map((a) => [
      shortId(a.ID, full),
      shortId(a.NodeID, full),
      a.TaskGroup,
      String(a.JobVersion),
      a.DesiredStatus,
      a.ClientStatus,
      formatAgo(a.CreateTime, nowMs),
      formatAgo(a.ModifyTime, nowMs),
    ]),
  );
}

function health(a: Allocation): string {
  const h = a.DeploymentStatus?.Healthy;
  return h === true ? "healthy" : h === false ? "unhealthy" : "unset";
}

function orNone(text: string): string {
  return text === "" ? "<none>" : text;
}

/**
 * `ruche alloc status ID`: the allocation, then each task with its resources and recent
 * events. `verbose` (`-verbose`) shows whole IDs, the nodes the placement looked at, and
 * its `Placement Metrics`, as `nomad alloc status -verbose` does. `usage` (the allocation's
 * stats, read from its node) puts each running task's CPU and memory use before its
 * reservation, as Nomad's `Task Resources` does (`12/100 MHz`, `4.1 MiB/300 MiB`).
 */
export function allocDetail(a: Allocation, nowMs: number, verbose = false, usage?: AllocResourceUsage): string {
  const full = verbose;
  const pairs: [string, string][] = [
    ["ID", shortId(a.ID, full)],
    ["Eval ID", shortId(a.EvalID, full)],
    ["Name", a.Name],
    ["Node ID", shortId(a.NodeID, full)],
    ["Node Name", a.NodeName],
    ["Job ID", a.JobID],
    ["Job Version", String(a.Job.Version)],
    ["Client Status", a.ClientStatus],
    ["Client Description", orNone(a.ClientDescription)],
    ["Desired Status", a.DesiredStatus],
    ["Desired Description", orNone(a.DesiredDescription)],
    ["Created", formatAgo(a.CreateTime, nowMs)],
    ["Modified", formatAgo(a.ModifyTime, nowMs)],
  ];
  if (a.DeploymentID !== "") {
    pairs.push(["Deployment ID", shortId(a.DeploymentID, full)], ["Deployment Health", health(a)]);
    if (a.DeploymentStatus?.Canary === true) pairs.push(["Canary", "true"]);
  }
  if (a.PreviousAllocation !== "") pairs.push(["Previous Allocation", shortId(a.PreviousAllocation, full)]);
  if (a.NextAllocation !== "") pairs.push(["Replacement Alloc ID", shortId(a.NextAllocation, full)]);
  if (verbose && a.Metrics !== undefined) pairs.push(...placementCounts(a.Metrics));
  const sections = [formatKV(pairs)];
  const addresses = allocAddresses(a);
  if (addresses !== undefined) sections.push(addresses);
  const network = allocNetwork(a);
  if (network !== undefined) sections.push(network);
  const group = a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup);
  const tasks = [...new Set([...(group?.Tasks.map((t) => t.Name) ?? []), ...Object.keys(a.TaskResources), ...Object.keys(a.TaskStates)])];
  for (const name of tasks) {
    // As Nomad: `Task "init" (prestart) is "dead"`, `(prestart sidecar)` for a sidecar.
    const lc = group?.Tasks.find((t) => t.Name === name)?.Lifecycle;
    const lifecycle = lc == null || lc.Hook === "" ? "" : ` (${lc.Hook}${lc.Sidecar ? " sidecar" : ""})`;
    sections.push(taskSection(name, lifecycle, a.TaskStates[name]?.State ?? taskStateOf(a), a.TaskStates[name], a.TaskResources[name], usage?.Tasks[name], group?.EphemeralDisk.SizeMB ?? 0));
  }
  if (verbose) sections.push(placementMetrics(a.Metrics, full));
  return sections.join("\n\n");
}

/**
 * The allocation's group network, as `nomad alloc status` shows it:
 *
 *     Allocation Addresses (mode = "host"):
 *     Label  Dynamic  Address
 *     *http  yes      127.0.0.1:40728 -> 80
 *
 * a group port's label starred, `-> To` when the task sees another port than the host's. Nomad says "yes" under
 * Dynamic for every port; here a static port says "no". Undefined when the group has no ports.
 */
export function allocAddresses(a: Pick<Allocation, "Resources">): string | undefined {
  const [nw] = a.Resources.Networks;
  if (nw === undefined || nw.DynamicPorts.length + nw.ReservedPorts.length === 0) return undefined;
  const row = (p: Port, dynamic: boolean): string[] => [`*${p.Label}`, dynamic ? "yes" : "no", `${p.HostIP ?? nw.IP}:${p.Value}${p.To > 0 && p.To !== p.Value ? ` -> ${p.To}` : ""}`];
  const rows = [...nw.DynamicPorts.map((p) => row(p, true)), ...nw.ReservedPorts.map((p) => row(p, false))];
  return `Allocation Addresses (mode = "${nw.Mode}"):\n${formatTable(["Label", "Dynamic", "Address"], rows)}`;
}

/**
 * The allocation's own network as its node made it (`NetworkStatus`, a group in mode
 * `cni/<name>`): the interface and address the network's plugins gave it, and their DNS.
 * Nomad's API and UI show it; its CLI does not. Undefined when the node reported none.
 */
export function allocNetwork(a: Pick<Allocation, "NetworkStatus" | "Resources">): string | undefined {
  const s = a.NetworkStatus;
  if (s === undefined || s.Address === "") return undefined;
  const mode = a.Resources.Networks[0]?.Mode;
  const rows = [[s.InterfaceName === "" ? "-" : s.InterfaceName, s.Address, s.DNS === null || s.DNS.Servers.length === 0 ? "-" : s.DNS.Servers.join(",")]];
  return `Allocation Network${mode === undefined ? "" : ` (mode = "${mode}")`}:\n${formatTable(["Interface", "Address", "DNS"], rows)}`;
}

/** A task's state read from its allocation's, for clients that report no task states (the mock driver). */
function taskStateOf(a: Allocation): string {
  if (a.ClientStatus === "pending") return "pending";
  return a.ClientStatus === "running" ? "running" : "dead";
}

/**
 * A task's heading, its `Task Resources` (CPU and memory use before the reservation when its
 * node reported them — Nomad's `math.Floor(TotalTicks)/CPU MHz` and RSS, else usage, over the
 * memory —, the disk: the task's own, else the group's ephemeral disk, as Nomad shows it) and
 * its events.
 */
function taskSection(name: string, lifecycle: string, stateName: string, state: TaskState | undefined, res: AllocatedResources | undefined, used: TaskResourceUsage | undefined, groupDiskMB: number): string {
  const lines = [`Task "${name}"${lifecycle} is "${stateName}"`];
  if (res !== undefined) {
    const addresses = res.Networks.flatMap((n) => [...n.ReservedPorts, ...n.DynamicPorts].map((p) => `${p.Label}: ${p.HostIP ?? n.IP}:${p.Value}`));
    const ru = used?.ResourceUsage;
    const mem = ru === undefined ? 0 : ru.MemoryStats.RSS > 0 ? ru.MemoryStats.RSS : ru.MemoryStats.Usage;
    const cpu = ru === undefined ? `${res.CPU} MHz` : `${Math.floor(ru.CpuStats.TotalTicks)}/${res.CPU} MHz`;
    const memory = ru === undefined ? formatMB(res.MemoryMB) : `${formatBytes(mem)}/${formatMB(res.MemoryMB)}`;
    lines.push("Task Resources", formatTable(["CPU", "Memory", "Disk", "Addresses"], [[cpu, memory, formatMB(res.DiskMB > 0 ? res.DiskMB : groupDiskMB), addresses.join(", ")]]));
  }
  if (state !== undefined) {
    lines.push(
      "",
      "Task Events:",
      formatKV([
        ["Started At", formatTime(state.StartedAt)],
        ["Finished At", formatTime(state.FinishedAt)],
        ["Total Restarts", String(state.Restarts)],
      ]),
    );
    const events = [...state.Events].sort((x, y) => y.Time - x.Time).slice(0, 10);
    if (events.length > 0) {
      lines.push("", "Recent Events:", formatTable(["Time", "Type", "Description"], events.map((e) => [formatTime(nanosToMs(e.Time)), e.Type, e.Message])));
    }
  }
  return lines.join("\n");
}
