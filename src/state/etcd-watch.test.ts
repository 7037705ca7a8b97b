/**
 * A follower's watch away from etcd: its connection is cut (a TCP proxy between its client
 * and a real etcd member closes every connection and refuses new ones) while the leader
 * writes, then comes back. Without a compaction meanwhile, the watch resumes where it was.
 * With one past what the follower saw, the watch cannot resume from its revision: the
 * follower must reload the region's keys and end with the leader's memory, deletions
 * included.
 */
import { randomUUID } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import { Etcd3 } from "etcd3";
import { beforeAll, describe, expect, it } from "vitest";
import { mock, type KVEntry, type Logger } from "../structs/index.js";
import { etcdBackend, type Fence } from "./etcd.js";
import { leaderRegion } from "./etcd-testing.js";
import { StateStore } from "./store.js";
import type { CommitEvent } from "./types.js";
import { oneEtcdMember, waitFor } from "./etcd-fixture.js";

/** A TCP proxy to one address that can be cut (every connection closed, new ones refused) and restored. */
class CutProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((s) => {
      const up = connect(this.targetPort, this.host);
      for (const x of [s, up]) {
        this.sockets.add(x);
        x.on("close", () => this.sockets.delete(x));
        x.on("error", () => undefined);
      }
      s.pipe(up).pipe(s);
      s.on("close", () => up.destroy());
      up.on("close", () => s.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        resolve();
      });
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Closes every connection and stops listening: the client's calls fail until `start` again. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((r) => {
      if (server === undefined) r();
      else server.close(() => { r(); });
    });
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

function logCapture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const put = (msg: string): void => {
    lines.push(msg);
  };
  return { lines, log: { debug: (_f, m) => { put(m); }, info: (_f, m) => { put(m); }, warn: (_f, m) => { put(m); }, error: (_f, m) => { put(m); } } };
}

const until = (ok: () => boolean, what: string, ms = 20_000): Promise<void> => waitFor(ok, what, ms);

function kv(key: string, value: string): KVEntry {
  return { Key: key, Value: Buffer.from(value).toString("base64"), Flags: 0, Session: "", LockIndex: 0, CreateIndex: 0, ModifyIndex: 0 };
}

/** Everything a store holds that these tests write, in a comparable form. */
function memory(s: StateStore): unknown {
  const byId = <T extends { ID: string }>(xs: readonly T[]): T[] => [...xs].sort((a, b) => a.ID.localeCompare(b.ID));
  return { index: s.index, nodes: byId(s.nodes()), kv: s.kvList("").sort((a, b) => a.Key.localeCompare(b.Key)), jobs: byId(s.jobs()) };
}

const etcd = oneEtcdMember();
let client: Etcd3;
beforeAll(() => {
  client = etcd.client;
});

