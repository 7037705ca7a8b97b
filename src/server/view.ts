import type { StateView } from "../scheduler/index.js";
import type { StateStore } from "../state/index.js";

/**
 * The scheduler's read-only view of the state store. The scheduler runs synchronously from
 * start to end, and the store changes only between turns of the event loop, so reading the
 * live store is reading a consistent snapshot.
 */
export function storeView(store: StateStore): StateView {
  return {
    nodes: () => store.nodes(),
    node: (id) => store.node(id),
    allocsByNode: (id) => store.allocsByNode(id),
    allocsByJob: (ns, id) => store.allocsByJob(ns, id),
    latestDeployment: (ns, id) => store.latestDeployment(ns, id),
    job: (ns, id) => store.job(ns, id),
    nodeUsage: (id) => store.nodeUsage(id),
    hostVolume: (ns, id) => store.hostVolume(ns, id),
    schedulerConfig: () => store.schedulerConfig(),
  };
}
