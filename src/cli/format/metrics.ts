import { failureReasons, SCORERS, type AllocMetric } from "../../structs/index.js";
import { shortId } from "./ids.js";
import { formatTable } from "./table.js";

/** One bullet per reason, each line begun with `indent`. */
export function reasonBullets(reasons: readonly string[], indent: string): string[] {
  return reasons.map((r) => `${indent}* ${r}`);
}

/** A score as Nomad prints it (`%.3g`): 0.0929, 0.5, -1. */
export function formatScore(x: number): string {
  return String(Number(x.toPrecision(3)));
}

/** The `Key = value` lines of `alloc status -verbose` that count the nodes the placement looked at. */
export function placementCounts(m: AllocMetric): [string, string][] {
  return [
    ["Evaluated Nodes", String(m.NodesEvaluated)],
    ["Filtered Nodes", String(m.NodesFiltered)],
    ["Exhausted Nodes", String(m.NodesExhausted)],
  ];
}

/**
 * The `Placement Metrics` section of `alloc status -verbose`, as Nomad prints it: a bullet
 * per reason nodes were passed over (by class, by filter, by exhausted dimension), then one
 * row per node the placement scored, best first, with each scorer's say and the final score
 * (the mean of the scorers that had a say; "-" for one that had none on that node).
 */
export function placementMetrics(m: AllocMetric | undefined, full = false): string {
  const lines = ["Placement Metrics"];
  if (m === undefined) return [...lines, "  * No placement metrics recorded"].join("\n");
  lines.push(...reasonBullets(failureReasons(m), "  "));
  const rows = m.ScoreMetaData;
  if (rows.length === 0) {
    lines.push("  * No nodes were scored");
    return lines.join("\n");
  }
  const named = new Set(rows.flatMap((r) => Object.keys(r.Scores)));
  const known: readonly string[] = SCORERS;
  const scorers = [...known.filter((s) => named.has(s)), ...[...named].filter((s) => !known.includes(s)).sort()];
  lines.push(
    formatTable(
      ["Node", ...scorers, "final score"],
      rows.map((r) => [
        shortId(r.NodeID, full),
        ...scorers.map((s) => {
          const v = r.Scores[s];
          return v === undefined ? "-" : formatScore(v);
        }),
        formatScore(r.NormScore),
      ]),
    ),
  );
  return lines.join("\n");
}
