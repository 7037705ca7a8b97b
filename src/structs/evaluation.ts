import type { AllocMetric } from "./metrics.js";

/** A reason to look at a job again; the scheduler turns one into a Plan. */
export const EvalStatus = {
  Blocked: "blocked",
  Pending: "pending",
  Complete: "complete",
  Failed: "failed",
  Canceled: "canceled",
} as const;
export type EvalStatus = (typeof EvalStatus)[keyof typeof EvalStatus];

export const EvalTrigger = {
  JobRegister: "job-register",
  JobDeregister: "job-deregister",
  NodeUpdate: "node-update",
  NodeDrain: "node-drain",
  AllocStop: "alloc-stop",
  AllocFailure: "alloc-failure",
  DeploymentWatcher: "deployment-watcher",
  QueuedAllocs: "queued-allocs",
  PeriodicJob: "periodic-job",
  JobScaling: "job-scaling",
  MaxPlans: "max-plan-attempts",
  RollingUpdate: "rolling-update",
  /** An allocation of a node that had disconnected reports again. */
  Reconnect: "reconnect",
  /** A disconnected node's allocations reach their `lost_after`. */
  MaxDisconnectTimeout: "max-disconnect-timeout",
} as const;
export type EvalTrigger = (typeof EvalTrigger)[keyof typeof EvalTrigger];

export interface Evaluation {
  ID: string;
  Namespace: string;
  Priority: number;
  Type: string;
  TriggeredBy: EvalTrigger;
  JobID: string;
  JobModifyIndex: number;
  NodeID: string;
  DeploymentID: string;
  Status: EvalStatus;
  StatusDescription: string;
  /** Unix ms before which the eval must not run (reschedule delays). */
  WaitUntil: number;
  NextEval: string;
  PreviousEval: string;
  BlockedEval: string;
  FailedTGAllocs: Record<string, AllocMetric>;
  QueuedAllocations: Record<string, number>;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

/** A new pending evaluation of a job. */
export function newEvaluation(
  id: string,
  job: { ID: string; Namespace: string; Priority: number; Type: string; JobModifyIndex: number },
  trigger: EvalTrigger,
  now: number,
  extra: Partial<Evaluation> = {},
): Evaluation {
  return {
    ID: id,
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
