import type { Allocation, Deployment, Job, Plan } from "../structs/index.js";

export function emptyPlan(evalId: string, priority: number, job: Job | null): Plan {
  return {
    EvalID: evalId,
    Priority: priority,
    Job: job,
    NodeUpdate: {},
    NodeAllocation: {},
    Deployment: null,
    DeploymentUpdates: [],
    FailedTGAllocs: {},
    Annotations: null,
  };
}

export function appendStop(plan: Plan, a: Allocation, description: string, lost: boolean): void {
  const stopped: Allocation = { ...a, DesiredStatus: "stop", DesiredDescription: description, ClientStatus: lost ? "lost" : a.ClientStatus };
  (plan.NodeUpdate[a.NodeID] ??= []).push(stopped);
}

export function appendAlloc(plan: Plan, a: Allocation): void {
  (plan.NodeAllocation[a.NodeID] ??= []).push(a);
}

/** Counts a placement in the plan's deployment. */
export function countInDeployment(d: Deployment, group: string, allocId: string, canary: boolean): void {
  const s = d.TaskGroups[group];
  if (s === undefined) return;
  s.PlacedAllocs++;
  if (canary) s.PlacedCanaries.push(allocId);
}
