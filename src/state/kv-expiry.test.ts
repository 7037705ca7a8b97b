import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { KVExpiry } from "../structs/index.js";
import { checkRow } from "./rows.js";
import { sqliteBackend } from "./sqlite.js";
import { StateStore } from "./store.js";

const row = (over: Partial<KVExpiry> = {}): KVExpiry => ({ Key: "app/k", TTL: 30, ExpiresAt: 1_700_000_000_000, CreateIndex: 0, ModifyIndex: 0, ...over });

describe("state: kvExpiry (etcd v2's TTLs)", () => {
  it("keeps a TTL beside its entry across a restart, at the entry's ModifyIndex", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-kv-expiry-"));
    try {
      let store = await StateStore.open(sqliteBackend(dir));
      const { index } = await store.write((tx) => {
        tx.put("kv", { Key: "app/k", Value: null, Flags: 0, Session: "", LockIndex: 0, CreateIndex: 0, ModifyIndex: 0 });
        tx.put("kvExpiry", row());
      });
      await store.close();
      store = await StateStore.open(sqliteBackend(dir));
      expect(store.kvExpiry("app/k")).toEqual({ ...row(), CreateIndex: index, ModifyIndex: index });
      expect(store.kvExpiries().map((x) => x.Key)).toEqual(["app/k"]);
      expect(store.kvGet("app/k")?.ModifyIndex).toBe(index);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a row read back without its key, TTL or expiry", () => {
    expect(() => checkRow("kvExpiry", "app/k", { ...row(), CreateIndex: 1, ModifyIndex: 1 })).not.toThrow();
    expect(() => checkRow("kvExpiry", "app/k", { ...row(), ExpiresAt: "soon", CreateIndex: 1, ModifyIndex: 1 })).toThrow(/corrupt row in table kvExpiry, key "app\/k": Key, TTL or ExpiresAt is missing/);
    expect(() => checkRow("kvExpiry", "other", { ...row(), CreateIndex: 1, ModifyIndex: 1 })).toThrow(/its fields give the key "app\/k"/);
  });
});
