/**
 * What every state backend promises, run against each: the in-memory one for tests, the
 * embedded SQLite one and the etcd one (a real etcd member this file starts). A backend
 * opened again on the same storage finds what was committed; a batch is all or nothing; the
 * index only goes up.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Etcd3 } from "etcd3";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, mock } from "../structs/index.js";
import { memoryBackend } from "./memory.js";
import { sqliteBackend } from "./sqlite.js";
import { etcdBackend } from "./etcd.js";
import { leaderRegion } from "./etcd-testing.js";
import { StateStore } from "./store.js";
import type { Backend, RawChange, TableName } from "./types.js";
import { oneEtcdMember } from "./etcd-fixture.js";

interface Harness {
  /** A backend on fresh, empty storage. */
  create(): Backend;
  /** A backend on the storage of the last one created, as after a restart. */
  reopen(): Backend;
}

const etcd = oneEtcdMember();
let client: Etcd3;
beforeAll(() => {
  client = etcd.client;
});

const harnesses: Record<string, () => Promise<Harness & { cleanup(): void }> | (Harness & { cleanup(): void })> = {
  memory: () => {
    let b = memoryBackend();
    return {
      create: () => (b = memoryBackend()),
      // Nothing is durable: the same object is the "storage" that outlives close().
      reopen: () => b,
      cleanup: () => undefined,
    };
  },
  sqlite: () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-state-contract-"));
    return {
      create: () => sqliteBackend(dir),
      reopen: () => sqliteBackend(dir),
      cleanup: () => {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  etcd: async () => {
    const { region, fence } = await leaderRegion(client, "contract");
    return {
      create: () => etcdBackend({ client, region, fence: () => fence }),
      reopen: () => etcdBackend({ client, region, fence: () => fence }),
      cleanup: () => undefined,
    };
  },
};

const put = (table: TableName, key: string, value: unknown): RawChange => ({ table, key, op: "put", value });
const del = (table: TableName, key: string): RawChange => ({ table, key, op: "delete", value: null });

function byKey(rows: { table: TableName; key: string; value: unknown }[]): Record<string, unknown> {
  return Object.fromEntries(rows.map((r) => [`${r.table}:${r.key}`, r.value]));
}

for (const [name, make] of Object.entries(harnesses)) {
  describe(`state backend contract: ${name}`, () => {
    let h: Harness & { cleanup(): void };
    const open: Backend[] = [];
    const create = (): Backend => {
      const b = h.create();
      open.push(b);
      return b;
    };
    const reopen = async (b: Backend): Promise<Backend> => {
      await b.close();
      const again = h.reopen();
      open.push(again);
      return again;
    };

    beforeEach(async () => {
      h = await make();
    });
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close();
      h.cleanup();
    });

    it("starts empty at index 0", async () => {
      const b = create();
      expect(await b.load()).toEqual({ index: 0, rows: [] });
    });

    it("finds every committed row and the index after reopening", async () => {
      let b = create();
      await b.load();
      const n = mock.node({ id: "n1" });
      const j = mock.job({ id: "web" });
      // Two allocations embedding the same job object, as a plan's do.
      const a1 = mock.alloc(j, n, 0, { ID: "a1" });
      const a2 = mock.alloc(j, n, 1, { ID: "a2", DesiredStatus: "stop" });
      await b.commit({ index: 2, changes: [put("nodes", "n1", n), put("jobs", "default/web", j)] });
      await b.commit({ index: 5, changes: [put("allocs", "a1", a1), put("jobVersions", "default/web/0000000000", j), put("allocs", "a2", a2)] });
      b = await reopen(b);
      const { index, rows } = await b.load();
      expect(index).toBe(5);
      expect(byKey(rows)).toEqual({ "nodes:n1": n, "jobs:default/web": j, "allocs:a1": a1, "allocs:a2": a2, "jobVersions:default/web/0000000000": j });
    });

    it("applies a batch in order: a later change of a key wins, deletes remove, deleting a missing key is no error", async () => {
      let b = create();
      await b.load();
      await b.commit({ index: 2, changes: [put("evals", "e1", { v: 1 }), put("evals", "e2", { v: 1 })] });
      await b.commit({ index: 3, changes: [put("evals", "e1", { v: 2 }), put("evals", "e1", { v: 3 }), del("evals", "e2"), del("evals", "nope")] });
      await b.commit({ index: 4, changes: [put("evals", "e3", { v: 1 }), del("evals", "e3")] });
      b = await reopen(b);
      const { index, rows } = await b.load();
      expect(index).toBe(4);
      expect(byKey(rows)).toEqual({ "evals:e1": { v: 3 } });
    });

    it("keeps the same key apart in different tables", async () => {
      let b = create();
      await b.load();
      await b.commit({ index: 2, changes: [put("nodes", "x", { t: "node" }), put("allocs", "x", { t: "alloc" }), put("evals", "x", { t: "eval" })] });
      await b.commit({ index: 3, changes: [del("allocs", "x")] });
      b = await reopen(b);
      expect(byKey((await b.load()).rows)).toEqual({ "nodes:x": { t: "node" }, "evals:x": { t: "eval" } });
    });

    it("commits an empty batch: the index moves", async () => {
      let b = create();
      await b.load();
      await b.commit({ index: 7, changes: [] });
      b = await reopen(b);
      expect(await b.load()).toEqual({ index: 7, rows: [] });
    });

    it("refuses a batch at or below its index, writing none of it", async () => {
      let b = create();
      await b.load();
      await b.commit({ index: 3, changes: [put("nodes", "n1", { v: 1 })] });
      for (const index of [3, 2]) {
        await expect(b.commit({ index, changes: [put("nodes", "n1", { v: 2 }), put("nodes", "n2", { v: 2 })] })).rejects.toMatchObject({
          code: ErrorCode.IndexConflict,
        });
      }
      b = await reopen(b);
      expect(await b.load()).toEqual({ index: 3, rows: [{ table: "nodes", key: "n1", value: { v: 1 } }] });
    });

    it("refuses a batch with a value JSON cannot hold, writing none of it", async () => {
      let b = create();
      await b.load();
      const bad = { n: 1n };
      await expect(b.commit({ index: 2, changes: [put("nodes", "ok", { v: 1 }), put("nodes", "bad", bad)] })).rejects.toThrow(/BigInt/);
      b = await reopen(b);
      expect(await b.load()).toEqual({ index: 0, rows: [] });
    });

    it("carries a whole store across a reopen", async () => {
      const n = mock.node({ id: "n1" });
      const j = mock.job({ id: "web" });
      let store = await StateStore.open(create());
      await store.write((tx) => {
        tx.put("nodes", n);
        tx.put("jobs", j);
        tx.put("jobVersions", j);
        for (let i = 0; i < 3; i++) tx.put("allocs", mock.alloc(j, n, i, { ID: `a${i}` }));
        tx.put("evals", mock.evaluation(j, { ID: "e1" }));
      });
      await store.write((tx) => {
        tx.delete("allocs", "a2");
      });
      const before = { index: store.index, allocs: store.allocsByNode("n1"), usage: store.nodeUsage("n1").cpu, evals: store.evalsByJob("default", "web") };
      await store.close();
      store = await StateStore.open(h.reopen());
      expect(store.index).toBe(before.index);
      expect(store.allocsByNode("n1")).toEqual(before.allocs);
      expect(store.allocsByJob("default", "web").map((a) => a.ID)).toEqual(["a0", "a1"]);
      expect(store.nodeUsage("n1").cpu).toBe(before.usage);
      expect(store.evalsByJob("default", "web")).toEqual(before.evals);
      expect(store.jobVersions("default", "web").map((v) => v.Version)).toEqual([0]);
      await store.close();
    });

    it("carries the ACL tables across a reopen, the tokens' index by secret rebuilt", async () => {
      let store = await StateStore.open(create());
      await store.write((tx) => {
        tx.put("aclPolicies", { Name: "readonly", Description: "", Rules: 'node {\n  policy = "read"\n}\n', CreateIndex: 0, ModifyIndex: 0 });
        tx.put("aclTokens", { AccessorID: "acc-1", SecretID: "sec-1", Name: "ops", Type: "client", Policies: ["readonly"], Global: false, CreateTime: "2026-01-01T00:00:00Z", CreateIndex: 0, ModifyIndex: 0 });
        tx.put("aclBootstrap", { ID: "bootstrap", AccessorID: "acc-1", CreateIndex: 0, ModifyIndex: 0 });
      });
      const before = { policies: store.aclPolicies(), tokens: store.aclTokens(), bootstrap: store.aclBootstrap() };
      await store.close();
      store = await StateStore.open(h.reopen());
      expect({ policies: store.aclPolicies(), tokens: store.aclTokens(), bootstrap: store.aclBootstrap() }).toEqual(before);
      expect(store.aclTokenBySecret("sec-1")?.AccessorID).toBe("acc-1");
      await store.close();
    });

    it("carries Nomad's variables across a reopen, read by namespace and path prefix; a variable row without its items stops the load", async () => {
      let store = await StateStore.open(create());
      const v = (ns: string, path: string, items: Record<string, string> | string) => ({ Namespace: ns, Path: path, Lock: null, CreateIndex: 0, CreateTime: 1.7e18, ModifyIndex: 0, ModifyTime: 1.7e18, ...(typeof items === "string" ? { Sealed: items } : { Items: items }) });
      await store.write((tx) => {
        tx.put("variables", v("default", "app/db", { user: "ruche" }));
        tx.put("variables", v("default", "app/cache", "ruche-sealed-1:AAAA"));
        tx.put("variables", v("prod", "app/db", { user: "prod" }));
      });
      await store.close();
      store = await StateStore.open(h.reopen());
      expect(store.variables("default", "app/").map((x) => x.Path)).toEqual(["app/cache", "app/db"]);
      expect(store.variables(undefined).map((x) => `${x.Namespace}/${x.Path}`)).toEqual(["default/app/cache", "default/app/db", "prod/app/db"]);
      expect(store.variable("prod", "app/db")?.Items).toEqual({ user: "prod" });
      expect(store.variable("default", "app/cache")?.Sealed).toBe("ruche-sealed-1:AAAA");
      await store.write((tx) => {
        tx.put("variables", { ...v("default", "bad", {}), Items: { n: 1 } } as never);
      });
      await store.close();
      await expect(StateStore.open(h.reopen())).rejects.toThrow(/variables.*default\/bad.*Items/);
    });

    it("carries Consul's prepared queries across a reopen, by ID; a query row without its template stops the load", async () => {
      let store = await StateStore.open(create());
      const q = (id: string, name: string, service: string) => ({
        ID: id,
        Name: name,
        Session: "",
        Token: "",
        Template: { Type: "", Regexp: "", RemoveEmptyTags: false },
        Service: { Service: service, Near: "", Failover: { NearestN: 2, Datacenters: ["us-west-2"] }, IgnoreCheckIDs: null, OnlyPassing: true, Tags: ["v2", "!canary"], NodeMeta: null, ServiceMeta: null, Connect: false },
        DNS: { TTL: "10s" },
        CreateIndex: 0,
        ModifyIndex: 0,
      });
      const { index } = await store.write((tx) => {
        tx.put("preparedQueries", q("b1b2c3d4-0000-4000-8000-000000000002", "web", "web"));
        tx.put("preparedQueries", q("a1b2c3d4-0000-4000-8000-000000000001", "db", "postgres"));
      });
      await store.close();
      store = await StateStore.open(h.reopen());
      expect(store.preparedQueries().map((x) => x.Name)).toEqual(["db", "web"]);
      expect(store.preparedQuery("b1b2c3d4-0000-4000-8000-000000000002")).toMatchObject({ Service: { Service: "web", Failover: { NearestN: 2, Datacenters: ["us-west-2"] }, Tags: ["v2", "!canary"] }, DNS: { TTL: "10s" }, CreateIndex: index });
      expect(store.tableIndex("preparedQueries")).toBeGreaterThanOrEqual(index);
      await store.write((tx) => {
        tx.put("preparedQueries", { ...q("c1b2c3d4-0000-4000-8000-000000000003", "bad", "x"), Template: null } as never);
      });
      await store.close();
      await expect(StateStore.open(h.reopen())).rejects.toThrow(/preparedQueries.*c1b2c3d4-0000-4000-8000-000000000003.*Template, DNS or Service\.Failover is missing/);
    });
  });
}

