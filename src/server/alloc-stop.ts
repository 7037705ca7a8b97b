import { ErrorCode, EvalTrigger, RucheError } from "../structs/index.js";
import type { StateStore } from "../state/index.js";
import { newEval } from "./evals.js";

/**
 * Nomad's `POST /v1/allocation/:id/stop`: the allocation is marked to migrate
 * (`DesiredTransition.Migrate`) and its job gets an `alloc-stop` evaluation, written together;
 * the reconciler then stops it and places a replacement elsewhere if it can (as a drain
 * does, one allocation at a time). The job as it stands is evaluated, or the allocation's own
 * copy when the job is gone.
 */
export async function stopAllocation(store: StateStore, allocId: string, now: number): Promise<{ EvalID: string; Index: number }> {
  const alloc = store.alloc(allocId);
  if (alloc === undefined) throw new RucheError(ErrorCode.NotFound, `allocation "${allocId}" not found`);
  const ev = newEval(store.job(alloc.Namespace, alloc.JobID) ?? alloc.Job, EvalTrigger.AllocStop, now);
  const { index, result: found } = await store.write((tx) => {
    const cur = tx.get("allocs", allocId);
    if (cur === undefined) return false;
    tx.put("allocs", { ...cur, DesiredTransition: { ...cur.DesiredTransition, Migrate: true } });
    tx.put("evals", ev);
    return true;
  });
  // Collected between the read and the write.
  if (!found) throw new RucheError(ErrorCode.NotFound, `allocation "${allocId}" not found`);
  return { EvalID: ev.ID, Index: index };
}
