import { nodeIsSchedulable, type Job, type Node } from "../structs/index.js";
import { inDatacenters, inNodePool } from "./feasible.js";
import type { StateView } from "./view.js";

interface Ready {
  nodes: Node[];
  available: Record<string, number>;
}

/** Per node list (a view hands out the same list until its nodes change): datacenters and pool → ready nodes. */
const cache = new WeakMap<readonly Node[], Map<string, Ready>>();

/** The nodes a job may use now, and how many of them each datacenter offers. */
export function readyNodes(view: StateView, job: Job): Ready {
  const all = view.nodes();
  const key = `${job.NodePool}\u0000${job.Datacenters.join("\u0000")}`;
  let byKey = cache.get(all);
  const hit = byKey?.get(key);
  if (hit !== undefined) return hit;
  const ready = computeReady(all, job);
  if (byKey === undefined) {
    byKey = new Map();
    cache.set(all, byKey);
  }
  byKey.set(key, ready);
  return ready;
}

function computeReady(all: readonly Node[], job: Job): Ready {
  const nodes: Node[] = [];
  const available: Record<string, number> = {};
  for (const n of all) {
    if (!nodeIsSchedulable(n) || !inDatacenters(n, job) || !inNodePool(n, job)) continue;
    nodes.push(n);
    available[n.Datacenter] = (available[n.Datacenter] ?? 0) + 1;
  }
  return { nodes, available };
}
