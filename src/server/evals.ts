import { newEvaluation, type Evaluation, type EvalTrigger, type Job } from "../structs/index.js";
import { newId } from "./ids.js";

/** A new pending evaluation of a job, for the broker, with a random id. */
export function newEval(job: Pick<Job, "ID" | "Namespace" | "Priority" | "Type" | "JobModifyIndex">, trigger: EvalTrigger, now: number, extra: Partial<Evaluation> = {}): Evaluation {
  return newEvaluation(newId(), job, trigger, now, extra);
}
