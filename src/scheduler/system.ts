import { allocName, allocTerminal, needsToReconnect, NS, type Allocation, type ClientStatusMark, type DesiredUpdates, type Evaluation, type Job, type Node } from "../structs/index.js";
import type { EvalContext } from "./context.js";
import { lostAfterMs, nodeGone, stillUnknown } from "./disconnect.js";
import { GroupPlacer, newAllocation } from "./placer.js";
import { appendAlloc, appendStop, emptyPlan } from "./plan.js";
import { readyNodes } from "./ready.js";
import type { ScheduleResult } from "./result.js";
import { groupUpdateKind } from "./updates.js";
import { ClusterUsage } from "./usage.js";

function emptyDesired(): DesiredUpdates {
  return { Ignore: 0, Place: 0, Migrate: 0, Stop: 0, InPlaceUpdate: 0, DestructiveUpdate: 0, Canary: 0, Preemptions: 0 };
}

/**
 * The system scheduler: one allocation of every group on every node that can run it, new
 * nodes included (fleet's `Global=true`, Swarm's global mode). Nodes the job's constraints
 * keep it off are not failures; nodes that should run it but lack room are. Replacements
 * roll `max_parallel` at a time, the next batch one `stagger` later.
 *
 * A sysbatch job is placed the same way, but runs to completion: a node where an allocation
 * of this version of the job already finished (complete, or failed for good: sysbatch jobs
 * are not rescheduled) gets no other, as Nomad's node reconciler says; a new version runs
 * again everywhere.
 */
