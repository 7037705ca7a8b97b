/**
 * Server benchmark: job register → all allocations running (count 1,000 on 1,000 simulated
 * nodes); the time a dead node's allocations take to run elsewhere; the CPU a server process
 * spends on 10,000 nodes heartbeating over HTTP at the default TTL; the peak memory (RSS) of
 * an agent process holding 2,000 jobs while it answers 10,000 concurrent `GET /v1/jobs`, from
 * 200 loopback addresses and from one (median of 3 agents each). Prints one JSON document.
 *
 *   npm run bench:server                     all scenarios
 *   npm run bench:server -- --quick          smaller, for a smoke run
 *   npm run bench:server -- --only memory    one scenario (registerToRunning, recovery, heartbeats, memory)
 *   npm run bench:server -- --runs 1         agents the memory figure is the median of (default 3)
 * Durable writes per second are measured by `npm run bench:state`.
 */
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import type { Readable } from "node:stream";
import { inProcessTransport } from "../src/agent/in-process.js";
import { ApiClient } from "../src/apiclient/index.js";
import { SimulatedNode } from "../src/client/sim.js";
import { Server } from "../src/server/index.js";
import { memoryBackend, StateStore } from "../src/state/index.js";
import { LIMITS, mock, type Allocation } from "../src/structs/index.js";

const quick = process.argv.includes("--quick");
const onlyAt = process.argv.indexOf("--only");
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : undefined;
const runsAt = process.argv.indexOf("--runs");
const runs = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : quick ? 1 : 3;

function running(store: StateStore, job: string): Allocation[] {
  return store.allocsByJob("default", job).filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
}

async function until(f: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function registerToRunning(nodes: number, count: number) {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store, { heartbeat: { minTTL: 60_000 } });
  server.start();
  const t = inProcessTransport(server);
  const sims = Array.from({ length: nodes }, (_, i) => new SimulatedNode(t, { name: `n${i}`, cpu: 8000, memory: 16384 }));
  await Promise.all(sims.map((s) => s.start()));
  const job = mock.job({ id: "bulk", count, cpu: 100, memory: 128 });
  job.TaskGroups[0]!.Update = null;
  const t0 = performance.now();
  await server.registerJob(job);
  await until(() => running(store, "bulk").length === count, 120_000);
  const ms = performance.now() - t0;
  await Promise.all(sims.map((s) => s.kill()));
  await server.stop();
  return { nodes, count, registerToAllRunningMs: Math.round(ms) };
}

/** A small cluster at the default heartbeat settings: kill a node, time until its work runs elsewhere. */
async function recovery() {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  server.start();
  const t = inProcessTransport(server);
  const sims = Array.from({ length: 3 }, (_, i) => new SimulatedNode(t, { name: `n${i}` }));
  await Promise.all(sims.map((s) => s.start()));
  const job = mock.job({ id: "heal", count: 6 });
  job.TaskGroups[0]!.Update = null;
  await server.registerJob(job);
  await until(() => running(store, "heal").length === 6, 10_000);
  const victim = sims[0]!;
  // The last heartbeat the servers saw is at most TTL/2 before the kill; the kill is the worst case's start.
  const t0 = performance.now();
  await victim.kill();
  await until(() => store.node(victim.node.ID)?.Status === "down", 20_000);
  const downMs = performance.now() - t0;
  await until(() => running(store, "heal").length === 6 && running(store, "heal").every((a) => a.NodeID !== victim.node.ID), 20_000);
  const replacedMs = performance.now() - t0;
  await Promise.all(sims.slice(1).map((s) => s.kill()));
  await server.stop();
  return { nodes: 3, allocations: 6, killToDownMs: Math.round(downMs), killToReplacedRunningMs: Math.round(replacedMs) };
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** A real agent process (dev, no router), and the address of its API. */
async function agentProcess(): Promise<{ child: ChildProcessByStdio<null, Readable, null>; address: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "agent", "-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1"], { stdio: ["ignore", "pipe", "inherit"] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /API:\s+http:\/\/(\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.once("exit", () => {
      reject(new Error(`the agent exited: ${out}`));
    });
  });
  return { child, address };
}

/** A real agent process; 10,000 nodes register and heartbeat at the TTL it asks for, over HTTP. */
async function heartbeats(nodes: number, seconds: number) {
  const { child, address } = await agentProcess();
  const api = new ApiClient(address);
  const list = Array.from({ length: nodes }, (_, i) => mock.node({ name: `hb${i}` }));
  let ttl = 0;
  for (let i = 0; i < list.length; i += 64) {
    const rs = await Promise.all(list.slice(i, i + 64).map((n) => api.registerNode(n)));
    ttl = rs.at(-1)?.body.HeartbeatTTL ?? ttl;
  }
  const pid = child.pid ?? 0;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  let beats = 0;
  let failures = 0;
  const end = Date.now() + seconds * 1000;
  // Each node beats every TTL/2, spread evenly: nodes / (TTL/2) beats a second.
  const perSecond = nodes / (ttl / 2000);
  const start = Date.now();
  while (Date.now() < end) {
    const due = Math.ceil(((Date.now() - start) / 1000) * perSecond) - beats;
    if (due <= 0) {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    await Promise.all(
      Array.from({ length: Math.min(due, 64) }, async () => {
        const n = list[beats++ % list.length]!;
        try {
          await api.withNodeSecret(n.SecretID).heartbeat(n.ID);
        } catch {
          failures++;
        }
      }),
    );
  }
  const wall = (performance.now() - t0) / 1000;
  const cores = (cpuSeconds(pid) - cpu0) / wall;
  child.kill("SIGTERM");
  return { nodes, heartbeatTTLms: ttl, heartbeatsPerSec: Math.round(beats / wall), failures, serverCores: Math.round(cores * 1000) / 1000, seconds: Math.round(wall) };
}

/** A process's memory from /proc, in MiB: its resident set now (`VmRSS`) or at its peak (`VmHWM`). */
function memMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? "0") / 1024);
}

