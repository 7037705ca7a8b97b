import { schedule, type ScheduleResult, type StateView } from "../scheduler/index.js";
import { ErrorCode, isParameterized, isPeriodic, isPeriodicActive, periodicLaunchOf, RucheError, type EvalTrigger, type Evaluation, type Job, type PeriodicLaunch } from "../structs/index.js";
import { jobRowKey as jobKey, versionRowKey as versionKey, type StateStore, type Txn } from "../state/index.js";
import { newEval } from "./evals.js";
import { mustNamespace, namespaceExists } from "./namespaces.js";
import { storeView } from "./view.js";

/** Fields the server sets on a job; a change in them alone is not a new version. */
const SERVER_FIELDS = ["Version", "Stable", "CreateIndex", "ModifyIndex", "JobModifyIndex", "SubmitTime", "Status"] as const;

export function specOf(job: Job): string {
  const skip: ReadonlySet<string> = new Set(SERVER_FIELDS);
  return JSON.stringify(Object.fromEntries(Object.entries(job).filter(([k]) => !skip.has(k))));
}

export interface RegisterResult {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Index: number;
  /** Null when the job runs nothing itself (a parameterized job); EvalID is "" then. */
  eval: Evaluation | null;
}

export interface RegisterOptions {
  /** With check-index: 0 means "only if the job does not exist yet", N "only if its JobModifyIndex is N". */
  enforceIndex?: number;
  now: number;
  /** Why the evaluation is made; default "job-register" ("periodic-job" for a periodic launch). */
  trigger?: EvalTrigger;
  /**
   * The version a multiregion job's copy takes (`api/multiregion.ts`): every region registers
   * it at the same version, so that their deployments of it are known to be one rollout. A
   * version above the job's current one is a new version even when its specification did not
   * change here (it did in another region).
   */
  version?: number;
}

/**
 * Registers a job: a new version when its specification changed, and an evaluation, in one
 * transaction (none for a parameterized job, a template that only its dispatches run, nor for a periodic parent, whose children the leader launches). With `enforceIndex` a stale view of the job is refused (409), as `run -check-index`.
 */
export async function registerJob(store: StateStore, job: Job, opts: RegisterOptions): Promise<RegisterResult> {
  const { index, result } = await store.write((tx) => {
    mustNamespace((name) => namespaceExists(tx, name), job);
    const cur = tx.get("jobs", jobKey(job.Namespace, job.ID)) ?? null;
    if (opts.enforceIndex !== undefined) {
      const have = cur === null ? 0 : cur.JobModifyIndex;
      if (have !== opts.enforceIndex) {
        throw new RucheError(
          ErrorCode.IndexConflict,
          opts.enforceIndex === 0
            ? `job "${job.ID}" already exists (its modify index is ${have})`
            : `job "${job.ID}" has changed: its modify index is ${have}, not ${opts.enforceIndex}; plan again`,
        );
      }
    }
    const pinned = opts.version;
    const changed = cur === null || specOf(cur) !== specOf(job) || cur.Stop !== job.Stop || (pinned !== undefined && pinned > cur.Version);
    const next: Job = {
      ...job,
      Version: cur === null ? (pinned ?? 0) : changed ? Math.max(cur.Version + 1, pinned ?? 0) : cur.Version,
      Stable: changed ? false : cur.Stable,
      JobModifyIndex: changed ? tx.index : cur.JobModifyIndex,
      // Nomad's unit, unix nanoseconds (`opts.now` is milliseconds).
      SubmitTime: changed ? opts.now * 1_000_000 : cur.SubmitTime,
      Status: job.Stop ? "dead" : "pending",
    };
    tx.put("jobs", next);
    if (changed) tx.put("jobVersions", next);
    // A periodic parent runs nothing itself either: the leader's dispatcher launches its children.
    const ev = isParameterized(next) || isPeriodic(next) ? null : newEval(next, opts.trigger ?? "job-register", opts.now);
    if (ev !== null) tx.put("evals", ev);
    recordPeriodicLaunch(tx, next, opts.now);
    return { ev, jobModifyIndex: next.JobModifyIndex };
  });
  return { EvalID: result.ev?.ID ?? "", EvalCreateIndex: result.ev === null ? 0 : index, JobModifyIndex: result.jobModifyIndex, Index: index, eval: result.ev };
}

/**
 * As Nomad's FSM does: an active periodic parent's registration counts as its first launch
 * until it has one (a leader that takes over then knows whether it missed a time), and a
 * periodic child's launch time, read from its ID, is its parent's last launch.
 */
