import type { Constraint } from "./constraint.js";
import type { Node } from "./node.js";

/**
 * What the scheduler saw while placing: the nodes it looked at, why it turned nodes down,
 * and how it scored the ones it could use. A placed allocation carries the metric of its
 * placement (`Allocation.Metrics`); an evaluation carries, per group it could not place,
 * the metric of the group's whole pass (`FailedTGAllocs`). As Nomad's `AllocMetric`.
 */
export interface AllocMetric {
  NodesEvaluated: number;
  NodesFiltered: number;
  /**
   * Ready nodes in the job's node pool, by datacenter, in the datacenters the job asks for;
   * a datacenter the job names (not a glob) that has none reads 0, as Nomad's scheduler did
   * before wildcards, so that "No nodes are available in datacenter" can be said.
   */
  NodesAvailable: Record<string, number>;
  /**
   * Ruche's addition, on a group's failure metric only: ready nodes of the job's node pool in
   * the datacenters the job does not ask for, by datacenter, so that a job sent to the wrong
   * datacenter is told where the nodes are. Nomad's API has no such field; its clients ignore it.
   */
  NodesInOtherDatacenters?: Record<string, number>;
  /** Filter reason → nodes it rejected: a `FilterReason`, or a constraint (`constraintReason`). */
  ConstraintFiltered: Record<string, number>;
  NodesExhausted: number;
  /** Exhausted dimension (an `ExhaustedDimension`, or `reservedPortCollision(...)`) → nodes. */
  DimensionExhausted: Record<string, number>;
  /** Node class (`Node.NodeClass`) → filtered nodes of that class. */
  ClassFiltered: Record<string, number>;
  QuotaExhausted: string[];
  /** The best nodes the placement scored (at most `SCORE_META_TOP`), best first. */
  ScoreMetaData: NodeScoreMeta[];
  CoalescedFailures: number;
}

/** One scored node: each scorer's say (only the scorers that had one), and the final score, their mean. */
export interface NodeScoreMeta {
  NodeID: string;
  Scores: Record<string, number>;
  NormScore: number;
}

/** How many scored nodes a placement's metric keeps, best first (Nomad keeps 5). */
export const SCORE_META_TOP = 5;

/**
 * Why a node was filtered when the reason is not one of the job's constraints (those are
 * named by `constraintReason`). As Nomad's `FilterConstraint…` constants.
 */
export const FilterReason = {
  /** The node lacks a healthy driver one of the group's tasks uses. */
  MissingDrivers: "missing drivers",
  /** The node lacks a host volume the group asks for, or offers it read-only to a request that is not (Nomad's `FilterConstraintHostVolumes`). */
  MissingHostVolumes: "missing compatible host volumes",
  /** A `sticky` request's replacement: the node lacks the dynamic host volume the allocation it replaces was placed on (Nomad's `HostVolumeIDs`). */
  StickyHostVolume: "missing the sticky host volume of the allocation replaced",
  /** The node does not offer the group's network mode (a CNI network its config dir lacks; Nomad's `NetworkChecker`). */
  MissingNetwork: "missing network",
} as const;
export type FilterReason = (typeof FilterReason)[keyof typeof FilterReason];

const FILTER_REASONS: ReadonlySet<string> = new Set(Object.values(FilterReason));

/** The filter reason of a constraint a node did not meet: "${meta.role} = manager", "distinct_hosts true". */
export function constraintReason(c: Constraint): string {
  return [c.LTarget, c.Operand, c.RTarget].filter((x) => x !== "").join(" ");
}

/** What a node ran out of. */
export const ExhaustedDimension = {
  CPU: "cpu",
  Memory: "memory",
  Disk: "disk",
  DynamicPorts: "network: dynamic port selection failed",
} as const;
export type ExhaustedDimension = (typeof ExhaustedDimension)[keyof typeof ExhaustedDimension];

/** The dimension of a node that already holds a static port the group asks for. */
export function reservedPortCollision(label: string, port: number): string {
  return `network: reserved port collision ${label}=${port}`;
}

/**
 * The scorers, in the order `alloc status -verbose` shows them. The fit scorer is one of
 * binpack, spread and random (the job's `placement`); the others speak when they have
 * something to say. Each says a number in [-1, 1]; a node's final score is their mean.
 */
export const Scorer = {
  Binpack: "binpack",
  Spread: "spread",
  Random: "random",
  JobAntiAffinity: "job-anti-affinity",
  ReschedulePenalty: "node-reschedule-penalty",
  NodeAffinity: "node-affinity",
  AllocationSpread: "allocation-spread",
} as const;
export type Scorer = (typeof Scorer)[keyof typeof Scorer];

