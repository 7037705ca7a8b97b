import { disconnectOf, lastUnknown, NS, type Allocation, type Node, type ReconcileOption } from "../structs/index.js";

/**
 * Disconnected clients (Nomad 1.8's `disconnect` block), the parts both schedulers share:
 * whether a silent node's allocation is still only `unknown` or lost, and which of a
 * reconnected allocation and its replacements is kept. Pure.
 */

/** The node no longer heartbeats (down or disconnected), or is no longer known. */
export function nodeGone(n: Node | undefined): boolean {
  return n === undefined || n.Status === "down" || n.Status === "disconnected";
}

/** The `lost_after` (ms) of the allocation's own group; 0: lost at once. */
export function lostAfterMs(a: Allocation): number {
  return disconnectOf(a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)).LostAfter / NS.millisecond;
}

/**
 * Whether the allocation of a node that is gone is still only `unknown`: its group allows
 * disconnects (`lost_after` > 0), the node is still known, and `lost_after` has not passed
 * since it turned unknown. Otherwise it is lost.
 */
export function stillUnknown(a: Allocation, node: Node | undefined, now: number): boolean {
  const after = lostAfterMs(a);
  if (node === undefined || after <= 0) return false;
  if (a.ClientStatus !== "unknown") return true;
  const since = lastUnknown(a);
  return since === 0 || now < since + after;
}

/**
 * Which to keep when a reconnected allocation meets its replacements (Nomad's `reconcile`):
 * true for the original. Ties go to the original.
 */
export function keepOriginal(option: ReconcileOption, original: Allocation, replacements: readonly Allocation[]): boolean {
  switch (option) {
    case "keep_original":
      return true;
    case "keep_replacement":
      return false;
    case "longest_running":
      return replacements.every((r) => runningSince(original) <= runningSince(r));
    case "best_score":
      return replacements.every((r) => bestScore(original) >= bestScore(r));
    default: {
      const never: never = option;
      return never;
    }
  }
}

/** Since when (unix ms) every task of the allocation has run without a break; +∞ when it does not run. */
export function runningSince(a: Allocation): number {
  const states = Object.values(a.TaskStates);
  if (a.ClientStatus !== "running" || states.length === 0) return Number.POSITIVE_INFINITY;
  let since = 0;
  for (const s of states) {
    if (s.State !== "running" || s.StartedAt <= 0) return Number.POSITIVE_INFINITY;
    since = Math.max(since, s.StartedAt);
  }
  return since;
}

/** The best normalised score the placement of the allocation saw (Nomad's `MaxNormScore`). */
function bestScore(a: Allocation): number {
  const scores = a.Metrics?.ScoreMetaData.map((s) => s.NormScore) ?? [];
  return scores.length === 0 ? Number.NEGATIVE_INFINITY : Math.max(...scores);
}

