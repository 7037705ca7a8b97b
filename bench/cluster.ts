/**
 * Cluster benchmark: three Ruche servers on a three-member etcd, beside one server on
 * embedded SQLite and beside etcd's own put rate, in the same run, on the same machine.
 * The servers are processes of their own from dist/ (`ruche agent -server
 * -etcd-endpoints ...`), the etcd members real ones on loopback (src/state/etcd-testing.ts).
 *
 * 1. Failover: `kill -9` of the leader, K times (5 by default). For each: the time until a
 *    survivor's `/v1/status/leader` names another server, and until a write
 *    (`PUT /v1/kv/...` on a survivor's Consul port) succeeds; then the killed server is
 *    started again on its data dir and the time until it follows the new leader. Goal ≤ 3 s.
 * 2. KV writes/s with the same clients on every side: C concurrent HTTP clients (undici
 *    Pool, keep-alive, one connection each; 32 by default) putting 100-byte values at
 *    distinct keys for S seconds (10 by default) after 1 s of warm-up:
 *    (a) `PUT /v1/kv/bench/<n>` on the Consul API of the three servers on etcd, the clients
 *        spread over the three (two thirds of the writes forwarded by a follower);
 *    (a') the same with every client on the leader (no write forwarded), to tell the cost of
 *        forwarding from that of the commits;
 *    (b) the same on one server on embedded SQLite;
 *    (c) etcd's own puts, the npm `etcd3` client with C puts in flight over the same three
 *        members; and the same puts on the members' HTTP/JSON gateway (`POST /v3/kv/put`)
 *        through the very HTTP clients of (a) and (b).
 *    Ops/s, p50/p99 latency, errors; the ratio (a)/(c), (c) the better of etcd's two
 *    (goal ≥ 0.8); the servers' and the benchmark's own CPU
 *    (utime + stime from /proc/<pid>/stat) and RSS (/proc/<pid>/status) over the window,
 *    the etcd members' CPU, and etcd's own counters (raft proposals, gRPC Txn and Range
 *    calls, from each member's /metrics) per write acknowledged: what one write costs etcd.
 * 3. Placements/s: N simulated nodes (`ruche sim -nodes N -servers ...`, a process of its
 *    own, with its default 64 shared connections per server: fewer, and the nodes'
 *    heartbeats queue behind their allocation updates and miss their TTL),
 *    then a service job of A allocations of the mock driver registered through the
 *    API (`ruche job run`'s call): the time from the register call to every allocation
 *    placed, and to every one running; allocations/s. Three servers on etcd (the job sent
 *    to a follower, the nodes spread over the three) beside one server on SQLite.
 * 4. Scale, the way Nomad sizes a region: N simulated nodes (10,000 by default; `ruche sim
 *    -nodes N -servers a,b,c`, its own process, node i starting on server i mod 3) against
 *    three fresh servers on a fresh three-member etcd, then against one fresh server on
 *    SQLite (the peer; --no-solo leaves it out), each with the machine to itself:
 *    - the time until every node is ready, and the servers' CPU meanwhile;
 *    - per server, its CPU (cores, utime + stime) and RSS (at the end, and the most sampled
 *      every 250 ms) over a quiet window (--window, 30 s, from 5 s after the last node was
 *      ready) where the nodes only heartbeat (at the TTL the servers give for N nodes) and
 *      hold their allocation watches (blocking queries, spread over the three), and the
 *      files it holds open (its connections);
 *    - a job of N allocations of the mock driver, one per node (each asks for more than half
 *      a node's CPU), registered through a follower: the time to every allocation placed
 *      and to every one running, and each server's CPU and RSS meanwhile;
 *    - which server led, the etcd members' and `ruche sim`'s own CPU and RSS, the nodes not
 *      ready, and the goals met or not: the leader's CPU in the quiet window < 0.5 core,
 *      every server's peak RSS (VmHWM) < 2 GB, every allocation running within
 *      --scale-timeout (900 s). The servers run with -http-max-conns-per-client 0 (see `scale`).
 *
 * Parts 1–3 share one set of servers, started once; each measurement is repeated and
 * medians reported (the machine is shared), every sample kept. Part 4 is run once, last,
 * after the others' servers are gone. Prints one JSON document on stdout; progress on stderr.
 *
 *   npm run bench:cluster                       5 kills, 3 KV runs of 10 s, 3 placement runs, 10,000 nodes
 *   npm run bench:cluster -- --quick            2 kills, 1 KV run of 3 s, 1 placement run of 500, 1,000 nodes
 *   npm run bench:cluster -- --only kv          only one part (failover, kv, place, scale; a comma list)
 *   npm run bench:cluster -- --concurrency 16 --seconds 5 --runs 5 --kills 5 --allocs 2000 --nodes 100
 *                                               --place-runs 3 --place-timeout 180
 *   npm run bench:cluster -- --only scale --nodes 2000 --window 20 --scale-timeout 600 --no-solo
 *                                               (--nodes sets part 3's nodes too: 100 by default)
 *   npm run bench:cluster-scale                 the same as --only scale
 *   npm run bench:cluster -- --cpu-prof DIR     every server writes a CPU profile to DIR when it stops
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Etcd3 } from "etcd3";
import { Pool } from "undici";
import { ApiClient } from "../src/apiclient/index.js";
import { parseJob } from "../src/jobspec/index.js";
import { startEtcd, type EtcdTestCluster } from "../src/state/etcd-testing.js";
import { NO_ACL_NO_TLS } from "../test/e2e/harness.js";
import { freePort, stopChild } from "./child.js";
import { cpuSeconds, median, percentile, round, rssMB, sleep } from "./numbers.js";

// --- options -------------------------------------------------------------------------

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const num = (name: string, dflt: number): number => {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} takes a positive number, not "${v}"`);
  return n;
};
const QUICK = argv.includes("--quick");
const KILLS = num("--kills", QUICK ? 2 : 5);
const KV_RUNS = num("--runs", QUICK ? 1 : 3);
const KV_SECONDS = num("--seconds", QUICK ? 3 : 10);
const WARMUP_MS = 1000;
const CONCURRENCY = num("--concurrency", 32);
const VALUE_BYTES = 100;
const PLACE_RUNS = num("--place-runs", QUICK ? 1 : 3);
const ALLOCS = num("--allocs", QUICK ? 500 : 2000);
/** --nodes, when given, for the placements and the scale part alike; each has its own default. */
const NODES = num("--nodes", 100);
const SCALE_NODES = num("--nodes", QUICK ? 1000 : 10_000);
const PLACE_TIMEOUT_S = num("--place-timeout", 180);
const SCALE_WINDOW_S = num("--window", QUICK ? 10 : 30);
const SCALE_TIMEOUT_S = num("--scale-timeout", 900);
const SCALE_SOLO = !argv.includes("--no-solo");
const CPU_PROF = arg("--cpu-prof");
const PARTS = ["failover", "kv", "place", "scale"];
const ONLY = new Set((arg("--only") ?? PARTS.join(",")).split(","));
for (const o of ONLY) if (!PARTS.includes(o)) throw new Error(`--only takes ${PARTS.join(", ")} (a comma list), not "${o}"`);
const FAILOVER_GOAL_MS = 3000;
const KV_GOAL_RATIO = 0.8;
/** The issue's goals for N simulated nodes: the leader's CPU for heartbeats and watches, every server's RSS. */
const SCALE_LEADER_CPU_GOAL = 0.5;
const SCALE_RSS_GOAL_MB = 2048;
const REGION = "bench";

