/**
 * etcd API benchmark: Ruche's etcd v3 API (a `-dev` agent's `-etcd-port`) beside a real
 * single-node etcd (Debian's /usr/bin/etcd, src/state/etcd-testing.ts), started in the same
 * run on free ports of 127.0.0.1, each with its data in a temporary directory on the same
 * filesystem, and driven by the same client: npm `etcd3` over gRPC, N clients (one Etcd3
 * each, each on its own HTTP/2 connection), no retries (a failed call fails the benchmark).
 *
 * 1. put: the N clients put small values (128 bytes) at 1,000 keys in turn for S seconds.
 * 2. get: the same for single-key ranges of those keys (each answer must hold the value).
 * 3. prefix: ranges of a prefix that holds 1,000 keys (each answer must hold all of them).
 * 4. watch: every client watches one key; a separate client puts it, E times one after the
 *    other; the time from a put being sent to each watcher's event (N deliveries per put).
 *
 * Round after round (5 by default), each operation on one target then the other, the order
 * alternating, so that a noisy moment of the machine falls on both; ops/s, p50 and p99 are
 * the medians over the rounds, every round's ops/s kept. Besides: each server's CPU
 * (cores, utime + stime) during each measurement, the benchmark's own, and each server's
 * RSS (VmRSS, and VmHWM, the most it held) before and after the load. Prints one JSON
 * document on stdout; progress on stderr.
 *
 *   npm run bench:etcd                        5 rounds of 2 s per operation, 16 clients
 *   npm run bench:etcd -- --quick             2 rounds of 0.5 s, 20 watch puts
 *   npm run bench:etcd -- --rounds 3 --seconds 5 --clients 64 --value-bytes 1024 --keys 10000
 *                         --prefix-keys 5000 --watch-puts 200
 *   npm run bench:etcd -- --dist              the agent from dist/ (after npm run build)
 *                                             rather than from the sources through tsx
 *
 * Needs Debian's etcd-server (scripts/bench-deps.sh installs it): without it, the benchmark
 * fails saying so, it never reports Ruche alone.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { noop } from "cockatiel";
import { Etcd3, type Watcher } from "etcd3";
import { ETCD_BINARY } from "../src/state/etcd-process.js";
import { startEtcd, type EtcdTestCluster } from "../src/state/etcd-testing.js";
import { freePort, stopChild } from "./child.js";
import { cpuSeconds, median, percentile, round, rssMB, sleep } from "./numbers.js";

// --- flags --------------------------------------------------------------------------

const argv = process.argv.slice(2);
const KNOWN = new Set(["--quick", "--dist", "--rounds", "--seconds", "--clients", "--value-bytes", "--keys", "--prefix-keys", "--watch-puts"]);
for (const a of argv) {
  if (a.startsWith("--") && !KNOWN.has(a)) throw new Error(`bench:etcd: unknown flag ${a} (known: ${[...KNOWN].join(", ")})`);
}
const QUICK = argv.includes("--quick");
const DIST = argv.includes("--dist");
function numberFlag(name: string, fallback: number, min: number, integer = true): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const raw = argv[i + 1];
  const n = Number(raw);
  if (raw === undefined || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new Error(`bench:etcd: ${name} takes a${integer ? " whole" : ""} number ≥ ${min}, not ${raw ?? "nothing"}`);
  }
  return n;
}
const ROUNDS = numberFlag("--rounds", QUICK ? 2 : 5, 1);
const SECONDS = numberFlag("--seconds", QUICK ? 0.5 : 2, 0.1, false);
const CLIENTS = numberFlag("--clients", 16, 1);
const VALUE_BYTES = numberFlag("--value-bytes", 128, 1);
const KEYS = numberFlag("--keys", 1000, 1);
const PREFIX_KEYS = numberFlag("--prefix-keys", 1000, 1);
const WATCH_PUTS = numberFlag("--watch-puts", QUICK ? 20 : 100, 1);
/** How long a watcher may take to hear of a put before the benchmark fails. */
const WATCH_TIMEOUT_MS = 10_000;

const progress = (msg: string): void => {
  process.stderr.write(`bench:etcd: ${msg}\n`);
};

// --- numbers ------------------------------------------------------------------------


// --- the two targets ------------------------------------------------------------------


/** One etcd API under test: its clients, and the process that serves it. */
interface Target {
  name: "ruche" | "etcd";
  pid: number;
  /** The N clients, each on its own connection. */
  clients: Etcd3[];
  /** The client that puts the watched key. */
  writer: Etcd3;
}

/** A client on its own HTTP/2 connection (gRPC shares one between channels to the same address unless told not to), calls tried once. */
function client(endpoint: string): Etcd3 {
  return new Etcd3({
    hosts: endpoint,
    dialTimeout: 10_000,
    grpcOptions: { "grpc.use_local_subchannel_pool": 1 },
    faultHandling: { host: () => noop, global: noop },
  });
}

