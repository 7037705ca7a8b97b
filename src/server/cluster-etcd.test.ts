import type { Etcd3 } from "etcd3";
import { beforeAll, describe, expect, it } from "vitest";
import { memoryBackend, StateStore, type Backend } from "../state/index.js";
import { ErrorCode, RucheError, silentLogger } from "../structs/index.js";
import { etcdCluster, type EtcdCluster } from "./cluster-etcd.js";
import { inProcessLeases, threadLeases, type Leases } from "./lease.js";
import type { ServerInfo } from "./cluster.js";
import { until } from "./testing.js";
import { oneEtcdMember } from "../state/etcd-fixture.js";

const etcd = oneEtcdMember();
let client: Etcd3;
beforeAll(() => {
  client = etcd.client;
});

let regions = 0;
function info(name: string, region: string): ServerInfo {
  return { Name: name, Region: region, Datacenter: "dc1", HTTPAddr: `${name}:4646`, ConsulAddr: "", Build: "test", EtcdMember: "" };
}

describe("the election on etcd", () => {
  it("an elected server that cannot read the state gives its term up (its lease: etcd may not answer a delete), and leads once it can; the leader key never names a server that does not lead for longer than the lease", async () => {
    const region = `election-${++regions}`;
    // The catch-up read fails the first two times, as when etcd loses its leader just then.
    let failures = 2;
    const inner = memoryBackend();
    const backend: Backend = {
      ...inner,
      readIndex: () => (failures-- > 0 ? Promise.reject(new RucheError(ErrorCode.Unavailable, "etcd: no leader")) : Promise.resolve(store.index)),
    };
    const store = await StateStore.open(backend);
    let elected = 0;
    // And etcd does not answer a delete meanwhile (its leader is gone), while the lease's keepalives go on.
    const refusing = Object.create(client, {
      delete: {
        value: () => {
          throw new Error("etcd did not answer");
        },
      },
    }) as Etcd3;
    const cluster: EtcdCluster = etcdCluster({ client: refusing, self: info("a", region), log: silentLogger, onElected: () => {
        elected++;
      }, onDeposed: () => undefined, etcd: { members: () => Promise.resolve([]), remove: () => Promise.resolve() } });
    const watcher = etcdCluster({ client, self: info("w", region), log: silentLogger, onElected: () => undefined, onDeposed: () => undefined, etcd: { members: () => Promise.resolve([]), remove: () => Promise.resolve() } });
    // The watcher never campaigns: its own memory's catch-up never succeeds.
    const watcherStore = await StateStore.open({ ...memoryBackend(), readIndex: () => Promise.reject(new RucheError(ErrorCode.Unavailable, "never")) });
    // Whenever the key names a, how long a has not led.
    let namedSince: number | null = null;
    let longest = 0;
    const sample = setInterval(() => {
      if (watcher.leader()?.Name === "a" && !cluster.isLeader()) {
        namedSince ??= Date.now();
        longest = Math.max(longest, Date.now() - namedSince);
      } else namedSince = null;
    }, 20);
    try {
      await cluster.start(store);
      await watcher.start(watcherStore);
      await until("a to lead after two failed catch-ups", () => cluster.isLeader(), 15_000);
      expect(elected).toBe(1);
      expect(failures).toBeLessThan(0);
      await until("every server to name a", () => watcher.leader()?.Name === "a", 15_000);
      // Each failed term is let go with its lease: revoked at once when etcd answers, else ended within the 2 s TTL.
      expect(longest).toBeLessThan(3000);
      const fence = cluster.fence();
      expect(fence).not.toBeNull();
      const key = await client.get(`/ruche/${region}/leader`).exec();
      expect(key.kvs[0]?.create_revision).toBe(fence?.createRevision);
    } finally {
      clearInterval(sample);
      await watcher.stop();
      await cluster.stop();
      await watcherStore.close();
      await store.close();
    }
  });

  /** Holds this thread for `ms`: what scheduling ten thousand allocations does to a leader. */
  function busy(ms: number): void {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      // nothing: the event loop waits
    }
  }

  async function leaderWith(leases: Leases, region: string): Promise<{ cluster: EtcdCluster; store: StateStore }> {
    const store = await StateStore.open(memoryBackend());
    const cluster = etcdCluster({ client: etcd.client, leases, self: info("a", region), log: silentLogger, onElected: () => undefined, onDeposed: () => undefined, etcd: { members: () => Promise.resolve([]), remove: () => Promise.resolve() } });
    await cluster.start(store);
    await until("a to lead", () => cluster.isLeader(), 15_000);
    return { cluster, store };
  }

  it("a leader whose lease is renewed on its own thread keeps its term through 3 s of a busy main thread; renewed on the main thread, it loses it", async () => {
    const leases = threadLeases({ hosts: etcd.cluster.endpoints });
    const region = `election-${++regions}`;
    const { cluster, store } = await leaderWith(leases, region);
    try {
      const term = cluster.fence();
      busy(3000);
      // The timers that were due run now: the lease's clock says it was renewed meanwhile.
      await new Promise((r) => setTimeout(r, 500));
      expect(cluster.isLeader()).toBe(true);
      expect(cluster.fence()).toEqual(term);
      const key = await client.get(`/ruche/${region}/leader`).exec();
      expect(key.kvs[0]?.create_revision).toBe(term?.createRevision);
    } finally {
      await cluster.stop();
      await store.close();
      await leases.close();
    }

    const inline = `election-${++regions}`;
    const same = await leaderWith(inProcessLeases(client), inline);
    try {
      const term = same.cluster.fence();
      busy(3000);
      // Its term ends (it may well win the next one at once: nobody else campaigns here).
      await until("the term of the leader renewing on its busy thread to end", () => same.cluster.fence()?.createRevision !== term?.createRevision, 5000);
    } finally {
      await same.cluster.stop();
      await same.store.close();
    }
  }, 60_000);

  it("a lost lease's step, queued behind the renewal that already replaced it and won a term on the new lease, does not end that term", async () => {
    const inner = inProcessLeases(client);
    const lost: ((err: Error) => void)[] = [];
    let made = 0;
    let firstLost = true;
    // Lease 0 leads; its loss (revoked on etcd's side) starts a renewal. Lease 1 is lost while that renewal campaigns on
    // it (its step queues behind the renewal), and etcd does not answer its keepalives, so the
    // renewal lets it go and wins a term on lease 2. Lease 1's step then runs.
    const leases: Leases = {
      lease(ttl) {
        const n = made++;
        const l = inner.lease(ttl);
        return {
          ...l,
          onLost: (fn) => {
            lost[n] = fn;
            l.onLost(fn);
          },
          keepaliveOnce: async () => {
            if (n !== 1) return l.keepaliveOnce();
            if (firstLost) {
              firstLost = false;
              lost[1]?.(new Error("lease 1 lost"));
            }
            throw new Error("etcd did not answer");
          },
        };
      },
      close: () => inner.close(),
    };
    const region = `election-${++regions}`;
    const { cluster, store } = await leaderWith(leases, region);
    // Every term that starts writes the leader key anew: counted from lease 0's end on.
    const watch = await client.watch().key(`/ruche/${region}/leader`).create();
    let terms = 0;
    watch.on("put", () => {
      terms++;
    });
    try {
      // Lease 0 ends on etcd's side, and the leader key with it.
      const held = await client.get(`/ruche/${region}/leader`).exec();
      await client.leaseClient.leaseRevoke({ ID: held.kvs[0]?.lease ?? "" });
      await until("a to lead again, on lease 2", () => made >= 3 && cluster.isLeader(), 15_000);
      // Lease 1's step runs right after the renewal's (the steps run one after the other); a
      // term it ended would be followed by another within the retry timer's round (1 s).
      await new Promise((r) => setTimeout(r, 2500));
      expect(terms, "terms begun since lease 0 was lost: lease 2's alone").toBe(1);
      expect(cluster.isLeader()).toBe(true);
      const key = await client.get(`/ruche/${region}/leader`).exec();
      expect(key.kvs[0]?.create_revision).toBe(cluster.fence()?.createRevision);
    } finally {
      await watch.cancel();
      await cluster.stop();
      await store.close();
    }
  }, 60_000);
});