/** One `GET path` on a connection of its own from `from`; its status (0: the connection failed, with its error's code) and the bytes of its body. */
function getFrom(address: string, path: string, from: string): Promise<{ status: number; bytes: number; error?: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve) => {
    const req = request({ host, port, path, localAddress: from, agent: false }, (res) => {
      let bytes = 0;
      res.on("data", (b: Buffer) => (bytes += b.length));
      res.once("end", () => {
        resolve({ status: res.statusCode ?? 0, bytes });
      });
      res.once("error", () => {
        resolve({ status: 0, bytes });
      });
    });
    req.once("error", (err: NodeJS.ErrnoException) => {
      resolve({ status: 0, bytes: 0, error: err.code ?? err.message });
    });
    req.end();
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/**
 * Peak RSS of an agent under `requests` concurrent `GET /v1/jobs` (no `per_page`: a client
 * that does not page), each on a connection of its own, spread over `addresses` loopback
 * addresses (127.0.0.1, .2, ...) so that the per-client limit lets them in, then all from
 * 127.0.0.1. The agent holds `jobs` jobs, one of them naming the most datacenters a job
 * may; a job of 100,000 datacenters is offered first, and its answer recorded.
 */
async function listMemory(requests: number, addresses: number, jobs: number) {
  const { child, address } = await agentProcess();
  const pid = child.pid ?? 0;
  try {
    // Jobs as a client sends them: the API fills in the defaults.
    const register = async (id: string, datacenters: string[]): Promise<number> => {
      const Job = { ID: id, Datacenters: datacenters, TaskGroups: [{ Name: "g", Count: 0, Tasks: [{ Name: "t", Driver: "mock" }] }] };
      const res = await fetch(`http://${address}/v1/jobs`, { method: "PUT", body: JSON.stringify({ Job }), headers: { "content-type": "application/json" } });
      await res.arrayBuffer();
      return res.status;
    };
    const dcs = Array.from({ length: 100_000 }, (_, i) => `dc${i}`);
    const refused = await register("wide", dcs);
    if ((await register("wide", dcs.slice(0, LIMITS.maxDatacenters))) !== 200) throw new Error("the job at the datacenter limit was refused");
    for (let i = 1; i < jobs; i++) await register(`job-${String(i).padStart(4, "0")}`, ["dc1"]);
    const first = await getFrom(address, "/v1/jobs", "127.0.0.1");
    const idle = memMiB(pid, "VmRSS");
    const burst = async (spread: number) => {
      // The peak is measured from here: the kernel's high-water mark is reset.
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: requests }, (_, i) => getFrom(address, "/v1/jobs", `127.0.0.${1 + (i % spread)}`)));
      const ms = performance.now() - t0;
      const count = (s: number) => rs.filter((r) => r.status === s).length;
      const failedBy: Record<string, number> = {};
      for (const r of rs) if (r.error !== undefined) failedBy[r.error] = (failedBy[r.error] ?? 0) + 1;
      return {
        addresses: spread,
        peakRssMiB: memMiB(pid, "VmHWM"),
        ok: count(200),
        tooMany: count(429),
        failed: count(0),
        failedBy,
        otherStatus: rs.length - count(200) - count(429) - count(0),
        seconds: Math.round(ms / 100) / 10,
      };
    };
    const spread = await burst(addresses);
    const one = await burst(1);
    return { wideJobStatus: refused, answerBytes: first.bytes, idleRssMiB: idle, spread, one };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

async function memory(runs: number, requests: number, addresses: number, jobs: number) {
  const all = [];
  for (let i = 0; i < runs; i++) all.push(await listMemory(requests, addresses, jobs));
  return {
    requests,
    jobs,
    answerBytes: all[0]?.answerBytes,
    wideJobStatus: all[0]?.wideJobStatus,
    peakRssMiB: { spread: median(all.map((r) => r.spread.peakRssMiB)), oneAddress: median(all.map((r) => r.one.peakRssMiB)) },
    runs: all,
  };
}

const want = (name: string): boolean => only === undefined || only === name;
const out = {
  benchmark: "server",
  node: process.version,
  quick,
  ...(want("registerToRunning") ? { registerToRunning: await registerToRunning(quick ? 100 : 1000, quick ? 100 : 1000) } : {}),
  ...(want("recovery") ? { recovery: await recovery() } : {}),
  ...(want("heartbeats") ? { heartbeats: await heartbeats(quick ? 1000 : 10_000, quick ? 5 : 20) } : {}),
  ...(want("memory") ? { memory: await memory(runs, quick ? 2_000 : 10_000, 200, quick ? 200 : 2_000) } : {}),
};
console.log(JSON.stringify(out, null, 2));
process.exit(0);
