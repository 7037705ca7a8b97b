import { mock } from "../src/structs/index.js";
import { MemoryView, schedule, seededRng } from "../src/scheduler/index.js";
const rng = seededRng("big");
const shapes = [{ cores: 4, mem: 8192 }, { cores: 8, mem: 16384 }, { cores: 16, mem: 32768 }, { cores: 16, mem: 65536 }, { cores: 32, mem: 131072 }];
const ns = Array.from({ length: 5000 }, (_, i) => { const s = shapes[rng.int(shapes.length)]!; return mock.node({ id: `node-big-${i}`, name: `n${i}`, cpu: s.cores * 2500, memory: s.mem, datacenter: "dc1", meta: { rack: `r${i % 40}` } }); });
const out: number[] = [];
for (let k = 0; k < 5; k++) {
  const job = mock.job({ id: "big", count: 100000, cpu: 100, memory: 128 });
  const view = new MemoryView({ nodes: ns, jobs: [job] });
  const t0 = performance.now();
  schedule(mock.evaluation(job, { ID: "eval-big" }), view, 1_700_000_000_000);
  out.push(Math.round(performance.now() - t0));
}
console.log(process.cwd(), JSON.stringify(out), "rss", Math.round(process.memoryUsage().rss / 1e6));
