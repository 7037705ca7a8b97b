import {
  allocName,
  allocTerminal,
  deploymentActive,
  needsToReconnect,
  NS,
  type Allocation,
  type ClientStatusMark,
  type Deployment,
  type DesiredUpdates,
  type Evaluation,
  type Job,
  type Node,
  type Plan,
  type TaskGroup,
} from "../structs/index.js";
import type { EvalContext } from "./context.js";
import { lostAfterMs, nodeGone, stillUnknown } from "./disconnect.js";
import { hasSticky, stickyVolumeIds } from "./dynamic-volumes.js";
import { GroupPlacer, newAllocation } from "./placer.js";
import { appendAlloc, appendStop, countInDeployment, emptyPlan } from "./plan.js";
import { readyNodes } from "./ready.js";
import { newState } from "./reconcile.js";
import type { ScheduleResult } from "./result.js";
import { groupUpdateKind } from "./updates.js";
import { ClusterUsage } from "./usage.js";

function emptyDesired(): DesiredUpdates {
  return { Ignore: 0, Place: 0, Migrate: 0, Stop: 0, InPlaceUpdate: 0, DestructiveUpdate: 0, Canary: 0, Preemptions: 0 };
}

/**
 * The system scheduler: one allocation of every group on every node that can run it, new
 * nodes included (fleet's `Global=true`, Swarm's global mode). Nodes the job's constraints
 * keep it off are not failures; nodes that should run it but lack room are.
 *
 * A system job's group with an `update` block (`max_parallel` > 0) rolls out as a deployment,
 * as Nomad 1.11's system scheduler does: a version's first placements make one; replacements
 * go `max_parallel` at a time, the next batch once the deployment's allocations in flight are
 * healthy (the deployment watcher's evaluation). With `canary`, a percentage of the nodes to
 * update: that many nodes (rounded up, at most `max_parallel`) get the new version first, in
 * place of the old, and the other nodes wait until the deployment is promoted (by hand, or
 * `auto_promote` once the canaries are healthy). A failed, paused or cancelled deployment holds
 * the replacements. Without a deployment (none for this version while allocations of it
 * already run), replacements roll one `stagger` apart.
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

  const latest = view.latestDeployment(ev.Namespace, ev.JobID);
  if (job === null || job.Stop) {
    if (latest !== null && deploymentActive(latest)) plan.DeploymentUpdates.push({ DeploymentID: latest.ID, Status: "cancelled", StatusDescription: "Cancelled because job is stopped" });
    for (const a of live) stop(a, "alloc not needed since job is stopped", false);
    return result;
  }
  const deployments = new SystemDeployment(job, latest, live, ctx);
  plan.DeploymentUpdates.push(...deployments.updates);

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

  for (const tg of job.TaskGroups) {
    const d = (desired[tg.Name] ??= emptyDesired());
    const u = tg.Update;
    const rolling = job.Type === "system" && u !== null && u.MaxParallel > 0;
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
    const current = deployments.current;
    const inCurrent = (a: Allocation): boolean => current !== null && a.DeploymentID === current.ID;
    // The nodes the group runs on or goes to (the deployment's desired total), its canaries
    // running, its allocations whose health is not known yet, and the nodes to replace.
    let candidates = 0;
    let canariesRunning = 0;
    let inFlight = 0;
    const destructive: { idx: number; alloc: Allocation }[] = [];
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
        if (kind === "none") {
          d.Ignore++;
          candidates++;
          if (inCurrent(existing) && existing.DeploymentStatus?.Canary === true) canariesRunning++;
          if (inCurrent(existing) && (existing.DeploymentStatus?.Healthy ?? null) === null) inFlight++;
        } else if (kind === "in-place") {
          appendAlloc(plan, { ...existing, Job: job, DeploymentID: deployments.begin(tg)?.ID ?? existing.DeploymentID });
          d.InPlaceUpdate++;
          candidates++;
        } else {
          destructive.push({ idx, alloc: existing });
          candidates++;
        }
        continue;
      }
      if (finished.has(node.ID)) {
        d.Ignore++;
        continue;
      }
      // A canary of this deployment that ended here is replaced by a canary, still one of its share.
      const ended = current !== null && current.TaskGroups[tg.Name]?.Promoted === false ? all.find((a) => a.NodeID === node.ID && a.TaskGroup === tg.Name && allocTerminal(a) && inCurrent(a) && a.DeploymentStatus?.Canary === true && a.NextAllocation === "") : undefined;
      if (place(idx, ended ?? null, ended !== undefined)) {
        candidates++;
        if (ended === undefined) d.Place++;
        else {
          d.Canary++;
          canariesRunning++;
        }
      }
    }

    // Replacements: max_parallel at a time less those in flight; all at once without an update block.
    let limit = destructive.length;
    if (rolling) limit = deployments.holds() ? 0 : Math.max(0, u.MaxParallel - inFlight);
    // A version's replacements are a deployment's (one is made if none runs for this version).
    const state = rolling && destructive.length > 0 ? deployments.begin(tg)?.TaskGroups[tg.Name] : undefined;
    const canaries = rolling && u.Canary > 0 && state !== undefined && !state.Promoted && job.Version !== 0;
    let replace = destructive.slice(0, limit);
    if (canaries) {
      // canary is a percentage of the nodes to update (the canaries running among them), rounded
      // up, at most max_parallel; canaries are placed while max_parallel has room, the other
      // nodes wait for the promotion.
      const required = Math.min(Math.ceil((u.Canary * (destructive.length + canariesRunning)) / 100), u.MaxParallel);
      replace = destructive.slice(0, limit > 0 ? Math.max(0, required - canariesRunning) : 0);
      deployments.setCanaries(tg, required);
    }
    for (const { idx, alloc } of replace) {
      stop(alloc, "alloc is being updated due to job update", false);
      d.Stop--;
      if (canaries) d.Canary++;
      else d.DestructiveUpdate++;
      if (!place(idx, alloc, canaries)) candidates--;
    }
    d.Ignore += destructive.length - replace.length;
    if (rolling && destructive.length > replace.length && !deployments.follows(tg)) {
      // No deployment brings the next batch: an evaluation one stagger later does.
      result.followups.push({ ID: rng.uuid(), JobID: job.ID, Namespace: job.Namespace, Priority: job.Priority, Type: job.Type, TriggeredBy: "rolling-update", WaitUntil: now + u.Stagger / NS.millisecond, PreviousEval: ev.ID });
    }
    if (rolling) deployments.setTotal(tg, candidates);

    function place(idx: number, previous: Allocation | null, canary: boolean): boolean {
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
        return false;
      }
      const id = rng.uuid();
      const extra: Parameters<typeof newAllocation>[6] & object = previous === null ? {} : { PreviousAllocation: previous.ID };
      const dep = deployments.begin(tg);
      if (dep !== null) {
        extra.DeploymentID = dep.ID;
        if (canary) extra.DeploymentStatus = { Healthy: null, Timestamp: 0, Canary: true, ModifyIndex: 0 };
        countInDeployment(dep, tg.Name, id, canary);
      }
      const alloc = newAllocation(id, ev.ID, job as Job, tg, allocName((job as Job).ID, tg.Name, 0), tried.sel, extra);
      const volumeIds = hasSticky(tg) ? stickyVolumeIds(tg, node, alloc.Name) : [];
      if (volumeIds.length > 0) alloc.HostVolumeIDs = volumeIds;
      usage.add(node, alloc);
      placer.placed(node, tg.Name);
      appendAlloc(plan, alloc);
      return true;
    }
  }
  plan.Deployment = deployments.toWrite();
  plan.FailedTGAllocs = result.failed;
  return result;
}

type DeploymentUpdate = Plan["DeploymentUpdates"][number];

/**
 * A system job's deployment as one evaluation sees and changes it (Nomad 1.11's node
 * reconciler and system scheduler): the active one of this job version, or one made at the
 * first placement or replacement of a version that has none and no allocation running yet; an
 * active one of an older version is cancelled. What changed is written with the plan.
 */
