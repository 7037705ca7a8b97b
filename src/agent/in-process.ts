import type { ClientTransport } from "../client/index.js";
import type { Server } from "../server/index.js";

/** The client endpoints of a server, called in the same process (tests, benchmarks). */
export function inProcessTransport(server: Server): ClientTransport {
  const store = server.store;
  return {
    register: (node) => server.registerNode(node),
    heartbeat: (id, secret, sample) => server.heartbeat(id, secret, sample),
    allocations: async (id, secret, minIndex, waitMs, signal) => {
      server.nodes.authenticate(id, secret);
      const index = await store.waitFor(["allocs"], minIndex, waitMs, signal);
      return { index, allocs: store.allocsByNode(id) };
    },
    updateAllocs: (id, secret, updates) => server.updateAllocs(id, secret, updates),
    hostVolumes: async (id, secret, minIndex, waitMs, signal) => {
      server.nodes.authenticate(id, secret);
      const index = await store.waitFor(["hostVolumes"], minIndex, waitMs, signal);
      return { index, volumes: store.hostVolumes(undefined).filter((v) => v.NodeID === id) };
    },
    reportHostVolumes: (id, secret, reports) => server.reportHostVolumes(id, secret, reports),
  };
}