const ROOT = join(import.meta.dirname, "..");
const MAIN = join(ROOT, "dist/cli/main.js");

const progress = (msg: string): void => {
  process.stderr.write(`bench:cluster: ${msg}\n`);
};

// --- numbers -------------------------------------------------------------------------


/** A median and every sample, as reported. */
function summary(xs: number[], d = 0): { median: number; samples: number[] } {
  return { median: round(median(xs), d), samples: xs.map((x) => round(x, d)) };
}

// --- processes -----------------------------------------------------------------------



/** A process's CPU and RSS over a window: RSS sampled every 250 ms. */
class Usage {
  private readonly cpu0: number;
  private readonly t0 = performance.now();
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly pid: number) {
    this.cpu0 = cpuSeconds(pid);
    this.sample();
    this.timer = setInterval(() => {
      this.sample();
    }, 250);
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, rssMB(this.pid));
    } catch {
      // Gone meanwhile: said by the caller.
    }
  }

  end(): { cpuCores: number; rssMB: number; peakRssMB: number } {
    clearInterval(this.timer);
    this.sample();
    const s = (performance.now() - this.t0) / 1000;
    return { cpuCores: round((cpuSeconds(this.pid) - this.cpu0) / s, 2), rssMB: rssMB(this.pid), peakRssMB: this.peak };
  }
}

/** The benchmark's own process: its clients' CPU, to tell a saturated client from a slow server. */
const BENCH_PROCESS = { name: "bench clients", pid: process.pid };

/** One `ruche agent -server` process, started again on the same ports and data dir after a kill. */
class Server {
  child: ChildProcess | undefined;
  private output = "";

  constructor(
    readonly name: string,
    readonly httpPort: number,
    readonly consulPort: number,
    private readonly dataDir: string,
    private readonly etcdEndpoints: string[],
    /** More flags of `ruche agent`. */
    private readonly extraArgs: string[] = [],
  ) {}

  get address(): string {
    return `127.0.0.1:${this.httpPort}`;
  }
  get consulAddress(): string {
    return `127.0.0.1:${this.consulPort}`;
  }
  /** Where KV writes go: the Consul API's port, or the main API's when a follower's Consul port does not forward (see `chooseKvApi`). */
  get kvAddress(): string {
    return kvApi.port === "consul" ? this.consulAddress : this.address;
  }
  get pid(): number {
    return this.child?.pid ?? 0;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const prof = CPU_PROF === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", CPU_PROF, "--cpu-prof-name", `${this.name}-${Date.now()}.cpuprofile`];
    const etcd = this.etcdEndpoints.length === 0 ? [] : ["-etcd-endpoints", this.etcdEndpoints.join(","), "-region", REGION];
    const args = [...prof, MAIN, "agent", "-server", ...NO_ACL_NO_TLS, ...etcd, "-node", this.name, "-bind", "127.0.0.1", "-http-port", String(this.httpPort), "-consul-port", String(this.consulPort), "-dns-port", "-1", "-data-dir", this.dataDir, "-log-level", "warn", ...this.extraArgs];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    this.output = "";
    const keep = (c: string): void => {
      this.output = (this.output + c).slice(-16_384);
    };
    child.stdout.setEncoding("utf8").on("data", keep);
    child.stderr.setEncoding("utf8").on("data", keep);
    this.child = child;
  }

  tail(): string {
    return this.output.split("\n").slice(-20).join("\n");
  }

