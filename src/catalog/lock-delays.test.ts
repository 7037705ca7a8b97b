/**
 * Lock delays outlive a change of leader, as in Consul (each server's state store records
 * them as it applies a session's end): two servers' stores on a real etcd member, the
 * leader's session ends holding a lock, the other server comes to lead and refuses the lock
 * to another session until the delay has passed.
 */
import type { Etcd3 } from "etcd3";
import { beforeAll, describe, expect, it } from "vitest";
import { leaderRegion } from "../state/etcd-testing.js";
import { etcdBackend, StateStore, type Fence } from "../state/index.js";
import { KVService } from "./kv-service.js";
import { followLockDelays, LockDelays } from "./sessions.js";
import { oneEtcdMember } from "../state/etcd-fixture.js";

const etcd = oneEtcdMember();
let client: Etcd3;
beforeAll(() => {
  client = etcd.client;
});

/** A server as the agent makes it: its store, its lock delays fed by what it applies, its KV service. */
async function server(region: string, fence: () => Fence | null, now: () => number): Promise<{ store: StateStore; kv: KVService; stop: () => void }> {
  const store = await StateStore.open(etcdBackend({ client, region, fence }));
  const delays = new LockDelays();
  const stop = followLockDelays(store, delays, now);
  return { store, kv: new KVService(store, { now, delays }), stop };
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("lock delays across a change of leader", () => {
  it("a server that comes to lead refuses a lock in the delay its predecessor's session set, and grants it after", async () => {
    const { region, fence } = await leaderRegion(client, "lock-delays");
    let now = 1_000_000;
    const clock = (): number => now;
    let aFence: Fence | null = fence;
    let bFence: Fence | null = null;
    const a = await server(region, () => aFence, clock);
    const b = await server(region, () => bFence, clock);
    try {
      // On the leader: a session (LockDelay 15 s, Consul's default) holds two locks, one
      // released with the session, one deleted with it; a third key it released itself.
      const release = (await a.kv.sessionCreate({ Name: "r", LockDelay: "15s" })).session.ID;
      const del = (await a.kv.sessionCreate({ Name: "d", LockDelay: "15s", Behavior: "delete" })).session.ID;
      expect((await a.kv.put("locks/kept", bytes("a"), { acquire: release })).ok).toBe(true);
      expect((await a.kv.put("locks/gone", bytes("a"), { acquire: del })).ok).toBe(true);
      expect((await a.kv.put("locks/free", bytes("a"), { acquire: release })).ok).toBe(true);
      expect((await a.kv.put("locks/free", bytes("a"), { release })).ok).toBe(true);
      await a.kv.sessionDestroy(release);
      await a.kv.sessionDestroy(del);
      await b.store.barrier();
      expect(b.kv.get("locks/kept")?.Session).toBe("");
      expect(b.kv.get("locks/gone")).toBeUndefined();

      // The leader goes; the other server leads.
      await client.delete().key(fence.key);
      const res = await client.put(fence.key).value("b").exec();
      aFence = null;
      bFence = { key: fence.key, createRevision: res.header.revision };
      const other = (await b.kv.sessionCreate({ Name: "other" })).session.ID;
      now += 5_000;
      expect((await b.kv.put("locks/kept", bytes("b"), { acquire: other })).ok).toBe(false);
      expect((await b.kv.put("locks/gone", bytes("b"), { acquire: other })).ok).toBe(false);
      // A key released before its session ended has no delay, as on the leader.
      expect((await b.kv.put("locks/free", bytes("b"), { acquire: other })).ok).toBe(true);
      // Past the delay (15 s from when the session ended), the locks are free.
      now += 10_001;
      expect((await b.kv.put("locks/kept", bytes("b"), { acquire: other })).ok).toBe(true);
      expect((await b.kv.put("locks/gone", bytes("b"), { acquire: other })).ok).toBe(true);
    } finally {
      a.stop();
      b.stop();
      await Promise.all([a.store.close(), b.store.close()]);
    }
  });
});