function recordPeriodicLaunch(tx: Txn, job: Job, now: number): void {
  const put = (id: string, launch: number): void => {
    const row: PeriodicLaunch = { ID: id, Namespace: job.Namespace, Launch: launch, CreateIndex: 0, ModifyIndex: 0 };
    tx.put("periodicLaunches", row);
  };
  if (isPeriodicActive(job) && tx.get("periodicLaunches", jobKey(job.Namespace, job.ID)) === undefined) put(job.ID, Math.floor(now / 1000) * 1000);
  if (job.ParentID === undefined || job.ParentID === "") return;
  const parent = tx.get("jobs", jobKey(job.Namespace, job.ParentID));
  const launch = periodicLaunchOf(job.ID);
  if (parent !== undefined && isPeriodic(parent) && launch !== null) put(parent.ID, launch);
}

export interface PlanResult {
  /** The job as it stands now, or null when it would be new. */
  current: Job | null;
  /** The job as it would be registered (its version and index as they would be). */
  next: Job;
  result: ScheduleResult;
  JobModifyIndex: number;
}

/** `plan`: the scheduler's dry run of a job against the current state; nothing is written. */
export function planJob(store: StateStore, job: Job, now: number): PlanResult {
  mustNamespace((name) => store.namespace(name) !== undefined, job);
  const cur = store.job(job.Namespace, job.ID);
  const changed = cur === null || specOf(cur) !== specOf(job) || cur.Stop !== job.Stop;
  const next: Job = {
    ...job,
    Version: cur === null ? 0 : changed ? cur.Version + 1 : cur.Version,
    JobModifyIndex: changed ? store.index + 1 : cur.JobModifyIndex,
    CreateIndex: cur?.CreateIndex ?? store.index + 1,
  };
  const base = storeView(store);
  const view: StateView = { ...base, job: (ns, id) => (ns === job.Namespace && id === job.ID ? next : base.job(ns, id)) };
  const ev = newEval(next, "job-register", now);
  return { current: cur, next, result: schedule(ev, view, now), JobModifyIndex: cur?.JobModifyIndex ?? 0 };
}

/**
 * Stops a job (its allocations stop, the job stays, dead); with purge, the job and its
 * versions go. Either way its allocations are told to stop by the evaluation, and stay —
 * holding their ports — until their clients report their tasks gone; GC takes them after
 * (Nomad's purge: deregistered, stopped, then garbage collected).
 */
export async function stopJob(store: StateStore, ns: string, id: string, purge: boolean, now: number): Promise<RegisterResult> {
  const { index, result } = await store.write((tx) => {
    const cur = tx.get("jobs", jobKey(ns, id));
    if (cur === undefined) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" not found`);
    if (purge) {
      tx.delete("jobs", jobKey(ns, id));
      for (const v of store.jobVersions(ns, id)) tx.delete("jobVersions", versionKey(ns, id, v.Version));
      tx.delete("periodicLaunches", jobKey(ns, id));
    } else {
      const stopped: Job = { ...cur, Stop: true, Status: "dead", Version: cur.Stop ? cur.Version : cur.Version + 1, JobModifyIndex: tx.index, Stable: false };
      tx.put("jobs", stopped);
      if (!cur.Stop) tx.put("jobVersions", stopped);
    }
    const ev = newEval(cur, "job-deregister", now);
    tx.put("evals", ev);
    return { ev, jobModifyIndex: tx.index };
  });
  return { EvalID: result.ev.ID, EvalCreateIndex: index, JobModifyIndex: result.jobModifyIndex, Index: index, eval: result.ev };
}

/** Registers an earlier version of a job again, as a new version. */
export async function revertJob(store: StateStore, ns: string, id: string, version: number, now: number, enforcePriorVersion?: number): Promise<RegisterResult> {
  const cur = store.job(ns, id);
  if (cur === null) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" not found`);
  if (enforcePriorVersion !== undefined && cur.Version !== enforcePriorVersion) {
    throw new RucheError(ErrorCode.IndexConflict, `job "${id}" is at version ${cur.Version}, not ${enforcePriorVersion}`);
  }
  const old = store.jobVersions(ns, id).find((j) => j.Version === version);
  if (old === undefined) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" has no version ${version}`);
  if (version === cur.Version) throw new RucheError(ErrorCode.BadRequest, `job "${id}" is already at version ${version}`);
  return registerJob(store, { ...old, Stop: false }, { now });
}

/** Sets a group's count, as a new version of the job. */
export async function scaleJob(store: StateStore, ns: string, id: string, group: string, count: number, now: number): Promise<RegisterResult> {
  const cur = store.job(ns, id);
  if (cur === null) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" not found`);
  if (!cur.TaskGroups.some((g) => g.Name === group)) throw new RucheError(ErrorCode.BadRequest, `job "${id}" has no group "${group}"`, { path: "Target.Group" });
  if (!Number.isInteger(count) || count < 0 || count > 100_000) throw new RucheError(ErrorCode.BadRequest, `count must be a whole number between 0 and 100000, got ${count}`, { path: "Count" });
  const next: Job = { ...cur, TaskGroups: cur.TaskGroups.map((g) => (g.Name === group ? { ...g, Count: count } : g)) };
  return registerJob(store, next, { now });
}
