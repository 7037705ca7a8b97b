import {
  allocIndex,
  allocName,
  allocTerminal,
  NS,
  deploymentActive,
  disconnectOf,
  isMultiregion,
  needsToReconnect,
  PENDING_FOR_PEER,
  type Allocation,
  type ClientStatusMark,
  type Deployment,
  type DeploymentState,
  type DesiredUpdates,
  type EvalTrigger,
  type Job,
  type Node,
  type TaskGroup,
} from "../structs/index.js";
import { keepOriginal, nodeGone, stillUnknown } from "./disconnect.js";
import { nextReschedule } from "./reschedule.js";
import { groupUpdateKind } from "./updates.js";

/**
 * The reconciler: what should run (the job) against what runs (its allocations), group by
 * group, into intents — place, stop, update in place, replace, migrate, canary — honouring
 * the update strategy, the deployment in progress and the reschedule policy. Pure: the
 * placer decides where, the caller turns intents into a Plan.
 */
export interface ReconcileInput {
  /** The evaluation being processed: a failed allocation whose follow-up it is is rescheduled now. */
  evalId: string;
  namespace: string;
  jobId: string;
  /** null (purged) or stopped: everything stops. */
  job: Job | null;
  allocs: readonly Allocation[];
  /** The job's latest deployment. */
  deployment: Deployment | null;
  node(id: string): Node | undefined;
  /** Unix ms. */
  now: number;
  newId(): string;
}

export interface PlaceIntent {
  group: string;
  name: string;
  canary: boolean;
  /** The allocation this one replaces (lost, migrated, rescheduled or updated). */
  previous: Allocation | null;
  reschedule: boolean;
}

export interface StopIntent {
  alloc: Allocation;
  description: string;
  lost: boolean;
}

export interface ReconcileResult {
  place: PlaceIntent[];
  stop: StopIntent[];
  /** Allocations moved to the new job version where they run. */
  inplace: Allocation[];
  /** A deployment created or changed by this evaluation, to write with the plan. */
  deployment: Deployment | null;
  deploymentUpdates: { DeploymentID: string; Status: string; StatusDescription: string }[];
  desired: Record<string, DesiredUpdates>;
  /**
   * An evaluation must come back at `at` (unix ms): a failed allocation's reschedule delay
   * (`alloc-failure`), or a disconnected one's `lost_after` (`max-disconnect-timeout`).
   */
  followups: Followup[];
  /** Client statuses the servers record: `unknown` on a disconnected node, or a reconnected allocation's own. */
  marks: ClientStatusMark[];
}

export interface Followup {
  alloc: Allocation;
  at: number;
  trigger: EvalTrigger;
}

/** A failed allocation due for rescheduling within this much of now is rescheduled now (Nomad's `rescheduleWindowSize`). */
export const RESCHEDULE_WINDOW_MS = 1000;

function emptyDesired(): DesiredUpdates {
  return { Ignore: 0, Place: 0, Migrate: 0, Stop: 0, InPlaceUpdate: 0, DestructiveUpdate: 0, Canary: 0, Preemptions: 0 };
}