function target(name: Target["name"], pid: number, endpoint: string): Target {
  return { name, pid, clients: Array.from({ length: CLIENTS }, () => client(endpoint)), writer: client(endpoint) };
}

function closeTarget(t: Target): void {
  for (const c of [...t.clients, t.writer]) c.close();
}

/** The dev agent, with its state in `dataDir` and its etcd API on a free port; from the sources through tsx, or from dist/ with --dist. */
async function startRuche(dataDir: string): Promise<{ child: ChildProcess; endpoint: string }> {
  if (DIST && !existsSync("dist/etcd/proto/rpc.proto")) throw new Error("bench:etcd --dist: dist/ has no etcd API (dist/etcd/proto); run npm run build first");
  const main = DIST ? ["dist/cli/main.js"] : ["--import", "tsx", "src/cli/main.ts"];
  const etcdPort = await freePort();
  const child = spawn(process.execPath, [...main, "agent", "-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1", "-etcd-port", String(etcdPort), "-data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const onData = (c: string): void => {
    out = (out + c).slice(-65_536);
  };
  child.stdout.setEncoding("utf8").on("data", onData);
  child.stderr.setEncoding("utf8").on("data", onData);
  // The addresses are printed before the data dir: once it is there, they are too.
  const printed = (): RegExpExecArray | null => /^ {4}etcd: +(https?):\/\/(\S+)[\s\S]*^ {4}Data dir:/m.exec(out);
  for (const deadline = performance.now() + 60_000; printed() === null; ) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the Ruche agent exited (${child.exitCode ?? child.signalCode ?? "?"}) before it was ready:\n${out}`);
    if (performance.now() > deadline) {
      await stopChild(child, 5000);
      throw new Error(`the Ruche agent did not print its etcd address within 60 s:\n${out}`);
    }
    await sleep(100);
  }
  const [, scheme, address] = printed() ?? [];
  if (address !== `127.0.0.1:${etcdPort}` || scheme !== "http") {
    await stopChild(child, 5000);
    throw new Error(`the Ruche agent serves etcd's API on ${scheme ?? "?"}://${address ?? "?"}, not http://127.0.0.1:${etcdPort} as asked:\n${out}`);
  }
  return { child, endpoint: `http://${address}` };
}

function etcdVersion(): string {
  try {
    return /etcd Version: (\S+)/.exec(execFileSync(ETCD_BINARY, ["--version"], { encoding: "utf8" }))?.[1] ?? "?";
  } catch (err) {
    throw new Error(`bench:etcd needs a real etcd to compare with, and ${ETCD_BINARY} does not run (${err instanceof Error ? err.message : String(err)}): install Debian's etcd-server (sh scripts/bench-deps.sh)`, { cause: err });
  }
}

// --- the operations ---------------------------------------------------------------------

const keyOf = (i: number): string => `bench/key-${String(i % KEYS).padStart(6, "0")}`;
const PREFIX = "bench/prefix/";
const prefixKeyOf = (i: number): string => `${PREFIX}${String(i).padStart(6, "0")}`;
const WATCH_KEY = "bench/watched";

interface Run {
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The server's CPU over the run, in cores. */
  serverCpuCores: number;
  /** The benchmark's own CPU (its clients), in cores: near 1, the client may be the limit. */
  clientCpuCores: number;
}

/** Measures `body` (which returns every latency it saw) with the target's CPU and ours. */
async function measured(t: Target, body: () => Promise<number[]>): Promise<Run> {
  const cpu0 = cpuSeconds(t.pid);
  const own0 = process.cpuUsage();
  const start = performance.now();
  const latencies = await body();
  const seconds = (performance.now() - start) / 1000;
  const own = process.cpuUsage(own0);
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    opsPerSec: round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    serverCpuCores: round((cpuSeconds(t.pid) - cpu0) / seconds, 2),
    clientCpuCores: round((own.user + own.system) / 1e6 / seconds, 2),
  };
}

