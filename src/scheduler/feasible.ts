import { constraintReason, DEFAULT_HOST_NETWORK, FilterReason, hostNetworkAddresses, nodeHasNetwork, PLACEMENT_OPERATORS, volumeSource, VolumeType, type Constraint, type Job, type Node, type TaskGroup, type VolumeRequest } from "../structs/index.js";
import { checkOperator } from "./operators.js";
import { resolveTarget, targetIsUnique } from "./target.js";

/**
 * Static feasibility: what a node is (drivers, attributes, metadata), not what it runs.
 * Each check has a name, its filter reason: a rejection returns it, and that name is what
 * the user reads (`FilterReason.MissingDrivers`, "${meta.role} = manager"). Results for
 * checks that read nothing unique to a node are shared by every node of the same computed
 * class.
 */
export interface StaticCheck {
  name: string;
  /** Reads something unique to one node (its id or hostname): not shared by class. */
  unique: boolean;
  test(node: Node): boolean;
}

function constraintCheck(c: Constraint, regexp: (pattern: string) => RegExp | null): StaticCheck {
  return {
    name: constraintReason(c),
    unique: targetIsUnique(c.LTarget) || targetIsUnique(c.RTarget),
    test: (node) => checkOperator(c.Operand, resolveTarget(c.LTarget, node), resolveTarget(c.RTarget, node), regexp),
  };
}

/**
 * The checks of one group, in order: drivers first, then the network, then host volumes, then the job's, the
 * group's and the tasks' constraints. `regexp` compiles `regexp` constraints' patterns (see `checkOperator`).
 */
export function staticChecks(job: Job, tg: TaskGroup, regexp: (pattern: string) => RegExp | null): StaticCheck[] {
  const drivers = [...new Set(tg.Tasks.map((t) => t.Driver))];
  const checks: StaticCheck[] = [
    {
      name: FilterReason.MissingDrivers,
      unique: false,
      test: (node) =>
        drivers.every((d) => {
          const info = node.Drivers[d];
          return info !== undefined && info.Detected && info.Healthy;
        }),
    },
  ];
  const network = networkCheck(tg);
  if (network !== null) checks.push(network);
  checks.push(...hostNetworkChecks(tg));
  const volumes = hostVolumeCheck(tg);
  if (volumes !== null) checks.push(volumes);
  const all = [...job.Constraints, ...tg.Constraints, ...tg.Tasks.flatMap((t) => t.Constraints)];
  for (const c of all) if (!PLACEMENT_OPERATORS.includes(c.Operand)) checks.push(constraintCheck(c, regexp));
  return checks;
}

/**
 * The group's network mode (Nomad's `NetworkChecker`): a group in mode `cni/<name>` needs a
 * node whose CNI config dir holds that network ("missing network"); host, bridge and none
 * every node offers. Null when there is nothing to check. The networks a node offers are part
 * of its computed class, so the verdict is shared by class.
 */
export function networkCheck(tg: TaskGroup): StaticCheck | null {
  const mode = tg.Networks[0]?.Mode;
  if (mode === undefined || !mode.startsWith("cni/")) return null;
  return { name: FilterReason.MissingNetwork, unique: false, test: (node) => nodeHasNetwork(node, mode) };
}

/**
 * The host network of each of the group's ports that names one (Nomad's
 * `NetworkChecker.hasHostNetworks`): a node must have an address in it, else it is filtered
 * with Nomad's reason, `missing host network "NAME" for port "LABEL"`. A `${meta.x}`-style
 * name is read on each node. Host networks are part of the node's computed class.
 */
export function hostNetworkChecks(tg: TaskGroup): StaticCheck[] {
  const net = tg.Networks[0];
  if (net === undefined) return [];
  return [...net.ReservedPorts, ...net.DynamicPorts]
    .filter((p) => p.HostNetwork !== "" && p.HostNetwork !== DEFAULT_HOST_NETWORK)
    .map((p) => ({
      name: `missing host network "${p.HostNetwork}" for port "${p.Label}"`,
      unique: targetIsUnique(p.HostNetwork),
      test: (node: Node) => {
        const alias = resolveHostNetwork(p.HostNetwork, node);
        return alias !== undefined && hostNetworkAddresses(node, alias).length > 0;
      },
    }));
}

/** A port's host network on a node: its name, or what a `${...}` name reads there (undefined: the node lacks it). */
export function resolveHostNetwork(hostNetwork: string, node: Node): string | undefined {
  if (hostNetwork === "") return DEFAULT_HOST_NETWORK;
  return hostNetwork.includes("${") ? resolveTarget(hostNetwork, node) : hostNetwork;
}

