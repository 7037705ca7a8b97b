import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";
import { CommitRefused } from "./commit-refused.js";
import { prepareDataDir, storageProblem } from "./data-dir.js";
import { isTableName } from "./rows.js";
import type { WorkerReply, WorkerRequest } from "./sqlite-worker.js";
import type { Backend, TableName } from "./types.js";

/** Distributes `Omit` over a union, so each request keeps its own fields. */
type Body<T> = T extends unknown ? Omit<T, "id"> : never;

/**
 * The embedded backend: `<dataDir>/state.db`, SQLite in WAL mode with synchronous=FULL, so a
 * commit is on the disk when it resolves and a `kill -9` loses nothing acknowledged. One
 * table `kv(tbl, key, value)` of JSON rows and one `meta(name, value)` holding the index;
 * each batch is one SQLite transaction. SQLite runs in a worker thread (see sqlite-worker.ts).
 */
export function sqliteBackend(dataDir: string): Backend {
  const file = join(dataDir, "state.db");
  const calls = new Map<number, { resolve: (r: WorkerReply & { ok: true }) => void; reject: (err: Error) => void }>();
  let worker: Worker | null = null;
  let broken: Error | null = null;
  let seq = 0;

  const fail = (err: Error): void => {
    broken ??= err;
    for (const c of calls.values()) c.reject(err);
    calls.clear();
  };

  const start = (): Worker => {
    const w = spawnWorker(file);
    w.on("message", (reply: WorkerReply) => {
      const c = calls.get(reply.id);
      if (c === undefined) return;
      calls.delete(reply.id);
      // An idle backend does not keep the process alive; one with work in flight does.
      if (calls.size === 0) w.unref();
      if (reply.ok) c.resolve(reply);
      else c.reject(failure(reply));
    });
    w.on("error", (err) => {
      fail(new RucheError(ErrorCode.Internal, `state: the SQLite worker for ${file} failed: ${err.message}`, { cause: err }));
    });
    w.on("exit", (code) => {
      fail(new RucheError(ErrorCode.Internal, `state: the SQLite worker for ${file} exited (code ${code})`));
    });
    w.unref();
    return w;
  };

  const call = (req: Body<WorkerRequest>): Promise<WorkerReply & { ok: true }> => {
    if (broken !== null) return Promise.reject(broken);
    worker ??= start();
    const w = worker;
    const id = ++seq;
    return new Promise((resolve, reject) => {
      calls.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...req, id });
    });
  };

  return {
    async load() {
      await prepareDataDir(dataDir);
      const reply = await call({ op: "load" });
      const rows: { table: TableName; key: string; value: unknown }[] = [];
      const flat = reply.rows;
      for (let i = 0; i + 2 < flat.length; i += 3) {
        const table = flat[i] as string;
        const key = flat[i + 1] as string;
        const json = flat[i + 2] as string;
        if (!isTableName(table)) throw corrupt(table, key, "no such table");
        let value: unknown;
        try {
          value = JSON.parse(json);
        } catch (err) {
          throw corrupt(table, key, `not valid JSON (${errorMessage(err)})`);
        }
        rows.push({ table, key, value });
      }
      return { index: reply.index, rows };
    },

    async commit(batch) {
      // Serialised here, not in the worker: a string crosses threads more cheaply than an object graph.
      const rows: (string | null)[] = new Array<string | null>(batch.changes.length * 3);
      const jobs = new Map<object, string>();
      let i = 0;
      for (const c of batch.changes) {
        rows[i++] = c.table;
        rows[i++] = c.key;
        rows[i++] = c.op === "delete" ? null : c.table === "allocs" ? allocJson(c.value, jobs) : JSON.stringify(c.value);
      }
      await call({ op: "commit", index: batch.index, rows });
    },

    async close() {
      if (worker === null || broken !== null) return;
      const w = worker;
      try {
        await call({ op: "close" });
      } finally {
        // Also when the database never opened: the thread goes, and any file it held with it.
        broken = new RucheError(ErrorCode.Internal, `state: ${file} is closed`);
        await w.terminate();
      }
    },
  };

  /**
   * What a failed request says. A full, read-only or failing disk is named as such, with the
   * data dir (RUCHE_INSUFFICIENT_STORAGE); a commit SQLite undid whole is a `CommitRefused`,
   * after which the store goes on taking writes.
   */
  function failure(reply: WorkerReply & { ok: false }): RucheError {
    if (reply.kind === "conflict") return new RucheError(ErrorCode.IndexConflict, `state: ${reply.message}`);
    const problem = storageProblem(reply.code, dataDir);
    const sqlite = reply.code === null ? reply.message : `${reply.code}: ${reply.message}`;
    const [code, message] = problem === null ? [ErrorCode.Internal, `state: SQLite at ${file}: ${sqlite}`] : [ErrorCode.InsufficientStorage, `state: ${problem} (${sqlite})`];
    return reply.kind === "refused" ? new CommitRefused(code, `${message}; the write was not made`) : new RucheError(code, message);
  }

  function corrupt(table: string, key: string, why: string): RucheError {
    return new RucheError(ErrorCode.Internal, `state: corrupt row in table ${table}, key ${JSON.stringify(key)} of ${file}: ${why}`, { path: `${table}/${key}` });
  }
}

/**
 * An allocation's JSON. Its embedded job is most of it and is usually the very object the
 * other allocations of its plan embed, so each job object is serialised once per batch.
 */
function allocJson(value: unknown, jobs: Map<object, string>): string {
  const { Job: job, ...rest } = value as { Job?: unknown };
  if (typeof job !== "object" || job === null) return JSON.stringify(value);
  let jobJson = jobs.get(job);
  if (jobJson === undefined) {
    jobJson = JSON.stringify(job);
    jobs.set(job, jobJson);
  }
  const head = JSON.stringify(rest);
  return head === "{}" ? `{"Job":${jobJson}}` : `${head.slice(0, -1)},"Job":${jobJson}}`;
}

/**
 * Starts the worker. Built, it is sqlite-worker.js beside this file. From source (tsx,
 * vitest) it is a .ts file, and a Node 20 worker does not inherit the TypeScript loader, so
 * a small bootstrap loads it through tsx's API (tsx is a dev dependency, there when the
 * source is).
 */
function spawnWorker(file: string): Worker {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL("./sqlite-worker.js", here), { workerData: { file } });
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./sqlite-worker.ts", here).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(here)}));`;
  return new Worker(bootstrap, { eval: true, workerData: { file } });
}
