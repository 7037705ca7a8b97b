import type { AllocMetric } from "./metrics.js";
import type { Allocation } from "./allocation.js";
import type { Deployment } from "./deployment.js";
import type { Job } from "./job.js";

/** Per group, what the reconciler decided; `ruche plan` prints it ("1 canary, 2 ignore"). */
export interface DesiredUpdates {
  Ignore: number;
  Place: number;
  Migrate: number;
  Stop: number;
  InPlaceUpdate: number;
  DestructiveUpdate: number;
  Canary: number;
  Preemptions: number;
}

/**
 * A client status the servers record on an allocation: `unknown` when its node disconnected
 * (at `Time`, unix ms), or the status a reconnected one reported, which ends its wait.
 */
export interface ClientStatusMark {
  AllocID: string;
  /** `unknown`, or null: the status the client reported stands and is recorded. */
  ClientStatus: "unknown" | null;
  Time: number;
}

/** What the scheduler wants done; the plan applier re-checks it against the newest state. */
export interface Plan {
  EvalID: string;
  Priority: number;
  Job: Job | null;
  /** Node ID → allocations to stop or evict there. */
  NodeUpdate: Record<string, Allocation[]>;
  /** Node ID → allocations to create or update there. */
  NodeAllocation: Record<string, Allocation[]>;
  /** Allocations of disconnected or reconnected nodes whose client status the servers record. */
  ClientStatusMarks?: ClientStatusMark[];
  Deployment: Deployment | null;
  DeploymentUpdates: { DeploymentID: string; Status: string; StatusDescription: string }[];
  /** Group → what could not be placed and why. */
  FailedTGAllocs: Record<string, AllocMetric>;
  Annotations: { DesiredTGUpdates: Record<string, DesiredUpdates> } | null;
}

export interface PlanResult {
  NodeUpdate: Record<string, Allocation[]>;
  NodeAllocation: Record<string, Allocation[]>;
  /** Nodes whose part of the plan was refused because state moved. */
  RefusedNodes: string[];
  AllocIndex: number;
}
