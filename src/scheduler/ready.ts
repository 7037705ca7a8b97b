import { nodeIsSchedulable, type Job, type Node } from "../structs/index.js";
import { inDatacenters, inNodePool } from "./feasible.js";
import type { StateView } from "./view.js";

/** The nodes a job may use now, and how many of them each datacenter offers. */
export function readyNodes(view: StateView, job: Job): { nodes: Node[]; available: Record<string, number> } {
  const nodes: Node[] = [];
  const available: Record<string, number> = {};
  for (const n of view.nodes()) {
    if (!nodeIsSchedulable(n) || !inDatacenters(n, job) || !inNodePool(n, job)) continue;
    nodes.push(n);
    available[n.Datacenter] = (available[n.Datacenter] ?? 0) + 1;
  }
  return { nodes, available };
}
