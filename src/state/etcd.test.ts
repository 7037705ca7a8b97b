/**
 * The etcd backend beyond the contract every backend keeps: several servers on one region
 * (a follower fed by the watch, a barrier), a batch larger than one etcd transaction, and
 * the fence that keeps a deposed leader from writing. Against a real etcd member.
 */
import { Etcd3 } from "etcd3";
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, mock } from "../structs/index.js";
import { etcdBackend, type Fence } from "./etcd.js";
import { leaderRegion, type EtcdProc } from "./etcd-testing.js";
import { StateStore } from "./store.js";
import type { CommitEvent } from "./types.js";
import { oneEtcdMember, waitFor } from "./etcd-fixture.js";

const etcd = oneEtcdMember();
let client: Etcd3;
beforeAll(() => {
  client = etcd.client;
});

function region(): Promise<{ region: string; fence: Fence }> {
  return leaderRegion(client, "etcd-test");
}

async function keys(name: string, under: string): Promise<string[]> {
  return (await client.getAll().prefix(`/ruche/${name}/${under}`).keys()).sort();
}

const until = (ok: () => boolean, what: string, ms = 5000): Promise<void> => waitFor(ok, what, ms);

describe("etcd backend", () => {
  it("a follower's memory follows the leader's commits, one commit each, and a barrier waits for the last", async () => {
    const { region: r, fence } = await region();
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence }));
    const follower = await StateStore.open(etcdBackend({ client, region: r, fence: () => null }));
    const seen: CommitEvent[] = [];
    follower.subscribe((e) => seen.push(e));
    for (let i = 0; i < 5; i++) {
      await leader.write((tx) => {
        tx.put("nodes", mock.node({ id: `n${i}` }));
      });
    }
    await follower.barrier();
    expect(follower.index).toBe(leader.index);
    expect(follower.nodes().map((n) => n.ID).sort()).toEqual(["n0", "n1", "n2", "n3", "n4"]);
    expect(seen.map((e) => e.index)).toEqual([2, 3, 4, 5, 6]);
    // A follower does not write: the agent forwards its writes to the leader.
    await expect(follower.write((tx) => { tx.delete("nodes", "n0"); })).rejects.toMatchObject({ code: ErrorCode.NoLeader });
    expect(follower.nodes()).toHaveLength(5);
    await Promise.all([leader.close(), follower.close()]);
  });

  it("commits a batch larger than one etcd transaction whole: staged, then one commit point", async () => {
    const { region: r, fence } = await region();
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence, maxTxnOps: 8 }));
    const follower = await StateStore.open(etcdBackend({ client, region: r, fence: () => null }));
    const seen: CommitEvent[] = [];
    follower.subscribe((e) => seen.push(e));
    await leader.write((tx) => {
      for (let i = 0; i < 50; i++) tx.put("nodes", mock.node({ id: `n${String(i).padStart(2, "0")}` }));
    });
    await until(() => follower.index === leader.index, "the follower reaches the leader's index");
    // One commit on the follower, with every row: never a part of the batch.
    expect(seen).toHaveLength(1);
    expect(seen[0]?.changes).toHaveLength(50);
    expect(follower.nodes()).toHaveLength(50);
    // Nothing of the staging is left behind.
    expect(await keys(r, "staging/")).toEqual([]);
    expect(await keys(r, "meta/")).toEqual([`/ruche/${r}/meta/commit`, `/ruche/${r}/meta/index`]);
    await Promise.all([leader.close(), follower.close()]);
  });

  it("stages a batch too large in bytes in chunks under the limit that hold its changes as written, deletes too", async () => {
    const { region: r, fence } = await region();
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence, maxTxnBytes: 4096 }));
    const follower = await StateStore.open(etcdBackend({ client, region: r, fence: () => null }));
    await leader.write((tx) => {
      tx.put("nodes", mock.node({ id: "gone" }));
    });
    const staged: string[] = [];
    const watcher = await client.watch().prefix(`/ruche/${r}/staging/`).create();
    watcher.on("put", (kv) => staged.push(kv.value.toString("utf8")));
    const ids = Array.from({ length: 30 }, (_, i) => `n${String(i).padStart(2, "0")}`);
    await leader.write((tx) => {
      for (const id of ids) tx.put("nodes", mock.node({ id }));
      tx.delete("nodes", "gone");
    });
    await until(() => follower.index === leader.index, "the follower reaches the leader's index");
    await watcher.cancel();
    // Several chunks, each under the limit, holding every change once, in order.
    expect(staged.length).toBeGreaterThan(1);
    for (const chunk of staged) expect(chunk.length).toBeLessThanOrEqual(4096);
    const changes = staged.flatMap((c) => JSON.parse(c) as { table: string; key: string; op: string; value: unknown }[]);
    expect(changes.map((c) => `${c.op} ${c.key}`)).toEqual([...ids.map((id) => `put ${id}`), "delete gone"]);
    expect(changes.at(-1)).toEqual({ table: "nodes", key: "gone", op: "delete", value: null });
    expect(changes[0]?.value).toEqual(leader.node("n00"));
    // What the follower holds and what a fresh load reads are the batch.
    expect(follower.nodes().map((n) => n.ID).sort()).toEqual(ids);
    const fresh = await StateStore.open(etcdBackend({ client, region: r, fence: () => null }));
    expect(fresh.nodes().map((n) => n.ID).sort()).toEqual(ids);
    expect(await keys(r, "staging/")).toEqual([]);
    await Promise.all([leader.close(), follower.close(), fresh.close()]);
  });

  it("a large commit whose leader died after the commit point is loaded whole and finished by the next leader", async () => {
    const { region: r, fence } = await region();
    const first = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence }));
    await first.write((tx) => {
      tx.put("nodes", mock.node({ id: "old" }));
    });
    await first.close();
    // What a leader leaves when it dies between its commit point and its rows: the staged
    // chunks, the index and the record, and only part of the rows.
    const rows = Array.from({ length: 6 }, (_, i) => ({ table: "nodes", key: `n${i}`, op: "put", value: { ...mock.node({ id: `n${i}` }), CreateIndex: 3, ModifyIndex: 3 } }));
    await client.put(`/ruche/${r}/staging/3/0`).value(JSON.stringify(rows.slice(0, 3)));
    await client.put(`/ruche/${r}/staging/3/1`).value(JSON.stringify([...rows.slice(3), { table: "nodes", key: "old", op: "delete", value: null }]));
    await client.put(`/ruche/${r}/meta/index`).value("3");
    await client.put(`/ruche/${r}/meta/pending`).value(JSON.stringify({ index: 3, prev: 2, chunks: 2 }));
    await client.put(`/ruche/${r}/nodes/n0`).value(JSON.stringify(rows[0]?.value));

    const next = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence }));
    expect(next.index).toBe(3);
    expect(next.nodes().map((n) => n.ID).sort()).toEqual(["n0", "n1", "n2", "n3", "n4", "n5"]);
    // Its first commit finishes the batch's rows before its own.
    await next.write((tx) => {
      tx.put("nodes", mock.node({ id: "n6" }));
    });
    expect(await keys(r, "nodes/")).toEqual(["n0", "n1", "n2", "n3", "n4", "n5", "n6"].map((n) => `/ruche/${r}/nodes/${n}`));
    expect(await keys(r, "staging/")).toEqual([]);
    expect(await keys(r, "meta/pending")).toEqual([]);
    await next.close();
  });

  it("a deposed leader writes nothing once another holds the leader key, nor once the key is gone", async () => {
    const { region: r, fence } = await region();
    const old = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence }));
    await old.write((tx) => {
      tx.put("nodes", mock.node({ id: "before" }));
    });
    // The old leader's key goes (its lease ended) and another server creates it.
    await client.delete().key(fence.key);
    await expect(old.write((tx) => { tx.put("nodes", mock.node({ id: "gone" })); })).rejects.toMatchObject({ code: ErrorCode.NoLeader });
    const res = await client.put(fence.key).value("another").exec();
    const newer: Fence = { key: fence.key, createRevision: res.header.revision };
    await expect(old.write((tx) => { tx.put("nodes", mock.node({ id: "deposed" })); })).rejects.toMatchObject({ code: ErrorCode.NoLeader });
    // The store goes on: as a follower it sees the new leader's writes.
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => newer }));
    await leader.write((tx) => {
      tx.put("nodes", mock.node({ id: "after" }));
    });
    await old.barrier();
    expect(old.nodes().map((n) => n.ID).sort()).toEqual(["after", "before"]);
    expect(await keys(r, "nodes/")).toEqual([`/ruche/${r}/nodes/after`, `/ruche/${r}/nodes/before`]);
    await Promise.all([old.close(), leader.close()]);
  });

  it("a load that etcd does not answer in time (a cluster electing its leader) is tried again until it answers, within its bound", async () => {
    const { region: r, fence } = await region();
    const leader = await StateStore.open(etcdBackend({ client, region: r, fence: () => fence }));
    await leader.write((tx) => {
      tx.put("nodes", mock.node({ id: "kept" }));
    });
    // A client whose calls give up after 300 ms, as the servers' give up after 4 s.
    const impatient = new Etcd3({ hosts: etcd.cluster.endpoints, defaultCallOptions: () => ({ deadline: Date.now() + 300 }) });
    const member = etcd.cluster.members[0] as EtcdProc;
    try {
      member.kill("SIGSTOP");
      const lines: string[] = [];
      const log = pino({ level: "warn" }, { write: (l: string) => lines.push(l) });
      const loading = StateStore.open(etcdBackend({ client: impatient, region: r, fence: () => null, log }));
      await new Promise((res) => setTimeout(res, 1500));
      member.kill("SIGCONT");
      const loaded = await loading;
      expect(loaded.nodes().map((n) => n.ID)).toEqual(["kept"]);
      expect(lines.join("")).toContain("etcd did not answer the read of the region's keys");
      await loaded.close();
      // Past its bound the load gives up, saying why.
      member.kill("SIGSTOP");
      await expect(StateStore.open(etcdBackend({ client: impatient, region: r, fence: () => null, loadWithinMs: 800 }))).rejects.toThrow();
    } finally {
      member.kill("SIGCONT");
      impatient.close();
      await leader.close();
    }
  });
});
