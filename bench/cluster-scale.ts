/**
 * Cluster scale benchmark: what N simulated nodes cost a server, the way Nomad sizes a
 * region (10,000 nodes). One server agent (`ruche agent -server`, no local node) and
 * `ruche sim -nodes N` as processes of their own, from dist/ (built first when older than
 * the sources). Measured on the server process:
 * - the time for N nodes to register and be ready;
 * - its CPU (utime + stime from /proc/<pid>/stat) over 30 s of steady heartbeats and
 *   allocation watches (each node one blocking query, 30 s long, as a client agent's), and
 *   its RSS;
 * - `ruche job run -detach` of a job of N allocations (the mock driver, one per node: each
 *   asks for more than half a node's CPU) to all of them running, and its CPU meanwhile.
 * Prints one JSON document per N.
 *
 *   tsx bench/cluster-scale.ts                 N = 1,000 then 10,000
 *   tsx bench/cluster-scale.ts 1000            one N
 *   tsx bench/cluster-scale.ts 1000 --window 10  the steady window in seconds (default 30)
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const MAIN = join(ROOT, "dist/cli/main.js");
const TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
const args = process.argv.slice(2);
const windowAt = args.indexOf("--window");
const WINDOW_S = windowAt >= 0 ? Number(args[windowAt + 1]) : 30;
const counts = args.filter((a, i) => /^\d+$/.test(a) && args[i - 1] !== "--window").map(Number);

/** Builds dist/ when a source of what runs here is newer than its output. */
function ensureBuilt(): void {
  const pairs = [
    ["src/cli/commands/sim.ts", "dist/cli/commands/sim.js"],
    ["src/client/fleet.ts", "dist/client/fleet.js"],
    ["src/apiclient/index.ts", "dist/apiclient/index.js"],
    ["src/agent/agent.ts", "dist/agent/agent.js"],
  ];
  const stale = pairs.some(([src = "", out = ""]) => !existsSync(join(ROOT, out)) || statSync(join(ROOT, src)).mtimeMs > statSync(join(ROOT, out)).mtimeMs);
  if (!stale) return;
  process.stderr.write("bench: building dist/ (npx tsc -p tsconfig.build.json)\n");
  try {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: "inherit" });
  } catch {
    // Type errors elsewhere in the tree still emit; what matters is that the files are there.
    process.stderr.write("bench: tsc reported errors; going on with what it emitted\n");
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((done) => s.listen(0, "127.0.0.1", done));
  const port = (s.address() as { port: number }).port;
  await new Promise((done) => s.close(done));
  return port;
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Resident memory now and at its peak, in MB. */
function memory(pid: number): { rssMB: number; peakRssMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? "0");
  return { rssMB: Math.round(kb("VmRSS") / 1024), peakRssMB: Math.round(kb("VmHWM") / 1024) };
}

function openFiles(pid: number): number {
  try {
    return execFileSync("ls", [`/proc/${pid}/fd`]).toString().split("\n").filter((l) => l !== "").length;
  } catch {
    return -1;
  }
}