export function reconcile(input: ReconcileInput): ReconcileResult {
  const out: ReconcileResult = { place: [], stop: [], inplace: [], deployment: null, deploymentUpdates: [], desired: {}, followups: [], marks: [] };
  const { job } = input;
  const latest = input.deployment;

  if (job === null || job.Stop) {
    if (latest !== null && deploymentActive(latest)) {
      out.deploymentUpdates.push({ DeploymentID: latest.ID, Status: "cancelled", StatusDescription: "Cancelled because job is stopped" });
    }
    for (const a of input.allocs) {
      if (allocTerminal(a)) continue;
      const d = (out.desired[a.TaskGroup] ??= emptyDesired());
      d.Stop++;
      out.stop.push({ alloc: a, description: "alloc not needed since job is stopped", lost: isLost(a, input) });
    }
    return out;
  }

  // The deployment of this job version, if there is one; an active one for an older version is superseded.
  const current: Deployment | null = latest !== null && latest.JobVersion === job.Version && latest.JobCreateIndex === job.CreateIndex ? latest : null;
  if (latest !== null && current === null && deploymentActive(latest)) {
    out.deploymentUpdates.push({ DeploymentID: latest.ID, Status: "cancelled", StatusDescription: "Cancelled due to newer version of job" });
  }
  const wantsDeployment = job.Type === "service" && job.TaskGroups.some((g) => g.Update !== null && g.Update.MaxParallel > 0);
  const multiregion = isMultiregion(job);
  // Made on first need by a group; a holder, since the closure sets it.
  const made: { d: Deployment | null } = { d: null };
  const deploymentFor = (): Deployment | null => {
    if (!wantsDeployment) return null;
    if (current !== null) return current;
    made.d ??= {
      ID: input.newId(),
      Namespace: job.Namespace,
      JobID: job.ID,
      JobVersion: job.Version,
      JobModifyIndex: job.JobModifyIndex,
      JobCreateIndex: job.CreateIndex,
      TaskGroups: {},
      // A multiregion job's deployment waits for its region's turn (`server/multiregion.ts`).
      ...(multiregion ? { Status: "pending" as const, StatusDescription: PENDING_FOR_PEER, IsMultiregion: true } : { Status: "running" as const, StatusDescription: "Deployment is running" }),
      CreateIndex: 0,
      ModifyIndex: 0,
    };
    return made.d;
  };

  const groups = new Set(job.TaskGroups.map((g) => g.Name));
  for (const a of input.allocs) {
    if (groups.has(a.TaskGroup) || allocTerminal(a)) continue;
    (out.desired[a.TaskGroup] ??= emptyDesired()).Stop++;
    out.stop.push({ alloc: a, description: "alloc not needed since its group was removed from the job", lost: isLost(a, input) });
  }

  for (const tg of job.TaskGroups) {
    const res = reconcileGroup(job, tg, input, current, deploymentFor);
    out.desired[tg.Name] = res.desired;
    out.place.push(...res.place);
    out.stop.push(...res.stop);
    out.inplace.push(...res.inplace);
    out.followups.push(...res.followups);
    out.marks.push(...res.marks);
  }

  const d: Deployment | null = made.d ?? current;
  if (d !== null && (made.d !== null || out.place.length > 0)) {
    const copy: Deployment = { ...d, TaskGroups: { ...d.TaskGroups } };
    for (const tg of job.TaskGroups) {
      if (tg.Update === null || tg.Update.MaxParallel === 0) continue;
      const prev = copy.TaskGroups[tg.Name];
      const state: DeploymentState = prev === undefined ? newState(tg, input.now) : { ...prev, PlacedCanaries: [...prev.PlacedCanaries] };
      const canaryPlaced = out.place.filter((p) => p.group === tg.Name && p.canary).length;
      if (prev === undefined) state.DesiredCanaries = canaryPlaced > 0 ? tg.Update.Canary : 0;
      state.DesiredTotal = tg.Count;
      copy.TaskGroups[tg.Name] = state;
    }
    out.deployment = copy;
  }
  // A multiregion deployment waiting for its turn places nothing yet: made (pending), it is all
  // this evaluation writes of the rollout; the allocations it would replace keep running.
  if (multiregion && out.deployment?.Status === "pending") holdRollout(out, out.deployment.ID === made.d?.ID ? null : out.deployment);
  return out;
}

/** Takes back a result's placements (and the stops of the allocations they replace) while its multiregion deployment is pending. */
function holdRollout(out: ReconcileResult, existing: Deployment | null): void {
  const replaced = new Set(out.place.filter((p) => p.previous !== null && !p.reschedule).map((p) => p.previous?.ID));
  out.stop = out.stop.filter((st) => !(replaced.has(st.alloc.ID) && (st.description === "alloc is being updated due to job update" || st.description === "alloc is being migrated")));
  out.place = [];
  for (const d of Object.values(out.desired)) {
    d.Ignore += d.Place + d.DestructiveUpdate + d.Canary + d.Migrate;
    d.Place = 0;
    d.DestructiveUpdate = 0;
    d.Canary = 0;
    d.Migrate = 0;
  }
  // An existing pending deployment is left as it is: nothing of it moved.
  if (existing !== null) out.deployment = null;
}

/** A group's state in a deployment that starts now. */
export function newState(tg: TaskGroup, now: number): DeploymentState {
  const u = tg.Update;
  return {
    AutoRevert: u?.AutoRevert ?? false,
    AutoPromote: u?.AutoPromote ?? false,
    ProgressDeadline: u?.ProgressDeadline ?? 0,
    RequireProgressBy: u !== null && u.ProgressDeadline > 0 ? now + u.ProgressDeadline / NS.millisecond : 0,
    Promoted: false,
    PlacedCanaries: [],
    DesiredCanaries: 0,
    DesiredTotal: tg.Count,
    PlacedAllocs: 0,
    HealthyAllocs: 0,
    UnhealthyAllocs: 0,
  };
}

function isLost(a: Allocation, input: ReconcileInput): boolean {
  return nodeGone(input.node(a.NodeID));
}

interface GroupResult {
  place: PlaceIntent[];
  stop: StopIntent[];
  inplace: Allocation[];
  followups: Followup[];
  marks: ClientStatusMark[];
  desired: DesiredUpdates;
}

