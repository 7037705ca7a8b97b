/**
 * With Debian's etcd (three members), what keeps a server's death or an etcd member's from
 * costing more than it must: a server's etcd client (`serverEtcdClient`) with one member down
 * answers every call through the others (the client that tries each call once,
 * `directEtcdClient`, for membership calls, fails some of them, which is why servers do not
 * use it for their state); and the Ruche leader's duty of keeping etcd's leader on another
 * server's member moves it off the member it runs beside, to a member that answers, and
 * leaves it alone where that member does not lead.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEtcd, type EtcdProc, type EtcdTestCluster } from "../state/etcd-testing.js";
import { errorMessage, silentLogger } from "../structs/index.js";
import { etcdLeaderAway, moveEtcdLeaderAway } from "./etcd-leadership.js";
import { directEtcdClient, etcdCallNotSent, serverEtcdClient } from "./etcd-membership.js";

let etcd: EtcdTestCluster;
beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
}, 60_000);
afterAll(async () => {
  await etcd.stop();
});

/** The member that leads, as a member that answers says. */
async function leaderOf(members: EtcdProc[]): Promise<EtcdProc | undefined> {
  for (const m of members.filter((x) => x.running)) {
    const c = directEtcdClient([m.clientURL], 1000);
    try {
      const st = await c.maintenance.status();
      const { members: list } = await c.cluster.memberList({});
      const name = list.find((x) => x.ID === st.leader)?.name;
      const found = members.find((x) => x.name === name);
      if (found !== undefined) return found;
    } catch {
      // The next one.
    } finally {
      c.close();
    }
  }
  return undefined;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("etcd's leader kept away from the Ruche leader's member", () => {
  it("does nothing on a member that does not lead etcd", async () => {
    const leader = await until("a leader", () => leaderOf(etcd.members), 10_000);
    const follower = etcd.members.find((m) => m !== leader) as EtcdProc;
    const c = directEtcdClient([follower.clientURL], 1000);
    try {
      expect(await moveEtcdLeaderAway(c)).toBeUndefined();
    } finally {
      c.close();
    }
    expect((await leaderOf(etcd.members))?.name).toBe(leader.name);
  });

  it("moves it off the member it runs beside, to a member that answers, and stops when told", async () => {
    const leader = await until("a leader", () => leaderOf(etcd.members), 10_000);
    // One member down: etcd's leadership must go to the one left, not to it.
    const down = etcd.members.find((m) => m !== leader) as EtcdProc;
    const other = etcd.members.find((m) => m !== leader && m !== down) as EtcdProc;
    down.kill("SIGKILL");
    try {
      const duty = etcdLeaderAway(leader.clientURL, silentLogger, 200);
      duty.start();
      try {
        const next = await until("etcd's leader to move", async () => {
          const l = await leaderOf(etcd.members);
          return l !== undefined && l !== leader ? l : undefined;
        }, 10_000);
        expect(next.name).toBe(other.name);
      } finally {
        await duty.stop();
      }
    } finally {
      await down.start();
      await down.waitHealthy(30_000);
    }
  }, 60_000);
});

describe("a server's etcd client", () => {
  it("with one member of three down, answers every call through the others", async () => {
    const down = etcd.members[0];
    if (down === undefined) throw new Error("no member");
    down.kill("SIGKILL");
    const client = serverEtcdClient(etcd.endpoints, 1000, 4000);
    const direct = directEtcdClient(etcd.endpoints, 1000, 4000);
    try {
      const failures: string[] = [];
      for (let i = 0; i < 30; i++) {
        try {
          await client.put(`k/${i}`).value(String(i));
          expect(await client.get(`k/${i}`).string()).toBe(String(i));
        } catch (err) {
          failures.push(errorMessage(err));
        }
      }
      expect(failures).toEqual([]);
      // The same calls through a client that tries each once: some reach the member that is down, and say so.
      const refused: unknown[] = [];
      for (let i = 0; i < 30; i++) await direct.get(`k/${i}`).string().catch((err: unknown) => refused.push(err));
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((e) => etcdCallNotSent(e))).toBe(true);
    } finally {
      client.close();
      direct.close();
      await down.start();
      await down.waitHealthy(30_000);
    }
  }, 60_000);
});