/** Every client doing `op` (with a growing counter) until `seconds` are up; the latency of each call. */
async function closedLoop(t: Target, seconds: number, op: (c: Etcd3, i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    t.clients.map(async (c, n) => {
      for (let i = n; performance.now() < deadline; i += t.clients.length) {
        const t0 = performance.now();
        await op(c, i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies;
}

const value = Buffer.alloc(VALUE_BYTES, 0x61);

const OPS = {
  put: (t: Target, seconds: number) =>
    closedLoop(t, seconds, async (c, i) => {
      await c.put(keyOf(i)).value(value).exec();
    }),
  get: (t: Target, seconds: number) =>
    closedLoop(t, seconds, async (c, i) => {
      const v = await c.get(keyOf(i)).buffer();
      // An empty answer would be a cheaper, wrong measurement.
      if (v?.length !== VALUE_BYTES) throw new Error(`${t.name}: get ${keyOf(i)} answered ${v === null ? "no value" : `${v.length} bytes`}, not the ${VALUE_BYTES} put`);
    }),
  prefix: (t: Target, seconds: number) =>
    closedLoop(t, seconds, async (c) => {
      const r = await c.getAll().prefix(PREFIX).exec();
      if (r.kvs.length !== PREFIX_KEYS) throw new Error(`${t.name}: the range of prefix ${PREFIX} answered ${r.kvs.length} keys, not ${PREFIX_KEYS}`);
    }),
} as const;
type Op = keyof typeof OPS | "watch";
const OP_NAMES: Op[] = ["put", "get", "prefix", "watch"];

/** Puts every key once (so that gets find a value), and the prefix's keys; `CLIENTS` in flight. */
async function fill(t: Target): Promise<void> {
  const keys = [...Array.from({ length: KEYS }, (_, i) => keyOf(i)), ...Array.from({ length: PREFIX_KEYS }, (_, i) => prefixKeyOf(i))];
  await Promise.all(
    t.clients.map(async (c, n) => {
      for (let i = n; i < keys.length; i += t.clients.length) await c.put(keys[i]!).value(value).exec();
    }),
  );
}

/** Every client's watch of WATCH_KEY, and what each put is waiting for. */
interface Watches {
  watchers: Watcher[];
  /** Per watcher, the put (its sequence number) it waits to hear of, and what to call then. */
  waiting: Map<number, { seq: number; heard: (at: number) => void }>;
  seq: number;
  failure: Error | undefined;
}

async function watch(t: Target): Promise<Watches> {
  const w: Watches = { watchers: [], waiting: new Map(), seq: 0, failure: undefined };
  for (const [n, c] of t.clients.entries()) {
    const watcher = await c.watch().key(WATCH_KEY).create();
    watcher.on("put", (kv) => {
      const at = performance.now();
      const seq = Number(kv.value.toString("utf8"));
      const pending = w.waiting.get(n);
      if (pending !== undefined && seq === pending.seq) {
        w.waiting.delete(n);
        pending.heard(at);
      }
    });
    watcher.on("error", (err: Error) => {
      w.failure = new Error(`${t.name}: watcher ${n} failed: ${err.message}`, { cause: err });
    });
    w.watchers.push(watcher);
  }
  return w;
}

/** `puts` puts of WATCH_KEY one after the other, each once every watcher heard of the last; the latency of each delivery. */
async function watchRound(t: Target, w: Watches, puts: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let p = 0; p < puts; p++) {
    if (w.failure !== undefined) throw w.failure;
    const seq = ++w.seq;
    let sentAt = 0;
    const heard = Promise.all(
      w.watchers.map(
        (_, n) =>
          new Promise<void>((resolve) => {
            w.waiting.set(n, {
              seq,
              heard: (at) => {
                latencies.push(at - sentAt);
                resolve();
              },
            });
          }),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${t.name}: ${w.waiting.size} of ${w.watchers.length} watchers had not heard of put ${seq} of ${WATCH_KEY} after ${WATCH_TIMEOUT_MS} ms`));
      }, WATCH_TIMEOUT_MS);
    });
    sentAt = performance.now();
    try {
      await Promise.race([Promise.all([t.writer.put(WATCH_KEY).value(String(seq)).exec(), heard]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  return latencies;
}

// --- the run --------------------------------------------------------------------------

interface Figure {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuCores: number;
  clientCpuCores: number;
  /** Every round's ops/s, in order. */
  rounds: number[];
}

function figure(runs: Run[]): Figure {
  return {
    opsPerSec: median(runs.map((r) => r.opsPerSec)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    serverCpuCores: median(runs.map((r) => r.serverCpuCores)),
    clientCpuCores: median(runs.map((r) => r.clientCpuCores)),
    rounds: runs.map((r) => r.opsPerSec),
  };
}

function memory(pid: number): { rssMB: number; peakRssMB: number } {
  return { rssMB: rssMB(pid, "VmRSS", 1), peakRssMB: rssMB(pid, "VmHWM", 1) };
}

function gitCommit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return "?";
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  const version = etcdVersion();
  const home = mkdtempSync(join(tmpdir(), "ruche-bench-etcd-"));
  const result: Record<string, unknown> = {
    benchmark: "etcd",
    node: process.version,
    etcdVersion: version,
    rucheBuild: `${gitCommit()}, ${DIST ? "dist/ (npm run build)" : "the sources through tsx"}`,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    loadAverageAtStart: loadavg().map((x) => round(x, 1)),
    rounds: ROUNDS,
    secondsPerRun: SECONDS,
    clients: CLIENTS,
    valueBytes: VALUE_BYTES,
    keys: KEYS,
    prefixKeys: PREFIX_KEYS,
    watchPutsPerRound: WATCH_PUTS,
  };
  let etcd: EtcdTestCluster | undefined;
  let ruche: ChildProcess | undefined;
  const targets: Target[] = [];
  const watches = new Map<Target, Watches>();
  try {
    progress(`starting etcd ${version} and the Ruche agent (data in ${home} and etcd's own temporary directory)`);
    etcd = await startEtcd({ members: 1, extraArgs: ["--log-level", "warn"] });
    const etcdMember = etcd.members[0]!;
    mkdirSync(join(home, "ruche"));
    const r = await startRuche(join(home, "ruche"));
    ruche = r.child;
    progress(`etcd on ${etcdMember.clientURL} (pid ${etcdMember.pid}), Ruche's etcd API on ${r.endpoint} (pid ${ruche.pid})`);
    targets.push(target("ruche", ruche.pid!, r.endpoint), target("etcd", etcdMember.pid!, etcdMember.clientURL));
    const idle = Object.fromEntries(targets.map((t) => [t.name, memory(t.pid)]));

    progress(`filling ${KEYS} keys and ${PREFIX_KEYS} under ${PREFIX} on each, then a warm-up`);
    for (const t of targets) {
      await fill(t);
      watches.set(t, await watch(t));
      for (const op of ["put", "get", "prefix"] as const) await OPS[op](t, Math.min(SECONDS, 0.5));
      await watchRound(t, watches.get(t)!, 5);
    }

    const runs = new Map<string, Run[]>();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const op of OP_NAMES) {
        for (const t of order) {
          const run = await measured(t, () => (op === "watch" ? watchRound(t, watches.get(t)!, WATCH_PUTS) : OPS[op](t, SECONDS)));
          runs.set(`${t.name}/${op}`, [...(runs.get(`${t.name}/${op}`) ?? []), run]);
          progress(`round ${round + 1}/${ROUNDS} ${t.name} ${op}: ${run.opsPerSec} ops/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms (server ${run.serverCpuCores} cores, clients ${run.clientCpuCores})`);
        }
      }
    }
    const afterLoad = Object.fromEntries(targets.map((t) => [t.name, memory(t.pid)]));

    const figures = Object.fromEntries(targets.map((t) => [t.name, Object.fromEntries(OP_NAMES.map((op) => [op, figure(runs.get(`${t.name}/${op}`) ?? [])]))]));
    const ruchePerEtcd = Object.fromEntries(
      OP_NAMES.map((op) => {
        const a = figures.ruche?.[op];
        const b = figures.etcd?.[op];
        return [op, { opsPerSec: b === undefined || a === undefined || b.opsPerSec === 0 ? null : round(a.opsPerSec / b.opsPerSec, 2) }];
      }),
    );
    Object.assign(result, {
      how: {
        client: `npm etcd3 over gRPC, the same for both: ${CLIENTS} clients (one Etcd3 each, each on its own HTTP/2 connection), calls tried once`,
        put: `each client puts ${VALUE_BYTES}-byte values at ${KEYS} keys in turn, one call in flight per client, for ${SECONDS} s`,
        get: `the same with single-key ranges of those keys, each answer checked to hold the value`,
        prefix: `ranges of a prefix holding ${PREFIX_KEYS} keys of ${VALUE_BYTES} bytes, each answer checked to hold them all`,
        watch: `each client watches one key; another client puts it ${WATCH_PUTS} times, each once every watcher heard of the last; latency from the put being sent to each watcher's event, ops/s the events delivered per second`,
        durability: {
          ruche: "dev agent with -data-dir: SQLite WAL, synchronous=FULL, each write acknowledged once fsynced (group commit)",
          etcd: "single-node raft WAL, fsynced before each batch is acknowledged",
        },
        medians: "each figure is the median of the rounds' figures; a round runs every operation on both targets, the order alternating from round to round",
      },
      ruche: { ...figures.ruche, memory: { idle: idle.ruche, afterLoad: afterLoad.ruche } },
      etcd: { ...figures.etcd, memory: { idle: idle.etcd, afterLoad: afterLoad.etcd } },
      ruchePerEtcd,
    });
  } finally {
    // A watch whose client closes under it would try to connect again, and keep this process alive.
    for (const w of watches.values()) await Promise.race([Promise.all(w.watchers.map((x) => x.cancel())), sleep(2000)]);
    for (const t of targets) closeTarget(t);
    if (ruche !== undefined) await stopChild(ruche, 10_000);
    await etcd?.stop();
    rmSync(home, { recursive: true, force: true });
  }
  result.loadAverageAtEnd = loadavg().map((x) => round(x, 1));
  result.seconds = round((performance.now() - began) / 1000);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

await main();
