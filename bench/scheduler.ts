/**
 * Scheduler benchmark: placements per second, time per evaluation, peak memory and
 * packing efficiency on simulated clusters. Prints one JSON document.
 *
 *   npm run bench:scheduler                 all scenarios
 *   npm run bench:scheduler -- --quick      smaller clusters, for a smoke run
 */
import { mock, type Allocation, type Job, type Node } from "../src/structs/index.js";
import { MemoryView, schedule, SchedulerMemo, seededRng } from "../src/scheduler/index.js";

const quick = process.argv.includes("--quick");
const runsArg = process.argv.indexOf("--runs");
/** Each scenario runs this many times; the run with the median figure is reported (the machine is shared and noisy). */
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : quick ? 1 : 5;

function medianRun<T>(f: () => T, key: (t: T) => number): T & { runs: number[] } {
  const results = Array.from({ length: RUNS }, f);
  const sorted = [...results].sort((a, b) => key(a) - key(b));
  const mid = sorted[Math.floor(sorted.length / 2)] as T;
  return { ...mid, runs: results.map(key) };
}
const NOW = 1_700_000_000_000;

/** Nodes of mixed sizes, as a real fleet has: 4–32 cores at 2–3 GHz, 8–128 GB. */
function cluster(n: number, seed: string): Node[] {
  const rng = seededRng(seed);
  const shapes = [
    { cores: 4, mem: 8192 },
    { cores: 8, mem: 16384 },
    { cores: 16, mem: 32768 },
    { cores: 16, mem: 65536 },
    { cores: 32, mem: 131072 },
  ];
  return Array.from({ length: n }, (_, i) => {
    const s = shapes[rng.int(shapes.length)]!;
    return mock.node({ id: `node-${seed}-${i}`, name: `n${i}`, cpu: s.cores * 2500, memory: s.mem, datacenter: "dc1", meta: { rack: `r${i % 40}` } });
  });
}

function placedOf(r: ReturnType<typeof schedule>): Allocation[] {
  return Object.values(r.plan.NodeAllocation).flat();
}

