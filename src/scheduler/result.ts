import type { AllocMetric, Evaluation, Plan } from "../structs/index.js";

/** What one evaluation decided. The server applies the plan and writes the evaluations. */
export interface ScheduleResult {
  plan: Plan;
  /**
   * Per group: allocations that could not be placed, and why (`failureReasons` of structs
   * puts it in words; `CoalescedFailures + 1` of them).
   */
  failed: Record<string, AllocMetric>;
  /** Per group: how many placements wait for room. */
  queued: Record<string, number>;
  /**
   * Evaluations to create: a later look for delayed reschedules, a disconnected allocation's
   * `lost_after`, or the next batch of a system update that has no deployment. A delayed reschedule names the failed
   * allocations it is for (`AllocIDs`): their `FollowupEvalID` is set to it, so no other
   * evaluation makes another, and this one reschedules them (Nomad's follow-up evaluations).
   */
  followups: (Pick<Evaluation, "ID" | "JobID" | "Namespace" | "Priority" | "Type" | "TriggeredBy" | "WaitUntil" | "PreviousEval"> & { AllocIDs?: string[] })[];
}
