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
  /** Evaluations to create: a later look for delayed reschedules or rolling system updates. */
  followups: Pick<Evaluation, "ID" | "JobID" | "Namespace" | "Priority" | "Type" | "TriggeredBy" | "WaitUntil" | "PreviousEval">[];
}
