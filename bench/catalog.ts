/**
 * Catalog and KV benchmark: Ruche's Consul-compatible KV and blocking queries beside a
 * real single-node etcd, in the same run, on the same machine, through the same HTTP
 * client (node:http, keep-alive). Both keep their data durably in a temporary directory
 * on the same filesystem: Ruche in SQLite (WAL, synchronous=FULL, group commit), etcd in
 * its WAL (fsync per batch).
 *
 * 1. KV puts/s and gets/s with 1 and with 64 concurrent clients, 128-byte and 4 KiB
 *    values, over a set of 1,000 keys: `PUT`/`GET /v1/kv/<key>` on Ruche, `POST
 *    /v3/kv/put`/`/v3/kv/range` on etcd's HTTP/JSON gateway. Ops/s, p50, p99.
 * 2. Watch: 1,000 blocking queries (`/v1/health/service/<name>?index=N&wait=60s&passing`)
 *    wait on one service, whose TTL check then passes (`/v1/agent/check/pass/<id>`); for
 *    every watcher, the time from the pass request being sent to its answer with the
 *    passing instance. Beside it, 1,000 etcd watches (`/v3/watch` streams) on one key:
 *    the time from a put being sent to each watcher's event.
 *
 * Each measurement is repeated and the medians reported: the machine is shared. Needs
 * etcd (scripts/bench-deps.sh) and a built Ruche (npm run build). Prints one JSON
 * document on stdout; progress on stderr.
 *
 *   npm run bench:catalog                  5 runs of 1.5 s per KV case, 5 watch rounds
 *   npm run bench:catalog -- --quick       1 run of 0.5 s per KV case, 2 watch rounds
 *   npm run bench:catalog -- --only watch  only the watch part (or --only kv)
 *   npm run bench:catalog -- --cpu-prof DIR   the agent writes a CPU profile to DIR
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { freePort, stopChild } from "./child.js";
import { median, percentile, round, sleep } from "./numbers.js";

const quick = process.argv.includes("--quick");
const RUNS = quick ? 1 : 5;
const SECONDS = quick ? 0.5 : 1.5;
const WATCH_ROUNDS = quick ? 2 : 5;
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const ONLY = arg("--only");
const CPU_PROF = arg("--cpu-prof");
const WATCHERS = 1000;
const KEYS = 1000;
const CONCURRENCY = [1, 64] as const;
const VALUE_BYTES = [128, 4096] as const;
const TARGET_WATCH_P99_MS = 50;

const progress = (msg: string): void => {
  process.stderr.write(`bench:catalog: ${msg}\n`);
};

// --- numbers -----------------------------------------------------------------------

const round1 = (x: number): number => round(x, 1);

// --- one HTTP client for both sides ------------------------------------------------

interface Target {
  host: string;
  port: number;
  agent: Agent;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Keeps every connection it opened: one per concurrent client, as that many separate clients would. */
function target(address: string, maxSockets: number): Target {
  const [host, port] = splitAddress(address);
  return { host, port, agent: new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets }) };
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(":");
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

