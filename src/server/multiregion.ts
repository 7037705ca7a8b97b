import { FAILED_BY_PEER, type Deployment, type Job, type MultiregionRegion } from "../structs/index.js";
import type { StateStore } from "../state/index.js";

/**
 * Multiregion jobs (Nomad's `multiregion` block). One submission registers a copy of the job in
 * every region named (`api/multiregion.ts`), all at one version. In each region the copy's
 * deployment starts `pending`: nothing of it is placed. Each region's deployment watcher then
 * reads the other regions' deployments of that version (`MultiregionPeers`) and moves its own
 * by `multiregionStep`: it runs when its turn comes (`max_parallel` regions at a time, in the
 * order written, once every region has accepted the job); done, it is `blocked` until every
 * region is done, then `successful`; a failed region fails others as `on_failure` says.
 * No region writes another's state: each decides for itself from what the others show.
 */

/** A multiregion job's copy for one of its regions: its region, datacenters, node pool and meta, and its region's count for each group whose count is 0. */
export function regionalJob(job: Job, region: MultiregionRegion): Job {
  return {
    ...job,
    Region: region.Name,
    Datacenters: region.Datacenters.length > 0 ? [...region.Datacenters] : job.Datacenters,
    NodePool: region.NodePool !== "" ? region.NodePool : job.NodePool,
    Meta: { ...job.Meta, ...region.Meta },
    TaskGroups: job.TaskGroups.map((g) => (g.Count === 0 ? { ...g, Count: region.Count } : g)),
  };
}

/** What another region shows of its deployment of a job version: its status, none yet ("missing"), or nothing known (its servers do not answer). */
export type PeerState = Deployment["Status"] | "missing" | "unreachable";

/**
 * What a region shows of a job for the other regions' watchers: its version there (-1: none),
 * whether its evaluations are all done (none pending or blocked), and its deployments.
 */
export interface PeerView {
  JobVersion: number;
  Settled: boolean;
  Deployments: Pick<Deployment, "ID" | "JobVersion" | "Status" | "StatusDescription">[];
}

/** How a region reads what another region shows of a job (over the federation); rejects when that region's servers do not answer. */
export type MultiregionPeers = (region: string, namespace: string, jobId: string) => Promise<PeerView>;

/**
 * A region's state for a job version from what it shows: its deployment's status; a version it
 * holds but made no deployment of once its evaluations are done (nothing to roll out there, a
 * copy that changed nothing its allocations run) counts as successful; else missing.
 */
export function peerStateOf(view: PeerView, version: number): PeerState {
  const d = view.Deployments.find((x) => x.JobVersion === version);
  if (d !== undefined) return d.Status;
  return view.JobVersion >= version && view.Settled ? "successful" : "missing";
}

/** What a region's deployment does next. */
export type MultiregionMove = { kind: "wait"; why: string } | { kind: "run" } | { kind: "block" } | { kind: "succeed" } | { kind: "fail"; description: string };

export interface MultiregionInput {
  job: Job & { Multiregion: NonNullable<Job["Multiregion"]> };
  /** This region. */
  own: string;
  /** This region's deployment's status, and whether its own rollout is complete (all healthy, promoted). */
  status: Deployment["Status"];
  complete: boolean;
  /** The other regions' deployments of the same version. */
  peers: ReadonlyMap<string, PeerState>;
}

const DONE: ReadonlySet<PeerState> = new Set(["blocked", "successful"]);

/**
 * One region's next move in a multiregion rollout, from its own deployment and the others':
 *
 * - a failed region fails every other (`fail_all`), the regions after it in order (the
 *   default), or none (`fail_local`: the others go on, and end blocked: `deployment unblock`);
 * - a pending region waits until every region has its deployment (all accepted the job), then
 *   runs once fewer than `max_parallel` regions before it are still deploying (0: all at once);
 *   a failed region counts as done for `fail_local`;
 * - a region whose rollout is complete is blocked until every other is blocked or successful,
 *   then successful (so the last region to finish frees all of them, each on its own).
 */
export function multiregionStep(input: MultiregionInput): MultiregionMove {
  const { job, own, peers } = input;
  const { Strategy, Regions } = job.Multiregion;
  const order = Regions.map((r) => r.Name);
  const me = order.indexOf(own);
  const state = (r: string): PeerState => (r === own ? input.status : (peers.get(r) ?? "missing"));
  const failed = order.filter((r) => r !== own && state(r) === "failed");
  if (failed.length > 0 && Strategy.OnFailure !== "fail_local") {
    const before = failed.filter((r) => order.indexOf(r) < me);
    if (Strategy.OnFailure === "fail_all" || before.length > 0) return { kind: "fail", description: FAILED_BY_PEER };
  }
  const done = (r: string): boolean => DONE.has(state(r)) || (Strategy.OnFailure === "fail_local" && state(r) === "failed");
  if (input.status === "pending") {
    const absent = order.filter((r) => r !== own && (state(r) === "missing" || state(r) === "unreachable"));
    if (absent.length > 0) return { kind: "wait", why: `waiting for ${absent.map((r) => `${r} (${state(r) === "missing" ? "no deployment of this version yet" : "not answering"})`).join(", ")}` };
    const deploying = order.slice(0, Math.max(0, me)).filter((r) => !done(r));
    if (Strategy.MaxParallel === 0 || deploying.length < Strategy.MaxParallel) return { kind: "run" };
    return { kind: "wait", why: `waiting for ${deploying.join(", ")} to finish (max_parallel ${Strategy.MaxParallel})` };
  }
  if (input.complete || input.status === "blocked") {
    const others = order.filter((r) => r !== own);
    return others.every((r) => DONE.has(state(r))) ? { kind: "succeed" } : { kind: "block" };
  }
  return { kind: "wait", why: "deploying" };
}

/** What this region shows of a job to the other regions' watchers (`GET /v1/internal/multiregion/deployments`). */
export function peerView(store: StateStore, namespace: string, jobId: string): PeerView {
  const job = store.job(namespace, jobId);
  const unsettled = store.evalsByJob(namespace, jobId).some((e) => e.Status === "pending" || e.Status === "blocked");
  return {
    JobVersion: job?.Version ?? -1,
    Settled: !unsettled,
    Deployments: store.deploymentsByJob(namespace, jobId).map((d) => ({ ID: d.ID, JobVersion: d.JobVersion, Status: d.Status, StatusDescription: d.StatusDescription })),
  };
}
