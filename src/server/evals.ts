import type { Evaluation, EvalTrigger, Job } from "../structs/index.js";
import { newId } from "./ids.js";

/** A new pending evaluation of a job, for the broker. */
export function newEval(job: Pick<Job, "ID" | "Namespace" | "Priority" | "Type" | "JobModifyIndex">, trigger: EvalTrigger, now: number, extra: Partial<Evaluation> = {}): Evaluation {
  return {
    ID: newId(),
    Namespace: job.Namespace,
    Priority: job.Priority,
    Type: job.Type,
    TriggeredBy: trigger,
    JobID: job.ID,
    JobModifyIndex: job.JobModifyIndex,
    NodeID: "",
    DeploymentID: "",
    Status: "pending",
    StatusDescription: "",
    WaitUntil: 0,
    NextEval: "",
    PreviousEval: "",
    BlockedEval: "",
    FailedTGAllocs: {},
    QueuedAllocations: {},
    CreateIndex: 0,
    ModifyIndex: 0,
    CreateTime: now,
    ModifyTime: now,
    ...extra,
  };
}
