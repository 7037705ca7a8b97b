import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { SimulatedNode, type SimOptions } from "../client/sim.js";
import { mock, NS, type Allocation, type Evaluation, type Job, type Node } from "../structs/index.js";
import type { StateStore } from "../state/index.js";
import type { Server } from "./index.js";
import { serverOnMemory, until } from "./testing.js";

/**
 * Every kind of evaluation reaches the broker by the one path, the store's change feed, and
 * is processed: each test makes one kind happen on a real server over a real store, and
 * watches that evaluation complete and its allocations appear. And a node that stops
 * heartbeating is disconnected, not lost: its work is replaced at once, and kept when the
 * node comes back.
 */

const running: { server: Server; sims: SimulatedNode[] }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await Promise.all(r.sims.map((s) => s.kill()));
    await r.server.stop();
  }
});

async function cluster(nodes: Parameters<typeof mock.node>[0][], sim: SimOptions = {}) {
  const { store, server } = await serverOnMemory({ heartbeat: { minTTL: 300, grace: 200 } });
  const transport = inProcessTransport(server);
  const sims = nodes.map((n, i) => new SimulatedNode(transport, { name: `node-${i}`, ...n }, sim));
  await Promise.all(sims.map((s) => s.start()));
  const entry = { server, sims };
  running.push(entry);
  const join = async (n: Node | Parameters<typeof mock.node>[0]): Promise<SimulatedNode> => {
    const s = new SimulatedNode(transport, n, sim);
    await s.start();
    entry.sims.push(s);
    return s;
  };
  return { store, server, sims, join };
}

function runningAllocs(store: StateStore, job: string): Allocation[] {
  return store.allocsByJob("default", job).filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
}

/** Waits for an evaluation of the job with this trigger (and, if given, more) to be complete. */
function completed(store: StateStore, job: string, trigger: Evaluation["TriggeredBy"], more: (e: Evaluation) => boolean = () => true, timeoutMs = 8000): Promise<Evaluation> {
  return until(`a complete "${trigger}" evaluation of ${job}`, () => store.evals().find((e) => e.JobID === job && e.TriggeredBy === trigger && e.Status === "complete" && more(e)), timeoutMs);
}

function service(id: string, count: number, o: Parameters<typeof mock.job>[0] = {}): Job {
  return mock.job({ id, count, cpu: 200, memory: 64, ...o });
}

describe("every evaluation reaches the broker through the store's change feed", () => {
  it("job register", async () => {
    const { store, server } = await cluster([{}]);
    const r = await server.registerJob(service("reg", 2));
    await until("the registration's evaluation complete", () => store.eval(r.EvalID)?.Status === "complete");
    await until("2 running", () => runningAllocs(store, "reg").length === 2);
  });

  it("a worker's delayed follow-up: a failed allocation rescheduled after its delay", async () => {
    const { store, server } = await cluster([{}, {}], { fail: (a) => a.RescheduleTracker === null });
    const job = service("resched", 1);
    job.TaskGroups[0]!.ReschedulePolicy = { Attempts: 0, Interval: 0, Delay: 2 * NS.second, DelayFunction: "constant", MaxDelay: 0, Unlimited: true };
    await server.registerJob(job);
    const follow = await completed(store, "resched", "alloc-failure", (e) => e.WaitUntil > 0);
    expect(follow.PreviousEval).not.toBe("");
    const [replacement] = await until("the replacement running", () => {
      const l = runningAllocs(store, "resched");
      return l.length === 1 ? l : undefined;
    });
    expect(replacement!.RescheduleTracker?.Events).toMatchObject([{ Delay: 2 * NS.second }]);
    expect(Date.now()).toBeGreaterThanOrEqual(follow.WaitUntil);
    // The evaluations in between (the deployment's, the failure's own) made no second follow-up.
    expect(store.evals().filter((e) => e.TriggeredBy === "alloc-failure" && e.WaitUntil > 0)).toHaveLength(1);
    expect(store.alloc(replacement!.PreviousAllocation)?.FollowupEvalID).toBe(follow.ID);
  });

  it("a blocked evaluation, unblocked when a node with room joins", async () => {
    const { store, server, join } = await cluster([{ cpu: 1000, memory: 1024 }]);
    const r = await server.registerJob(service("big", 1, { cpu: 3000 }));
    const blocked = await until("a blocked evaluation", () => store.evals().find((e) => e.JobID === "big" && e.Status === "blocked"));
    expect(store.eval(r.EvalID)?.BlockedEval).toBe(blocked.ID);
    const roomy = await join({ name: "roomy", cpu: 8000, memory: 8192 });
    await until("the blocked evaluation complete", () => store.eval(blocked.ID)?.Status === "complete");
    await until("the allocation running on the new node", () => runningAllocs(store, "big").some((a) => a.NodeID === roomy.node.ID));
  });

  it("node register: a system job lands on a node that joins", async () => {
    const { store, server, join } = await cluster([{}]);
    await server.registerJob(mock.job({ id: "sys", type: "system" }));
    await until("one per node", () => runningAllocs(store, "sys").length === 1);
    const late = await join({ name: "late" });
    await completed(store, "sys", "node-update", (e) => e.NodeID === late.node.ID);
    await until("the late node runs it", () => runningAllocs(store, "sys").some((a) => a.NodeID === late.node.ID));
  });

  it("node down and node back: replaced while away, the originals kept when it returns", async () => {
    const { store, server, sims, join } = await cluster([{}, {}, {}]);
    await server.registerJob(service("heal", 3, { maxParallel: 0 }));
    await until("3 running", () => runningAllocs(store, "heal").length === 3);
    const victim = sims.find((s) => runningAllocs(store, "heal").some((a) => a.NodeID === s.node.ID))!;
    const originals = runningAllocs(store, "heal").filter((a) => a.NodeID === victim.node.ID);
    await victim.kill();
    const down = await completed(store, "heal", "node-update", (e) => e.NodeID === victim.node.ID);
    expect(store.node(victim.node.ID)?.Status).toBe("disconnected");
    await until("replacements running elsewhere", () => runningAllocs(store, "heal").filter((a) => a.NodeID !== victim.node.ID).length === 3);
    for (const o of originals) expect(store.alloc(o.ID)).toMatchObject({ ClientStatus: "unknown", DesiredStatus: "run" });
    // The node comes back (the agent restarted) and reports its allocations again.
    await join(victim.node);
    await completed(store, "heal", "node-update", (e) => e.NodeID === victim.node.ID && e.CreateIndex > down.CreateIndex);
    await completed(store, "heal", "reconnect");
    await until("the originals kept, their replacements stopped: 3 running", () => {
      const l = runningAllocs(store, "heal");
      return l.length === 3 && originals.every((o) => l.some((a) => a.ID === o.ID));
    });
    for (const o of originals) expect(store.alloc(store.alloc(o.ID)!.NextAllocation)?.DesiredStatus).toBe("stop");
  });

  it("the deployment watcher: a promotion", async () => {
    const { store, server } = await cluster([{}, {}]);
    const v0 = service("canary", 2, { canary: 1, maxParallel: 1 });
    v0.TaskGroups[0]!.Update = { ...v0.TaskGroups[0]!.Update!, MinHealthyTime: 0 };
    await server.registerJob(v0);
    await until("version 0 deployed", () => store.latestDeployment("default", "canary")?.Status === "successful");
    const v1 = structuredClone(v0);
    v1.TaskGroups[0]!.Tasks[0]!.Resources.CPU = 300;
    await server.registerJob(v1);
    const d = await until("a healthy canary", () => {
      const d = store.latestDeployment("default", "canary");
      return d?.JobVersion === 1 && d.TaskGroups.web?.HealthyAllocs === 1 ? d : undefined;
    });
    const ev = await server.deployments.promote(d.ID, null);
    await until("the promotion's evaluation complete", () => store.eval(ev.ID)?.Status === "complete");
    expect(ev.TriggeredBy).toBe("deployment-watcher");
    await until("every allocation on version 1", () => {
      const l = runningAllocs(store, "canary");
      return l.length === 2 && l.every((a) => a.Job.Version === 1);
    });
  });

  it("a drain", async () => {
    const { store, server, sims } = await cluster([{}, {}]);
    await server.registerJob(service("drain", 2, { maxParallel: 0 }));
    await until("2 running", () => runningAllocs(store, "drain").length === 2);
    const target = sims.find((s) => runningAllocs(store, "drain").some((a) => a.NodeID === s.node.ID))!;
    await server.nodes.drain(target.node.ID, { Deadline: 60 * NS.second, IgnoreSystemJobs: false });
    await completed(store, "drain", "node-drain");
    await until("the work moved off the node", () => {
      const l = runningAllocs(store, "drain");
      return l.length === 2 && l.every((a) => a.NodeID !== target.node.ID);
    });
  });
});

