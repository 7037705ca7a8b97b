import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { SimulatedNode, type SimOptions } from "../client/sim.js";
import { FAILED_BY_PEER, mock, type Deployment, type Job, type Multiregion } from "../structs/index.js";
import type { StateStore } from "../state/index.js";
import { multiregionStep, peerStateOf, peerView, regionalJob, type PeerState } from "./multiregion.js";
import type { Server } from "./index.js";
import { serverOnMemory, until } from "./testing.js";

function mrJob(strategy: Multiregion["Strategy"], regions = ["europe", "us", "asia"]): Job & { Multiregion: Multiregion } {
  return { ...mock.job({ id: "web" }), Multiregion: { Strategy: strategy, Regions: regions.map((Name) => ({ Name, Count: 1, Datacenters: [], NodePool: "", Meta: {} })) } };
}

function step(strategy: Multiregion["Strategy"], own: string, status: Deployment["Status"], peers: Record<string, PeerState>, complete = false) {
  return multiregionStep({ job: { ...mrJob(strategy), Region: own }, own, status, complete, peers: new Map(Object.entries(peers)) }).kind;
}

describe("multiregionStep: one region's next move", () => {
  const one = { MaxParallel: 1, OnFailure: "" as const };
  it("a pending region waits until every region has its deployment, then for its turn (max_parallel 1: in order)", () => {
    expect(step(one, "europe", "pending", { us: "missing", asia: "pending" })).toBe("wait");
    expect(step(one, "europe", "pending", { us: "unreachable", asia: "pending" })).toBe("wait");
    expect(step(one, "europe", "pending", { us: "pending", asia: "pending" })).toBe("run");
    expect(step(one, "us", "pending", { europe: "running", asia: "pending" })).toBe("wait");
    expect(step(one, "us", "pending", { europe: "blocked", asia: "pending" })).toBe("run");
    expect(step(one, "asia", "pending", { europe: "blocked", us: "running" })).toBe("wait");
  });

  it("max_parallel 2 lets two regions deploy at once; 0 lets every region", () => {
    const two = { MaxParallel: 2, OnFailure: "" as const };
    expect(step(two, "us", "pending", { europe: "running", asia: "pending" })).toBe("run");
    expect(step(two, "asia", "pending", { europe: "running", us: "running" })).toBe("wait");
    expect(step(two, "asia", "pending", { europe: "blocked", us: "running" })).toBe("run");
    expect(step({ MaxParallel: 0, OnFailure: "" }, "asia", "pending", { europe: "pending", us: "pending" })).toBe("run");
  });

  it("a region done blocks until every other is blocked or successful, then succeeds", () => {
    expect(step(one, "europe", "running", { us: "pending", asia: "pending" }, true)).toBe("block");
    expect(step(one, "europe", "blocked", { us: "running", asia: "pending" })).toBe("block");
    expect(step(one, "asia", "running", { europe: "blocked", us: "blocked" }, true)).toBe("succeed");
    expect(step(one, "europe", "blocked", { us: "blocked", asia: "successful" })).toBe("succeed");
  });

  it("on_failure: the default fails the regions after the failed one; fail_all every region; fail_local none", () => {
    expect(step(one, "asia", "pending", { europe: "blocked", us: "failed" })).toBe("fail");
    expect(step(one, "europe", "blocked", { us: "failed", asia: "failed" })).toBe("block");
    const all = { MaxParallel: 1, OnFailure: "fail_all" as const };
    expect(step(all, "europe", "blocked", { us: "failed", asia: "pending" })).toBe("fail");
    expect(step(all, "asia", "pending", { europe: "blocked", us: "failed" })).toBe("fail");
    const local = { MaxParallel: 1, OnFailure: "fail_local" as const };
    expect(step(local, "asia", "pending", { europe: "blocked", us: "failed" })).toBe("run");
    expect(step(local, "asia", "running", { europe: "blocked", us: "failed" }, true)).toBe("block");
    expect(step(local, "europe", "blocked", { us: "failed", asia: "blocked" })).toBe("block");
  });
});

