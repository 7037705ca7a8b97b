/** A rollout of one job version, group by group. */
export const DeploymentStatus = {
  Running: "running",
  Paused: "paused",
  Failed: "failed",
  Successful: "successful",
  Cancelled: "cancelled",
  Pending: "pending",
  Blocked: "blocked",
} as const;
export type DeploymentStatus = (typeof DeploymentStatus)[keyof typeof DeploymentStatus];

export interface DeploymentState {
  AutoRevert: boolean;
  AutoPromote: boolean;
  ProgressDeadline: number;
  /** Unix ms by which progress must be made. */
  RequireProgressBy: number;
  Promoted: boolean;
  PlacedCanaries: string[];
  DesiredCanaries: number;
  DesiredTotal: number;
  PlacedAllocs: number;
  HealthyAllocs: number;
  UnhealthyAllocs: number;
}

export interface Deployment {
  ID: string;
  Namespace: string;
  JobID: string;
  JobVersion: number;
  JobModifyIndex: number;
  JobCreateIndex: number;
  TaskGroups: Record<string, DeploymentState>;
  Status: DeploymentStatus;
  StatusDescription: string;
  /** Whether it is one region's deployment of a multiregion job (its job's `Multiregion`): pending until its turn, blocked once done until every region is. */
  IsMultiregion?: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

export function deploymentActive(d: Deployment): boolean {
  return d.Status === "running" || d.Status === "paused" || d.Status === "pending" || d.Status === "blocked";
}

/** Said of a deployment waiting for its turn (Nomad's `DeploymentStatusDescriptionPendingForPeer`). */
export const PENDING_FOR_PEER = "Deployment is pending, waiting for peer region";
/** Said of a region's deployment done while others are not (Nomad's `DeploymentStatusDescriptionBlocked`). */
export const BLOCKED_FOR_PEER = "Deployment is complete but waiting for peer region";
/** Said of a deployment failed because another region's failed (Nomad's `DeploymentStatusDescriptionFailedByPeer`). */
export const FAILED_BY_PEER = "Failed because of an error in peer region";
