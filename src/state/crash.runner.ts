/**
 * The child process of crash.test.ts (not part of Ruche): opens the SQLite backend in the
 * given data dir and writes as fast as it can from 16 concurrent writers. Each transaction
 * puts an allocation and its evaluation, which must both exist or both not. Prints "ready"
 * once open, then "<index> <id>" for every acknowledged write, until it is killed.
 *
 *   node --import tsx src/state/crash.runner.ts <dataDir> <round>
 */
import { mock } from "../structs/index.js";
import { sqliteBackend, StateStore } from "./index.js";

const [dir, round] = process.argv.slice(2);
if (dir === undefined || round === undefined) throw new Error("usage: crash.runner.ts <dataDir> <round>");

const store = await StateStore.open(sqliteBackend(dir));
process.stdout.write(`ready ${store.index}\n`);

const job = mock.job({ id: "crash" });
const node = mock.node({ id: "crash-node" });
let seq = 0;

async function writer(): Promise<never> {
  for (;;) {
    const n = seq++;
    const id = `r${round}-${n}`;
    const { index } = await store.write((tx) => {
      tx.put("allocs", mock.alloc(job, node, n, { ID: `a-${id}`, EvalID: `e-${id}` }));
      tx.put("evals", mock.evaluation(job, { ID: `e-${id}` }));
    });
    // A pipe is written synchronously on Linux: once this returns, the line is the parent's.
    process.stdout.write(`${index} ${id}\n`);
  }
}

await Promise.all(Array.from({ length: 16 }, writer));
