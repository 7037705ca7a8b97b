import { AllocKeys, isParameterized, runsOnEveryNode, type Evaluation } from "../structs/index.js";
import type { EvalContext } from "./context.js";
import { scheduleGeneric } from "./generic.js";
import { SchedulerMemo } from "./memo.js";
import { emptyPlan } from "./plan.js";
import type { ScheduleResult } from "./result.js";
import { seededRng } from "./rng.js";
import { scheduleSystem } from "./system.js";
import type { StateView } from "./view.js";

/**
 * The scheduler: an evaluation and a read-only view of the cluster in, a plan out. No I/O,
 * no clock (`now` is given, unix ms), no randomness but what the evaluation's id seeds.
 * `memo` keeps what is derived from the view (ready nodes, compiled patterns) for the next
 * evaluation over the same nodes; it makes the call faster, never different.
 */
export function schedule(ev: Evaluation, view: StateView, now: number, memo: SchedulerMemo = new SchedulerMemo()): ScheduleResult {
  const job = view.job(ev.Namespace, ev.JobID);
  const ctx: EvalContext = { view, now, rng: seededRng(ev.ID), memo, keys: new AllocKeys() };
  // A parameterized job is a template: only its dispatched children are placed.
  if (job !== null && !job.Stop && isParameterized(job)) return { plan: emptyPlan(ev.ID, job.Priority, job), failed: {}, queued: {}, followups: [] };
  const type = job?.Type ?? ev.Type;
  return runsOnEveryNode(type) ? scheduleSystem(ev, job, ctx) : scheduleGeneric(ev, job, ctx);
}
