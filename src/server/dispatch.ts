import { dispatchedJob, dispatchedJobId, dispatchProblem, ErrorCode, LIMITS, RucheError, type DispatchRequest } from "../structs/index.js";
import type { StateStore } from "../state/index.js";
import { newId } from "./ids.js";
import { registerJob } from "./jobs.js";

/** Nomad's `JobDispatchResponse`, as its HTTP API answers it. */
export interface DispatchResult {
  Index: number;
  JobCreateIndex: number;
  EvalID: string;
  EvalCreateIndex: number;
  DispatchedJobID: string;
}

/**
 * Dispatches a parameterized job (Nomad's `Job.Dispatch`): the request is checked against
 * the parent's `parameterized` block (400 in Nomad's words), then the child job
 * `<parent>/dispatch-<unix>-<8 hex>` is registered with its evaluation, as any job is.
 */
export async function dispatchJob(store: StateStore, ns: string, id: string, req: DispatchRequest, now: number): Promise<DispatchResult> {
  const parent = store.job(ns, id);
  if (parent === null) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" not found`);
  const problem = dispatchProblem(parent, req);
  if (problem !== null) throw new RucheError(ErrorCode.BadRequest, problem);
  const priority = req.priority === 0 ? parent.Priority : req.priority;
  if (!Number.isInteger(priority) || priority < LIMITS.minPriority || priority > LIMITS.maxPriority) {
    throw new RucheError(ErrorCode.BadRequest, `dispatch job priority must be between [${LIMITS.minPriority}, ${LIMITS.maxPriority}]`, { path: "Priority" });
  }
  const childId = dispatchedJobId(parent.ID, req.idPrefixTemplate, Math.floor(now / 1000), newId().slice(0, 8));
  const child = dispatchedJob(parent, childId, { ...req, priority });
  const r = await registerJob(store, child, { now, enforceIndex: 0 });
  return { Index: r.Index, JobCreateIndex: r.Index, EvalID: r.EvalID, EvalCreateIndex: r.EvalCreateIndex, DispatchedJobID: childId };
}