  /** kill -9; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
  }

  /** SIGTERM (a CPU profile is written then), SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (this.child !== undefined) await stopChild(this.child, 20_000);
  }
}

/** The port KV writes go to, and why. */
const kvApi: { port: "consul" | "http"; note: string } = { port: "consul", note: "the Consul API's port" };

/**
 * A follower's Consul port should forward a KV write to the leader as its main API does;
 * where it answers RUCHE_NO_LEADER instead, every KV write of the benchmark (every side) goes
 * to the main API's port, which serves the same /v1/kv handlers, and the output says so.
 */
async function chooseKvApi(follower: Server): Promise<void> {
  const res = await fetch(`http://${follower.consulAddress}/v1/kv/bench/probe`, { method: "PUT", body: "x" });
  const text = await res.text();
  if (res.status === 200 && text.trim() === "true") return;
  kvApi.port = "http";
  kvApi.note = `a follower's Consul port answered ${res.status} ${text.slice(0, 160)} to a KV write: it does not forward writes to the leader; the KV writes went to the main API's port (the same /v1/kv handlers) on every side`;
  progress(kvApi.note);
}

/** GET a JSON document; undefined when the server does not answer 200 within `timeoutMs`. */
async function getJson<T>(address: string, path: string, timeoutMs = 1000): Promise<T | undefined> {
  try {
    const res = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return undefined;
    }
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

/** Whether one KV write went through `consulAddress` within `timeoutMs`. */
async function kvWriteOk(consulAddress: string, key: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`http://${consulAddress}/v1/kv/${key}`, { method: "PUT", body: "x", signal: AbortSignal.timeout(timeoutMs) });
    return res.status === 200 && (await res.text()).trim() === "true";
  } catch {
    return false;
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The leader's HTTP address as `server` sees it ("" when it knows none or does not answer). */
async function leaderSeenBy(server: Server, timeoutMs = 1000): Promise<string> {
  return (await getJson<string>(server.address, "/v1/status/leader", timeoutMs)) ?? "";
}

/** Every running server names the same leader, one of them; resolves with it. */
async function agreedLeader(servers: Server[], timeoutMs = 60_000): Promise<Server> {
  let found: Server | undefined;
  await until(
    "the servers to agree on a leader",
    async () => {
      const seen = await Promise.all(servers.filter((s) => s.running).map((s) => leaderSeenBy(s)));
      const first = seen[0] ?? "";
      found = servers.find((s) => s.running && s.address === first);
      return found !== undefined && seen.every((x) => x === first);
    },
    timeoutMs,
  );
  return found as Server;
}

// --- 1. failover ---------------------------------------------------------------------

interface FailoverSample {
  killed: string;
  newLeader: string;
  newLeaderMs: number;
  writeOkMs: number;
  rejoinMs: number;
}

async function failoverOnce(servers: Server[], k: number): Promise<FailoverSample> {
  const leader = await agreedLeader(servers);
  const survivors = servers.filter((s) => s !== leader);
  // The survivors are up and can write, before the kill.
  for (const s of survivors) await until(`${s.name} to take writes`, () => kvWriteOk(s.kvAddress, `bench/failover/${k}/before-${s.name}`), 30_000);
  const t0 = performance.now();
  const kill = leader.kill();
  let newLeaderMs = -1;
  let newLeader = "";
  const leaderLoop = (async () => {
    for (;;) {
      const seen = await Promise.all(survivors.map((s) => leaderSeenBy(s, 500)));
      const other = survivors.find((s) => seen.includes(s.address));
      if (other !== undefined) {
        newLeaderMs = performance.now() - t0;
        newLeader = other.name;
        return;
      }
      if (performance.now() - t0 > 60_000) throw new Error("no new leader within 60 s of the kill");
      await sleep(25);
    }
  })();
  let writeOkMs = -1;
  const writeLoop = (async () => {
    for (let i = 0; ; i++) {
      const s = survivors[i % survivors.length] as Server;
      if (await kvWriteOk(s.kvAddress, `bench/failover/${k}/after-${i}`, 1000)) {
        writeOkMs = performance.now() - t0;
        return;
      }
      if (performance.now() - t0 > 60_000) throw new Error("no write succeeded within 60 s of the kill");
      await sleep(25);
    }
  })();
  await Promise.all([kill, leaderLoop, writeLoop]);
  // Back on its data dir; it follows once it names the leader and the leader lists it.
  const r0 = performance.now();
  leader.start();
  await until(
    `${leader.name} to follow again`,
    async () => {
      const now = await leaderSeenBy(leader);
      const lead = survivors.find((s) => s.address === now);
      if (lead === undefined) return false;
      const peers = (await getJson<string[]>(lead.address, "/v1/status/peers")) ?? [];
      return peers.includes(leader.address);
    },
    60_000,
  );
  return { killed: leader.name, newLeader, newLeaderMs: round(newLeaderMs), writeOkMs: round(writeOkMs), rejoinMs: round(performance.now() - r0) };
}

async function failover(servers: Server[]): Promise<Record<string, unknown>> {
  const samples: FailoverSample[] = [];
  for (let k = 0; k < KILLS; k++) {
    const s = await failoverOnce(servers, k);
    progress(`failover ${k + 1}/${KILLS}: ${s.killed} killed, ${s.newLeader} leads after ${s.newLeaderMs} ms, a write went through after ${s.writeOkMs} ms, ${s.killed} followed again after ${s.rejoinMs} ms`);
    samples.push(s);
  }
  const writeOk = median(samples.map((s) => s.writeOkMs));
  const lead = median(samples.map((s) => s.newLeaderMs));
  return {
    kills: KILLS,
    goalMs: FAILOVER_GOAL_MS,
    newLeaderMs: summary(samples.map((s) => s.newLeaderMs)),
    writeOkMs: summary(samples.map((s) => s.writeOkMs)),
    rejoinMs: summary(samples.map((s) => s.rejoinMs)),
    meetsGoal: Math.max(lead, writeOk) <= FAILOVER_GOAL_MS,
    samples,
  };
}

// --- 2. KV writes ------------------------------------------------------------------

interface LoadResult {
  ops: number;
  errors: number;
  firstError: string;
  seconds: number;
  latenciesMs: number[];
}

/**
 * CONCURRENCY clients, each writing one 100-byte value after another to distinct keys for
 * WARMUP_MS + KV_SECONDS; only what completes in the last KV_SECONDS counts.
 */
async function drive(put: (client: number, n: number) => Promise<void>, onWindow: (start: boolean) => void): Promise<LoadResult> {
  const t0 = performance.now();
  const from = t0 + WARMUP_MS;
  const to = from + KV_SECONDS * 1000;
  let ops = 0;
  let errors = 0;
  let firstError = "";
  const lat: number[] = [];
  let n = 0;
  const windowTimer = setTimeout(() => {
    onWindow(true);
  }, WARMUP_MS);
  const client = async (c: number): Promise<void> => {
    for (;;) {
      const s = performance.now();
      if (s >= to) return;
      try {
        await put(c, n++);
        const e = performance.now();
        if (s >= from && e <= to) {
          ops++;
          lat.push(e - s);
        }
      } catch (err) {
        errors++;
        if (firstError === "") firstError = err instanceof Error ? err.message : String(err);
        await sleep(10);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, c) => client(c)));
  clearTimeout(windowTimer);
  onWindow(false);
  return { ops, errors, firstError, seconds: KV_SECONDS, latenciesMs: lat };
}

function stats(r: LoadResult): { opsPerSec: number; p50Ms: number; p99Ms: number; errors: number; firstError?: string } {
  const sorted = Float64Array.from(r.latenciesMs).sort();
  return { opsPerSec: round(r.ops / r.seconds), p50Ms: round(percentile(sorted, 50), 2), p99Ms: round(percentile(sorted, 99), 2), errors: r.errors, ...(r.firstError === "" ? {} : { firstError: r.firstError }) };
}

const VALUE = Buffer.alloc(VALUE_BYTES, "v");

/** How one write is sent over HTTP, and whether its answer says it was made. */
interface HttpWrite {
  request: (n: number) => { path: string; body: Buffer };
  ok: (status: number, text: string) => boolean;
}

/** Ruche's (and Consul's) KV write: `PUT /v1/kv/bench/<run>/<n>`, answered `true`. */
const kvWrite = (run: string): HttpWrite => ({
  request: (n) => ({ path: `/v1/kv/bench/${run}/${n}`, body: VALUE }),
  ok: (status, text) => status === 200 && text.trim() === "true",
});

/** etcd's put on its HTTP/JSON gateway (`POST /v3/kv/put`): the same HTTP clients as Ruche's side. */
const etcdGatewayWrite = (run: string): HttpWrite => ({
  request: (n) => ({ path: "/v3/kv/put", body: Buffer.from(JSON.stringify({ key: Buffer.from(`/bench/${run}/${n}`).toString("base64"), value: VALUE.toString("base64") })) }),
  ok: (status, text) => status === 200 && text.includes('"header"'),
});

/** Keep-alive HTTP clients over `addresses`, client c on address c mod n: one connection each. */
function httpPut(addresses: string[], w: HttpWrite): { put: (c: number, n: number) => Promise<void>; close: () => Promise<void> } {
  const per = addresses.map((_, i) => Array.from({ length: CONCURRENCY }, (_x, c) => c).filter((c) => c % addresses.length === i).length);
  const pools = addresses.map((a, i) => new Pool(`http://${a}`, { connections: Math.max(1, per[i] ?? 1), pipelining: 1, keepAliveTimeout: 60_000 }));
  return {
    put: async (c, n) => {
      const pool = pools[c % pools.length] as Pool;
      const { path, body } = w.request(n);
      const res = await pool.request({ method: path.startsWith("/v3/") ? "POST" : "PUT", path, body, headersTimeout: 30_000, bodyTimeout: 30_000 });
      const text = await res.body.text();
      if (!w.ok(res.statusCode, text)) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 200)}`);
    },
    close: async () => {
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

/** etcd's counters that say what writes cost it, summed over the members. */
async function etcdCounters(endpoints: string[]): Promise<{ proposals: number; txn: number; range: number; put: number; receivedBytes: number; sentBytes: number; dbBytes: number }> {
  const out = { proposals: 0, txn: 0, range: 0, put: 0, receivedBytes: 0, sentBytes: 0, dbBytes: 0 };
  let leaderProposals = 0;
  for (const ep of endpoints) {
    let text = "";
    try {
      text = await (await fetch(`${ep}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    } catch {
      continue;
    }
    const val = (re: RegExp): number => {
      let sum = 0;
      for (const m of text.matchAll(re)) sum += Number(m[1]);
      return sum;
    };
    const isLeader = val(/^etcd_server_is_leader (\S+)$/gm) === 1;
    if (isLeader) leaderProposals = val(/^etcd_server_proposals_committed_total (\S+)$/gm);
    out.txn += val(/^grpc_server_handled_total\{[^}]*grpc_method="Txn"[^}]*\} (\S+)$/gm);
    out.range += val(/^grpc_server_handled_total\{[^}]*grpc_method="Range"[^}]*\} (\S+)$/gm);
    out.put += val(/^grpc_server_handled_total\{[^}]*grpc_method="Put"[^}]*\} (\S+)$/gm);
    out.receivedBytes += val(/^etcd_network_client_grpc_received_bytes_total (\S+)$/gm);
    out.sentBytes += val(/^etcd_network_client_grpc_sent_bytes_total (\S+)$/gm);
    out.dbBytes = Math.max(out.dbBytes, val(/^etcd_mvcc_db_total_size_in_bytes (\S+)$/gm));
  }
  out.proposals = leaderProposals;
  return out;
}

