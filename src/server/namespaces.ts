import { allocTerminal, DEFAULT_NAMESPACE, ErrorCode, namespaceProblems, RucheError, type Allocation, type Job, type Namespace } from "../structs/index.js";
import type { StateStore, Txn } from "../state/index.js";

/**
 * Whether a job is dead as Nomad's `getJobStatus` has it: none of its allocations still runs
 * or is about to, and it was stopped (or is a batch job whose allocations are all done).
 */
export function jobDead(job: Job, allocs: readonly Allocation[]): boolean {
  if (allocs.some((a) => !allocTerminal(a))) return false;
  if (job.Stop) return true;
  return (job.Type === "batch" || job.Type === "sysbatch") && job.Periodic === null && (job.ParameterizedJob ?? null) === null && allocs.length > 0;
}

/** Whether namespace `name` exists as a transaction sees it ("default" always does). */
export function namespaceExists(tx: Pick<Txn, "get">, name: string): boolean {
  return name === DEFAULT_NAMESPACE || tx.get("namespaces", name) !== undefined;
}

/** Nomad's refusal of a job in a namespace that does not exist (`upsertJobImpl`); `exists` answers for a namespace's name. */
export function mustNamespace(exists: (name: string) => boolean, job: Pick<Job, "ID" | "Namespace">): void {
  if (!exists(job.Namespace)) {
    throw new RucheError(ErrorCode.NotFound, `job ${JSON.stringify(job.ID)} is in nonexistent namespace ${JSON.stringify(job.Namespace)}`, { path: "Job.Namespace" });
  }
}

/**
 * Creates or updates a namespace (Nomad's `Namespace.UpsertNamespaces`): checked as Nomad
 * checks it; an update keeps its CreateIndex.
 */
export async function upsertNamespace(store: StateStore, ns: Namespace): Promise<{ Index: number }> {
  const problems = namespaceProblems(ns);
  const first = problems[0];
  if (first !== undefined) throw new RucheError(ErrorCode.BadRequest, `invalid namespace: ${problems.map((p) => p.message).join("; ")}`, { path: first.path });
  const { index } = await store.write((tx) => {
    tx.put("namespaces", { ...ns, CreateIndex: 0, ModifyIndex: 0 });
  });
  return { Index: index };
}

/**
 * Deletes a namespace (Nomad's `DeleteNamespaces`): never "default", and not while a job in it
 * is not dead — in Nomad's words.
 */
export async function deleteNamespace(store: StateStore, name: string): Promise<{ Index: number }> {
  if (name === DEFAULT_NAMESPACE) throw new RucheError(ErrorCode.BadRequest, "default namespace can not be deleted");
  const { index } = await store.write((tx) => {
    if (tx.get("namespaces", name) === undefined) throw new RucheError(ErrorCode.NotFound, "namespace not found");
    for (const job of tx.list("jobs", `${name}/`)) {
      if (job.Namespace !== name) continue;
      if (!jobDead(job, store.allocsByJob(name, job.ID))) {
        throw new RucheError(ErrorCode.Conflict, `namespace ${JSON.stringify(name)} contains at least one non-terminal job ${JSON.stringify(job.ID)}. All jobs must be terminal in namespace before it can be deleted`);
      }
    }
    tx.delete("namespaces", name);
  });
  return { Index: index };
}