function heapMB(): number {
  return Math.round(process.memoryUsage().heapUsed / 1024 / 1024);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

function round(x: number, d = 1): number {
  return Math.round(x * 10 ** d) / 10 ** d;
}

/** One job of a huge count, placed in one evaluation. */
function bigJob(nodes: number, count: number) {
  const ns = cluster(nodes, "big");
  const job = mock.job({ id: "big", count, cpu: 100, memory: 128 });
  const view = new MemoryView({ nodes: ns, jobs: [job] });
  const heap0 = heapMB();
  const t0 = performance.now();
  const r = schedule(mock.evaluation(job, { ID: "eval-big" }), view, NOW);
  const ms = performance.now() - t0;
  const placed = placedOf(r).length;
  return { nodes, count, placed, failed: count - placed, evalMs: round(ms), placementsPerSec: Math.round(placed / (ms / 1000)), heapGrowthMB: heapMB() - heap0 };
}

/**
 * Many jobs, each its own evaluation, the plan of each applied before the next.
 * `placementsPerSec` is the scheduler's: placements over the time spent in evaluations.
 * `withApplyPerSec` adds the time this harness spends applying each plan to its view,
 * which in the server is the plan applier's (and the state store's) work.
 */
function manyJobs(nodes: number, jobs: number, count: number) {
  const ns = cluster(nodes, "many");
  const rng = seededRng("sizes");
  const list: Job[] = Array.from({ length: jobs }, (_, i) => mock.job({ id: `job-${i}`, count, cpu: 50 + rng.int(4) * 50, memory: 64 + rng.int(4) * 64, ports: i % 4 === 0 ? ["http"] : [] }));
  const view = new MemoryView({ nodes: ns, jobs: list });
  // Kept across evaluations, as the server's worker keeps one.
  const memo = new SchedulerMemo();
  const times: number[] = [];
  let placed = 0;
  let peak = heapMB();
  const t0 = performance.now();
  for (const job of list) {
    const s = performance.now();
    const r = schedule(mock.evaluation(job, { ID: `eval-${job.ID}` }), view, NOW, memo);
    times.push(performance.now() - s);
    for (const a of placedOf(r)) {
      view.addAlloc({ ...a, ClientStatus: "running" });
      placed++;
    }
    peak = Math.max(peak, heapMB());
  }
  const total = performance.now() - t0;
  const scheduling = times.reduce((a, b) => a + b, 0);
  return {
    nodes,
    jobs,
    countPerJob: count,
    placed,
    placementsPerSec: Math.round(placed / (scheduling / 1000)),
    withApplyPerSec: Math.round(placed / (total / 1000)),
    evalP50Ms: round(percentile(times, 50), 2),
    evalP99Ms: round(percentile(times, 99), 2),
    peakHeapMB: peak,
  };
}

/** Cost per placement as the cluster grows: it should stay about flat. */
function curve(sizes: number[], placements: number) {
  return sizes.map((n) => {
    const ns = cluster(n, `curve-${n}`);
    const job = mock.job({ id: `curve-${n}`, count: placements, cpu: 20, memory: 32 });
    const view = new MemoryView({ nodes: ns, jobs: [job] });
    const t0 = performance.now();
    const r = schedule(mock.evaluation(job, { ID: `eval-curve-${n}` }), view, NOW);
    const ms = performance.now() - t0;
    return { nodes: n, placements: placedOf(r).length, usPerPlacement: round((ms * 1000) / placements, 2) };
  });
}

interface Item {
  cpu: number;
  mem: number;
}

/**
 * Packing: jobs of random sizes arrive one by one and are placed with binpack until the
 * first placement fails; the cluster's fill then is compared with first-fit-decreasing,
 * offline, on the same stream of tasks (it sorts them, biggest first, and skips what does
 * not fit). Fill is the mean of the cpu and memory fractions in use.
 */
function packing(nodes: number) {
  const ns = cluster(nodes, "pack");
  const cap = ns.reduce((a, n) => ({ cpu: a.cpu + n.Resources.CPU, mem: a.mem + n.Resources.MemoryMB }), { cpu: 0, mem: 0 });
  const rng = seededRng("pack-items");
  const view = new MemoryView({ nodes: ns });
  const stream: Item[] = [];
  const used = { cpu: 0, mem: 0 };
  let jobs = 0;
  for (;;) {
    const size = { cpu: 100 * (1 + rng.int(40)), mem: 128 * (1 + rng.int(48)) };
    const count = 1 + rng.int(10);
    const job = mock.job({ id: `pack-${jobs++}`, count, cpu: size.cpu, memory: size.mem });
    for (let i = 0; i < count; i++) stream.push(size);
    const r = schedule(mock.evaluation(job, { ID: `eval-pack-${jobs}` }), new MemoryView({ nodes: ns, allocs: [...allAllocs(view)], jobs: [job] }), NOW);
    for (const a of placedOf(r)) {
      view.addAlloc({ ...a, ClientStatus: "running" });
      used.cpu += a.Resources.CPU;
      used.mem += a.Resources.MemoryMB;
    }
    if (Object.keys(r.failed).length > 0) break;
  }
  // A few more arrivals, so FFD has the stream that overflows the cluster to choose from.
  for (let i = 0; i < stream.length / 4; i++) stream.push({ cpu: 100 * (1 + rng.int(40)), mem: 128 * (1 + rng.int(48)) });
  const ffd = firstFitDecreasing(ns, stream);
  const fill = (u: { cpu: number; mem: number }): number => (u.cpu / cap.cpu + u.mem / cap.mem) / 2;
  return {
    nodes,
    jobsBeforeFirstFailure: jobs - 1,
    binpackFill: round(fill(used) * 100),
    ffdFill: round(fill(ffd) * 100),
    efficiency: round((fill(used) / fill(ffd)) * 100),
  };
}

function allAllocs(view: MemoryView): Allocation[] {
  return view.nodes().flatMap((n) => [...view.allocsByNode(n.ID)]);
}

function firstFitDecreasing(nodes: Node[], items: Item[]): { cpu: number; mem: number } {
  const free = nodes.map((n) => ({ cpu: n.Resources.CPU, mem: n.Resources.MemoryMB }));
  const maxCpu = Math.max(...free.map((f) => f.cpu));
  const maxMem = Math.max(...free.map((f) => f.mem));
  const sorted = [...items].sort((a, b) => Math.max(b.cpu / maxCpu, b.mem / maxMem) - Math.max(a.cpu / maxCpu, a.mem / maxMem));
  const used = { cpu: 0, mem: 0 };
  for (const it of sorted) {
    const f = free.find((x) => x.cpu >= it.cpu && x.mem >= it.mem);
    if (f === undefined) continue;
    f.cpu -= it.cpu;
    f.mem -= it.mem;
    used.cpu += it.cpu;
    used.mem += it.mem;
  }
  return used;
}

const t0 = performance.now();
const out = {
  benchmark: "scheduler",
  node: process.version,
  quick,
  runsPerScenario: RUNS,
  singleLargeJob: medianRun(() => bigJob(quick ? 500 : 5000, quick ? 10_000 : 100_000), (r) => r.placementsPerSec),
  manyJobs: medianRun(() => manyJobs(quick ? 500 : 5000, quick ? 100 : 1000, 100), (r) => r.placementsPerSec),
  costCurve: (quick ? [500, 2000] : [500, 5000, 20000]).map((n) => medianRun(() => curve([n], quick ? 5000 : 20_000)[0]!, (r) => r.usPerPlacement)),
  packing: packing(quick ? 50 : 200),
  peakRssMB: Math.round(process.memoryUsage().rss / 1024 / 1024),
  totalSeconds: 0,
};
out.totalSeconds = round((performance.now() - t0) / 1000);
console.log(JSON.stringify(out, null, 2));