function call(t: Target, method: string, path: string, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: t.host, port: t.port, agent: t.agent, method, path, headers: body === undefined ? {} : { "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function ok(t: Target, method: string, path: string, body?: Buffer | string): Promise<Answer> {
  const a = await call(t, method, path, body);
  if (a.status !== 200) throw new Error(`${method} ${path}: ${a.status} ${a.body.toString("utf8").slice(0, 300)}`);
  return a;
}

// --- the systems under test ---------------------------------------------------------


interface Running {
  child: ChildProcess;
  /** host:port of the HTTP API the benchmark talks to. */
  address: string;
}

/** Reads the child's stdout and stderr to the end, so it never blocks on a full pipe; keeps the last 64 KiB. */
function captureOutput(child: ChildProcess): () => string {
  let out = "";
  const onData = (c: string): void => {
    out = (out + c).slice(-65_536);
  };
  child.stdout?.setEncoding("utf8").on("data", onData);
  child.stderr?.setEncoding("utf8").on("data", onData);
  return () => out;
}

/** Polls `ready` every 100 ms until it is true; throws with the child's output if it exits first or takes 30 s. */
async function waitReady(child: ChildProcess, what: string, ready: () => Promise<boolean> | boolean): Promise<void> {
  const output = captureOutput(child);
  for (const deadline = performance.now() + 30_000; ; ) {
    if (await ready()) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode ?? "?"}) before it was ready:\n${output()}`);
    if (performance.now() > deadline) throw new Error(`${what} was not ready within 30 s:\n${output()}`);
    await sleep(100);
  }
}

/** The dev agent, built (dist/), with its state in `dataDir`; answers with its Consul address. */
async function startRuche(dataDir: string): Promise<Running> {
  const prof = CPU_PROF === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", CPU_PROF];
  // 1,000 watchers from this one address: the per-client connection limit (default 100) is lifted.
  const child = spawn(process.execPath, [...prof, "dist/cli/main.js", "agent", "-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1", "-http-max-conns-per-client", "0", "-data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => {
    stdout += c;
  });
  // The addresses are printed before the data dir: once it is there, they are too.
  const printed = (): RegExpExecArray | null => /^ {4}Consul: +http:\/\/(\S+)[\s\S]*^ {4}Data dir:/m.exec(stdout);
  await waitReady(child, "the Ruche agent", () => printed() !== null);
  return { child, address: printed()?.[1] ?? "" };
}

/** A single-node etcd on free ports of 127.0.0.1 with its data in `dataDir`. */
async function startEtcd(dataDir: string): Promise<Running & { version: string }> {
  const client = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const version = /etcd Version: (\S+)/.exec(execFileSync("etcd", ["--version"], { encoding: "utf8" }))?.[1] ?? "?";
  const child = spawn(
    "etcd",
    [
      "--name", "bench",
      "--data-dir", dataDir,
      "--listen-client-urls", client,
      "--advertise-client-urls", client,
      "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `bench=${peer}`,
      "--logger", "zap",
      "--log-outputs", "stderr",
      "--log-level", "warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const address = client.slice("http://".length);
  const t = target(address, 1);
  await waitReady(child, "etcd", async () => {
    const health = await call(t, "GET", "/health").catch(() => undefined);
    return health?.status === 200 && health.body.includes('"true"');
  });
  t.agent.destroy();
  return { child, address, version };
}

const stop = (child: ChildProcess): Promise<void> => stopChild(child, 10_000);

// --- KV -----------------------------------------------------------------------------

/** One system's KV, as the benchmark drives it. */
interface KvSide {
  name: "ruche" | "etcd";
  put(t: Target, key: string, value: Buffer): Promise<void>;
  get(t: Target, key: string): Promise<void>;
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString("base64");

const rucheKv: KvSide = {
  name: "ruche",
  put: async (t, key, value) => {
    const a = await ok(t, "PUT", `/v1/kv/${key}`, value);
    if (a.body.toString("utf8") !== "true") throw new Error(`PUT /v1/kv/${key}: ${a.body.toString("utf8")}`);
  },
  get: async (t, key) => {
    await ok(t, "GET", `/v1/kv/${key}`);
  },
};

const etcdKv: KvSide = {
  name: "etcd",
  put: async (t, key, value) => {
    await ok(t, "POST", "/v3/kv/put", JSON.stringify({ key: b64(key), value: value.toString("base64") }));
  },
  get: async (t, key) => {
    const a = await ok(t, "POST", "/v3/kv/range", JSON.stringify({ key: b64(key) }));
    // The answer must hold the value: an empty range would be a cheaper, wrong measurement.
    if (!a.body.includes('"kvs"')) throw new Error(`range ${key}: no value: ${a.body.toString("utf8").slice(0, 200)}`);
  },
};

const keyOf = (i: number): string => `bench/key-${String(i % KEYS).padStart(4, "0")}`;

interface KvRun {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** `clients` loops doing `op` on keys in turn until the time is up. */
async function kvRun(side: KvSide, t: Target, op: "put" | "get", clients: number, value: Buffer, seconds: number): Promise<KvRun> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const loop = async (c: number): Promise<void> => {
    for (let i = c; performance.now() < deadline; i += clients) {
      const t0 = performance.now();
      if (op === "put") await side.put(t, keyOf(i), value);
      else await side.get(t, keyOf(i));
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => loop(c)));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { opsPerSec: round(latencies.length / elapsed), p50Ms: round(percentile(latencies, 50), 2), p99Ms: round(percentile(latencies, 99), 2) };
}

interface KvCase {
  op: "put" | "get";
  clients: number;
  valueBytes: number;
}

interface KvFigure extends KvRun {
  runs: number[];
}

/**
 * Every case on both systems, run after run, the two systems in turn within a run so that
 * a noisy moment of the machine falls on both; the median of each figure over the runs.
 */
async function kvBench(sides: { side: KvSide; t: Target }[]): Promise<Record<string, Record<string, KvFigure>>> {
  const cases: KvCase[] = VALUE_BYTES.flatMap((valueBytes) => (["put", "get"] as const).flatMap((op) => CONCURRENCY.map((clients) => ({ op, clients, valueBytes }))));
  const name = (c: KvCase): string => `${c.op}_${c.clients}_clients_${c.valueBytes}B`;
  const results = new Map<string, KvRun[]>();
  for (const { side, t } of sides) {
    // Every key holds a value before gets are measured; then a warm-up of each path.
    await fill(side, t, Buffer.alloc(128, 0x61));
    await kvRun(side, t, "put", 64, Buffer.alloc(128, 0x61), 0.5);
    await kvRun(side, t, "get", 64, Buffer.alloc(128, 0x61), 0.5);
  }
  for (let run = 0; run < RUNS; run++) {
    for (const c of cases) {
      const value = Buffer.alloc(c.valueBytes, 0x61 + (run % 26));
      for (const { side, t } of run % 2 === 0 ? sides : [...sides].reverse()) {
        // Gets read values of this size: write them first, outside the measurement.
        if (c.op === "get") await fill(side, t, value);
        const r = await kvRun(side, t, c.op, c.clients, value, SECONDS);
        progress(`run ${run + 1}/${RUNS} ${side.name} ${name(c)}: ${r.opsPerSec} ops/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`);
        const k = `${side.name}/${name(c)}`;
        results.set(k, [...(results.get(k) ?? []), r]);
      }
    }
  }
  const out: Record<string, Record<string, KvFigure>> = {};
  for (const { side } of sides) {
    out[side.name] = {};
    for (const c of cases) {
      const runs = results.get(`${side.name}/${name(c)}`) ?? [];
      (out[side.name] as Record<string, KvFigure>)[name(c)] = {
        opsPerSec: median(runs.map((r) => r.opsPerSec)),
        p50Ms: median(runs.map((r) => r.p50Ms)),
        p99Ms: median(runs.map((r) => r.p99Ms)),
        runs: runs.map((r) => r.opsPerSec),
      };
    }
  }
  return out;
}

async function fill(side: KvSide, t: Target, value: Buffer): Promise<void> {
  await Promise.all(Array.from({ length: 64 }, async (_, c) => {
    for (let i = c; i < KEYS; i += 64) await side.put(t, keyOf(i), value);
  }));
}

// --- watch --------------------------------------------------------------------------

interface WatchFigure {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  watchers: number;
  rounds: { p50Ms: number; p99Ms: number; maxMs: number }[];
}

function watchFigure(rounds: number[][]): WatchFigure {
  const per = rounds.map((r) => {
    const s = [...r].sort((a, b) => a - b);
    return { p50Ms: round1(percentile(s, 50)), p99Ms: round1(percentile(s, 99)), maxMs: round1(s.at(-1) ?? 0) };
  });
  return {
    p50Ms: median(per.map((r) => r.p50Ms)),
    p99Ms: median(per.map((r) => r.p99Ms)),
    maxMs: median(per.map((r) => r.maxMs)),
    watchers: WATCHERS,
    rounds: per,
  };
}

/** 1,000 watchers of one thing: a round changes it and answers each watcher's time to hear of it. */
interface WatchSide {
  name: string;
  round(): Promise<number[]>;
  close(): Promise<void>;
}

/**
 * Ruche: one service with a TTL check, critical; each round, 1,000 blocking queries for its
 * passing instances, then the check passes. A watcher answered before that, or without the
 * instance (the catalog moved for another reason), asks again at the new index, as a Consul
 * client does: its time is that of the answer that holds the passing instance.
 */
async function rucheWatchers(address: string): Promise<WatchSide & { answerBytes(): number }> {
  const t = target(address, WATCHERS);
  const control = target(address, 4);
  const service = "bench-watch";
  const checkId = `service:${service}`;
  await ok(control, "PUT", "/v1/agent/service/register", JSON.stringify({ Name: service, ID: service, Port: 8080, Check: { CheckID: checkId, TTL: "10m" } }));
  let answerBytes = 0;
  return {
    name: "ruche",
    answerBytes: () => answerBytes,
    round: async () => {
      await ok(control, "PUT", `/v1/agent/check/fail/${checkId}`);
      const first = await ok(control, "GET", `/v1/health/service/${service}?passing`);
      if (first.body.toString("utf8") !== "[]") throw new Error(`the service passes before its check does: ${first.body.toString("utf8").slice(0, 200)}`);
      let sentAt = Number.POSITIVE_INFINITY;
      const watcher = async (): Promise<number> => {
        let index = String(first.headers["x-consul-index"]);
        for (;;) {
          const a = await ok(t, "GET", `/v1/health/service/${service}?index=${index}&wait=60s&passing`);
          const at = performance.now();
          if (at >= sentAt && a.body.length > 2) {
            answerBytes = a.body.length + Object.entries(a.headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 20);
            return at - sentAt;
          }
          index = String(a.headers["x-consul-index"]);
        }
      };
      const waiting = Array.from({ length: WATCHERS }, watcher);
      // Every request sent and read by the agent before the check passes.
      await sleep(1500);
      sentAt = performance.now();
      await ok(control, "PUT", `/v1/agent/check/pass/${checkId}`);
      return Promise.all(waiting);
    },
    close: () => {
      t.agent.destroy();
      control.agent.destroy();
      return Promise.resolve();
    },
  };
}

/**
 * etcd: 1,000 watch streams on one key (`POST /v3/watch`, each on its own connection, as
 * the gateway serves one watch per request), each ready once etcd said it was created;
 * each round, a put to the key; each watcher's time is from the put being sent to its
 * event arriving.
 */
async function etcdWatchers(address: string): Promise<WatchSide> {
  const [host, port] = splitAddress(address);
  const control = target(address, 4);
  const key = b64("bench/watch");
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  let sentAt = 0;
  let rounds = 0;
  const pending: ((ms: number) => void)[] = [];
  const streams = await Promise.all(
    Array.from({ length: WATCHERS }, (_, w) =>
      new Promise<{ abort(): void }>((resolve, reject) => {
        const req = request({ host, port, agent, method: "POST", path: "/v3/watch" }, (res) => {
          let buf = "";
          res.setEncoding("utf8").on("data", (c: string) => {
            buf += c;
            for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              const msg = JSON.parse(line) as { result?: { created?: boolean; events?: unknown[] } };
              if (msg.result?.created === true) resolve({ abort: () => req.destroy() });
              else if ((msg.result?.events?.length ?? 0) > 0) pending[w]?.(performance.now() - sentAt);
            }
          });
        });
        req.on("error", (err) => {
          if (!req.destroyed) reject(err);
        });
        req.write(JSON.stringify({ create_request: { key } }));
      }),
    ),
  );
  return {
    name: "etcd",
    round: async () => {
      await sleep(500);
      const times = Promise.all(Array.from({ length: WATCHERS }, (_, w) => new Promise<number>((resolve) => { pending[w] = resolve; })));
      sentAt = performance.now();
      await ok(control, "POST", "/v3/kv/put", JSON.stringify({ key, value: b64(`round-${rounds++}`) }));
      return times;
    },
    close: () => {
      for (const s of streams) s.abort();
      agent.destroy();
      control.agent.destroy();
      return Promise.resolve();
    },
  };
}

/** The writer of `floorWatchers`: a net server that, at each line on stdin, writes N bytes to every connection. */
const FLOOR_WRITER = `
import { createServer } from "node:net";
const sockets = [];
const server = createServer((s) => { s.setNoDelay(true); sockets.push(s); });
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
let buf = "";
process.stdin.setEncoding("utf8").on("data", (c) => {
  buf += c;
  for (let nl = buf.indexOf("\\n"); nl >= 0; nl = buf.indexOf("\\n")) {
    const bytes = Buffer.alloc(Number(buf.slice(0, nl)), 0x61);
    buf = buf.slice(nl + 1);
    for (const s of sockets) s.write(bytes);
  }
});
`;

/**
 * What this machine allows, whatever serves the watchers: one Node thread writing `bytes`
 * (Ruche's answer, headers and body) to each of 1,000 loopback connections, which this
 * process reads; the time from asking to each connection having it all. No HTTP, no state:
 * the floor under any single-threaded server's wake of 1,000 watchers here.
 */
async function floorWatchers(bytes: number): Promise<WatchSide> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", FLOOR_WRITER], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding("utf8").once("data", (c: string) => {
      resolve(Number(c.trim()));
    });
    child.once("exit", (code) => {
      reject(new Error(`the floor writer exited (${code ?? "?"})`));
    });
  });
  let sentAt = 0;
  const pending: ((ms: number) => void)[] = [];
  const sockets = await Promise.all(
    Array.from({ length: WATCHERS }, (_, w) =>
      new Promise<Socket>((resolve, reject) => {
        let got = 0;
        const s = connect(port, "127.0.0.1", () => {
          resolve(s);
        });
        s.on("error", reject);
        s.on("data", (c: Buffer) => {
          got += c.length;
          if (got < bytes) return;
          got = 0;
          pending[w]?.(performance.now() - sentAt);
        });
      }),
    ),
  );
  return {
    name: "transportFloor",
    round: async () => {
      await sleep(500);
      const times = Promise.all(Array.from({ length: WATCHERS }, (_, w) => new Promise<number>((resolve) => { pending[w] = resolve; })));
      sentAt = performance.now();
      child.stdin.write(`${bytes}\n`);
      return times;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await stop(child);
    },
  };
}

/**
 * Round after round, each side in turn (the order alternating), so that a noisy moment of
 * the machine falls on all of them; each side's first round warms it up and is not counted.
 */
async function watchBench(sides: WatchSide[]): Promise<Record<string, WatchFigure>> {
  const rounds = new Map<string, number[][]>(sides.map((s) => [s.name, []]));
  for (const side of sides) await side.round();
  for (let r = 0; r < WATCH_ROUNDS; r++) {
    for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
      const times = await side.round();
      rounds.get(side.name)?.push(times);
      const s = [...times].sort((a, b) => a - b);
      progress(`watch round ${r + 1}/${WATCH_ROUNDS} ${side.name}: p50 ${round1(percentile(s, 50))} ms, p99 ${round1(percentile(s, 99))} ms, max ${round1(s.at(-1) ?? 0)} ms`);
      await sleep(300);
    }
  }
  return Object.fromEntries([...rounds].map(([name, r]) => [name, watchFigure(r)]));
}

// --- the run ------------------------------------------------------------------------

const home = mkdtempSync(join(tmpdir(), "ruche-bench-catalog-"));
const running: ChildProcess[] = [];
try {
  progress(`starting etcd and the Ruche agent (data in ${home})`);
  const etcd = await startEtcd(join(home, "etcd"));
  running.push(etcd.child);
  const ruche = await startRuche(join(home, "ruche"));
  running.push(ruche.child);
  progress(`etcd ${etcd.version} on ${etcd.address}, Ruche's Consul API on ${ruche.address}`);

  const kv =
    ONLY === "watch"
      ? {}
      : await kvBench([
          { side: rucheKv, t: target(ruche.address, 64) },
          { side: etcdKv, t: target(etcd.address, 64) },
        ]);
  const watch: Record<string, WatchFigure> = {};
  let answerBytes = 0;
  if (ONLY !== "kv") {
    const sides: WatchSide[] = [];
    try {
      const watchers = await rucheWatchers(ruche.address);
      sides.push(watchers);
      // One round first: the floor writes as many bytes as Ruche's answer.
      await watchers.round();
      answerBytes = watchers.answerBytes();
      sides.push(await etcdWatchers(etcd.address), await floorWatchers(answerBytes));
      Object.assign(watch, await watchBench(sides));
    } finally {
      for (const s of sides) await s.close();
    }
  }
  const watchRuche = watch.ruche ?? watchFigure([]);
  const r = kv.ruche ?? {};
  const e = kv.etcd ?? {};
  const behind = Object.keys(r).filter((k) => (r[k]?.opsPerSec ?? 0) < (e[k]?.opsPerSec ?? 0));
  console.log(
    JSON.stringify(
      {
        benchmark: "catalog",
        node: process.version,
        etcd: etcd.version,
        cpus: cpus().length,
        runs: RUNS,
        secondsPerRun: SECONDS,
        keys: KEYS,
        client: "node:http, keep-alive, one connection per concurrent client; the same for both systems",
        durability: {
          ruche: "SQLite WAL, synchronous=FULL: each write acknowledged once fsynced (group commit)",
          etcd: "single-node raft WAL, fsynced before each batch is acknowledged",
          dataDirs: `one temporary directory on the same filesystem (${filesystemOf(home)})`,
        },
        kv: {
          how: {
            ruche: "PUT/GET /v1/kv/<key> (Consul API)",
            etcd: "POST /v3/kv/put, /v3/kv/range (v3 HTTP/JSON gateway, which hands each request to etcd's gRPC server in the same process: etcd's own gRPC clients skip that step)",
          },
          ruche: r,
          etcd: e,
        },
        watch: {
          how: {
            ruche: `${WATCHERS} blocking queries GET /v1/health/service/<name>?index=N&wait=60s&passing; time from PUT /v1/agent/check/pass being sent to each answer holding the instance`,
            etcd: `${WATCHERS} POST /v3/watch streams on one key; time from POST /v3/kv/put being sent to each watcher's event`,
          },
          ruche: { ...watchRuche, answerBytes },
          etcd: watch.etcd ?? watchFigure([]),
          transportFloor: { how: "one Node thread writing as many bytes as Ruche's answer (headers and body) to each of 1,000 loopback connections, read by this process; no HTTP, no state", ...(watch.transportFloor ?? watchFigure([])) },
        },
        targets: {
          kvAtLeastEtcd: { met: ONLY === "watch" ? null : behind.length === 0, behind },
          watchP99UnderMs: { target: TARGET_WATCH_P99_MS, p99Ms: watchRuche.p99Ms, met: ONLY === "kv" ? null : watchRuche.p99Ms < TARGET_WATCH_P99_MS },
        },
      },
      null,
      2,
    ),
  );
} finally {
  for (const c of running.reverse()) await stop(c);
  rmSync(home, { recursive: true, force: true });
}

function filesystemOf(dir: string): string {
  try {
    return execFileSync("df", ["--output=fstype", dir], { encoding: "utf8" }).trim().split("\n").at(-1) ?? "?";
  } catch {
    return "?";
  }
}
