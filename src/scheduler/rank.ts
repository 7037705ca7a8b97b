import type { Affinity, Node, Spread } from "../structs/index.js";
import { checkOperator } from "./operators.js";
import { resolveTarget } from "./target.js";

/**
 * Scorers. Each gives a score in [-1, 1] (or none, when it has nothing to say); a node's
 * final score is their mean, as in Nomad's ScoreNormalizationIterator.
 */

/** Nomad's BestFit-v3 with the free fraction of cpu and memory after the placement: 1 for a full node. */
const LN10 = Math.LN10;

export function binpackScore(cpuFreeFrac: number, memFreeFrac: number): number {
  const total = Math.exp(cpuFreeFrac * LN10) + Math.exp(memFreeFrac * LN10);
  return clamp((20 - total) / 18, 0, 1);
}

/** The inverse: emptier nodes score higher (Swarm's and Nomad's "spread" algorithm). */
export function spreadFitScore(cpuFreeFrac: number, memFreeFrac: number): number {
  const total = Math.exp(cpuFreeFrac * LN10) + Math.exp(memFreeFrac * LN10);
  return clamp((total - 2) / 18, 0, 1);
}

/** Replicas of a group prefer different nodes: a penalty that grows with each collision. */
export function antiAffinityScore(collisions: number, desiredCount: number): number | null {
  if (collisions <= 0) return null;
  return -Math.min(1, (collisions + 1) / Math.max(1, desiredCount));
}

/**
 * Weighted node affinities: the sum of matched weights over the sum of all weights'
 * magnitudes. `regexp` compiles `regexp` affinities' patterns (see `checkOperator`).
 */
export function affinityScore(node: Node, affinities: readonly Affinity[], regexp?: (pattern: string) => RegExp | null): number | null {
  if (affinities.length === 0) return null;
  let total = 0;
  let sum = 0;
  for (const a of affinities) {
    total += Math.abs(a.Weight);
    if (checkOperator(a.Operand, resolveTarget(a.LTarget, node), resolveTarget(a.RTarget, node), regexp)) sum += a.Weight;
  }
  return total === 0 ? null : sum / total;
}

/**
 * Spread over an attribute: a value below its desired share scores up, one above it down.
 * `counts` holds allocations of the group per value (placed ones included); with targets,
 * values not named share what the targets leave; without, every known value is even.
 */
export function spreadScore(node: Node, spreads: readonly Spread[], counts: readonly Map<string, number>[], values: readonly Set<string>[], desiredCount: number): number | null {
  if (spreads.length === 0) return null;
  let weighted = 0;
  let weights = 0;
  spreads.forEach((s, i) => {
    const value = resolveTarget(s.Attribute, node);
    const c = counts[i] ?? new Map<string, number>();
    weights += s.Weight;
    if (value === undefined) {
      weighted -= s.Weight;
      return;
    }
    const used = c.get(value) ?? 0;
    let desired: number;
    if (s.SpreadTarget.length > 0) {
      const t = s.SpreadTarget.find((x) => x.Value === value);
      if (t !== undefined) desired = (t.Percent / 100) * desiredCount;
      else {
        const named = s.SpreadTarget.reduce((a, x) => a + x.Percent, 0);
        const others = Math.max(1, (values[i]?.size ?? 1) - s.SpreadTarget.length);
        desired = ((100 - named) / 100 / others) * desiredCount;
      }
    } else {
      desired = desiredCount / Math.max(1, values[i]?.size ?? 1);
    }
    const boost = desired <= 0 ? -1 : clamp((desired - used) / desired, -1, 1);
    weighted += boost * s.Weight;
  });
  return weights === 0 ? null : weighted / weights;
}

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
