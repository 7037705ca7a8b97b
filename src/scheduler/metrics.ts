import type { AllocMetric } from "../structs/index.js";

export function emptyMetric(): AllocMetric {
  return {
    NodesEvaluated: 0,
    NodesFiltered: 0,
    NodesAvailable: {},
    ConstraintFiltered: {},
    NodesExhausted: 0,
    DimensionExhausted: {},
    ClassFiltered: {},
    QuotaExhausted: [],
    ScoreMetaData: [],
    CoalescedFailures: 0,
  };
}

export function countFiltered(m: AllocMetric, reason: string): void {
  m.NodesFiltered++;
  m.ConstraintFiltered[reason] = (m.ConstraintFiltered[reason] ?? 0) + 1;
}

export function countExhausted(m: AllocMetric, dimension: string): void {
  m.NodesExhausted++;
  m.DimensionExhausted[dimension] = (m.DimensionExhausted[dimension] ?? 0) + 1;
}

function nodes(n: number): string {
  return n === 1 ? "1 node" : `${n} nodes`;
}

/**
 * Why a group could not be placed, in one line a user reads:
 * "Constraint `${meta.role} = manager` filtered 3 nodes; Resources exhausted on 2 nodes: memory".
 */
export function describeFailure(m: AllocMetric): string {
  const parts: string[] = [];
  const available = Object.values(m.NodesAvailable).reduce((a, b) => a + b, 0);
  if (available === 0 && m.NodesEvaluated === 0) parts.push("No nodes were eligible for evaluation");
  for (const [reason, n] of Object.entries(m.ConstraintFiltered).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    parts.push(reason.startsWith("missing ") || reason.startsWith("node ") ? `${nodes(n)} ${reason}` : `Constraint \`${reason}\` filtered ${nodes(n)}`);
  }
  if (m.NodesExhausted > 0) {
    const dims = Object.entries(m.DimensionExhausted)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([d, n]) => (Object.keys(m.DimensionExhausted).length > 1 ? `${d} (${n})` : d));
    parts.push(`Resources exhausted on ${nodes(m.NodesExhausted)}: ${dims.join(", ")}`);
  }
  if (m.CoalescedFailures > 0) parts.push(`${m.CoalescedFailures} more allocation${m.CoalescedFailures === 1 ? "" : "s"} not placed for the same reasons`);
  return parts.join("; ");
}