async function get<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function until(what: string, f: () => Promise<boolean>, timeoutMs: number, everyMs = 500): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await f()) return;
    } catch {
      // Not answering yet.
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The server's -http-max-conns-per-client (BENCH_CONN_LIMIT; default 0, none): the fleet's
 * connections come from one machine, and what is measured is heartbeats and watches, not
 * the limiter (which `ruche sim` stays under by spreading its source addresses anyway).
 */
const LIMIT = process.env.BENCH_CONN_LIMIT ?? "0";

/** With BENCH_LOG_DIR set, each process's output is copied to a file there. */
const LOG_DIR = process.env.BENCH_LOG_DIR;

function start(argv: string[], log: string[]): ChildProcess {
  const child = spawn(process.execPath, [MAIN, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
  const file = LOG_DIR === undefined ? undefined : join(LOG_DIR, `${argv[0] ?? "ruche"}-${child.pid ?? 0}.log`);
  const keep = (b: Buffer): void => {
    if (file !== undefined) appendFileSync(file, b);
    log.push(...b.toString().split("\n").filter((l) => l !== ""));
    if (log.length > 400) log.splice(0, log.length - 400);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(t);
}

async function run(nodes: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "ruche-bench-scale-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serverLog: string[] = [];
  const simLog: string[] = [];
  const server = start(["agent", "-server", "-data-dir", dir, "-bind", "127.0.0.1", "-http-port", String(port), "-consul-port", "-1", "-dns-port", "-1", "-log-level", "warn", "-http-max-conns-per-client", LIMIT], serverLog);
  let sim: ChildProcess | undefined;
  const result: Record<string, unknown> = { nodes, windowS: WINDOW_S };
  const phase = { at: "server start" };
  try {
    const spid = server.pid ?? 0;
    await until("the server's API", async () => (await fetch(`${base}/v1/status/leader`)).ok, 30_000, 200);
    result.serverIdle = memory(spid);

    // The fleet registers.
    phase.at = "registration";
    const t0 = Date.now();
    const c0 = cpuSeconds(spid);
    sim = start(["sim", "-nodes", String(nodes), "-servers", `127.0.0.1:${port}`], simLog);
    await until(`${nodes} nodes registered`, () => Promise.resolve(simLog.some((l) => l.includes(`==> ${nodes} nodes registered`))), 600_000, 250);
    await until(`${nodes} nodes ready`, async () => (await get<{ Status: string }[]>(base, "/v1/nodes")).filter((n) => n.Status === "ready").length === nodes, 600_000, 2000);
    const registerS = (Date.now() - t0) / 1000;
    result.register = { toAllReadySeconds: round(registerS), serverCpuCores: round((cpuSeconds(spid) - c0) / registerS) };

    // Steady state: heartbeats and allocation watches only.
    phase.at = "steady state";
    await new Promise((r) => setTimeout(r, 5000));
    const s0 = cpuSeconds(spid);
    const w0 = Date.now();
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const steadyS = (Date.now() - w0) / 1000;
    const simPid = sim.pid ?? 0;
    result.steady = {
      serverCpuCores: round((cpuSeconds(spid) - s0) / steadyS),
      server: { ...memory(spid), openFiles: openFiles(spid) },
      sim: { ...memory(simPid), openFiles: openFiles(simPid) },
    };

    // A job of N allocations, one per node.
    phase.at = "job run";
    const jobFile = join(dir, "scale.hcl");
    writeFileSync(jobFile, `job "scale" {\n  datacenters = ["dc1"]\n  group "g" {\n    count = ${nodes}\n    task "t" {\n      driver = "mock"\n      resources {\n        cpu    = 2500\n        memory = 64\n      }\n    }\n  }\n}\n`);
    const j0 = Date.now();
    const jc0 = cpuSeconds(spid);
    execFileSync(process.execPath, [MAIN, "job", "run", "-detach", "-address", `127.0.0.1:${port}`, jobFile], { stdio: "ignore" });
    const submittedS = (Date.now() - j0) / 1000;
    let firstRunningS: number | undefined;
    await until(
      `${nodes} allocations running`,
      async () => {
        const s = await get<{ Summary: Record<string, Record<string, number>> }>(base, "/v1/job/scale/summary");
        const running = s.Summary.g?.Running ?? 0;
        if (running > 0 && firstRunningS === undefined) firstRunningS = (Date.now() - j0) / 1000;
        return running === nodes;
      },
      900_000,
      250,
    );
    const jobS = (Date.now() - j0) / 1000;
    result.jobRun = {
      allocations: nodes,
      submitSeconds: round(submittedS),
      firstRunningSeconds: round(firstRunningS ?? jobS),
      toAllRunningSeconds: round(jobS),
      serverCpuCores: round((cpuSeconds(spid) - jc0) / jobS),
      server: memory(spid),
    };
    const statuses: Record<string, number> = {};
    for (const n of await get<{ Status: string }[]>(base, "/v1/nodes")) statuses[n.Status] = (statuses[n.Status] ?? 0) + 1;
    result.nodesAfter = statuses;
    result.ok = true;
  } catch (err) {
    result.ok = false;
    result.failedAt = phase.at;
    result.error = (err as Error).message;
    result.serverAlive = server.exitCode === null;
    result.serverLog = serverLog.slice(-15);
    result.simLog = simLog.slice(-15);
  } finally {
    result.simLast = simLog.filter((l) => l.includes("registered")).slice(-3);
    if (sim !== undefined) await stopChild(sim);
    await stopChild(server);
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

ensureBuilt();
for (const n of counts.length > 0 ? counts : [1000, 10_000]) {
  process.stdout.write(`${JSON.stringify(await run(n), null, 2)}\n`);
}
