/**
 * Healing benchmark, on real agent processes (test/e2e/fleet.ts: a server, a router that
 * follows its catalog, two client agents each behind its own Docker socket proxy) and a
 * service of 5 busybox httpd containers behind the router, loaded at 50 requests/s:
 *
 * - node loss: one client agent killed with its containers and its engine cut off — time
 *   from the kill to every lost allocation's replacement running, and router errors;
 * - agent restart of 10 s and of 30 s (`kill -9` of a client agent, started again on its data
 *   dir): tasks restarted (original containers gone once the job is at rest again) and
 *   router errors; and of 10 s with every instance on that node (the other drained first),
 *   where the router has nowhere else to send until the replacements pass.
 *
 * Medians of several runs (3 by default). Prints JSON.
 *
 *   npm run bench:heal                    (needs the engine and images of scripts/test-deps.sh)
 *   npm run bench:heal -- --runs 1
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ApiClient, type AllocStub } from "../src/apiclient/index.js";
import { Fleet, RouterLoad, routed, webJob, type FleetClient } from "../test/e2e/fleet.js";
import { ruche, until } from "../test/e2e/harness.js";

const exec = promisify(execFile);
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 3;
const COUNT = 5;
const JOB = "heal";
const HOST = "heal.ruche.test";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function docker(...args: string[]): Promise<string[]> {
  return (await exec("docker", args)).stdout.split("\n").filter((l) => l !== "");
}

const containers = (): Promise<string[]> => docker("ps", "-q", "--no-trunc", "--filter", `label=com.ruche.job_id=${JOB}`);

/** The job's allocations that should run and do. */
async function running(api: ApiClient): Promise<AllocStub[]> {
  return (await api.jobAllocations(JOB)).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
}

/** At rest: every node ready, exactly COUNT allocations running, none unknown or pending, one container each. */
async function atRest(api: ApiClient, nodes: number): Promise<void> {
  await until("the job at rest", async () => {
    if ((await api.nodes()).body.filter((n) => n.Status === "ready").length !== nodes) return undefined;
    const all = (await api.jobAllocations(JOB)).body;
    const run = all.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
    const moving = all.filter((a) => (a.ClientStatus as string) === "unknown" || a.ClientStatus === "pending" || (a.DesiredStatus !== "run" && a.ClientStatus === "running"));
    return run.length === COUNT && moving.length === 0 && (await containers()).length === COUNT ? true : undefined;
  }, 180_000);
}

/** The client agent with the most of the job's allocations. */
async function busiest(api: ApiClient, fleet: Fleet): Promise<FleetClient> {
  const nodes = (await api.nodes()).body;
  const per = new Map<string, number>();
  for (const a of await running(api)) per.set(a.NodeID, (per.get(a.NodeID) ?? 0) + 1);
  let best: FleetClient | undefined;
  let most = -1;
  for (const c of fleet.clients) {
    const id = nodes.find((n) => n.Name === c.name)?.ID ?? "";
    const n = per.get(id) ?? 0;
    if (n > most) [best, most] = [c, n];
  }
  return best as FleetClient;
}

async function nodeLoss(api: ApiClient, fleet: Fleet): Promise<{ replacementMs: number; lost: number; routerErrors: number }> {
  const c = await busiest(api, fleet);
  const nodeId = (await api.nodes()).body.find((n) => n.Name === c.name)?.ID ?? "";
  const lostAllocs = (await running(api)).filter((a) => a.NodeID === nodeId).map((a) => a.ID);
  const load = new RouterLoad(fleet.router.routerAddress, HOST, 50);
  load.start();
  await sleep(1000);
  // The machine dies: its agent, its engine and its containers.
  const t0 = performance.now();
  await c.agent?.crash();
  await c.proxy.stop();
  for (const id of lostAllocs) {
    const ids = await docker("ps", "-q", "--filter", `label=com.ruche.alloc_id=${id}`);
    if (ids.length > 0) await docker("kill", ...ids);
  }
  await until("replacements running", async () => ((await running(api)).filter((a) => a.NodeID !== nodeId).length === COUNT ? true : undefined), 120_000);
  const replacementMs = performance.now() - t0;
  await sleep(2000);
  await load.stop();
  // The machine comes back.
  await c.proxy.start();
  await fleet.startClient(c);
  await atRest(api, fleet.clients.length);
  return { replacementMs: Math.round(replacementMs), lost: lostAllocs.length, routerErrors: load.failed };
}