describe("etcd backend: a follower's watch away from etcd", () => {
  it("a watch whose connection broke resumes where it was, commit by commit, without a reload", async () => {
    const { region: r, fence } = await leaderRegion(client, "etcd-watch");
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence }));
    const url = new URL(etcd.cluster.endpoints[0] as string);
    const proxy = new CutProxy(url.hostname, Number(url.port));
    await proxy.start();
    const followerClient = new Etcd3({ hosts: `http://127.0.0.1:${proxy.port}` });
    const { log, lines } = logCapture();
    const follower = await StateStore.open(etcdBackend({ client: followerClient, region: r, fence: () => null, log }), { log });
    try {
      await leader.write((tx) => {
        tx.put("kv", kv("a", "a-1"));
      });
      await follower.barrier();
      const seen: CommitEvent[] = [];
      follower.subscribe((e) => seen.push(e));
      await proxy.cut();
      const indexes: number[] = [];
      for (const k of ["b", "c", "d"]) {
        indexes.push((await leader.write((tx) => { tx.put("kv", kv(k, `${k}-1`)); })).index);
      }
      await leader.write((tx) => {
        tx.delete("kv", "a");
      });
      await proxy.start();
      await until(() => follower.index === leader.index, `the follower reaches index ${leader.index}`);
      expect(memory(follower)).toEqual(memory(leader));
      // Each commit as the leader made it: the watch took up where it broke.
      expect(seen.map((e) => e.index)).toEqual([...indexes, leader.index]);
      expect(lines).toContain("state: the watch on etcd broke; resuming it");
      expect(lines.filter((l) => l.includes("reload"))).toEqual([]);
    } finally {
      await Promise.all([leader.close(), follower.close()]);
      followerClient.close();
      await proxy.cut();
    }
  }, 60_000);


  it("a commit the watch did not show (meta/index's version is not the next) is found by a reload, and the server follows again", async () => {
    const { region: r, fence } = await leaderRegion(client, "etcd-watch");
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence }));
    const { log, lines } = logCapture();
    const follower = await StateStore.open(etcdBackend({ client, region: r, fence: () => null, log }), { log });
    try {
      await leader.write((tx) => {
        tx.put("kv", kv("a", "a-1"));
      });
      await follower.barrier();
      // A chain of commits with a link the follower cannot have seen: the index key deleted
      // and written anew (its version starts over) together with a row, as a watch that
      // resumed past a commit would leave it.
      const next = leader.index + 1;
      await client.delete().key(`/ruche/${r}/meta/index`);
      await client.kv.txn({
        compare: [],
        success: [
          { request_put: { key: Buffer.from(`/ruche/${r}/kv/b`), value: Buffer.from(JSON.stringify({ ...kv("b", "b-1"), CreateIndex: next, ModifyIndex: next })) } },
          { request_put: { key: Buffer.from(`/ruche/${r}/meta/index`), value: Buffer.from(String(next)) } },
        ],
        failure: [],
      });
      await until(() => follower.index === next, `the follower reaches index ${next} through a reload`);
      expect(lines).toContain("state: a commit went by without this server seeing it (the watch skipped it): reloading the region's keys");
      expect(follower.kvGet("b")?.Value).toBe(kv("b", "b-1").Value);
      // And it follows the leader's next commits as before (the leader reloaded too).
      await until(() => leader.index === next, "the leader reaches the reloaded index");
      await leader.write((tx) => {
        tx.put("kv", kv("c", "c-1"));
      });
      await until(() => follower.index === leader.index, "the follower follows the next commit");
      expect(memory(follower)).toEqual(memory(leader));
    } finally {
      await Promise.all([leader.close(), follower.close()]);
    }
  }, 60_000);

  it("reloads the region, applies the difference as one commit, follows again, and can lead afterwards", async () => {
    const { region: r, fence } = await leaderRegion(client, "etcd-watch");
    let leaderFence: Fence | null = fence;
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => leaderFence, maxTxnOps: 8 }));

    const url = new URL(etcd.cluster.endpoints[0] as string);
    const proxy = new CutProxy(url.hostname, Number(url.port));
    await proxy.start();
    const followerClient = new Etcd3({ hosts: `http://127.0.0.1:${proxy.port}` });
    const { log, lines } = logCapture();
    let followerFence: Fence | null = null;
    const follower = await StateStore.open(etcdBackend({ client: followerClient, region: r, fence: () => followerFence, log }), { log });
    try {
      await leader.write((tx) => {
        for (let i = 0; i < 5; i++) tx.put("nodes", mock.node({ id: `n${i}` }));
        for (const k of ["a", "b", "c"]) tx.put("kv", kv(k, `${k}-1`));
        tx.put("jobs", mock.job({ id: "web" }));
      });
      await follower.barrier();
      expect(memory(follower)).toEqual(memory(leader));
      const before = follower.index;
      const seen: CommitEvent[] = [];
      follower.subscribe((e) => seen.push(e));
      const woken = follower.waitFor(["kv"], before, 60_000);
      woken.catch(() => undefined);

      // The follower's connection goes; the leader writes — puts, changes, deletes, and a
      // batch larger than one etcd transaction — and etcd compacts past all of it.
      await proxy.cut();
      await leader.write((tx) => {
        tx.delete("nodes", "n0");
        tx.put("nodes", { ...mock.node({ id: "n1" }), Name: "renamed" });
        tx.delete("kv", "a");
        tx.put("kv", kv("b", "b-2"));
        tx.delete("jobs", "default/web");
      });
      await leader.write((tx) => {
        for (let i = 10; i < 30; i++) tx.put("nodes", mock.node({ id: `n${i}` }));
      });
      // What a leader writes before a large commit's commit point: chunks staged for the next
      // index. Its commit point comes after the follower has reloaded.
      const next = leader.index + 1;
      const staged = [0, 1].map((n) => [{ table: "kv", key: `s${n}`, op: "put", value: { ...kv(`s${n}`, "staged"), CreateIndex: next, ModifyIndex: next } }]);
      for (const [n, chunk] of staged.entries()) await client.put(`/ruche/${r}/staging/${next}/${n}`).value(JSON.stringify(chunk));
      const head = await client.kv.range({ key: Buffer.from(`/ruche/${r}/meta/index`) });
      await client.kv.compact({ revision: head.header.revision, physical: true });
      expect(follower.index).toBe(before);

      // Back: its watch cannot resume from the revision it had; it reloads.
      await proxy.start();
      await until(() => follower.index === leader.index, `the follower reaches index ${leader.index}`);
      expect(memory(follower)).toEqual(memory(leader));
      expect(follower.nodes().some((n) => n.ID === "n0")).toBe(false);
      expect(follower.node("n1")?.Name).toBe("renamed");
      expect(follower.kvList("").map((e) => e.Key)).toEqual(["b", "c"]);
      expect(follower.jobs()).toEqual([]);
      expect(lines).toContain("state: etcd cancelled the watch (its revision was compacted?): reloading the region's keys");
      // One commit on the change feed, with the difference only, and the blocking query woke.
      expect(seen.map((e) => e.index)).toEqual([leader.index]);
      const changed = (seen[0]?.changes ?? []).map((c) => `${c.op} ${c.table}/${c.key}`).sort();
      expect(changed).toEqual(
        ["delete jobs/default/web", "delete kv/a", "delete nodes/n0", "put kv/b", "put nodes/n1", ...Array.from({ length: 20 }, (_, i) => `put nodes/n${i + 10}`)].sort(),
      );
      await expect(woken).resolves.toBe(leader.index);

      // It follows again: the large commit whose chunks it read in the reload, committed now
      // (its commit point as a leader writes it), then an ordinary commit.
      const id = randomUUID();
      await client.kv.txn({
        compare: [],
        success: [
          { request_put: { key: Buffer.from(`/ruche/${r}/meta/index`), value: Buffer.from(String(next)) } },
          { request_put: { key: Buffer.from(`/ruche/${r}/meta/pending`), value: Buffer.from(JSON.stringify({ index: next, prev: next - 1, chunks: 2 })) } },
          { request_put: { key: Buffer.from(`/ruche/${r}/meta/commit`), value: Buffer.from(id) } },
        ],
        failure: [],
      });
      await until(() => follower.index === next && leader.index === next, `both reach the large commit at index ${next}`);
      expect(follower.kvList("s").map((e) => e.Key)).toEqual(["s0", "s1"]);
      await leader.write((tx) => {
        tx.put("kv", kv("d", "d-1"));
      });
      await follower.barrier();
      expect(memory(follower)).toEqual(memory(leader));

      // The follower leads now: its commits pass (its index is the stored one) and the old
      // leader follows them.
      await client.delete().key(fence.key);
      const res = await client.put(fence.key).value("follower").exec();
      leaderFence = null;
      followerFence = { key: fence.key, createRevision: res.header.revision };
      await follower.write((tx) => {
        tx.delete("kv", "c");
        tx.put("kv", kv("e", "e-1"));
      });
      await leader.barrier();
      expect(memory(leader)).toEqual(memory(follower));
      expect(leader.kvList("").map((e) => e.Key)).toEqual(["b", "d", "e", "s0", "s1"]);
    } finally {
      await Promise.all([leader.close(), follower.close()]);
      followerClient.close();
      await proxy.cut();
    }
  }, 60_000);
  it("a leader's commit the watch shows before etcd's answer, with another leader's commit behind it, stays under the newer one", async () => {
    // A leader paused (SIGSTOP) just after sending a commit: when it goes on, the watch may
    // bring its commit and the next leader's before etcd's answer to its own.
    const { region: r, fence } = await leaderRegion(client, "etcd-watch");
    const held = new Etcd3({ hosts: etcd.cluster.endpoints });
    const txn = held.kv.txn.bind(held.kv);
    let hold: Promise<void> | null = null;
    held.kv.txn = async (req) => {
      const res = await txn(req);
      if (hold !== null) await hold;
      return res;
    };
    const old = await StateStore.open(etcdBackend({ client: held, region: r, fence: () => fence }));
    let next: StateStore | undefined;
    try {
      await old.write((tx) => {
        tx.put("kv", kv("k", "first"));
      });
      let answer = (): void => undefined;
      hold = new Promise<void>((resolve) => {
        answer = resolve;
      });
      const seen: CommitEvent[] = [];
      old.subscribe((e) => seen.push(e));
      const stale = old.write((tx) => {
        tx.put("kv", kv("k", "old leader's"));
      });
      // Another server takes the lead (the key made again) once the old leader's commit is in etcd.
      const landed = String(old.index + 1);
      for (let i = 0; (await client.get(`/ruche/${r}/meta/index`).string()) !== landed; i++) {
        if (i > 200) throw new Error(`the old leader's commit at index ${landed} did not reach etcd`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await client.delete().key(fence.key);
      const res = await client.put(fence.key).value("next").exec();
      const newer: Fence = { key: fence.key, createRevision: res.header.revision };
      next = await StateStore.open(etcdBackend({ client, region: r, fence: () => newer }));
      expect(next.kvGet("k")?.Value).toBe(Buffer.from("old leader's").toString("base64"));
      const { index } = await next.write((tx) => {
        tx.put("kv", kv("k", "next leader's"));
      });
      await until(() => seen.some((e) => e.index === index), `the old leader's watch shows index ${index}`);
      answer();
      await stale;
      expect(old.index).toBe(index);
      expect(memory(old)).toEqual(memory(next));
      expect(old.kvGet("k")?.Value).toBe(Buffer.from("next leader's").toString("base64"));
    } finally {
      await Promise.all([old.close(), next?.close()]);
      held.close();
    }
  }, 60_000);
});