function perWrite(before: Awaited<ReturnType<typeof etcdCounters>>, after: Awaited<ReturnType<typeof etcdCounters>>, writes: number): Record<string, number> {
  const d = (k: keyof typeof before, digits = 3): number => round((after[k] - before[k]) / Math.max(1, writes), digits);
  return { raftProposals: d("proposals"), grpcTxn: d("txn"), grpcPut: d("put"), grpcRange: d("range"), clientBytesIn: d("receivedBytes", 0), clientBytesOut: d("sentBytes", 0) };
}

interface Measured {
  stats: ReturnType<typeof stats>;
  usage: Record<string, unknown>;
  etcdPerWrite?: Record<string, number>;
}

/** One load through `addresses` while the usage of `procs` is watched; etcd's counters over the whole load when `etcd` is given. */
async function measureHttp(addresses: string[], w: HttpWrite, procs: { name: string; pid: number }[], etcd?: EtcdTestCluster): Promise<Measured> {
  const h = httpPut(addresses, w);
  let usage: Usage[] = [];
  const usageOut: Record<string, unknown> = {};
  const before = etcd === undefined ? undefined : await etcdCounters(etcd.endpoints);
  const r = await drive(h.put, (start) => {
    if (start) usage = procs.map((p) => new Usage(p.pid));
    else for (const [i, u] of usage.entries()) usageOut[procs[i]?.name ?? "?"] = u.end();
  });
  const after = etcd === undefined ? undefined : await etcdCounters(etcd.endpoints);
  await h.close();
  const st = stats(r);
  // The counters cover the warm-up too: per write over every write made.
  const total = r.ops + Math.round((r.ops / r.seconds) * (WARMUP_MS / 1000));
  return { stats: st, usage: usageOut, ...(before === undefined || after === undefined ? {} : { etcdPerWrite: perWrite(before, after, total) }) };
}

async function measureEtcd(etcd: EtcdTestCluster, run: string): Promise<Measured> {
  const client = new Etcd3({ hosts: etcd.endpoints });
  // One call first: the connections are up before the clock starts.
  await client.put(`/bench/${run}/warm`).value(VALUE);
  const procs = [...etcd.members.map((m) => ({ name: m.name, pid: m.pid ?? 0 })), BENCH_PROCESS];
  let usage: Usage[] = [];
  const usageOut: Record<string, unknown> = {};
  const before = await etcdCounters(etcd.endpoints);
  const r = await drive(
    async (_c, n) => {
      await client.put(`/bench/${run}/${n}`).value(VALUE);
    },
    (start) => {
      if (start) usage = procs.map((p) => new Usage(p.pid));
      else for (const [i, u] of usage.entries()) usageOut[procs[i]?.name ?? "?"] = u.end();
    },
  );
  const after = await etcdCounters(etcd.endpoints);
  client.close();
  const total = r.ops + Math.round((r.ops / r.seconds) * (WARMUP_MS / 1000));
  return { stats: stats(r), usage: usageOut, etcdPerWrite: perWrite(before, after, total) };
}

function medianOf(runs: Measured[]): Record<string, unknown> {
  const pick = (f: (m: Measured) => number): number => median(runs.map(f));
  return {
    opsPerSec: pick((m) => m.stats.opsPerSec),
    p50Ms: pick((m) => m.stats.p50Ms),
    p99Ms: pick((m) => m.stats.p99Ms),
    errors: runs.reduce((n, m) => n + m.stats.errors, 0),
    runs,
  };
}