describe("sqlite backend on disk", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ruche-state-sqlite-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function seed(): Promise<void> {
    const b = sqliteBackend(dir);
    await b.load();
    await b.commit({ index: 2, changes: [put("nodes", "n1", mock.node({ id: "n1" }))] });
    await b.close();
  }

  it("keeps <dataDir>/state.db in WAL mode with the kv and meta tables", async () => {
    await seed();
    const db = new Database(join(dir, "state.db"), { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.prepare("SELECT tbl, key FROM kv").all()).toEqual([{ tbl: "nodes", key: "n1" }]);
      expect(db.prepare("SELECT value FROM meta WHERE name = 'index'").pluck().get()).toBe(2);
    } finally {
      db.close();
    }
  });

  it("names the table and key of a row that is not JSON", async () => {
    await seed();
    const db = new Database(join(dir, "state.db"));
    db.prepare("INSERT INTO kv VALUES ('allocs', 'a-broken', '{\"ID\": ')").run();
    db.close();
    const b = sqliteBackend(dir);
    await expect(b.load()).rejects.toThrow(/corrupt row in table allocs, key "a-broken".*not valid JSON/);
    await b.close();
  });

  it("names a table it does not know", async () => {
    await seed();
    const db = new Database(join(dir, "state.db"));
    db.prepare("INSERT INTO kv VALUES ('widgets', 'w1', '{}')").run();
    db.close();
    const b = sqliteBackend(dir);
    await expect(b.load()).rejects.toThrow(/corrupt row in table widgets, key "w1".*no such table/);
    await b.close();
  });

  it("a store refuses to open on a row without its key fields, naming it", async () => {
    await seed();
    const db = new Database(join(dir, "state.db"));
    const alloc = { ...mock.alloc(mock.job(), mock.node(), 0, { ID: "a1" }), JobID: undefined };
    db.prepare("INSERT INTO kv VALUES ('allocs', 'a1', ?)").run(JSON.stringify(alloc));
    db.close();
    await expect(StateStore.open(sqliteBackend(dir))).rejects.toThrow(/corrupt row in table allocs, key "a1": Namespace, JobID or NodeID is missing/);
  });

  it("reports a data dir it cannot use", async () => {
    const file = join(dir, "a-file");
    const db = new Database(file);
    db.close();
    const b = sqliteBackend(join(file, "sub"));
    await expect(b.load()).rejects.toThrow();
    await b.close();
  });
});