function reconcileGroup(job: Job, tg: TaskGroup, input: ReconcileInput, current: Deployment | null, deploymentFor: () => Deployment | null): GroupResult {
  const r: GroupResult = { place: [], stop: [], inplace: [], followups: [], marks: [], desired: emptyDesired() };
  const batch = job.Type === "batch";
  const all = input.allocs.filter((a) => a.TaskGroup === tg.Name && a.DesiredStatus === "run");

  const untainted: Allocation[] = [];
  const occupied: Allocation[] = []; // hold their name without running: completed batch work, failures not rescheduled
  const replace: { alloc: Allocation; kind: "lost" | "migrate" | "reschedule" | "disconnected" }[] = [];
  // Back on a ready node after being unknown; and the names of those among them not yet heard from.
  const reconnected: Allocation[] = [];
  const held = new Set<string>();
  for (const a of all) {
    if (a.ClientStatus === "complete") {
      if (batch) occupied.push(a);
      continue;
    }
    if (a.ClientStatus === "lost") continue;
    if (a.ClientStatus === "failed") {
      if (a.NextAllocation !== "") continue;
      const at = nextReschedule(a, tg.ReschedulePolicy);
      if (at === null) occupied.push(a);
      else if (a.FollowupEvalID === input.evalId || at <= input.now + RESCHEDULE_WINDOW_MS) replace.push({ alloc: a, kind: "reschedule" });
      else {
        occupied.push(a);
        // One follow-up per failed allocation: an evaluation in between leaves it waiting.
        if (a.FollowupEvalID === "") r.followups.push({ alloc: a, at, trigger: "alloc-failure" });
      }
      continue;
    }
    const node = input.node(a.NodeID);
    if (nodeGone(node)) {
      if (!stillUnknown(a, node, input.now)) {
        replace.push({ alloc: a, kind: "lost" });
        continue;
      }
      // Disconnected: unknown until lost_after, replaced meanwhile if the group says so.
      const d = disconnectOf(a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup));
      if (a.ClientStatus !== "unknown") {
        r.marks.push({ AllocID: a.ID, ClientStatus: "unknown", Time: input.now });
        r.followups.push({ alloc: a, at: input.now + d.LostAfter / NS.millisecond, trigger: "max-disconnect-timeout" });
      }
      if (d.Replace) replace.push({ alloc: a, kind: "disconnected" });
      else held.add(a.Name);
      continue;
    }
    if (needsToReconnect(a)) reconnected.push(a);
    else if (a.DesiredTransition.Migrate) replace.push({ alloc: a, kind: "migrate" });
    else untainted.push(a);
  }

  // Reconnected: the original and its replacements are reconciled as the group's disconnect block says.
  for (const a of reconnected) {
    if (a.ClientStatus === "unknown") {
      // Its node is back but has not reported it yet: it keeps its name until it does.
      held.add(a.Name);
      continue;
    }
    const replacements = untainted.filter((o) => o.Name === a.Name);
    const option = disconnectOf(tg).Reconcile;
    if (keepOriginal(option, a, replacements)) {
      r.marks.push({ AllocID: a.ID, ClientStatus: null, Time: input.now });
      for (const o of replacements) {
        untainted.splice(untainted.indexOf(o), 1);
        r.stop.push({ alloc: o, description: `alloc not needed: the allocation it replaced reconnected and is kept (reconcile = ${option})`, lost: false });
        r.desired.Stop++;
      }
      untainted.push(a);
    } else {
      r.stop.push({ alloc: a, description: `alloc not needed: its replacement is kept now that its node reconnected (reconcile = ${option})`, lost: false });
      r.desired.Stop++;
    }
  }

  const state = current?.TaskGroups[tg.Name];
  const promoted = state?.Promoted ?? false;
  const isCanary = (a: Allocation): boolean => a.DeploymentStatus?.Canary === true;
  const currentCanaries = untainted.filter((a) => isCanary(a) && current !== null && a.DeploymentID === current.ID);
  // Canaries of an older version that was never promoted are not wanted any more.
  const stale = untainted.filter((a) => isCanary(a) && (current === null || a.DeploymentID !== current.ID) && a.Job.Version !== job.Version);
  for (const a of stale) {
    r.stop.push({ alloc: a, description: "canary of an older deployment is no longer needed", lost: false });
    r.desired.Stop++;
  }
  const canaries = promoted ? [] : currentCanaries;
  let regular = untainted.filter((a) => !stale.includes(a) && !canaries.includes(a));

  // One allocation per name: after a promotion a canary holds the name of the allocation it replaces.
  const byName = new Map<string, Allocation[]>();
  for (const a of regular) {
    const l = byName.get(a.Name) ?? [];
    l.push(a);
    byName.set(a.Name, l);
  }
  regular = [];
  for (const list of byName.values()) {
    list.sort((x, y) => Number(y.Job.Version === job.Version) - Number(x.Job.Version === job.Version) || y.CreateIndex - x.CreateIndex);
    const [keep, ...extra] = list;
    if (keep !== undefined) regular.push(keep);
    for (const a of extra) {
      r.stop.push({ alloc: a, description: "alloc was replaced by a promoted canary", lost: false });
      r.desired.Stop++;
    }
  }

  // Scale down: the highest indexes go first.
  regular.sort((x, y) => allocIndex(x.Name) - allocIndex(y.Name));
  const room = Math.max(0, tg.Count - occupied.length);
  while (regular.length > room) {
    const a = regular.pop() as Allocation;
    r.stop.push({ alloc: a, description: "alloc not needed due to job update", lost: false });
    r.desired.Stop++;
  }

  const destructive: Allocation[] = [];
  for (const a of regular) {
    const kind = groupUpdateKind(a.Job, job, tg.Name);
    if (kind === "none") r.desired.Ignore++;
    else if (kind === "in-place") {
      r.inplace.push({ ...a, Job: job });
      r.desired.InPlaceUpdate++;
    } else destructive.push(a);
  }

  const update = tg.Update;
  const rolling = !batch && update !== null && update.MaxParallel > 0 && job.Type === "service";
  const failedDeployment = current !== null && (current.Status === "failed" || current.Status === "paused" || current.Status === "cancelled");

  if (rolling && update.Canary > 0 && destructive.length > 0 && !promoted) {
    // Canaries: new-version allocations beside the old ones, which wait for promotion.
    r.desired.Ignore += destructive.length;
    const want = failedDeployment ? 0 : Math.max(0, update.Canary - currentCanaries.length);
    const names = destructive.map((a) => a.Name);
    const taken = new Set(currentCanaries.map((a) => a.Name));
    const free = freeNames(job, tg, taken);
    for (let i = 0; i < want; i++) {
      const name = names.find((n) => !taken.has(n)) ?? free();
      taken.add(name);
      r.place.push({ group: tg.Name, name, canary: true, previous: null, reschedule: false });
      r.desired.Canary++;
    }
    if (want > 0) deploymentFor();
  } else if (destructive.length > 0) {
    let limit = destructive.length;
    if (rolling) {
      const inFlight = current === null ? 0 : untainted.filter((a) => a.DeploymentID === current.ID && a.DeploymentStatus?.Healthy !== true).length;
      limit = failedDeployment ? 0 : Math.max(0, update.MaxParallel - inFlight);
    }
    for (const a of destructive.slice(0, limit)) {
      r.stop.push({ alloc: a, description: "alloc is being updated due to job update", lost: false });
      r.place.push({ group: tg.Name, name: a.Name, canary: false, previous: a, reschedule: false });
      r.desired.DestructiveUpdate++;
    }
    r.desired.Ignore += Math.max(0, destructive.length - limit);
    if (limit > 0 && rolling) deploymentFor();
  }

  // Replacements for lost, draining and failed allocations, while their name is wanted.
  const kept = new Set([...regular, ...occupied, ...canaries].map((a) => a.Name).concat([...held]));
  for (const { alloc, kind } of replace) {
    const wanted = allocIndex(alloc.Name) < tg.Count && !kept.has(alloc.Name);
    if (kind === "lost" || kind === "migrate") {
      r.stop.push({ alloc, description: kind === "lost" ? "alloc is lost since its node is down" : "alloc is being migrated", lost: kind === "lost" });
      if (!wanted) r.desired.Stop++;
    }
    if (!wanted) continue;
    kept.add(alloc.Name);
    r.place.push({ group: tg.Name, name: alloc.Name, canary: false, previous: alloc, reschedule: kind === "reschedule" });
    if (kind === "migrate") r.desired.Migrate++;
    else r.desired.Place++;
  }

  // Missing allocations: the lowest free indexes.
  const have = kept.size;
  const next = freeNames(job, tg, kept);
  let placedNew = 0;
  for (let i = have; i < tg.Count; i++) {
    const name = next();
    r.place.push({ group: tg.Name, name, canary: false, previous: null, reschedule: false });
    r.desired.Place++;
    placedNew++;
  }
  if (placedNew > 0 && rolling && (current === null || current.JobVersion !== job.Version)) deploymentFor();
  return r;
}

/** Names `job.group[i]` not in `taken`, lowest index first; each call gives the next one. */
function freeNames(job: Job, tg: TaskGroup, taken: ReadonlySet<string>): () => string {
  let i = 0;
  return () => {
    for (;;) {
      const n = allocName(job.ID, tg.Name, i++);
      if (!taken.has(n)) return n;
    }
  };
}