describe("peerStateOf: a region's state for a job version", () => {
  const d = (JobVersion: number, Status: Deployment["Status"]) => ({ ID: `d${JobVersion}`, JobVersion, Status, StatusDescription: "" });
  it("its deployment's status; a version it holds without a deployment, once settled, counts as done", () => {
    expect(peerStateOf({ JobVersion: 2, Settled: true, Deployments: [d(1, "successful"), d(2, "running")] }, 2)).toBe("running");
    expect(peerStateOf({ JobVersion: 2, Settled: true, Deployments: [d(1, "successful")] }, 2)).toBe("successful");
    expect(peerStateOf({ JobVersion: 2, Settled: false, Deployments: [d(1, "successful")] }, 2)).toBe("missing");
    expect(peerStateOf({ JobVersion: 1, Settled: true, Deployments: [] }, 2)).toBe("missing");
    expect(peerStateOf({ JobVersion: -1, Settled: true, Deployments: [] }, 0)).toBe("missing");
  });
});

describe("regionalJob: a region's copy", () => {
  it("takes the region's name, datacenters, node pool and meta, and its count for groups of count 0", () => {
    const job = mrJob({ MaxParallel: 0, OnFailure: "" });
    job.Meta = { team: "web", tier: "1" };
    job.TaskGroups = [{ ...job.TaskGroups[0]!, Name: "a", Count: 0 }, { ...job.TaskGroups[0]!, Name: "b", Count: 3 }];
    const copy = regionalJob(job, { Name: "us", Count: 5, Datacenters: ["us-west-2"], NodePool: "gpu", Meta: { tier: "2" } });
    expect(copy).toMatchObject({ Region: "us", Datacenters: ["us-west-2"], NodePool: "gpu", Meta: { team: "web", tier: "2" } });
    expect(copy.TaskGroups.map((g) => g.Count)).toEqual([5, 3]);
    const plain = regionalJob(job, { Name: "europe", Count: 1, Datacenters: [], NodePool: "", Meta: {} });
    expect(plain).toMatchObject({ Datacenters: job.Datacenters, NodePool: "default" });
  });
});

/**
 * Two regions, each a server on its own state with two simulated nodes; each one's deployment
 * watcher reads the other's deployments directly (what `GET /v1/internal/multiregion/deployments`
 * gives across the federation).
 */
const running: { server: Server; sims: SimulatedNode[] }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await Promise.all(r.sims.map((s) => s.kill()));
    await r.server.stop();
  }
});

async function region(sim: SimOptions = {}): Promise<{ store: StateStore; server: Server }> {
  const { store, server } = await serverOnMemory({ heartbeat: { minTTL: 300, grace: 200 } });
  const transport = inProcessTransport(server);
  const sims = [0, 1].map((i) => new SimulatedNode(transport, { name: `node-${i}`, cpu: 4000, memory: 8192 }, sim));
  await Promise.all(sims.map((s) => s.start()));
  running.push({ server, sims });
  return { store, server };
}

async function twoRegions(simUs: SimOptions = {}) {
  const eu = await region();
  const us = await region(simUs);
  const reads: Record<string, StateStore> = { europe: eu.store, us: us.store };
  for (const r of [eu, us]) {
    r.server.deployments.setPeers((name, ns, id) => {
      const s = reads[name];
      return s === undefined ? Promise.reject(new Error(`no region ${name}`)) : Promise.resolve(peerView(s, ns, id));
    });
  }
  return { eu, us };
}

function multiJob(strategy: Multiregion["Strategy"], cpu = 100): Job & { Multiregion: Multiregion } {
  const j = mrJob(strategy, ["europe", "us"]);
  const g = j.TaskGroups[0]!;
  j.TaskGroups = [{ ...g, Count: 2, Update: { ...g.Update!, MinHealthyTime: 0 }, Tasks: [{ ...g.Tasks[0]!, Resources: { ...g.Tasks[0]!.Resources, CPU: cpu } }] }];
  return j;
}

const latest = (s: StateStore): Deployment | null => s.latestDeployment("default", "web");
const placed = (s: StateStore): number => s.allocsByJob("default", "web").length;