class SystemDeployment {
  readonly updates: DeploymentUpdate[] = [];
  /** The active deployment of this job version. */
  readonly current: Deployment | null;
  private readonly held: boolean;
  private readonly mayCreate: boolean;
  private draft: Deployment | null = null;

  constructor(
    private readonly job: Job,
    latest: Deployment | null,
    live: readonly Allocation[],
    private readonly ctx: EvalContext,
  ) {
    const same = latest !== null && latest.JobVersion === job.Version && latest.JobCreateIndex === job.CreateIndex;
    if (latest !== null && !same && deploymentActive(latest)) this.updates.push({ DeploymentID: latest.ID, Status: "cancelled", StatusDescription: "Cancelled due to newer version of job" });
    this.current = same && deploymentActive(latest) ? latest : null;
    this.held = same && (latest.Status === "failed" || latest.Status === "cancelled" || latest.Status === "paused");
    // A version whose allocations already run without a deployment (or whose deployment is over) gets none.
    this.mayCreate = job.Type === "system" && !same && !live.some((a) => a.Job.Version === job.Version && a.Job.CreateIndex === job.CreateIndex);
  }

  /** Whether replacements wait: this version's deployment failed, was cancelled or is paused. */
  holds(): boolean {
    return this.held;
  }

  /** Whether a deployment (or a hold) brings the group's next batch, rather than a stagger's evaluation. */
  follows(tg: TaskGroup): boolean {
    return this.held || (this.draft ?? this.current)?.TaskGroups[tg.Name] !== undefined;
  }

