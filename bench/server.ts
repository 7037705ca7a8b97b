/**
 * Server benchmark: job register → all allocations running (count 1,000 on 1,000 simulated
 * nodes); the time a dead node's allocations take to run elsewhere; the CPU a server process
 * spends on 10,000 nodes heartbeating over HTTP at the default TTL. Prints one JSON document.
 *
 *   npm run bench:server                     all scenarios
 *   npm run bench:server -- --quick          smaller, for a smoke run
 * Durable writes per second are measured by `npm run bench:state`.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { inProcessTransport } from "../src/agent/in-process.js";
import { ApiClient } from "../src/apiclient/index.js";
import { SimulatedNode } from "../src/client/sim.js";
import { Server } from "../src/server/index.js";
import { memoryBackend, StateStore } from "../src/state/index.js";
import { mock, type Allocation } from "../src/structs/index.js";

const quick = process.argv.includes("--quick");

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

/** A real agent process; 10,000 nodes register and heartbeat at the TTL it asks for, over HTTP. */
async function heartbeats(nodes: number, seconds: number) {
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

const out = {
  benchmark: "server",
  node: process.version,
  quick,
  registerToRunning: await registerToRunning(quick ? 100 : 1000, quick ? 100 : 1000),
  recovery: await recovery(),
  heartbeats: await heartbeats(quick ? 1000 : 10_000, quick ? 5 : 20),
};
console.log(JSON.stringify(out, null, 2));
process.exit(0);
