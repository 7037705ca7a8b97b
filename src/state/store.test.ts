import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { ErrorCode, mock, RucheError, silentLogger, type Allocation, type Deployment, type Job, type Logger, type Node } from "../structs/index.js";
import { CommitRefused } from "./commit-refused.js";
import { memoryBackend } from "./memory.js";
import { StateStore } from "./store.js";
import type { Backend, CommitEvent, Txn } from "./types.js";

const stores: StateStore[] = [];
async function open(backend: Backend = memoryBackend()): Promise<StateStore> {
  const s = await StateStore.open(backend);
  stores.push(s);
  return s;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** A backend that counts commits and can be told to fail or to hold a commit until released. */
function instrumented(inner: Backend = memoryBackend()) {
  const stats = { commits: 0, batches: [] as number[] };
  let failNext: Error | null = null;
  const b: Backend & { stats: typeof stats; failNext(err: Error): void } = {
    stats,
    failNext: (err) => {
      failNext = err;
    },
    load: () => inner.load(),
    commit: (batch) => {
      stats.commits++;
      stats.batches.push(batch.index);
      if (failNext !== null) {
        const err = failNext;
        failNext = null;
        return Promise.reject(err);
      }
      // Resolves on a later turn, as a real fsync does.
      return new Promise((r) => setTimeout(r, 2)).then(() => inner.commit(batch));
    },
    close: () => inner.close(),
  };
  return b;
}

function deployment(job: Job, id: string, o: Partial<Deployment> = {}): Deployment {
  return {
    ID: id,
    Namespace: job.Namespace,
    JobID: job.ID,
    JobVersion: job.Version,
    JobModifyIndex: job.JobModifyIndex,
    JobCreateIndex: job.CreateIndex,
    TaskGroups: {},
    Status: "running",
    StatusDescription: "",
    CreateIndex: 0,
    ModifyIndex: 0,
    ...o,
  };
}

describe("StateStore", () => {
  it("starts at index 1, every table at 1", async () => {
    const s = await open();
    expect(s.index).toBe(1);
    expect(s.tableIndex("allocs")).toBe(1);
    expect(s.nodes()).toEqual([]);
    expect(s.job("default", "web")).toBeNull();
  });

  it("gives each write the next index, sets CreateIndex once and ModifyIndex each time, on a frozen copy", async () => {
    const s = await open();
    const n = mock.node({ id: "n1" });
    const j = mock.job({ id: "web" });
    const a = mock.alloc(j, n, 0, { ID: "a1" });
    const first = await s.write((tx) => {
      tx.put("nodes", n);
      tx.put("allocs", a);
      return tx.index;
    });
    expect(first).toEqual({ index: 2, result: 2 });
    expect(n.CreateIndex).toBe(1); // the caller's object is not touched
    expect(s.node("n1")).toMatchObject({ CreateIndex: 2, ModifyIndex: 2 });
    expect(s.alloc("a1")).toMatchObject({ CreateIndex: 2, ModifyIndex: 2, AllocModifyIndex: 2 });
    expect(Object.isFrozen(s.alloc("a1"))).toBe(true);

    const second = await s.write((tx) => {
      tx.put("allocs", { ...tx.get("allocs", "a1")!, ClientStatus: "running", DesiredDescription: "x" });
    });
    expect(second.index).toBe(3);
    expect(s.alloc("a1")).toMatchObject({ CreateIndex: 2, ModifyIndex: 3, AllocModifyIndex: 3, DesiredDescription: "x" });
    expect(s.node("n1")).toMatchObject({ CreateIndex: 2, ModifyIndex: 2 });
    expect(s.index).toBe(3);
  });

  it("keys jobs by namespace and ID, and job versions by version, newest first", async () => {
    const s = await open();
    const v0 = mock.job({ id: "web", version: 0 });
    const v1 = { ...v0, Version: 1 };
    const other = { ...mock.job({ id: "web" }), Namespace: "prod" };
    await s.write((tx) => {
      tx.put("jobs", v0);
      tx.put("jobVersions", v0);
      tx.put("jobs", other);
    });
    await s.write((tx) => {
      tx.put("jobs", v1);
      tx.put("jobVersions", v1);
    });
    expect(s.job("default", "web")?.Version).toBe(1);
    expect(s.job("prod", "web")?.Namespace).toBe("prod");
    expect(s.jobs()).toHaveLength(2);
    expect(s.jobVersions("default", "web").map((j) => j.Version)).toEqual([1, 0]);
    expect(s.jobVersions("prod", "web")).toEqual([]);
    await s.write((tx) => {
      expect(tx.get("jobVersions", "default/web/0000000001")?.Version).toBe(1);
      tx.delete("jobVersions", "default/web/0000000000");
    });
    expect(s.jobVersions("default", "web").map((j) => j.Version)).toEqual([1]);
  });

  it("keeps allocations by node and by job as they are placed, moved, stopped and deleted", async () => {
    const s = await open();
    const [n1, n2] = [mock.node({ id: "n1" }), mock.node({ id: "n2" })];
    const [web, api] = [mock.job({ id: "web" }), mock.job({ id: "api" })];
    await s.write((tx) => {
      tx.put("allocs", mock.alloc(web, n1, 0, { ID: "w0" }));
      tx.put("allocs", mock.alloc(web, n1, 1, { ID: "w1" }));
      tx.put("allocs", mock.alloc(api, n1, 0, { ID: "p0" }));
      tx.put("allocs", mock.alloc(api, n2, 1, { ID: "p1" }));
    });
    const ids = (as: readonly Allocation[]) => as.map((a) => a.ID);
    expect(ids(s.allocsByNode("n1"))).toEqual(["w0", "w1", "p0"]);
    expect(ids(s.allocsByNode("n2"))).toEqual(["p1"]);
    expect(ids(s.allocsByJob("default", "web"))).toEqual(["w0", "w1"]);
    expect(ids(s.allocsByJob("default", "api"))).toEqual(["p0", "p1"]);
    expect(s.allocsByNode("n3")).toEqual([]);

    await s.write((tx) => {
      tx.put("allocs", { ...tx.get("allocs", "w1")!, NodeID: "n2" }); // moved
      tx.put("allocs", { ...tx.get("allocs", "w0")!, DesiredStatus: "stop" }); // stopped: still listed
      tx.delete("allocs", "p0");
    });
    expect(ids(s.allocsByNode("n1"))).toEqual(["w0"]);
    expect(ids(s.allocsByNode("n2"))).toEqual(["p1", "w1"]);
    expect(ids(s.allocsByJob("default", "web"))).toEqual(["w0", "w1"]);
    expect(ids(s.allocsByJob("default", "api"))).toEqual(["p1"]);
    expect(s.allocs()).toHaveLength(3);
  });

  it("hands out the same allocsByNode array until that node's allocations change", async () => {
    const s = await open();
    const [n1, n2] = [mock.node({ id: "n1" }), mock.node({ id: "n2" })];
    const j = mock.job();
    await s.write((tx) => {
      tx.put("allocs", mock.alloc(j, n1, 0, { ID: "a" }));
      tx.put("allocs", mock.alloc(j, n2, 0, { ID: "b" }));
    });
    const before = s.allocsByNode("n1");
    expect(Object.isFrozen(before)).toBe(true);
    await s.write((tx) => {
      tx.put("allocs", mock.alloc(j, n2, 1, { ID: "c" }));
    });
    expect(s.allocsByNode("n1")).toBe(before);
    await s.write((tx) => {
      tx.put("allocs", mock.alloc(j, n1, 1, { ID: "d" }));
    });
    expect(s.allocsByNode("n1")).not.toBe(before);
    expect(s.allocsByNode("n1")).toHaveLength(2);
  });

  it("keeps evaluations and deployments by job; the latest deployment is the one created last", async () => {
    const s = await open();
    const web = mock.job({ id: "web" });
    const api = mock.job({ id: "api" });
    await s.write((tx) => {
      tx.put("evals", mock.evaluation(web, { ID: "e1" }));
      tx.put("evals", mock.evaluation(api, { ID: "e2" }));
      tx.put("deployments", deployment(web, "d1"));
    });
    await s.write((tx) => {
      tx.put("evals", mock.evaluation(web, { ID: "e3" }));
      tx.put("deployments", deployment(web, "d2"));
    });
    // An update of the older deployment does not make it the latest.
    await s.write((tx) => {
      tx.put("deployments", { ...tx.get("deployments", "d1")!, Status: "cancelled" });
    });
    expect(s.evalsByJob("default", "web").map((e) => e.ID)).toEqual(["e1", "e3"]);
    expect(s.evalsByJob("default", "api").map((e) => e.ID)).toEqual(["e2"]);
    expect(s.eval("e2")?.JobID).toBe("api");
    expect(s.evals()).toHaveLength(3);
    expect(s.deploymentsByJob("default", "web").map((d) => d.ID)).toEqual(["d1", "d2"]);
    expect(s.latestDeployment("default", "web")?.ID).toBe("d2");
    expect(s.latestDeployment("default", "api")).toBeNull();
    await s.write((tx) => {
      tx.delete("deployments", "d2");
      tx.delete("evals", "e1");
    });
    expect(s.latestDeployment("default", "web")?.ID).toBe("d1");
    expect(s.deployment("d1")?.Status).toBe("cancelled");
    expect(s.deployments()).toHaveLength(1);
    expect(s.evalsByJob("default", "web").map((e) => e.ID)).toEqual(["e3"]);
  });

  it("keeps the same nodes() array until a node changes", async () => {
    const s = await open();
    const j = mock.job();
    const n = mock.node({ id: "n1" });
    await s.write((tx) => {
      tx.put("nodes", n);
    });
    const nodes = s.nodes();
    expect(nodes.map((x) => x.ID)).toEqual(["n1"]);
    await s.write((tx) => {
      tx.put("allocs", mock.alloc(j, n, 0));
      tx.put("evals", mock.evaluation(j));
    });
    expect(s.nodes()).toBe(nodes);
    await s.write((tx) => {
      tx.put("nodes", { ...tx.get("nodes", "n1")!, Status: "down" });
    });
    const after = s.nodes();
    expect(after).not.toBe(nodes);
    expect(after[0]?.Status).toBe("down");
    expect(s.nodes()).toBe(after);
  });

  it("keeps each node's usage as allocations are placed, stopped, resumed and deleted; a stopping one holds until its client is done", async () => {
    const s = await open();
    const n = mock.node({ id: "n1" });
    const j = mock.job({ id: "web", cpu: 300, memory: 256, staticPorts: { http: 8080 } });
    const a = mock.alloc(j, n, 0, {
      ID: "a1",
      Resources: { CPU: 300, MemoryMB: 256, DiskMB: 10, Networks: [{ Mode: "host", MBits: 0, IP: "", ReservedPorts: [{ Label: "http", Value: 8080, To: 0, HostNetwork: "default" }], DynamicPorts: [] }] },
    });
    const b = mock.alloc(j, n, 1, { ID: "a2" });
    await s.write((tx) => {
      tx.put("allocs", a);
      tx.put("allocs", b);
    });
    let u = s.nodeUsage("n1");
    expect({ cpu: u.cpu, memory: u.memory, disk: u.disk, ports: [...u.ports], web: u.byJob.get("web") }).toEqual({
      cpu: 300 + b.Resources.CPU,
      memory: 256 + b.Resources.MemoryMB,
      disk: 10 + b.Resources.DiskMB,
      ports: [8080],
      web: 2,
    });

    // Told to stop, its task still running: it still holds its port and the rest.
    await s.write((tx) => {
      tx.put("allocs", { ...tx.get("allocs", "a1")!, DesiredStatus: "stop" });
    });
    u = s.nodeUsage("n1");
    expect({ cpu: u.cpu, ports: [...u.ports], web: u.byJob.get("web") }).toEqual({ cpu: 300 + b.Resources.CPU, ports: [8080], web: 2 });
    // Its client says it is done: freed.
    await s.write((tx) => {
      tx.put("allocs", { ...tx.get("allocs", "a1")!, ClientStatus: "complete" });
    });
    u = s.nodeUsage("n1");
    expect({ cpu: u.cpu, ports: [...u.ports], web: u.byJob.get("web") }).toEqual({ cpu: b.Resources.CPU, ports: [], web: 1 });

    // Freed twice does not take it off twice; a failed client status also frees it.
    await s.write((tx) => {
      tx.put("allocs", { ...tx.get("allocs", "a1")!, DesiredDescription: "still stopped" });
      tx.put("allocs", { ...tx.get("allocs", "a2")!, ClientStatus: "failed" });
    });
    expect(s.nodeUsage("n1").cpu).toBe(0);
    expect(s.nodeUsage("n1").byJob.size).toBe(0);

    await s.write((tx) => {
      tx.put("allocs", { ...tx.get("allocs", "a1")!, DesiredStatus: "run", ClientStatus: "running" });
    });
    expect(s.nodeUsage("n1").cpu).toBe(300);
    await s.write((tx) => {
      tx.delete("allocs", "a1");
      tx.delete("allocs", "a2");
    });
    u = s.nodeUsage("n1");
    expect({ cpu: u.cpu, memory: u.memory, ports: u.ports.size, jobs: u.byJob.size }).toEqual({ cpu: 0, memory: 0, ports: 0, jobs: 0 });
  });

  it("moves usage with an allocation that moves to another node", async () => {
    const s = await open();
    const n1 = mock.node({ id: "n1" });
    const j = mock.job({ cpu: 500 });
    await s.write((tx) => {
      tx.put("allocs", mock.alloc(j, n1, 0, { ID: "a" }));
    });
    await s.write((tx) => {
      tx.put("allocs", { ...tx.get("allocs", "a")!, NodeID: "n2" });
    });
    expect(s.nodeUsage("n1").cpu).toBe(0);
    expect(s.nodeUsage("n2").cpu).toBe(500);
  });

  it("moves each table's index only when a commit touches it", async () => {
    const s = await open();
    const j = mock.job();
    const { index: i1 } = await s.write((tx) => {
      tx.put("evals", mock.evaluation(j, { ID: "e" }));
    });
    const { index: i2 } = await s.write((tx) => {
      tx.put("nodes", mock.node());
    });
    expect([s.tableIndex("evals"), s.tableIndex("nodes"), s.tableIndex("allocs")]).toEqual([i1, i2, 1]);
    // A delete of nothing changes nothing.
    await s.write((tx) => {
      tx.delete("allocs", "nope");
    });
    expect(s.tableIndex("allocs")).toBe(1);
    expect(s.index).toBe(i2 + 1);
  });

  describe("transactions", () => {
    it("see their own writes and those of earlier transactions of the batch", async () => {
      const s = await open();
      const n = mock.node({ id: "counter", meta: { count: "0" } });
      await s.write((tx) => {
        tx.put("nodes", n);
      });
      const bump = (tx: Parameters<Parameters<StateStore["write"]>[0]>[0]) => {
        const cur = tx.get("nodes", "counter")!;
        const count = Number(cur.Meta.count) + 1;
        tx.put("nodes", { ...cur, Meta: { count: String(count) } });
        expect(tx.get("nodes", "counter")?.Meta.count).toBe(String(count));
        return count;
      };
      const results = await Promise.all(Array.from({ length: 10 }, () => s.write(bump)));
      expect(results.map((r) => r.result)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(results.map((r) => r.index)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(s.node("counter")?.Meta.count).toBe("10");
      expect(s.node("counter")?.ModifyIndex).toBe(12);
    });

    it("a throwing mutate leaves nothing behind and does not affect its batch neighbours", async () => {
      const b = instrumented();
      const s = await open(b);
      const j = mock.job();
      const boom = new Error("boom");
      const [first, second, third] = await Promise.allSettled([
        s.write((tx) => {
          tx.put("evals", mock.evaluation(j, { ID: "before" }));
        }),
        s.write((tx) => {
          tx.put("evals", mock.evaluation(j, { ID: "thrown" }));
          tx.delete("evals", "before");
          throw boom;
        }),
        s.write((tx) => {
          expect(tx.get("evals", "thrown")).toBeUndefined();
          expect(tx.get("evals", "before")).toBeDefined();
          tx.put("evals", mock.evaluation(j, { ID: "after" }));
        }),
      ]);
      expect(b.stats.commits).toBe(1);
      expect(first).toMatchObject({ status: "fulfilled", value: { index: 2 } });
      expect(second).toEqual({ status: "rejected", reason: boom });
      expect(third).toMatchObject({ status: "fulfilled", value: { index: 3 } });
      expect(s.evals().map((e) => e.ID)).toEqual(["before", "after"]);
      expect(s.index).toBe(3);
    });

    it("refuses a mutate that returns a promise, and a transaction used after its mutate", async () => {
      const s = await open();
      await expect(s.write(() => Promise.resolve(1))).rejects.toThrow(/synchronous/);
      let kept: Parameters<Parameters<StateStore["write"]>[0]>[0] | undefined;
      await s.write((tx) => {
        kept = tx;
      });
      expect(() => kept?.get("nodes", "x")).toThrow(/after its mutate/);
    });

    it("take each row's type from its table: put(\"jobs\", alloc) and get<Job>(...) do not type-check", async () => {
      // The type assertions are checked by tsc (tsconfig.json includes the tests: `npm run typecheck`).
      const s = await open();
      const n = mock.node({ id: "n1" });
      const j = mock.job({ id: "web" });
      const a = mock.alloc(j, n, 0, { ID: "a1" });
      await s.write((tx) => {
        tx.put("nodes", n);
        tx.put("jobs", j);
        tx.put("jobVersions", j);
        tx.put("allocs", a);
        const alloc = tx.get("allocs", "a1");
        expectTypeOf(alloc).toEqualTypeOf<Allocation | undefined>();
        expectTypeOf(tx.get("jobVersions", "default/web/0000000000")).toEqualTypeOf<Job | undefined>();
        expectTypeOf(tx.list("nodes", "")).toEqualTypeOf<Node[]>();
        expect(alloc?.NodeID).toBe("n1");
        expect(tx.list("nodes", "").map((x) => x.Name)).toEqual([n.Name]);
      });
      // A row of another table is refused. Only compiled, never called: at run time the store
      // checks a row's key fields, and an allocation has those of a job.
      expectTypeOf((tx: Txn) => {
        // @ts-expect-error an allocation is not a row of jobs
        tx.put("jobs", a);
        // @ts-expect-error the table names the row type, the caller does not
        tx.get<Job>("jobs", "default/web");
      }).toBeFunction();
    });

    it("refuses a row without its key fields", async () => {
      const s = await open();
      const n = { ...mock.node(), ID: "" };
      await expect(
        s.write((tx) => {
          tx.put("nodes", n);
        }),
      ).rejects.toThrow(/cannot put into nodes: ID is missing/);
      expect(s.nodes()).toEqual([]);
    });
  });

  it("batches 64 concurrent writers into fewer commits than writes, each at its own index", async () => {
    const b = instrumented();
    const s = await open(b);
    const j = mock.job();
    const n = mock.node();
    const writer = async (w: number): Promise<number[]> => {
      const got: number[] = [];
      for (let i = 0; i < 10; i++) {
        const { index } = await s.write((tx) => {
          tx.put("allocs", mock.alloc(j, n, i, { ID: `w${w}-${i}` }));
        });
        got.push(index);
      }
      return got;
    };
    const all = (await Promise.all(Array.from({ length: 64 }, (_, w) => writer(w)))).flat();
    expect(all).toHaveLength(640);
    expect(new Set(all).size).toBe(640);
    expect(Math.min(...all)).toBe(2);
    expect(Math.max(...all)).toBe(641);
    expect(s.index).toBe(641);
    expect(b.stats.commits).toBeLessThan(640 / 8);
    expect(s.allocsByNode(n.ID)).toHaveLength(640);
  });

  describe("change feed", () => {
    it("delivers each transaction once, in index order, with the store at that index", async () => {
      const s = await open();
      const seen: { index: number; storeIndex: number; changes: string[] }[] = [];
      const stop = s.subscribe((e: CommitEvent) => {
        seen.push({ index: e.index, storeIndex: s.index, changes: e.changes.map((c) => `${c.op} ${c.table}/${c.key}`) });
      });
      const j = mock.job({ id: "web" });
      await Promise.all([
        s.write((tx) => {
          tx.put("jobs", j);
        }),
        s.write((tx) => {
          tx.put("evals", mock.evaluation(j, { ID: "e1" }));
        }),
      ]);
      await s.write((tx) => {
        tx.delete("evals", "e1");
      });
      stop();
      await s.write((tx) => {
        tx.delete("jobs", "default/web");
      });
      expect(seen).toEqual([
        { index: 2, storeIndex: 2, changes: ["put jobs/default/web"] },
        { index: 3, storeIndex: 3, changes: ["put evals/e1"] },
        { index: 4, storeIndex: 4, changes: ["delete evals/e1"] },
      ]);
    });

    it("a listener that throws does not stop the others", async () => {
      const s = await open();
      const got: number[] = [];
      const errors: unknown[] = [];
      const onError = (err: unknown) => errors.push(err);
      process.prependListener("uncaughtException", onError);
      try {
        s.subscribe(() => {
          throw new Error("listener bug");
        });
        s.subscribe((e) => got.push(e.index));
        await s.write(() => undefined);
        await new Promise((r) => setImmediate(r));
      } finally {
        process.removeListener("uncaughtException", onError);
      }
      expect(got).toEqual([2]);
      expect(errors).toEqual([new Error("listener bug")]);
    });
  });

  describe("blocking queries", () => {
    it("resolve at once when the tables are already past minIndex", async () => {
      const s = await open();
      const { index } = await s.write((tx) => {
        tx.put("nodes", mock.node());
      });
      await expect(s.waitFor(["nodes", "allocs"], index - 1, 10_000)).resolves.toBe(index);
    });

    it("wake on a commit to one of their tables, not on others", async () => {
      const s = await open();
      const j = mock.job();
      let woke: number | null = null;
      const waiting = s.waitFor(["allocs", "evals"], s.tableIndex("allocs"), 10_000).then((i) => (woke = i));
      expect(s.blockingQueries("evals")).toBe(1);
      await s.write((tx) => {
        tx.put("nodes", mock.node());
      });
      // A commit wakes its queries before its write resolves: this one still waits.
      expect(s.blockingQueries()).toBe(1);
      await new Promise((r) => setImmediate(r));
      expect(woke).toBeNull();
      const { index } = await s.write((tx) => {
        tx.put("evals", mock.evaluation(j));
      });
      // Woken by the commit itself, not by the 10 s timeout.
      await new Promise((r) => setImmediate(r));
      expect(woke).toBe(index);
      await waiting;
    });

    it("time out with the current index", async () => {
      const s = await open();
      const start = Date.now();
      const index = await s.waitFor(["deployments"], s.tableIndex("deployments"), 60);
      expect(Date.now() - start).toBeGreaterThanOrEqual(55);
      expect(index).toBe(1);
    });

    it("reject when their signal aborts, and when the store closes", async () => {
      const s = await StateStore.open(memoryBackend());
      const ac = new AbortController();
      const aborted = s.waitFor(["allocs"], 5, 10_000, ac.signal);
      ac.abort();
      await expect(aborted).rejects.toMatchObject({ name: "AbortError" });
      await expect(s.waitFor(["allocs"], 0, 10, ac.signal)).rejects.toMatchObject({ name: "AbortError" });
      const pending = s.waitFor(["allocs"], 5, 10_000);
      await s.close();
      await expect(pending).rejects.toThrow(/closed/);
    });
  });

  describe("durability and failure", () => {
    it("changes memory only once the backend has made the batch durable", async () => {
      let release!: () => void;
      let asked!: () => void;
      const committing = new Promise<void>((r) => (asked = r));
      const inner = memoryBackend();
      const held: Backend = {
        load: () => inner.load(),
        commit: (batch) => {
          asked();
          return new Promise<void>((r) => (release = r)).then(() => inner.commit(batch));
        },
        close: () => inner.close(),
      };
      const s = await open(held);
      const write = s.write((tx) => {
        tx.put("nodes", mock.node({ id: "n1" }));
      });
      // The backend holds the batch and has not made it durable yet.
      await committing;
      expect(s.node("n1")).toBeUndefined();
      expect(s.index).toBe(1);
      release();
      await write;
      expect(s.node("n1")).toBeDefined();
    });

    it("a failed commit rejects its writes, leaves memory as it was, and stops further writes", async () => {
      const b = instrumented();
      const s = await open(b);
      b.failNext(new Error("disk full"));
      const failed = s.write((tx) => {
        tx.put("nodes", mock.node({ id: "n1" }));
      });
      await expect(failed).rejects.toThrow(/commit of indexes 2-2 failed: Error: disk full/);
      expect(s.node("n1")).toBeUndefined();
      expect(s.index).toBe(1);
      await expect(s.write(() => undefined)).rejects.toMatchObject({ code: ErrorCode.Internal });
    });

    it("a refused commit rejects its writes and keeps nothing of them, the next write succeeds, and each episode is logged once", async () => {
      const b = instrumented();
      const lines: string[] = [];
      const log: Logger = { ...silentLogger, error: (_f, msg) => lines.push(`error ${msg}`), warn: (_f, msg) => lines.push(`warn ${msg}`) };
      const s = await StateStore.open(b, { log });
      const seen: number[] = [];
      s.subscribe((e) => seen.push(e.index));
      const full = (): CommitRefused => new CommitRefused(ErrorCode.InsufficientStorage, "state: the data dir's filesystem is full: /data");
      for (let i = 0; i < 2; i++) {
        b.failNext(full());
        const refused = s.write((tx) => {
          tx.put("nodes", mock.node({ id: "n1" }));
        });
        await expect(refused).rejects.toMatchObject({ code: ErrorCode.InsufficientStorage, status: 507, logged: true });
      }
      expect(s.node("n1")).toBeUndefined();
      expect(s.index).toBe(1);
      expect(seen).toEqual([]);
      expect(lines).toEqual(["error state: a commit was refused; writes are answered with this error until one succeeds"]);
      const { index } = await s.write((tx) => {
        tx.put("nodes", mock.node({ id: "n1" }));
      });
      expect(index).toBe(2);
      expect(s.node("n1")?.ModifyIndex).toBe(2);
      expect(seen).toEqual([2]);
      expect(lines).toHaveLength(2);
      expect(lines[1]).toBe("warn state: writes succeed again");
      b.failNext(full());
      await expect(s.write(() => undefined)).rejects.toMatchObject({ code: ErrorCode.InsufficientStorage });
      expect(lines).toHaveLength(3);
    });

    it("close commits what was queued, then refuses writes", async () => {
      const s = await StateStore.open(memoryBackend());
      const queued = s.write((tx) => {
        tx.put("nodes", mock.node({ id: "n1" }));
      });
      await s.close();
      await expect(queued).resolves.toMatchObject({ index: 2 });
      await expect(s.write(() => undefined)).rejects.toThrow(/closed/);
    });

    it("rebuilds indexes and usage when reopened on the same backend", async () => {
      const backend = memoryBackend();
      const s = await StateStore.open(backend);
      const n = mock.node({ id: "n1" });
      const j = mock.job({ id: "web", cpu: 250 });
      await s.write((tx) => {
        tx.put("nodes", n);
        tx.put("jobs", j);
        tx.put("allocs", mock.alloc(j, n, 0, { ID: "a" }));
        tx.put("deployments", deployment(j, "d"));
      });
      await s.close();
      const again = await open(backend);
      expect(again.index).toBe(2);
      expect(again.tableIndex("evals")).toBe(2);
      expect(again.allocsByJob("default", "web").map((a) => a.ID)).toEqual(["a"]);
      expect(again.nodeUsage("n1").cpu).toBe(250);
      expect(again.latestDeployment("default", "web")?.ID).toBe("d");
      expect(Object.isFrozen(again.node("n1"))).toBe(true);
      const { index } = await again.write(() => undefined);
      expect(index).toBe(3);
    });

    it("refuses to open on rows that are not what their table holds, naming them", async () => {
      const rows = (table: string, key: string, value: unknown) =>
        ({ load: () => Promise.resolve({ index: 9, rows: [{ table, key, value }] }), commit: () => Promise.resolve(), close: () => Promise.resolve() }) as unknown as Backend;
      const j = mock.job({ id: "web" });
      await expect(StateStore.open(rows("nodes", "n1", "a string"))).rejects.toThrow(/table nodes, key "n1": not an object/);
      await expect(StateStore.open(rows("jobs", "default/other", j))).rejects.toThrow(/table jobs, key "default\/other": its fields give the key "default\/web"/);
      await expect(StateStore.open(rows("allocs", "a", { ...mock.alloc(j, mock.node(), 0, { ID: "a" }), Resources: null }))).rejects.toThrow(/allocs, key "a": Resources/);
      await expect(StateStore.open(rows("evals", "e", { ...mock.evaluation(j, { ID: "e" }), ModifyIndex: 10 }))).rejects.toThrow(/ModifyIndex 10 is above the stored index 9/);
      await expect(StateStore.open(rows("evals", "e", { ...mock.evaluation(j, { ID: "e" }) }))).resolves.toBeInstanceOf(StateStore);
      const err = await StateStore.open(rows("nodes", "n1", null)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RucheError);
      expect((err as RucheError).path).toBe("nodes/n1");
    });
  });
});

describe("StateStore.barrier", () => {
  it("waits until memory reaches the shared state's index, and is refused, not left waiting, when the store closes", async () => {
    let shared = 0;
    const store = await StateStore.open({ ...memoryBackend(), readIndex: () => Promise.resolve(shared) });
    await store.barrier();
    shared = 5;
    const waiting = store.barrier();
    let settled = false;
    void waiting.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    await store.close();
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.Unavailable, message: "state: the store is closed" });
    await expect(store.barrier()).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });
});
