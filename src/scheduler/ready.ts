import { nodeIsSchedulable, type Job, type Node } from "../structs/index.js";
import { inDatacenters, inNodePool } from "./feasible.js";
import type { SchedulerMemo } from "./memo.js";
import type { StateView } from "./view.js";

export interface Ready {
  nodes: Node[];
  /** By datacenter; every datacenter the job names (not a glob) is there, 0 when it has no ready node. */
  available: Record<string, number>;
  /** Ready nodes of the job's pool outside its datacenters, by datacenter (what a failure metric tells). */
  elsewhere: Record<string, number>;
  /**
   * A small number per node for its computed class (-1 when it has none), so that verdicts
   * shared by a class are kept in an array rather than looked up by the class's string.
   */
  classIds: Int32Array;
  /** A node's index in `nodes`, by id. */
  indexOf: Map<string, number>;
}

/**
 * The nodes a job may use now, and how many of them each datacenter offers. Kept in the
 * memo per node list (a view hands out the same list until its nodes change) and per
 * datacenters and pool.
 */
export function readyNodes(view: StateView, job: Job, memo: SchedulerMemo): Ready {
  const all = view.nodes();
  const key = `${job.NodePool}\u0000${job.Datacenters.join("\u0000")}`;
  let byKey = memo.ready.get(all);
  const hit = byKey?.get(key);
  if (hit !== undefined) return hit;
  const ready = computeReady(all, job);
  if (byKey === undefined) {
    byKey = new Map();
    memo.ready.set(all, byKey);
  }
  byKey.set(key, ready);
  return ready;
}

function computeReady(all: readonly Node[], job: Job): Ready {
  const nodes: Node[] = [];
  const available: Record<string, number> = {};
  const elsewhere: Record<string, number> = {};
  for (const dc of job.Datacenters) if (!dc.includes("*")) available[dc] = 0;
  for (const n of all) {
    if (!nodeIsSchedulable(n) || !inNodePool(n, job)) continue;
    if (!inDatacenters(n, job)) {
      elsewhere[n.Datacenter] = (elsewhere[n.Datacenter] ?? 0) + 1;
      continue;
    }
    nodes.push(n);
    available[n.Datacenter] = (available[n.Datacenter] ?? 0) + 1;
  }
  const classes = new Map<string, number>();
  const classIds = new Int32Array(nodes.length);
  const indexOf = new Map<string, number>();
  nodes.forEach((n, i) => {
    indexOf.set(n.ID, i);
    if (n.ComputedClass === "") {
      classIds[i] = -1;
      return;
    }
    let id = classes.get(n.ComputedClass);
    if (id === undefined) {
      id = classes.size;
      classes.set(n.ComputedClass, id);
    }
    classIds[i] = id;
  });
  return { nodes, available, elsewhere, classIds, indexOf };
}