async function kv(servers: Server[], solo: Server, etcd: EtcdTestCluster): Promise<Record<string, unknown>> {
  const a: Measured[] = [];
  const lead: Measured[] = [];
  const b: Measured[] = [];
  const c: Measured[] = [];
  const g: Measured[] = [];
  const etcdProcs = etcd.members.map((m) => ({ name: m.name, pid: m.pid ?? 0 }));
  const gateways = etcd.endpoints.map((e) => e.replace(/^http:\/\//, ""));
  for (let r = 0; r < KV_RUNS; r++) {
    const leader = await agreedLeader(servers);
    const procs = [...servers.map((s) => ({ name: s === leader ? `${s.name} (leader)` : s.name, pid: s.pid })), ...etcdProcs, BENCH_PROCESS];
    a.push(await measureHttp(servers.map((s) => s.kvAddress), kvWrite(`etcd-${r}`), procs, etcd));
    progress(`kv run ${r + 1}/${KV_RUNS}: three servers on etcd ${JSON.stringify(a.at(-1)?.stats)}`);
    lead.push(await measureHttp([leader.kvAddress], kvWrite(`etcd-leader-${r}`), procs, etcd));
    progress(`kv run ${r + 1}/${KV_RUNS}: the leader alone on etcd ${JSON.stringify(lead.at(-1)?.stats)}`);
    b.push(await measureHttp([solo.kvAddress], kvWrite(`sqlite-${r}`), [{ name: solo.name, pid: solo.pid }, BENCH_PROCESS]));
    progress(`kv run ${r + 1}/${KV_RUNS}: one server on SQLite ${JSON.stringify(b.at(-1)?.stats)}`);
    c.push(await measureEtcd(etcd, `etcd-direct-${r}`));
    progress(`kv run ${r + 1}/${KV_RUNS}: etcd's own puts (etcd3, gRPC) ${JSON.stringify(c.at(-1)?.stats)}`);
    g.push(await measureHttp(gateways, etcdGatewayWrite(`etcd-gateway-${r}`), [...etcdProcs, BENCH_PROCESS], etcd));
    progress(`kv run ${r + 1}/${KV_RUNS}: etcd's own puts (HTTP/JSON gateway) ${JSON.stringify(g.at(-1)?.stats)}`);
  }
  const ra = medianOf(a);
  const rl = medianOf(lead);
  const rb = medianOf(b);
  const rc = medianOf(c);
  const rg = medianOf(g);
  // etcd's own rate: the better of its two clients, the stricter yardstick.
  const etcdRate = Math.max(rc.opsPerSec as number, rg.opsPerSec as number, 1);
  const ratio = round((ra.opsPerSec as number) / etcdRate, 3);
  return {
    concurrency: CONCURRENCY,
    valueBytes: VALUE_BYTES,
    seconds: KV_SECONDS,
    warmupMs: WARMUP_MS,
    runs: KV_RUNS,
    rucheOnEtcd: { how: `PUT /v1/kv/bench/<n> on the three servers (${kvApi.port} port), clients spread over the three`, ...ra },
    rucheOnEtcdLeaderOnly: { how: "the same, every client on the leader: no write forwarded (for finding where the time goes)", ...rl },
    rucheOnSqlite: { how: `PUT /v1/kv/bench/<n> on one server on embedded SQLite (${kvApi.port} port)`, ...rb },
    etcd: { how: "etcd3 client (gRPC) puts, the same concurrency and value size, over the same three members", ...rc },
    etcdGateway: { how: "POST /v3/kv/put on the members' HTTP/JSON gateway, the same HTTP clients as Ruche's side, spread over the three", ...rg },
    etcdOwnRate: etcdRate,
    ratioRucheOnEtcdToEtcd: ratio,
    ratioRucheOnEtcdLeaderOnlyToEtcd: round((rl.opsPerSec as number) / etcdRate, 3),
    ratioRucheOnSqliteToEtcd: round((rb.opsPerSec as number) / etcdRate, 3),
    goalRatio: KV_GOAL_RATIO,
    meetsGoal: ratio >= KV_GOAL_RATIO,
  };
}

// --- 3. placements -----------------------------------------------------------------

/** A service job of `count` allocations of the mock driver, each asking for `cpu` MHz. */
function jobHcl(name: string, count = ALLOCS, cpu = 20): string {
  return `job "${name}" {
  datacenters = ["dc1"]
  group "g" {
    count = ${count}
    task "t" {
      driver = "mock"
      resources {
        cpu    = ${cpu}
        memory = 16
      }
    }
  }
}
`;
}

/** A `ruche sim` process and the end of what it said (its status lines count failed calls by code). */
interface Sim {
  child: ChildProcess;
  tail: () => string;
}

/**
 * `ruche sim -nodes N -servers ...` until every node is ready. The nodes are counted from a
 * stale read of the first server's node list, every 500 ms (every 2 s from 10,000 nodes: the
 * list is megabytes long).
 */
async function startSim(servers: Server[], prefix: string, nodes = NODES, timeoutMs = 120_000): Promise<Sim> {
  const child = spawn(process.execPath, [MAIN, "sim", "-nodes", String(nodes), "-servers", servers.map((s) => s.address).join(","), "-name-prefix", prefix], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out = (out + c).slice(-16_384)));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (out = (out + c).slice(-16_384)));
  const first = servers[0] as Server;
  try {
    await until(
      `${nodes} simulated nodes ready`,
      async () => {
        if (child.exitCode !== null) return true;
        const list = (await getJson<{ Name: string; Status: string }[]>(first.address, "/v1/nodes?stale", 10_000)) ?? [];
        return list.filter((n) => n.Name.startsWith(`${prefix}-`) && n.Status === "ready").length === nodes;
      },
      timeoutMs,
      Math.max(500, nodes / 5),
    );
    if (child.exitCode !== null) throw new Error(`ruche sim exited (${child.exitCode})`);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nruche sim said:\n${out}`, { cause: err });
  }
  return { child, tail: () => out.split("\n").slice(-8).join("\n") };
}

interface PlaceSample {
  /** Whether every allocation ran within the timeout; when not, the times are -1 and `atTimeout` says where it stood. */
  ok: boolean;
  toAllPlacedS: number;
  toAllRunningS: number;
  placedPerSec: number;
  runningPerSec: number;
  /** The most simulated nodes seen not ready at once meanwhile (missed heartbeats), and the job's allocations lost with them. */
  nodesNotReadyMax: number;
  allocsLost: number;
  atTimeout?: Record<string, unknown>;
}

/** The leader's evaluation broker, from its /v1/metrics. */
async function brokerStats(servers: Server[]): Promise<Record<string, number>> {
  const leader = await agreedLeader(servers, 10_000).catch(() => undefined);
  if (leader === undefined) return {};
  const text = await (await fetch(`http://${leader.address}/v1/metrics`, { signal: AbortSignal.timeout(5000) })).text().catch(() => "");
  return Object.fromEntries([...text.matchAll(/^ruche_broker_evaluations\{state="(\w+)"\} (\d+)$/gm)].map((m) => [m[1] ?? "", Number(m[2])]));
}

/** The job a placement run sends and how it is watched: every 1 s for the nodes' health, every `pollMs` for the job's summary. */
interface PlaceShape {
  allocs: number;
  /** MHz per allocation: more than half a simulated node's CPU places one per node. */
  cpu: number;
  timeoutS: number;
  nodesEveryMs: number;
  pollMs: number;
}

const PLACE_SHAPE: PlaceShape = { allocs: ALLOCS, cpu: 20, timeoutS: PLACE_TIMEOUT_S, nodesEveryMs: 1000, pollMs: 100 };

async function placeOnce(via: Server, servers: Server[], name: string, prefix: string, shape = PLACE_SHAPE): Promise<PlaceSample> {
  const { allocs } = shape;
  const parsed = await parseJob(jobHcl(name, allocs, shape.cpu), { file: `${name}.hcl` });
  if (!parsed.ok) throw new Error(`the benchmark's job does not parse: ${JSON.stringify(parsed.diagnostics)}`);
  const api = new ApiClient(via.address);
  const t0 = performance.now();
  await api.register(parsed.job);
  let placedS = -1;
  let lost = 0;
  let last: Record<string, number> = {};
  let notReadyMax = 0;
  let notReady = 0;
  let watching = true;
  // The nodes' health meanwhile: a server too busy to take heartbeats marks nodes down.
  const nodeWatch = (async () => {
    while (watching) {
      const nodes = await getJson<{ Name: string; Status: string }[]>(via.address, "/v1/nodes?stale", 10_000);
      if (nodes !== undefined) notReady = nodes.filter((n) => n.Name.startsWith(`${prefix}-`) && n.Status !== "ready").length;
      notReadyMax = Math.max(notReadyMax, notReady);
      await sleep(shape.nodesEveryMs);
    }
  })();
  let ok = true;
  try {
    await until(
      `${allocs} allocations of ${name} running`,
      async () => {
        const s = await getJson<{ Summary: Record<string, Record<string, number>> }>(via.address, `/v1/job/${name}/summary`, 5000);
        const g = s?.Summary.g;
        if (g === undefined) return false;
        last = g;
        lost = g.Lost ?? 0;
        const placed = (g.Starting ?? 0) + (g.Running ?? 0) + (g.Complete ?? 0) + (g.Failed ?? 0);
        if (placedS < 0 && placed >= allocs) placedS = (performance.now() - t0) / 1000;
        return (g.Running ?? 0) >= allocs;
      },
      shape.timeoutS * 1000,
      shape.pollMs,
    );
  } catch {
    ok = false;
  } finally {
    watching = false;
    await nodeWatch;
  }
  if (!ok) {
    const atTimeout = { afterS: shape.timeoutS, summary: last, nodesNotReady: notReady, broker: await brokerStats(servers), toAllPlacedS: placedS < 0 ? -1 : round(placedS, 2) };
    return { ok, toAllPlacedS: -1, toAllRunningS: -1, placedPerSec: -1, runningPerSec: -1, nodesNotReadyMax: notReadyMax, allocsLost: lost, atTimeout };
  }
  const runningS = (performance.now() - t0) / 1000;
  if (placedS < 0) placedS = runningS;
  return { ok, toAllPlacedS: round(placedS, 2), toAllRunningS: round(runningS, 2), placedPerSec: round(allocs / placedS), runningPerSec: round(allocs / runningS), nodesNotReadyMax: notReadyMax, allocsLost: lost };
}

function placeSummary(samples: PlaceSample[]): Record<string, unknown> {
  const done = samples.filter((s) => s.ok);
  const m = (f: (s: PlaceSample) => number, d = 0): number => (done.length === 0 ? -1 : round(median(done.map(f)), d));
  return {
    runsDone: done.length,
    runsTimedOut: samples.length - done.length,
    toAllPlacedS: m((s) => s.toAllPlacedS, 2),
    toAllRunningS: m((s) => s.toAllRunningS, 2),
    placedPerSec: m((s) => s.placedPerSec),
    runningPerSec: m((s) => s.runningPerSec),
    nodesNotReadyMax: Math.max(0, ...samples.map((s) => s.nodesNotReadyMax)),
    allocsLost: samples.reduce((n, s) => n + s.allocsLost, 0),
    samples,
  };
}

async function placements(servers: Server[], solo: Server, etcd: EtcdTestCluster): Promise<Record<string, unknown>> {
  const leader = await agreedLeader(servers);
  const follower = servers.find((s) => s !== leader) as Server;
  const onEtcd: PlaceSample[] = [];
  const onSqlite: PlaceSample[] = [];
  // SQLite first: the etcd cluster's aftermath (its nodes going down once their process stops)
  // must not load the machine while the one server is measured.
  const simSqlite = await startSim([solo], "sim-sqlite");
  try {
    for (let r = 0; r < PLACE_RUNS; r++) {
      const sample = await placeOnce(solo, [solo], `place-sqlite-${r}`, "sim-sqlite");
      onSqlite.push(sample);
      progress(`placements ${r + 1}/${PLACE_RUNS} on SQLite: ${JSON.stringify(sample)}`);
      if (!sample.ok) break;
    }
  } finally {
    await stopChild(simSqlite.child, 20_000);
  }
  const simEtcd = await startSim(servers, "sim-etcd");
  const before = await etcdCounters(etcd.endpoints);
  let placedAllocs = 0;
  try {
    for (let r = 0; r < PLACE_RUNS; r++) {
      const sample = await placeOnce(follower, servers, `place-etcd-${r}`, "sim-etcd");
      onEtcd.push(sample);
      placedAllocs += ALLOCS;
      progress(`placements ${r + 1}/${PLACE_RUNS} on etcd: ${JSON.stringify(sample)}`);
      // A cluster that did not get there is not at rest: the next job would measure the backlog.
      if (!sample.ok) break;
    }
  } finally {
    await stopChild(simEtcd.child, 20_000);
  }
  // What the jobs cost etcd, per allocation: its clients' bytes (the servers' commits, reads
  // and watches) and its database's size at the end.
  const after = await etcdCounters(etcd.endpoints);
  const etcdPerAllocation = { ...perWrite(before, after, placedAllocs), dbMB: round(after.dbBytes / 1048576) };
  return {
    nodes: NODES,
    allocations: ALLOCS,
    runs: PLACE_RUNS,
    how: "ruche sim -nodes N against the servers; a service job of the mock driver registered through a follower's API (SQLite: the one server); each run a new job beside the earlier ones",
    rucheOnEtcd: { ...placeSummary(onEtcd), etcdPerAllocation },
    rucheOnSqlite: placeSummary(onSqlite),
  };
}

// --- 4. scale ----------------------------------------------------------------------

/** The files a process holds open (its sockets among them): how the nodes' watches spread over the servers. */
function openFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** The usage of every process in `procs` over the time `f` takes, by name. */
async function usageDuring<T>(procs: { name: string; pid: number }[], f: () => Promise<T>): Promise<{ value: T; usage: Record<string, ReturnType<Usage["end"]>> }> {
  const usage = procs.map((p) => new Usage(p.pid));
  try {
    const value = await f();
    return { value, usage: Object.fromEntries(usage.map((u, i) => [procs[i]?.name ?? "?", u.end()])) };
  } finally {
    for (const u of usage) u.end();
  }
}

/**
 * N simulated nodes against `servers` (three on etcd, or one on SQLite): the time until all
 * are ready; each server's CPU and RSS while the nodes only heartbeat and watch their
 * allocations (SCALE_WINDOW_S, 5 s after the last was ready); then a job of N allocations,
 * one per node, registered through `via`, to all running, each server's CPU and RSS
 * meanwhile. The goals are the leader's CPU in the quiet window and every server's peak RSS.
 */
async function scaleSide(servers: Server[], via: Server, etcd: EtcdTestCluster | undefined): Promise<Record<string, unknown>> {
  const prefix = "scale";
  const t0 = performance.now();
  const reg = await usageDuring(
    servers.map((s) => ({ name: s.name, pid: s.pid })),
    () => startSim(servers, prefix, SCALE_NODES, SCALE_TIMEOUT_S * 1000),
  );
  const sim = reg.value;
  const registerS = (performance.now() - t0) / 1000;
  progress(`scale: ${SCALE_NODES} nodes ready on ${servers.map((s) => s.name).join(", ")} after ${round(registerS, 1)} s`);
  try {
    await sleep(5000);
    const leader = await agreedLeader(servers);
    const procs = [...servers.map((s) => ({ name: s.name, pid: s.pid })), ...(etcd?.members.map((m) => ({ name: m.name, pid: m.pid ?? 0 })) ?? []), { name: "ruche sim", pid: sim.child.pid ?? 0 }];
    const steady = await usageDuring(procs, async () => {
      await sleep(SCALE_WINDOW_S * 1000);
      return Object.fromEntries(servers.map((s) => [s.name, openFiles(s.pid)]));
    });
    const listed = (await getJson<{ Name: string; Status: string }[]>(via.address, "/v1/nodes?stale", 10_000)) ?? [];
    const notReadyAfterWindow = listed.filter((n) => n.Name.startsWith(`${prefix}-`) && n.Status !== "ready").length;
    progress(`scale: quiet window done: ${JSON.stringify(steady.usage)}`);
    // Who leads meanwhile, as `via` sees it every second: a leader too busy to renew its lease loses it.
    const j0 = performance.now();
    const leaders: { atS: number; leader: string }[] = [{ atS: 0, leader: leader.name }];
    let watching = true;
    const leaderWatch = (async () => {
      while (watching) {
        const now = await leaderSeenBy(via, 2000);
        const name = servers.find((s) => s.address === now)?.name ?? (now === "" ? "none" : now);
        if (name !== leaders.at(-1)?.leader) leaders.push({ atS: round((performance.now() - j0) / 1000, 1), leader: name });
        await sleep(1000);
      }
    })();
    const job = await usageDuring(procs, () => placeOnce(via, servers, "scale", prefix, { allocs: SCALE_NODES, cpu: 2500, timeoutS: SCALE_TIMEOUT_S, nodesEveryMs: 5000, pollMs: 250 })).finally(() => {
      watching = false;
    });
    await leaderWatch;
    progress(`scale: job run: ${JSON.stringify(job.value)}; leaders: ${JSON.stringify(leaders)}`);
    const leaderAfter = await agreedLeader(servers, 30_000).catch(() => undefined);
    const perServer = Object.fromEntries(
      servers.map((s) => [
        s.name,
        {
          leader: s === leader,
          register: { cpuCores: reg.usage[s.name]?.cpuCores },
          quiet: { ...steady.usage[s.name], openFiles: steady.value[s.name] },
          jobRun: job.usage[s.name],
          peakRssMBEver: rssMB(s.pid, "VmHWM"),
        },
      ]),
    );
    const others = (u: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(u).filter(([k]) => !servers.some((s) => s.name === k)));
    const leaderCpu = steady.usage[leader.name]?.cpuCores ?? -1;
    const peakRss = Math.max(...servers.map((s) => rssMB(s.pid, "VmHWM")));
    return {
      leader: leader.name,
      leaderAfterJob: leaderAfter?.name ?? "none agreed",
      leadersDuringJob: leaders,
      jobSentTo: via.name,
      register: { toAllReadyS: round(registerS, 1), cpuCoresAll: round(Object.values(reg.usage).reduce((n, u) => n + u.cpuCores, 0), 2) },
      toAllRunningS: job.value.toAllRunningS,
      jobRun: job.value,
      servers: perServer,
      quietOthers: others(steady.usage),
      jobRunOthers: others(job.usage),
      nodesNotReadyAfterWindow: notReadyAfterWindow,
      simSaid: sim.tail(),
      // What went wrong, in the servers' own words (they log at warn).
      ...(job.value.ok && leaders.length === 1 ? {} : { serverLogs: Object.fromEntries(servers.map((s) => [s.name, s.tail()])) }),
      goals: {
        leaderCpuCoresQuiet: { goal: `< ${SCALE_LEADER_CPU_GOAL}`, value: leaderCpu, met: leaderCpu >= 0 && leaderCpu < SCALE_LEADER_CPU_GOAL },
        peakRssMB: { goal: `< ${SCALE_RSS_GOAL_MB}`, value: peakRss, met: peakRss < SCALE_RSS_GOAL_MB },
        allRunning: { goal: `within ${SCALE_TIMEOUT_S} s`, met: job.value.ok },
      },
    };
  } finally {
    await stopChild(sim.child, 20_000);
  }
}

/**
 * The scale part: three fresh servers on a fresh three-member etcd, then (unless --no-solo)
 * one fresh server on SQLite, each alone on the machine with its own `ruche sim`. The
 * servers run with -http-max-conns-per-client 0: on one machine every process connects from
 * 127.0.0.1 (the fleet's shared pools, the followers' forwarding), where a real fleet and
 * real servers each have an address of their own.
 */
async function scale(dir: string, rigs: Rig[]): Promise<Record<string, unknown>> {
  const noLimit = ["-http-max-conns-per-client", "0"];
  const out: Record<string, unknown> = {
    nodes: SCALE_NODES,
    quietWindowS: SCALE_WINDOW_S,
    how: "ruche sim -nodes N -servers a,b,c (its own process; the nodes spread over the servers); CPU (utime+stime) and RSS of each server while the nodes only heartbeat and hold their allocation watches, then a job of N allocations of the mock driver, one per node, registered through a follower, to all running",
  };
  const three = await startRig(join(dir, "scale-etcd"), { etcd: true, solo: false, extraArgs: noLimit }, rigs);
  const leader = await agreedLeader(three.servers);
  try {
    out.threeServersOnEtcd = await scaleSide(three.servers, three.servers.find((s) => s !== leader) as Server, three.etcd);
  } finally {
    await three.stop();
  }
  if (SCALE_SOLO) {
    const one = await startRig(join(dir, "scale-solo"), { etcd: false, solo: true, extraArgs: noLimit }, rigs);
    try {
      out.oneServerOnSqlite = await scaleSide(one.all, one.all[0] as Server, undefined);
    } finally {
      await one.stop();
    }
  }
  return out;
}

// --- the run -----------------------------------------------------------------------

/** Servers started together: three on a three-member etcd and/or one on SQLite. */
class Rig {
  etcd: EtcdTestCluster | undefined;
  readonly servers: Server[] = [];
  solo: Server | undefined;

  get all(): Server[] {
    return this.solo === undefined ? [...this.servers] : [...this.servers, this.solo];
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((s) => s.stop()));
    await this.etcd?.stop();
    this.etcd = undefined;
  }
}

