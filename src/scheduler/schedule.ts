import type { Evaluation } from "../structs/index.js";
import { scheduleGeneric } from "./generic.js";
import type { ScheduleResult } from "./result.js";
import { seededRng } from "./rng.js";
import { scheduleSystem } from "./system.js";
import type { StateView } from "./view.js";

/**
 * The scheduler: an evaluation and a read-only view of the cluster in, a plan out. No I/O,
 * no clock (`now` is given, unix ms), no randomness but what the evaluation's id seeds.
 */
export function schedule(ev: Evaluation, view: StateView, now: number): ScheduleResult {
  const job = view.job(ev.Namespace, ev.JobID);
  const rng = seededRng(ev.ID);
  const type = job?.Type ?? ev.Type;
  return type === "system" ? scheduleSystem(ev, job, view, now, rng) : scheduleGeneric(ev, job, view, now, rng);
}
