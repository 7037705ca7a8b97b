import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Etcd3 } from "etcd3";
import { beforeAll, describe, expect, it } from "vitest";
import { defaultNamespace, type Namespace } from "../structs/index.js";
import { memoryBackend } from "./memory.js";
import { checkRow } from "./rows.js";
import { etcdBackend } from "./etcd.js";
import { oneEtcdMember } from "./etcd-fixture.js";
import { leaderRegion } from "./etcd-testing.js";
import { sqliteBackend } from "./sqlite.js";
import { StateStore } from "./store.js";

const etcd = oneEtcdMember();
let client: Etcd3;
beforeAll(() => {
  client = etcd.client;
});

const ns = (over: Partial<Namespace> = {}): Namespace => ({ ...defaultNamespace(), Name: "prod", Description: "production", CreateIndex: 0, ModifyIndex: 0, ...over });

describe("state: namespaces", () => {
  it('has "default" before anyone writes it, and lists the written ones by name beside it', async () => {
    const store = await StateStore.open(memoryBackend());
    expect(store.namespaces().map((n) => n.Name)).toEqual(["default"]);
    expect(store.namespace("default")).toMatchObject({ Name: "default", CreateIndex: 1 });
    expect(store.namespace("prod")).toBeUndefined();
    const { index } = await store.write((tx) => {
      tx.put("namespaces", ns());
      tx.put("namespaces", ns({ Name: "dev" }));
    });
    expect(store.namespaces().map((n) => n.Name)).toEqual(["default", "dev", "prod"]);
    expect(store.namespace("prod")).toMatchObject({ Description: "production", CreateIndex: index, ModifyIndex: index });
    expect(store.tableIndex("namespaces")).toBe(index);
    // "default" written (a new description) replaces the one it starts as.
    await store.write((tx) => {
      tx.put("namespaces", ns({ Name: "default", Description: "ours" }));
    });
    expect(store.namespaces().filter((n) => n.Name === "default").map((n) => n.Description)).toEqual(["ours"]);
    await store.close();
  });

  it("keeps them on disk (SQLite) across a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-ns-state-"));
    try {
      const first = await StateStore.open(sqliteBackend(dir));
      const { index } = await first.write((tx) => {
        tx.put("namespaces", ns({ Meta: { team: "web" } }));
      });
      await first.close();
      const again = await StateStore.open(sqliteBackend(dir));
      expect(again.namespace("prod")).toMatchObject({ Name: "prod", Meta: { team: "web" }, CreateIndex: index });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps them on etcd (a real member), where another server reading the region finds them", async () => {
    const { region, fence } = await leaderRegion(client, "namespaces");
    const first = await StateStore.open(etcdBackend({ client, region, fence: () => fence }));
    const { index } = await first.write((tx) => {
      tx.put("namespaces", ns());
    });
    expect((await client.get(`/ruche/${region}/namespaces/prod`).string()) ?? "").toContain('"Description":"production"');
    const other = await StateStore.open(etcdBackend({ client, region, fence: () => fence }));
    expect(other.namespace("prod")).toMatchObject({ Description: "production", CreateIndex: index });
    await other.close();
    await first.close();
  });

  it("refuses a row read back without its name or description, naming table and key", () => {
    expect(() => checkRow("namespaces", "prod", { ...ns(), Name: "" })).toThrow(/table namespaces, key "prod": Name is missing/);
    expect(() => checkRow("namespaces", "prod", { ...ns(), Description: 3, CreateIndex: 1, ModifyIndex: 1 })).toThrow(/Description is not a string/);
    expect(() => checkRow("namespaces", "dev", { ...ns(), CreateIndex: 1, ModifyIndex: 1 })).toThrow(/its fields give the key "prod"/);
  });
});
