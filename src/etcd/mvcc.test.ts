import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KVService, LockDelays } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { EtcdApi } from "./api.js";
import { RECOVERED_LEASE_TTL } from "./leases.js";
import type { Revision } from "./mvcc.js";

/** etcd's revisions over the store, on an in-memory store: versions, history, reads at a revision, leases found at start. */
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const key = (s: string): Buffer => Buffer.from(s);
const none = Buffer.alloc(0);

let store: StateStore;
let api: EtcdApi;
let consul: KVService;
const all = { acl: { management: true, namespace: () => true, allows: () => true, prefix: () => true, variable: () => true } };

beforeEach(async () => {
  store = await StateStore.open(memoryBackend());
  const delays = new LockDelays();
  consul = new KVService(store, { now: Date.now, delays });
  api = new EtcdApi({ store, delays, log: silent, memberName: "n1", clusterName: "global", historyEvents: 4 });
});
afterEach(async () => {
  api.close();
  await store.close();
});

const put = (k: string, v: string, lease = 0): ReturnType<EtcdApi["kv"]["put"]> => api.kv.put(all, { key: key(k), value: key(v), lease, prev_kv: false, ignore_value: false, ignore_lease: false });
const range = (k: string, revision = 0): ReturnType<EtcdApi["kv"]["range"]> =>
  api.kv.range(all, { key: key(k), range_end: none, limit: 0, revision, sort_order: "NONE", sort_target: "KEY", keys_only: false, count_only: false, min_mod_revision: 0, max_mod_revision: 0, min_create_revision: 0, max_create_revision: 0 });

describe("Mvcc", () => {
  it("counts a key's versions across dialects, and starts again after a delete", async () => {
    await put("k", "1");
    await consul.put("k", Buffer.from("2"));
    expect(range("k").kvs[0]?.version).toBe(2);
    await api.kv.deleteRange(all, { key: key("k"), range_end: none, prev_kv: false });
    await put("k", "3");
    const kv = range("k").kvs[0];
    expect(kv?.version).toBe(1);
    expect(kv?.create_revision).toBe(kv?.mod_revision);
  });

  it("reads at an old revision, and refuses one compacted out of the bounded history", async () => {
    const { header } = await put("h", "a");
    await put("h", "b");
    expect(range("h", header.revision).kvs[0]?.value.toString()).toBe("a");
    expect(range("h").kvs[0]?.value.toString()).toBe("b");
    const seen: Revision[] = [];
    api.mvcc.listen((r) => seen.push(r));
    for (const v of ["c", "d", "e", "f"]) await put("h", v);
    expect(seen.map((r) => r.events[0]?.prev_kv?.value.toString())).toEqual(["b", "c", "d", "e"]);
    // Four events kept: the first revision is gone.
    expect(() => range("h", header.revision)).toThrow("required revision has been compacted");
    expect(api.mvcc.since(header.revision)).toBeNull();
  });

  it("gives a lease found on keys at start its time again, and its keys go when it is revoked", async () => {
    const granted = api.leases.grant(30, 0);
    await put("leased", "x", granted.id);
    api.close();
    // A new view of the same store: the agent started again.
    const again = new EtcdApi({ store, delays: new LockDelays(), log: silent, memberName: "n1", clusterName: "global" });
    try {
      expect(again.leases.timeToLive(granted.id)).toMatchObject({ granted: RECOVERED_LEASE_TTL, keys: ["leased"] });
      await again.leases.revoke(granted.id);
      expect(store.kvGet("leased")).toBeUndefined();
    } finally {
      again.close();
    }
  });

  it("sends a watch that asked for it a progress notification when nothing happens", async () => {
    const quick = new EtcdApi({ store, delays: new LockDelays(), log: silent, memberName: "n1", clusterName: "global", progressMs: 50 });
    const watch = quick.methods.get("etcdserverpb.Watch/Watch");
    if (watch?.kind !== "stream") throw new Error("Watch is a stream");
    const sent: { watch_id: number; created?: boolean; events: unknown[]; header: { revision: number } }[] = [];
    const ac = new AbortController();
    const s = watch.open(all, (r) => sent.push(r as (typeof sent)[number]), ac.signal, () => undefined);
    s.request({ create_request: { key: key("p"), range_end: none, start_revision: "0", progress_notify: true, filters: [], prev_kv: false, watch_id: "0" } });
    await new Promise((r) => setTimeout(r, 200));
    ac.abort();
    quick.close();
    expect(sent[0]).toMatchObject({ watch_id: 0, created: true });
    expect(sent.slice(1).length).toBeGreaterThan(0);
    expect(sent[1]).toMatchObject({ watch_id: 0, events: [], header: { revision: quick.mvcc.revision() } });
  });
});
