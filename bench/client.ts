/**
 * Node agent benchmark, on a real dev agent process (server and node agent in one, state
 * in a temporary directory): register → every allocation running for a raw_exec job of
 * count 50 and a docker job of count 10, each beside a peer doing the same work without
 * Ruche in the same run (50 processes spawned directly; 10 `docker run -d`); the agent's
 * memory (RSS) with 100 raw_exec tasks running. Medians of several runs. Prints JSON.
 *
 *   npm run bench:client                  all scenarios (needs the engine and image of scripts/test-deps.sh)
 *   npm run bench:client -- --runs 1      one run each
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ApiClient } from "../src/apiclient/index.js";
import { mock, NS, type Job } from "../src/structs/index.js";

const exec = promisify(execFile);
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 3;
const IMAGE = "ruche-test/busybox:latest";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function startAgent(): Promise<{ child: ChildProcess; api: ApiClient }> {
  const child = spawn(process.execPath, ["dist/cli/main.js", "agent", "-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1", "-datacenter", "dc1"], { stdio: ["ignore", "pipe", "inherit"] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      const m = /API: +http:\/\/(\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.once("exit", () => {
      reject(new Error(`the agent exited: ${out}`));
    });
  });
  return { child, api: new ApiClient(address) };
}

async function stopAgent(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await gone;
}

function job(id: string, driver: string, count: number, config: Record<string, unknown>): Job {
  const j = mock.job({ id, count, cpu: 20, memory: 16, driver, datacenters: ["dc1"] });
  const g = j.TaskGroups[0]!;
  g.Update = null;
  g.EphemeralDisk.SizeMB = 300;
  g.Tasks[0]!.Config = config;
  g.Tasks[0]!.KillTimeout = NS.second;
  return j;
}

async function registerToRunning(api: ApiClient, j: Job): Promise<number> {
  const t0 = performance.now();
  await api.register(j);
  let index = 0;
  for (;;) {
    const r = await api.jobAllocations(j.ID, { index, wait: "5s" });
    index = r.index;
    const failed = r.body.filter((a) => a.ClientStatus === "failed");
    if (failed.length > 0) throw new Error(`${failed.length} allocations of ${j.ID} failed: ${JSON.stringify(failed[0]?.TaskStates)}`);
    if (r.body.filter((a) => a.ClientStatus === "running").length === j.TaskGroups[0]!.Count) return performance.now() - t0;
  }
}

async function stopJob(api: ApiClient, id: string): Promise<void> {
  await api.stop(id, true);
  for (let i = 0; i < 200; i++) {
    const r = await api.jobAllocations(id).catch(() => ({ body: [] }));
    if (r.body.every((a) => a.ClientStatus !== "running" && a.ClientStatus !== "pending")) return;
    await new Promise((r2) => setTimeout(r2, 50));
  }
}

/** The peer for raw_exec: the same 50 processes, spawned directly, until each has started. */
async function spawnDirect(n: number): Promise<number> {
  const t0 = performance.now();
  const children = await Promise.all(
    Array.from({ length: n }, () => new Promise<ChildProcess>((resolve) => {
      const c = spawn("/bin/sleep", ["1000"], { detached: true, stdio: "ignore" });
      c.once("spawn", () => { resolve(c); });
    })),
  );
  const ms = performance.now() - t0;
  for (const c of children) c.kill("SIGKILL");
  return ms;
}

/** The peer for docker: the same 10 containers with `docker run -d`, in parallel. */
async function dockerDirect(n: number): Promise<number> {
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: n }, async () => (await exec("docker", ["run", "-d", "--init", "--label", "ruche.bench=peer", "-m", "16m", IMAGE, "sleep", "1000"])).stdout.trim()));
  const ms = performance.now() - t0;
  await exec("docker", ["rm", "-f", ...ids]);
  return ms;
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

const home = mkdtempSync(join(tmpdir(), "ruche-bench-client-"));
const { child, api } = await startAgent();
try {
  const raw: number[] = [];
  const rawPeer: number[] = [];
  const dock: number[] = [];
  const dockPeer: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    raw.push(await registerToRunning(api, job(`raw-${i}`, "raw_exec", 50, { command: "/bin/sleep", args: ["1000"] })));
    await stopJob(api, `raw-${i}`);
    rawPeer.push(await spawnDirect(50));
    dock.push(await registerToRunning(api, job(`docker-${i}`, "docker", 10, { image: IMAGE, command: "sleep", args: ["1000"] })));
    await stopJob(api, `docker-${i}`);
    dockPeer.push(await dockerDirect(10));
  }
  const idle = rssMB(child.pid ?? 0);
  await registerToRunning(api, job("hundred", "raw_exec", 100, { command: "/bin/sleep", args: ["1000"] }));
  await new Promise((r) => setTimeout(r, 2000));
  const loaded = rssMB(child.pid ?? 0);
  await stopJob(api, "hundred");
  console.log(
    JSON.stringify(
      {
        benchmark: "client",
        node: process.version,
        runs: RUNS,
        rawExecCount50: { registerToAllRunningMs: Math.round(median(raw)), runs: raw.map(Math.round), peerSpawnDirectMs: Math.round(median(rawPeer)) },
        dockerCount10: { registerToAllRunningMs: Math.round(median(dock)), runs: dock.map(Math.round), peerDockerRunMs: Math.round(median(dockPeer)) },
        agentMemory: { idleRssMB: idle, with100RawExecTasksRssMB: loaded },
      },
      null,
      2,
    ),
  );
} finally {
  await stopAgent(child);
  rmSync(home, { recursive: true, force: true });
}
