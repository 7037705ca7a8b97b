import type { Evaluation, Job, Node } from "../structs/index.js";
import type { EvalContext } from "./context.js";
import { hasSticky, stickyOf, stickyVolumeIds } from "./dynamic-volumes.js";
import { GroupPlacer, newAllocation } from "./placer.js";
import { appendAlloc, appendStop, countInDeployment, emptyPlan } from "./plan.js";
import { readyNodes } from "./ready.js";
import { reconcile } from "./reconcile.js";
import { nextRescheduleTracker } from "./reschedule.js";
import type { ScheduleResult } from "./result.js";
import { ClusterUsage } from "./usage.js";

/** The service and batch scheduler: reconcile, then place what must be placed. */
export function scheduleGeneric(ev: Evaluation, job: Job | null, ctx: EvalContext): ScheduleResult {
  const { view, now, rng } = ctx;
  const plan = emptyPlan(ev.ID, job?.Priority ?? ev.Priority, job);
  const result: ScheduleResult = { plan, failed: {}, queued: {}, followups: [] };
  const rec = reconcile({
    evalId: ev.ID,
    namespace: ev.Namespace,
    jobId: ev.JobID,
    job,
    allocs: view.allocsByJob(ev.Namespace, ev.JobID),
    deployment: view.latestDeployment(ev.Namespace, ev.JobID),
    node: (id) => view.node(id),
    now,
    newId: () => rng.uuid(),
  });
  plan.Annotations = { DesiredTGUpdates: rec.desired };
  plan.Deployment = rec.deployment;
  plan.DeploymentUpdates = rec.deploymentUpdates;

  const usage = new ClusterUsage(ctx);
  for (const s of rec.stop) {
    usage.markStopped(s.alloc);
    appendStop(plan, s.alloc, s.description, s.lost);
  }
  for (const a of rec.inplace) {
    // Moved in place to the new version: part of its deployment, with the health it has.
    const d = plan.Deployment;
    appendAlloc(plan, d !== null && d.TaskGroups[a.TaskGroup] !== undefined ? { ...a, DeploymentID: d.ID } : a);
  }
  for (const f of rec.followups) {
    const follow: ScheduleResult["followups"][number] = { ID: rng.uuid(), JobID: ev.JobID, Namespace: ev.Namespace, Priority: ev.Priority, Type: ev.Type, TriggeredBy: f.trigger, WaitUntil: f.at, PreviousEval: ev.ID };
    if (f.trigger === "alloc-failure") follow.AllocIDs = [f.alloc.ID];
    result.followups.push(follow);
  }
  if (rec.marks.length > 0) plan.ClientStatusMarks = rec.marks;
  if (job === null || rec.place.length === 0) return result;

  const ready = readyNodes(view, job, ctx.memo);
  const placers = new Map<string, GroupPlacer>();
  // What this plan placed so far: a placer made later for another group learns of it too.
  const placedSoFar: { node: Node; group: string }[] = [];
  for (const p of rec.place) {
    const tg = job.TaskGroups.find((g) => g.Name === p.group);
    if (tg === undefined) continue;
    let placer = placers.get(tg.Name);
    if (placer === undefined) {
      placer = new GroupPlacer(ctx, job, tg, ready, usage);
      for (const p2 of placedSoFar) placer.placed(p2.node, p2.group);
      placers.set(tg.Name, placer);
    }
    const penalty = p.previous !== null && p.reschedule ? new Set([p.previous.NodeID]) : undefined;
    const sticky = hasSticky(tg) ? stickyOf(p.previous, view.allocsByJob(job.Namespace, job.ID), p.name) : [];
    const sel = placer.select({ name: p.name, ...(penalty === undefined ? {} : { penaltyNodes: penalty }), ...(sticky.length === 0 ? {} : { sticky }) });
    if (sel === null) {
      result.failed[tg.Name] = placer.metric;
      result.queued[tg.Name] = (result.queued[tg.Name] ?? 0) + 1;
      continue;
    }
    const id = rng.uuid();
    const extra: Parameters<typeof newAllocation>[6] & object = {};
    const deployment = plan.Deployment;
    if (deployment !== null && deployment.TaskGroups[tg.Name] !== undefined) {
      extra.DeploymentID = deployment.ID;
      if (p.canary) extra.DeploymentStatus = { Healthy: null, Timestamp: 0, Canary: true, ModifyIndex: 0 };
      countInDeployment(deployment, tg.Name, id, p.canary);
    }
    if (p.previous !== null) {
      extra.PreviousAllocation = p.previous.ID;
      if (p.reschedule) extra.RescheduleTracker = nextRescheduleTracker(p.previous, tg.ReschedulePolicy, now);
    }
    const alloc = newAllocation(id, ev.ID, job, tg, p.name, sel, extra);
    const volumeIds = hasSticky(tg) ? stickyVolumeIds(tg, sel.node, p.name) : [];
    if (volumeIds.length > 0) alloc.HostVolumeIDs = volumeIds;
    usage.add(sel.node, alloc);
    for (const other of placers.values()) other.placed(sel.node, tg.Name);
    placedSoFar.push({ node: sel.node, group: tg.Name });
    appendAlloc(plan, alloc);
  }
  plan.FailedTGAllocs = result.failed;
  return result;
}
