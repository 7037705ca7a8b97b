import { describe, expect, it } from "vitest";
import type { AclToken } from "../structs/index.js";
import { memoryBackend } from "./memory.js";
import { StateStore } from "./store.js";

const token = (over: Partial<AclToken> = {}): AclToken => ({
  AccessorID: "acc-1",
  SecretID: "sec-1",
  Name: "ops",
  Type: "client",
  Policies: ["readonly"],
  Global: false,
  CreateTime: "2026-01-01T00:00:00Z",
  CreateIndex: 0,
  ModifyIndex: 0,
  ...over,
});

describe("state: ACL tokens and policies", () => {
  it("reads tokens by accessor and by secret, following a changed and a deleted secret", async () => {
    const store = await StateStore.open(memoryBackend());
    const { index } = await store.write((tx) => {
      tx.put("aclTokens", token());
      tx.put("aclTokens", token({ AccessorID: "acc-2", SecretID: "sec-2" }));
    });
    expect(store.aclToken("acc-1")).toMatchObject({ SecretID: "sec-1", CreateIndex: index, ModifyIndex: index });
    expect(store.aclTokenBySecret("sec-2")?.AccessorID).toBe("acc-2");
    expect(store.aclTokens().map((t) => t.AccessorID).sort()).toEqual(["acc-1", "acc-2"]);
    expect(store.tableIndex("aclTokens")).toBe(index);

    await store.write((tx) => {
      tx.put("aclTokens", token({ SecretID: "sec-1b" }));
      tx.delete("aclTokens", "acc-2");
    });
    expect(store.aclTokenBySecret("sec-1")).toBeUndefined();
    expect(store.aclTokenBySecret("sec-1b")?.AccessorID).toBe("acc-1");
    expect(store.aclTokenBySecret("sec-2")).toBeUndefined();
    expect(store.aclToken("acc-2")).toBeUndefined();
    await store.close();
  });

  it("reads policies by name and keeps the bootstrap record", async () => {
    const store = await StateStore.open(memoryBackend());
    expect(store.aclBootstrap()).toBeUndefined();
    const { index } = await store.write((tx) => {
      tx.put("aclPolicies", { Name: "readonly", Description: "d", Rules: "node {}", CreateIndex: 0, ModifyIndex: 0 });
      tx.put("aclBootstrap", { ID: "bootstrap", AccessorID: "acc-1", CreateIndex: 0, ModifyIndex: 0 });
    });
    expect(store.aclPolicy("readonly")).toMatchObject({ Description: "d", ModifyIndex: index });
    expect(store.aclPolicies().map((p) => p.Name)).toEqual(["readonly"]);
    expect(store.aclBootstrap()).toMatchObject({ AccessorID: "acc-1", ModifyIndex: index });
    await store.close();
  });

  it("refuses to put a token without its secret or a policy without its name", async () => {
    const store = await StateStore.open(memoryBackend());
    await expect(store.write((tx) => { tx.put("aclTokens", token({ SecretID: "" })); })).rejects.toThrow(/AccessorID or SecretID is missing/);
    await expect(store.write((tx) => { tx.put("aclPolicies", { Name: "", Description: "", Rules: "", CreateIndex: 0, ModifyIndex: 0 }); })).rejects.toThrow(/Name is missing/);
    await store.close();
  });

  it.each([
    [{ Type: "root" }, 'Type is neither "client" nor "management"'],
    [{ Policies: "readonly" }, "Policies is not a list of names"],
    [{ ExpirationTime: "tomorrow" }, "ExpirationTime is not a time"],
    [{ SecretID: undefined }, "AccessorID or SecretID is missing or empty"],
  ])("will not open on a stored token with %j, naming its table and key", async (bad, why) => {
    const b = memoryBackend();
    await b.commit({ index: 2, changes: [{ table: "aclTokens", key: "acc-1", op: "put", value: { ...token({ CreateIndex: 2, ModifyIndex: 2 }), ...bad } }] });
    await expect(StateStore.open(b)).rejects.toThrow(`state: corrupt row in table aclTokens, key "acc-1": ${why}`);
  });

  it("will not open on a token stored under another accessor", async () => {
    const b = memoryBackend();
    await b.commit({ index: 2, changes: [{ table: "aclTokens", key: "acc-9", op: "put", value: token({ CreateIndex: 2, ModifyIndex: 2 }) }] });
    await expect(StateStore.open(b)).rejects.toThrow('its fields give the key "acc-1"');
  });
});