/**
 * The group's host volumes (Nomad's `HostVolumeChecker`): a node must offer each `source`
 * the group's `volume` blocks of type host ask for, and read-write unless every request of
 * it is read-only. Null when the group asks for none. Host volumes are part of the node's
 * computed class, so the verdict is shared by class. A `per_alloc` request is no static
 * check: each allocation asks for its own (`perAllocVolumeCheck`).
 */
export function hostVolumeCheck(tg: TaskGroup): StaticCheck | null {
  const wanted = hostVolumesWanted(Object.values(tg.Volumes ?? {}).filter((v) => !v.PerAlloc), "");
  if (wanted.size === 0) return null;
  return {
    name: FilterReason.MissingHostVolumes,
    unique: false,
    test: (node) => offersAll(node, wanted),
  };
}

/**
 * The group's `per_alloc` host volumes (Nomad's `HostVolumeChecker.SetVolumes` with the
 * allocation's name): for an allocation, whether a node offers its own, `source[N]` for the
 * allocation of index N (read-write unless the request is read-only); the sources are named
 * once per allocation, not per node tested. Null when the group has none.
 */
export function perAllocVolumeCheck(tg: TaskGroup): ((allocName: string) => (node: Node) => boolean) | null {
  const perAlloc = Object.values(tg.Volumes ?? {}).filter((v) => v.PerAlloc && v.Type === VolumeType.Host);
  if (perAlloc.length === 0) return null;
  return (allocName) => {
    const wanted = hostVolumesWanted(perAlloc, allocName);
    return (node) => offersAll(node, wanted);
  };
}

/** The host volumes requests name (for `allocName`), each with whether one of them writes. */
function hostVolumesWanted(requests: readonly VolumeRequest[], allocName: string): Map<string, boolean> {
  const wanted = new Map<string, boolean>();
  for (const v of requests) {
    if (v.Type !== VolumeType.Host) continue;
    const source = volumeSource(v, allocName);
    wanted.set(source, (wanted.get(source) ?? false) || !v.ReadOnly);
  }
  return wanted;
}

function offersAll(node: Node, wanted: ReadonlyMap<string, boolean>): boolean {
  for (const [source, writable] of wanted) {
    const offered = node.HostVolumes?.[source];
    if (offered === undefined || (writable && offered.ReadOnly)) return false;
  }
  return true;
}

/** The placement constraints (relative to other allocations), at the level they were written. */
export function placementConstraints(job: Job, tg: TaskGroup): { c: Constraint; groupLevel: boolean }[] {
  const out: { c: Constraint; groupLevel: boolean }[] = [];
  for (const c of job.Constraints) if (PLACEMENT_OPERATORS.includes(c.Operand)) out.push({ c, groupLevel: false });
  for (const c of [...tg.Constraints, ...tg.Tasks.flatMap((t) => t.Constraints)]) if (PLACEMENT_OPERATORS.includes(c.Operand)) out.push({ c, groupLevel: true });
  return out;
}

/** Runs static checks with results shared by class; returns the name of the failing check, or null. */
export class StaticFeasibility {
  /** Verdicts by class id (see `Ready.classIds`); undefined until the class is checked. */
  private readonly byClass: (string | null | undefined)[] = [];
  private readonly shared: StaticCheck[];
  private readonly unique: StaticCheck[];

  constructor(checks: StaticCheck[]) {
    this.shared = checks.filter((c) => !c.unique);
    this.unique = checks.filter((c) => c.unique);
  }

  /** `classId` is the node's number in `Ready.classIds`, -1 for a node without a class. */
  check(node: Node, classId: number): string | null {
    let verdict = classId < 0 ? undefined : this.byClass[classId];
    if (verdict === undefined) {
      verdict = null;
      for (const c of this.shared) {
        if (!c.test(node)) {
          verdict = c.name;
          break;
        }
      }
      if (classId >= 0) this.byClass[classId] = verdict;
    }
    if (verdict !== null) return verdict;
    for (const c of this.unique) if (!c.test(node)) return c.name;
    return null;
  }
}

/** Whether a node belongs to the job's datacenters ("*" and globs allowed) and node pool. */
export function inDatacenters(node: Node, job: Job): boolean {
  return job.Datacenters.some((dc) => dc === node.Datacenter || (dc.includes("*") && globMatch(dc, node.Datacenter)));
}

export function inNodePool(node: Node, job: Job): boolean {
  return job.NodePool === "all" || job.NodePool === node.NodePool;
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return re.test(value);
}