export function scheduleSystem(ev: Evaluation, job: Job | null, ctx: EvalContext): ScheduleResult {
  const { view, now, rng } = ctx;
  const plan = emptyPlan(ev.ID, job?.Priority ?? ev.Priority, job);
  const result: ScheduleResult = { plan, failed: {}, queued: {}, followups: [] };
  const desired: Record<string, DesiredUpdates> = {};
  plan.Annotations = { DesiredTGUpdates: desired };
  const usage = new ClusterUsage(ctx);
  const all = view.allocsByJob(ev.Namespace, ev.JobID);
  const live = all.filter((a) => !allocTerminal(a));
  const stop = (a: Allocation, why: string, lost: boolean): void => {
    usage.markStopped(a);
    appendStop(plan, a, why, lost);
    (desired[a.TaskGroup] ??= emptyDesired()).Stop++;
  };

  if (job === null || job.Stop) {
    for (const a of live) stop(a, "alloc not needed since job is stopped", false);
    return result;
  }

  const ready = readyNodes(view, job, ctx.memo);
  const nodes = ready.nodes;
  const readyById = new Map(nodes.map((n) => [n.ID, n]));
  const groups = new Set(job.TaskGroups.map((g) => g.Name));
  const mark = (m: ClientStatusMark): void => {
    (plan.ClientStatusMarks ??= []).push(m);
  };
  for (const a of live) {
    const n = view.node(a.NodeID);
    if (!groups.has(a.TaskGroup)) stop(a, "alloc not needed since its group was removed from the job", false);
    else if (nodeGone(n)) {
      // A silent node's allocation is unknown until its lost_after (there is no other node to replace it on), then lost.
      if (!stillUnknown(a, n, now)) stop(a, "alloc is lost since its node is down", true);
      else if (a.ClientStatus !== "unknown") {
        mark({ AllocID: a.ID, ClientStatus: "unknown", Time: now });
        result.followups.push({ ID: rng.uuid(), JobID: ev.JobID, Namespace: ev.Namespace, Priority: ev.Priority, Type: ev.Type, TriggeredBy: "max-disconnect-timeout", WaitUntil: now + lostAfterMs(a), PreviousEval: ev.ID });
      }
    } else if (needsToReconnect(a) && a.ClientStatus === "unknown") {
      // Its node is back but has not reported it yet: it stays.
    } else {
      if (needsToReconnect(a)) mark({ AllocID: a.ID, ClientStatus: null, Time: now });
      if (a.DesiredTransition.Migrate || !readyById.has(a.NodeID)) stop(a, "alloc not needed as node is draining or no longer eligible", false);
    }
  }

  let rollingLeft = Number.MAX_SAFE_INTEGER;
  let stagger = 0;
  for (const tg of job.TaskGroups) {
    const d = (desired[tg.Name] ??= emptyDesired());
    if (tg.Update !== null && tg.Update.MaxParallel > 0) {
      rollingLeft = Math.min(rollingLeft, tg.Update.MaxParallel);
      stagger = Math.max(stagger, tg.Update.Stagger);
    }
    const placer = new GroupPlacer(ctx, job, tg, ready, usage);
    const onNode = new Map<string, Allocation[]>();
    for (const a of live) {
      if (a.TaskGroup !== tg.Name || usage.isStopped(a.ID)) continue;
      const l = onNode.get(a.NodeID) ?? [];
      l.push(a);
      onNode.set(a.NodeID, l);
    }
    // Sysbatch: the nodes where this version of the group already ran to its end.
    const finished = new Set<string>();
    if (job.Type === "sysbatch") {
      for (const a of all) if (a.TaskGroup === tg.Name && allocTerminal(a) && a.Job.JobModifyIndex === job.JobModifyIndex) finished.add(a.NodeID);
    }
    let deferred = false;
    for (let idx = 0; idx < nodes.length; idx++) {
      const node = nodes[idx] as Node;
      const here = onNode.get(node.ID) ?? [];
      for (const extra of here.slice(1)) stop(extra, "alloc not needed: a system job runs once per node", false);
      const existing = here[0];
      if (tg.Count === 0) {
        if (existing !== undefined) stop(existing, "alloc not needed due to job update", false);
        continue;
      }
      if (existing !== undefined) {
        const kind = groupUpdateKind(existing.Job, job, tg.Name);
        if (kind === "none") d.Ignore++;
        else if (kind === "in-place") {
          appendAlloc(plan, { ...existing, Job: job });
          d.InPlaceUpdate++;
        } else if (rollingLeft > 0) {
          rollingLeft--;
          stop(existing, "alloc is being updated due to job update", false);
          d.Stop--;
          d.DestructiveUpdate++;
          place(idx, existing);
        } else {
          d.Ignore++;
          deferred = true;
        }
        continue;
      }
      if (finished.has(node.ID)) {
        d.Ignore++;
        continue;
      }
      place(idx, null);
    }
    if (deferred) {
      result.followups.push({ ID: rng.uuid(), JobID: job.ID, Namespace: job.Namespace, Priority: job.Priority, Type: job.Type, TriggeredBy: "rolling-update", WaitUntil: now + stagger / NS.millisecond, PreviousEval: ev.ID });
    }

    function place(idx: number, previous: Allocation | null): void {
      const node = nodes[idx] as Node;
      const tried = placer.tryNode(idx);
      if ("reason" in tried) {
        if (tried.exhausted) {
          // The group's metric counts every node tried; each failure after the first is coalesced into it.
          const failed = result.failed[tg.Name];
          if (failed === undefined) result.failed[tg.Name] = placer.metric;
          else failed.CoalescedFailures++;
          result.queued[tg.Name] = (result.queued[tg.Name] ?? 0) + 1;
        }
        return;
      }
      const alloc = newAllocation(rng.uuid(), ev.ID, job as Job, tg, allocName((job as Job).ID, tg.Name, 0), tried.sel, previous === null ? {} : { PreviousAllocation: previous.ID });
      usage.add(node, alloc);
      placer.placed(node, tg.Name);
      appendAlloc(plan, alloc);
      if (previous === null) d.Place++;
    }
  }
  plan.FailedTGAllocs = result.failed;
  return result;
}