describe("a node that stops heartbeating", () => {
  it("after lost_after its unknown allocations are lost, and the node down", async () => {
    const { store, server, sims } = await cluster([{}, {}]);
    const job = service("short", 2, { maxParallel: 0 });
    job.TaskGroups[0]!.Disconnect = { LostAfter: NS.second, Replace: true, Reconcile: "longest_running" };
    await server.registerJob(job);
    await until("2 running", () => runningAllocs(store, "short").length === 2);
    const victim = sims.find((s) => runningAllocs(store, "short").some((a) => a.NodeID === s.node.ID))!;
    const originals = runningAllocs(store, "short").filter((a) => a.NodeID === victim.node.ID);
    await victim.kill();
    await completed(store, "short", "max-disconnect-timeout");
    await until("the originals lost", () => originals.every((o) => store.alloc(o.ID)?.ClientStatus === "lost"));
    await until("the node down", () => store.node(victim.node.ID)?.Status === "down");
    expect(runningAllocs(store, "short")).toHaveLength(2);
  });

  it("with lost_after 0 its allocations are lost at once and the node down", async () => {
    const { store, server, sims } = await cluster([{}, {}]);
    const job = service("eager", 2, { maxParallel: 0 });
    job.TaskGroups[0]!.Disconnect = { LostAfter: 0, Replace: true, Reconcile: "longest_running" };
    await server.registerJob(job);
    await until("2 running", () => runningAllocs(store, "eager").length === 2);
    const victim = sims.find((s) => runningAllocs(store, "eager").some((a) => a.NodeID === s.node.ID))!;
    const originals = runningAllocs(store, "eager").filter((a) => a.NodeID === victim.node.ID);
    await victim.kill();
    await until("the node down", () => store.node(victim.node.ID)?.Status === "down");
    await until("the originals lost", () => originals.every((o) => store.alloc(o.ID)?.ClientStatus === "lost"));
  });

  it("a client may not report unknown: only the servers set it", async () => {
    const { store, server, sims } = await cluster([{}]);
    await server.registerJob(service("honest", 1));
    const [a] = await until("1 running", () => {
      const l = runningAllocs(store, "honest");
      return l.length === 1 ? l : undefined;
    });
    const n = sims[0]!.node;
    await expect(server.updateAllocs(n.ID, n.SecretID, [{ ID: a!.ID, ClientStatus: "unknown" }])).rejects.toThrow(/only the servers set it/);
  });
});
