import { allocTerminal, deploymentActive, holdsResources, type Allocation } from "../structs/index.js";
import { jobRowKey, versionRowKey, type StateStore } from "../state/index.js";

export interface GcThresholds {
  /** Terminal evaluations older than this (ms) go. */
  eval: number;
  /** Terminal allocations older than this (ms) go, once nothing refers to them. */
  alloc: number;
  /** Finished deployments older than this (ms) go, the latest of each job kept. */
  deployment: number;
}

export const DEFAULT_GC: GcThresholds = { eval: 60 * 60_000, alloc: 60 * 60_000, deployment: 60 * 60_000 };

/**
 * Garbage collection: old terminal evaluations, allocations and deployments leave the state,
 * and the child jobs (periodic launches, dispatches) none of those belong to any more,
 * in one transaction. The latest deployment of a job stays (status and plan read it), and an
 * allocation stays while a live one names it as its previous. An allocation told to stop
 * (its job stopped or purged) stays until its client says its tasks are gone — it holds its
 * node's ports until then — unless its node is down for good (nothing will report it).
 */
export async function collectGarbage(store: StateStore, now: number, t: GcThresholds = DEFAULT_GC): Promise<{ evals: number; allocs: number; deployments: number; jobs: number }> {
  const evals = store.evals().filter((e) => (e.Status === "complete" || e.Status === "failed" || e.Status === "canceled") && e.ModifyTime < now - t.eval);
  const referenced = new Set(store.allocs().filter((a) => !allocTerminal(a)).map((a) => a.PreviousAllocation));
  // Nothing more will come of it: its client is done with it, or its node is down or gone.
  const settled = (a: Allocation): boolean => {
    if (!holdsResources(a)) return true;
    const node = store.node(a.NodeID);
    return node === undefined || node.Status === "down";
  };
  const allocs = store.allocs().filter((a) => allocTerminal(a) && settled(a) && a.ModifyTime < now - t.alloc && !referenced.has(a.ID));
  const deployments = store.deployments().filter((d) => {
    if (deploymentActive(d)) return false;
    const latest = store.latestDeployment(d.Namespace, d.JobID);
    if (latest?.ID === d.ID) return false;
    const lastAlloc = store.allocsByJob(d.Namespace, d.JobID).filter((a) => a.DeploymentID === d.ID && !allocTerminal(a));
    return lastAlloc.length === 0 && (d.CreateIndex < store.index - 1 || t.deployment === 0);
  });
  // A child job (a periodic launch, a dispatch) leaves with the last of its evaluations and
  // allocations, with its versions: Nomad collects such dead jobs, and a schedule makes many.
  const goneEvals = new Set(evals.map((e) => e.ID));
  const goneAllocs = new Set(allocs.map((a) => a.ID));
  const jobs = store.jobs().filter(
    (j) =>
      j.ParentID !== undefined &&
      j.ParentID !== "" &&
      store.evalsByJob(j.Namespace, j.ID).every((e) => goneEvals.has(e.ID)) &&
      store.allocsByJob(j.Namespace, j.ID).every((a) => goneAllocs.has(a.ID)) &&
      store.deploymentsByJob(j.Namespace, j.ID).length === 0,
  );
  if (evals.length + allocs.length + deployments.length + jobs.length === 0) return { evals: 0, allocs: 0, deployments: 0, jobs: 0 };
  await store.write((tx) => {
    for (const e of evals) tx.delete("evals", e.ID);
    for (const a of allocs) tx.delete("allocs", a.ID);
    for (const d of deployments) tx.delete("deployments", d.ID);
    for (const j of jobs) {
      // Only if nothing of it came meanwhile (a job registered again under its ID, a new evaluation).
      const cur = tx.get("jobs", jobRowKey(j.Namespace, j.ID));
      if (cur?.ModifyIndex !== j.ModifyIndex) continue;
      tx.delete("jobs", jobRowKey(j.Namespace, j.ID));
      for (const v of store.jobVersions(j.Namespace, j.ID)) tx.delete("jobVersions", versionRowKey(j.Namespace, j.ID, v.Version));
    }
  });
  return { evals: evals.length, allocs: allocs.length, deployments: deployments.length, jobs: jobs.length };
}