async function agentRestart(api: ApiClient, fleet: Fleet, downMs: number): Promise<{ tasksRestarted: number; tasksOnNode: number; routerErrors: number }> {
  const c = await busiest(api, fleet);
  const nodeId = (await api.nodes()).body.find((n) => n.Name === c.name)?.ID ?? "";
  const onNode = (await running(api)).filter((a) => a.NodeID === nodeId);
  const before = new Set<string>();
  for (const a of onNode) for (const id of await docker("ps", "-q", "--no-trunc", "--filter", `label=com.ruche.alloc_id=${a.ID}`)) before.add(id);
  const load = new RouterLoad(fleet.router.routerAddress, HOST, 50);
  load.start();
  await sleep(1000);
  await c.agent?.crash();
  await sleep(downMs);
  await fleet.startClient(c);
  await atRest(api, fleet.clients.length);
  await sleep(2000);
  await load.stop();
  const after = new Set(await containers());
  return { tasksRestarted: [...before].filter((id) => !after.has(id)).length, tasksOnNode: before.size, routerErrors: load.failed };
}

/**
 * Every allocation on one node first (the other drained, then eligible again), then that
 * node's agent restarted: the router has no instance elsewhere until the replacements pass.
 */
async function agentRestartAllOnOne(api: ApiClient, fleet: Fleet, downMs: number): Promise<Awaited<ReturnType<typeof agentRestart>>> {
  const nodes = (await api.nodes()).body;
  const keep = await busiest(api, fleet);
  for (const c of fleet.clients) {
    if (c === keep) continue;
    const id = nodes.find((n) => n.Name === c.name)?.ID ?? "";
    await api.drain(id, { Deadline: 0, IgnoreSystemJobs: false });
    await until(`${c.name} drained`, async () => ((await running(api)).some((a) => a.NodeID === id) ? undefined : true), 120_000);
    await api.drain(id, null, true);
  }
  await atRest(api, fleet.clients.length);
  return agentRestart(api, fleet, downMs);
}

const dir = mkdtempSync(join(tmpdir(), "ruche-bench-heal-"));
writeFileSync(join(dir, `${JOB}.hcl`), webJob(JOB, COUNT, HOST));
const fleet = await Fleet.start({ dir, clients: 2 });
const api = new ApiClient(fleet.serverAddress);
try {
  const run = await ruche(fleet.serverAddress, dir, "job", "run", "-detach", `${JOB}.hcl`);
  if (run.code !== 0) throw new Error(`job run: ${run.err}`);
  await atRest(api, fleet.clients.length);
  await routed(fleet.router.routerAddress, HOST);
  const loss: Awaited<ReturnType<typeof nodeLoss>>[] = [];
  const r10: Awaited<ReturnType<typeof agentRestart>>[] = [];
  const r30: Awaited<ReturnType<typeof agentRestart>>[] = [];
  const one10: Awaited<ReturnType<typeof agentRestart>>[] = [];
  for (let i = 0; i < RUNS; i++) {
    loss.push(await nodeLoss(api, fleet));
    r10.push(await agentRestart(api, fleet, 10_000));
    r30.push(await agentRestart(api, fleet, 30_000));
    one10.push(await agentRestartAllOnOne(api, fleet, 10_000));
  }
  const med = <T>(xs: T[], f: (x: T) => number): number => median(xs.map(f));
  console.log(
    JSON.stringify(
      {
        benchmark: "heal",
        node: process.version,
        runs: RUNS,
        count: COUNT,
        routerLoadPerSecond: 50,
        nodeLoss: { replacementRunningMs: med(loss, (x) => x.replacementMs), routerErrors: med(loss, (x) => x.routerErrors), runs: loss },
        agentRestart10s: { tasksRestarted: med(r10, (x) => x.tasksRestarted), routerErrors: med(r10, (x) => x.routerErrors), runs: r10 },
        agentRestart30s: { tasksRestarted: med(r30, (x) => x.tasksRestarted), routerErrors: med(r30, (x) => x.routerErrors), runs: r30 },
        agentRestart10sEveryInstanceOnIt: { tasksRestarted: med(one10, (x) => x.tasksRestarted), routerErrors: med(one10, (x) => x.routerErrors), runs: one10 },
      },
      null,
      2,
    ),
  );
} finally {
  await ruche(fleet.serverAddress, dir, "job", "stop", "-purge", JOB).catch(() => undefined);
  await until("the job's containers to go", async () => ((await containers()).length === 0 ? true : undefined), 60_000).catch(() => undefined);
  const left = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${JOB}`);
  if (left.length > 0) await docker("rm", "-f", ...left);
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
