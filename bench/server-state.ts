/**
 * State store benchmark: durable writes per second through the store on the embedded SQLite
 * backend, with 1 and with 64 concurrent writers (each write one allocation, embedded job
 * and all, acknowledged only once on disk), the median of 3 runs each. Beside it, in the same
 * run, a plain better-sqlite3 loop doing one INSERT per transaction with synchronous=FULL,
 * which is what one fsync per write costs on this disk; and the store on the memory backend,
 * which is what the store itself costs. Prints one JSON document.
 *
 *   npm run bench:state                  3 runs of 2 s each
 *   npm run bench:state -- --quick       1 run of 0.5 s each
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { memoryBackend, sqliteBackend, StateStore, type Backend } from "../src/state/index.js";
import { mock, type Allocation } from "../src/structs/index.js";

const quick = process.argv.includes("--quick");
const RUNS = quick ? 1 : 3;
const SECONDS = quick ? 0.5 : 2;

const job = mock.job({ id: "bench", count: 100, ports: ["http"] });
const node = mock.node({ id: "bench-node" });
const template: Allocation = mock.alloc(job, node, 0);
const ROW_BYTES = JSON.stringify(template).length;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}
function round(x: number, d = 0): number {
  return Math.round(x * 10 ** d) / 10 ** d;
}

function tempDir(): { dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), "ruche-bench-state-"));
  return { dir, done: () => { rmSync(dir, { recursive: true, force: true }); } };
}

interface StoreRun {
  writesPerSec: number;
  commits: number;
  writesPerCommit: number;
  latencyMs: { p50: number; p99: number };
}

/** `writers` loops, each writing one allocation per transaction until the time is up. */
async function storeRun(backend: Backend, writers: number): Promise<StoreRun> {
  let commits = 0;
  const counting: Backend = {
    load: () => backend.load(),
    commit: (b) => {
      commits++;
      return backend.commit(b);
    },
    close: () => backend.close(),
  };
  const store = await StateStore.open(counting);
  // Warm up: the worker thread, the statements, the JIT.
  for (let i = 0; i < 50; i++) await store.write((tx) => { tx.put("allocs", { ...template, ID: `warm-${i}`, Name: `bench.web[${i}]` }); });
  commits = 0;
  const latencies: number[] = [];
  let writes = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; performance.now() < deadline; i++) {
      const t0 = performance.now();
      await store.write((tx) => { tx.put("allocs", { ...template, ID: `a-${w}-${i}`, Name: `bench.web[${i}]` }); });
      latencies.push(performance.now() - t0);
      writes++;
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, w) => loop(w)));
  const elapsed = (performance.now() - start) / 1000;
  await store.close();
  return {
    writesPerSec: round(writes / elapsed),
    commits,
    writesPerCommit: round(writes / commits, 1),
    latencyMs: { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2) },
  };
}

/** better-sqlite3 alone: the same row, one INSERT per transaction, WAL and synchronous=FULL. */
function plainSqliteRun(dir: string): { writesPerSec: number } {
  const db = new Database(join(dir, "plain.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE kv (tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tbl, key))");
  const insert = db.prepare<[string, string, string]>("INSERT INTO kv (tbl, key, value) VALUES (?, ?, ?)");
  const one = db.transaction((key: string, value: string) => insert.run("allocs", key, value));
  let writes = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  while (performance.now() < deadline) {
    one(`a-${writes}`, JSON.stringify({ ...template, ID: `a-${writes}` }));
    writes++;
  }
  const elapsed = (performance.now() - start) / 1000;
  db.close();
  return { writesPerSec: round(writes / elapsed) };
}

async function medianOf<T extends { writesPerSec: number }>(f: () => Promise<T>): Promise<T & { runs: number[] }> {
  const results: T[] = [];
  for (let i = 0; i < RUNS; i++) results.push(await f());
  const mid = median(results.map((r) => r.writesPerSec));
  const chosen = results.find((r) => r.writesPerSec === mid) as T;
  return { ...chosen, runs: results.map((r) => r.writesPerSec) };
}

async function onSqlite(writers: number): Promise<StoreRun> {
  const t = tempDir();
  try {
    return await storeRun(sqliteBackend(t.dir), writers);
  } finally {
    t.done();
  }
}

const sqlite1 = await medianOf(() => onSqlite(1));
const sqlite64 = await medianOf(() => onSqlite(64));
const plain = await medianOf(() => {
  const t = tempDir();
  try {
    return Promise.resolve(plainSqliteRun(t.dir));
  } finally {
    t.done();
  }
});
const memory64 = await medianOf(() => storeRun(memoryBackend(), 64));

console.log(
  JSON.stringify(
    {
      benchmark: "server-state",
      node: process.version,
      runs: RUNS,
      secondsPerRun: SECONDS,
      rowBytes: ROW_BYTES,
      durableWritesPerSec: {
        store_sqlite_1_writer: sqlite1,
        store_sqlite_64_writers: sqlite64,
        plain_better_sqlite3_one_insert_per_txn: plain,
      },
      notDurable: { store_memory_64_writers: memory64 },
      target: { store_sqlite_64_writers: 10_000, met: sqlite64.writesPerSec >= 10_000 },
    },
    null,
    2,
  ),
);