  /** The deployment the group's placements join, made or copied to be written; null when none. */
  begin(tg: TaskGroup): Deployment | null {
    if (this.job.Type !== "system" || tg.Update === null || tg.Update.MaxParallel === 0) return null;
    if (this.draft === null) {
      if (this.current !== null) this.draft = { ...this.current, TaskGroups: { ...this.current.TaskGroups } };
      else if (this.mayCreate) {
        const j = this.job;
        this.draft = {
          ID: this.ctx.rng.uuid(),
          Namespace: j.Namespace,
          JobID: j.ID,
          JobVersion: j.Version,
          JobModifyIndex: j.JobModifyIndex,
          JobCreateIndex: j.CreateIndex,
          TaskGroups: {},
          Status: "running",
          StatusDescription: "Deployment is running",
          CreateIndex: 0,
          ModifyIndex: 0,
        };
      } else return null;
    }
    const s = this.draft.TaskGroups[tg.Name];
    if (s === undefined) this.draft.TaskGroups[tg.Name] = newState(tg, this.ctx.now);
    else if (this.draft.TaskGroups[tg.Name] === this.current?.TaskGroups[tg.Name]) this.draft.TaskGroups[tg.Name] = { ...s, PlacedCanaries: [...s.PlacedCanaries] };
    return this.draft;
  }

  setCanaries(tg: TaskGroup, n: number): void {
    const s = (this.draft ?? this.current)?.TaskGroups[tg.Name];
    if (s === undefined || s.DesiredCanaries === n) return;
    const d = this.begin(tg)?.TaskGroups[tg.Name];
    if (d !== undefined) d.DesiredCanaries = n;
  }

  /** The nodes the group runs on or is placed on: it is done when they are all healthy. */
  setTotal(tg: TaskGroup, n: number): void {
    const s = (this.draft ?? this.current)?.TaskGroups[tg.Name];
    if (s === undefined || s.DesiredTotal === n) return;
    const d = this.begin(tg)?.TaskGroups[tg.Name];
    if (d !== undefined) d.DesiredTotal = n;
  }

  toWrite(): Deployment | null {
    return this.draft;
  }
}
