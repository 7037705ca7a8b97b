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
  CreateIndex: number;
  ModifyIndex: number;
}

export function deploymentActive(d: Deployment): boolean {
  return d.Status === "running" || d.Status === "paused" || d.Status === "pending" || d.Status === "blocked";
}