export const SCORERS: readonly Scorer[] = Object.values(Scorer);

/** A metric with nothing counted yet. */
export function emptyMetric(available: Record<string, number> = {}): AllocMetric {
  return {
    NodesEvaluated: 0,
    NodesFiltered: 0,
    NodesAvailable: available,
    ConstraintFiltered: {},
    NodesExhausted: 0,
    DimensionExhausted: {},
    ClassFiltered: {},
    QuotaExhausted: [],
    ScoreMetaData: [],
    CoalescedFailures: 0,
  };
}

/** Counts a node turned down by a filter (Nomad's `FilterNode`). */
export function filterNode(m: AllocMetric, node: Node, reason: string): void {
  m.NodesFiltered++;
  m.ConstraintFiltered[reason] = (m.ConstraintFiltered[reason] ?? 0) + 1;
  if (node.NodeClass !== "") m.ClassFiltered[node.NodeClass] = (m.ClassFiltered[node.NodeClass] ?? 0) + 1;
}

/** Counts a node without room for the group (Nomad's `ExhaustedNode`). */
export function exhaustNode(m: AllocMetric, dimension: string): void {
  m.NodesExhausted++;
  m.DimensionExhausted[dimension] = (m.DimensionExhausted[dimension] ?? 0) + 1;
}

function nodes(n: number): string {
  return n === 1 ? "1 node" : `${n} nodes`;
}

function byName(a: [string, number], b: [string, number]): number {
  return a[0].localeCompare(b[0]);
}

function byCount(a: [string, number], b: [string, number]): number {
  return b[1] - a[1] || a[0].localeCompare(b[0]);
}

/**
 * What the metric says of the nodes turned down, one reason a line, as a user reads it:
 * "Constraint `${meta.role} = manager` filtered 3 nodes", "2 nodes missing drivers",
 * "Resources exhausted on 2 nodes: memory". Why a group could not be placed; for a placed
 * allocation, what its placement passed over.
 */
export function failureReasons(m: AllocMetric): string[] {
  const out: string[] = [];
  const available = Object.values(m.NodesAvailable).reduce((a, b) => a + b, 0);
  if (available === 0 && m.NodesEvaluated === 0) out.push("No nodes were eligible for evaluation");
  for (const [dc, n] of Object.entries(m.NodesAvailable).sort(byName)) if (n === 0) out.push(`No nodes are available in datacenter "${dc}"`);
  const elsewhere = Object.entries(m.NodesInOtherDatacenters ?? {}).sort(byName);
  if (available === 0 && elsewhere.length > 0) {
    const asked = Object.keys(m.NodesAvailable).sort();
    const where = elsewhere.map(([dc, n]) => `"${dc}" (${nodes(n)})`).join(", ");
    out.push(`Ready nodes are in datacenter${elsewhere.length === 1 ? "" : "s"} ${where}${asked.length === 0 ? "" : `, not in ${asked.map((dc) => `"${dc}"`).join(", ")}`}`);
  }
  for (const [cls, n] of Object.entries(m.ClassFiltered).sort(byCount)) out.push(`Class "${cls}": ${nodes(n)} filtered`);
  for (const [reason, n] of Object.entries(m.ConstraintFiltered).sort(byCount)) {
    out.push(FILTER_REASONS.has(reason) ? `${nodes(n)} ${reason}` : `Constraint \`${reason}\` filtered ${nodes(n)}`);
  }
  if (m.NodesExhausted > 0) {
    const several = Object.keys(m.DimensionExhausted).length > 1;
    const dims = Object.entries(m.DimensionExhausted)
      .sort(byCount)
      .map(([d, n]) => (several ? `${d} (${n})` : d));
    out.push(`Resources exhausted on ${nodes(m.NodesExhausted)}: ${dims.join(", ")}`);
  }
  if (m.CoalescedFailures > 0) out.push(`${m.CoalescedFailures} more allocation${m.CoalescedFailures === 1 ? "" : "s"} not placed for the same reasons`);
  return out;
}

/** The reasons in one line: "Constraint `${meta.role} = manager` filtered 3 nodes; Resources exhausted on 2 nodes: memory". */
export function describeFailure(m: AllocMetric): string {
  return failureReasons(m).join("; ");
}

/** How many allocations of a group the metric of its failed placements stands for. */
export function failedCount(m: AllocMetric): number {
  return m.CoalescedFailures + 1;
}

/** `Task Group "web" (failed to place 2 allocations)`: the line above the reasons. */
export function failedGroupHeading(group: string, m: AllocMetric): string {
  const n = failedCount(m);
  return `Task Group "${group}" (failed to place ${n} allocation${n === 1 ? "" : "s"})`;
}