describe("a multiregion job's rollout across two regions' servers", () => {
  it("max_parallel 1: europe deploys while us waits, placing nothing; europe blocks once done; us runs; both end successful", async () => {
    const { eu, us } = await twoRegions();
    const job = multiJob({ MaxParallel: 1, OnFailure: "" });
    // us first: its copy waits, pending, with nothing placed, until europe's exists and is done.
    await us.server.registerJob(regionalJob(job, job.Multiregion.Regions[1]!), { version: 0 });
    const pending = await until("us's deployment, pending", () => (latest(us.store)?.Status === "pending" ? latest(us.store) : undefined));
    expect(pending).toMatchObject({ IsMultiregion: true, StatusDescription: "Deployment is pending, waiting for peer region" });
    expect(placed(us.store)).toBe(0);
    await eu.server.registerJob(regionalJob(job, job.Multiregion.Regions[0]!), { version: 0 });
    await until("europe blocked, done and waiting for us", () => latest(eu.store)?.Status === "blocked" || latest(eu.store)?.Status === "successful");
    await until("both successful", () => latest(eu.store)?.Status === "successful" && latest(us.store)?.Status === "successful", 15_000);
    expect(placed(eu.store)).toBe(2);
    expect(placed(us.store)).toBe(2);
    expect(eu.store.job("default", "web")).toMatchObject({ Version: 0, Stable: true, Region: "europe" });
    // us placed nothing before europe was done.
    const firstUs = Math.min(...us.store.allocsByJob("default", "web").map((a) => a.CreateIndex));
    expect(firstUs).toBeGreaterThan(pending?.CreateIndex ?? 0);
  });

  it("a new version that changes nothing in europe (no deployment there) lets us's deployment of it run", async () => {
    const { eu, us } = await twoRegions();
    const job = multiJob({ MaxParallel: 1, OnFailure: "" });
    await eu.server.registerJob(regionalJob(job, job.Multiregion.Regions[0]!), { version: 0 });
    await us.server.registerJob(regionalJob(job, job.Multiregion.Regions[1]!), { version: 0 });
    await until("version 0 successful in both", () => latest(eu.store)?.Status === "successful" && latest(us.store)?.Status === "successful", 15_000);
    // Version 1: us's copy gets more CPU; europe's is the same, registered at version 1 all the same.
    const next = multiJob({ MaxParallel: 1, OnFailure: "" });
    next.Multiregion.Regions[1] = { ...next.Multiregion.Regions[1]!, Datacenters: ["dc1"] };
    await eu.server.registerJob(regionalJob(next, next.Multiregion.Regions[0]!), { version: 1 });
    const usCopy = regionalJob(next, next.Multiregion.Regions[1]);
    usCopy.TaskGroups[0]!.Tasks[0]!.Resources.CPU = 150;
    await us.server.registerJob(usCopy, { version: 1 });
    expect(eu.store.job("default", "web")?.Version).toBe(1);
    await until("us's version 1 successful", () => latest(us.store)?.JobVersion === 1 && latest(us.store)?.Status === "successful", 15_000);
  });

  it('fail_all: a failing allocation in us fails us and then europe ("Failed because of an error in peer region")', async () => {
    const { eu, us } = await twoRegions({ fail: (a) => a.Job.TaskGroups[0]!.Tasks[0]!.Resources.CPU === 999 });
    const job = multiJob({ MaxParallel: 1, OnFailure: "fail_all" }, 999);
    await eu.server.registerJob(regionalJob(job, job.Multiregion.Regions[0]!), { version: 0 });
    await us.server.registerJob(regionalJob(job, job.Multiregion.Regions[1]!), { version: 0 });
    await until("us failed", () => latest(us.store)?.Status === "failed", 15_000);
    const euD = await until("europe failed by its peer", () => (latest(eu.store)?.Status === "failed" ? latest(eu.store) : undefined), 15_000);
    expect(euD?.StatusDescription).toBe(FAILED_BY_PEER);
    expect(latest(us.store)?.StatusDescription).toBe("Failed due to unhealthy allocations");
  });

  it("fail_local: us fails alone; europe, done, stays blocked until `deployment unblock` ends it successful", async () => {
    const { eu, us } = await twoRegions({ fail: (a) => a.Job.TaskGroups[0]!.Tasks[0]!.Resources.CPU === 999 });
    const job = multiJob({ MaxParallel: 0, OnFailure: "fail_local" }, 999);
    await eu.server.registerJob(regionalJob(job, job.Multiregion.Regions[0]!), { version: 0 });
    await expect(eu.server.deployments.unblock(latest(eu.store)?.ID ?? "none")).rejects.toThrow(/not found|only a blocked multiregion deployment can be unblocked/);
    await us.server.registerJob(regionalJob(job, job.Multiregion.Regions[1]!), { version: 0 });
    await until("us failed", () => latest(us.store)?.Status === "failed", 15_000);
    const blocked = await until("europe blocked", () => (latest(eu.store)?.Status === "blocked" ? latest(eu.store) : undefined), 15_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(latest(eu.store)?.Status).toBe("blocked");
    await eu.server.deployments.unblock(blocked!.ID);
    expect(latest(eu.store)).toMatchObject({ Status: "successful" });
    expect(eu.store.job("default", "web")?.Stable).toBe(true);
  });
});
