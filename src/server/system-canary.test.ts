import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { SimulatedNode, type SimOptions } from "../client/sim.js";
import { mock, type Allocation, type Job } from "../structs/index.js";
import type { StateStore } from "../state/index.js";
import type { Server } from "./index.js";
import { serverOnMemory, until } from "./testing.js";

/**
 * A system job's canary deployment through the servers (scheduler, plan applier, deployment
 * watcher) with simulated nodes: promoted by `auto_promote` once its canaries are healthy, or
 * failed by an unhealthy canary and, with `auto_revert`, rolled back to the last stable version.
 */
const running: { server: Server; sims: SimulatedNode[] }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await Promise.all(r.sims.map((s) => s.kill()));
    await r.server.stop();
  }
});

async function cluster(nodes: number, sim: SimOptions = {}) {
  const { store, server } = await serverOnMemory({ heartbeat: { minTTL: 300, grace: 200 } });
  const transport = inProcessTransport(server);
  const sims = Array.from({ length: nodes }, (_, i) => new SimulatedNode(transport, { name: `node-${i}`, cpu: 4000, memory: 8192 }, sim));
  await Promise.all(sims.map((s) => s.start()));
  running.push({ server, sims });
  return { store, server };
}

function live(store: StateStore): Allocation[] {
  return store.allocsByJob("default", "agent").filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
}

function agent(cpu: number, o: { autoPromote?: boolean; autoRevert?: boolean } = {}): Job {
  const j = mock.job({ id: "agent", type: "system", cpu, canary: 50, maxParallel: 4 });
  const g = j.TaskGroups[0]!;
  g.Update = { ...g.Update!, MinHealthyTime: 0, AutoPromote: o.autoPromote ?? false, AutoRevert: o.autoRevert ?? false };
  return j;
}

describe("a system job with canary = 50", () => {
  it("auto_promote: the canaries on half the nodes are promoted once healthy, then every node is updated", async () => {
    const { store, server } = await cluster(4);
    await server.registerJob(agent(100, { autoPromote: true }));
    await until("version 0 deployed on the 4 nodes", () => store.latestDeployment("default", "agent")?.Status === "successful" && live(store).length === 4);
    await server.registerJob(agent(200, { autoPromote: true }));
    const d = await until("the version 1 deployment to succeed", () => {
      const x = store.latestDeployment("default", "agent");
      return x?.JobVersion === 1 && x.Status === "successful" ? x : undefined;
    });
    expect(d.TaskGroups.web).toMatchObject({ Promoted: true, DesiredCanaries: 2, DesiredTotal: 4, HealthyAllocs: 4 });
    expect(d.TaskGroups.web?.PlacedCanaries).toHaveLength(2);
    await until("every node on version 1", () => {
      const l = live(store);
      return l.length === 4 && l.every((a) => a.Job.Version === 1) && new Set(l.map((a) => a.NodeID)).size === 4;
    });
    expect(store.job("default", "agent")).toMatchObject({ Version: 1, Stable: true });
  });

  it("auto_revert: an unhealthy canary fails the deployment and the last stable version comes back", async () => {
    const { store, server } = await cluster(4, { fail: (a) => a.Job.TaskGroups[0]!.Tasks[0]!.Resources.CPU === 999 });
    await server.registerJob(agent(100, { autoRevert: true }));
    await until("version 0 deployed", () => store.latestDeployment("default", "agent")?.Status === "successful");
    await server.registerJob(agent(999, { autoRevert: true }));
    const failed = await until("the failing deployment", () => store.deploymentsByJob("default", "agent").find((d) => d.JobVersion === 1 && d.Status === "failed"));
    expect(failed.TaskGroups.web?.UnhealthyAllocs).toBeGreaterThanOrEqual(1);
    expect(failed.StatusDescription).toMatch(/rolling back to job version 0/);
    const job = await until("the job reverted to a new version of the stable spec", () => {
      const j = store.job("default", "agent");
      return j !== null && j.Version === 2 ? j : undefined;
    });
    expect(job.TaskGroups[0]!.Tasks[0]!.Resources.CPU).toBe(100);
    // Only the canaries ever ran the bad version: the other half of the nodes never left version 0.
    const bad = store.allocsByJob("default", "agent").filter((a) => a.Job.Version === 1);
    expect(new Set(bad.map((a) => a.NodeID)).size).toBeLessThanOrEqual(2);
    await until("every node back on the stable spec", () => {
      const l = live(store);
      return l.length === 4 && l.every((a) => a.Job.TaskGroups[0]!.Tasks[0]!.Resources.CPU === 100) ? true : undefined;
    });
  });
});
