import { schedule, type ScheduleResult, type StateView } from "../scheduler/index.js";
import { ErrorCode, RucheError, type Evaluation, type Job } from "../structs/index.js";
import { jobRowKey as jobKey, versionRowKey as versionKey, type StateStore } from "../state/index.js";
import { newEval } from "./evals.js";
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
  eval: Evaluation;
}

export interface RegisterOptions {
  /** With check-index: 0 means "only if the job does not exist yet", N "only if its JobModifyIndex is N". */
  enforceIndex?: number;
  now: number;
}

/**
 * Registers a job: a new version when its specification changed, and an evaluation, in one
 * transaction. With `enforceIndex` a stale view of the job is refused (409), as `run -check-index`.
 */
export async function registerJob(store: StateStore, job: Job, opts: RegisterOptions): Promise<RegisterResult> {
  const { index, result } = await store.write((tx) => {
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
    const changed = cur === null || specOf(cur) !== specOf(job) || cur.Stop !== job.Stop;
    const next: Job = {
      ...job,
      Version: cur === null ? 0 : changed ? cur.Version + 1 : cur.Version,
      Stable: changed ? false : cur.Stable,
      JobModifyIndex: changed ? tx.index : cur.JobModifyIndex,
      SubmitTime: changed ? opts.now : cur.SubmitTime,
      Status: job.Stop ? "dead" : "pending",
    };
    tx.put("jobs", next);
    if (changed) tx.put("jobVersions", next);
    const ev = newEval(next, "job-register", opts.now);
    tx.put("evals", ev);
    return { ev, jobModifyIndex: next.JobModifyIndex };
  });
  return { EvalID: result.ev.ID, EvalCreateIndex: index, JobModifyIndex: result.jobModifyIndex, Index: index, eval: result.ev };
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