/**
 * Starts a rig under `dir` and resolves once every server takes writes; it is in `rigs`
 * from the start, so that the caller stops whatever was started should this fail.
 */
async function startRig(dir: string, o: { etcd: boolean; solo: boolean; extraArgs?: string[] }, rigs: Rig[]): Promise<Rig> {
  const rig = new Rig();
  rigs.push(rig);
  mkdirSync(dir, { recursive: true });
  if (o.etcd) {
    progress("starting a three-member etcd");
    rig.etcd = await startEtcd({ members: 3 });
    for (let i = 0; i < 3; i++) {
      const d = join(dir, `s${i}`);
      mkdirSync(d);
      rig.servers.push(new Server(`s${i}`, await freePort(), await freePort(), d, rig.etcd.endpoints, o.extraArgs));
    }
  }
  if (o.solo) {
    const d = join(dir, "solo");
    mkdirSync(d);
    rig.solo = new Server("solo", await freePort(), await freePort(), d, [], o.extraArgs);
  }
  for (const s of rig.all) s.start();
  progress(`waiting for ${rig.all.map((s) => s.name).join(", ")}`);
  try {
    if (rig.servers.length > 0) {
      const leader = await agreedLeader(rig.servers);
      await chooseKvApi(rig.servers.find((s) => s !== leader) as Server);
    }
    if (rig.solo !== undefined) await agreedLeader([rig.solo]);
    for (const s of rig.all) await until(`${s.name} to take writes`, () => kvWriteOk(s.kvAddress, `bench/ready-${s.name}`), 30_000);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${rig.all.map((s) => `--- ${s.name}:\n${s.tail()}`).join("\n")}`, { cause: err });
  }
  return rig;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "ruche-bench-cluster-"));
  if (CPU_PROF !== undefined) mkdirSync(CPU_PROF, { recursive: true });
  const rigs: Rig[] = [];
  const result: Record<string, unknown> = {
    benchmark: "cluster",
    node: process.version,
    cores: cpus().length,
    etcdVersion: /etcd Version: (\S+)/.exec(execFileSync("etcd", ["--version"], { encoding: "utf8" }))?.[1] ?? "?",
    quick: QUICK,
    loadAverageAtStart: loadavg().map((x) => round(x, 1)),
  };
  // A part that fails is reported as such; the others still run.
  const part = async (name: string, key: string, what: string, f: () => Promise<Record<string, unknown>>): Promise<void> => {
    if (!ONLY.has(name)) return;
    progress(what);
    try {
      result[key] = await f();
    } catch (err) {
      progress(`${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      result[key] = { error: err instanceof Error ? err.message : String(err), servers: Object.fromEntries(rigs.flatMap((r) => r.all).map((s) => [s.name, s.tail()])) };
    }
  };
  try {
    if (ONLY.has("failover") || ONLY.has("kv") || ONLY.has("place")) {
      const rig = await startRig(dir, { etcd: true, solo: true }, rigs);
      result.kvApi = kvApi;
      const { servers } = rig;
      const solo = rig.solo as Server;
      const cluster = rig.etcd as EtcdTestCluster;
      await part("failover", "failover", `failover: ${KILLS} kills of the leader`, () => failover(servers));
      await part("kv", "kv", `kv: ${KV_RUNS} runs of ${KV_SECONDS} s, ${CONCURRENCY} clients, ${VALUE_BYTES}-byte values`, () => kv(servers, solo, cluster));
      await part("place", "placements", `placements: ${NODES} simulated nodes, ${PLACE_RUNS} jobs of ${ALLOCS} allocations`, () => placements(servers, solo, cluster));
      // The scale part starts servers of its own: these would only load the machine.
      await rig.stop();
    }
    await part("scale", "scale", `scale: ${SCALE_NODES} simulated nodes against three servers on etcd${SCALE_SOLO ? ", then against one on SQLite" : ""}`, () => scale(dir, rigs));
  } finally {
    await Promise.all(rigs.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
  result.loadAverageAtEnd = loadavg().map((x) => round(x, 1));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

await main();
