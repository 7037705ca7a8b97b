/**
 * Servers that run their own etcd member, with Debian's etcd: three find each other through
 * their join listeners and form one cluster, a fourth joins it later, a member removed
 * leaves it for good, and a member that dies is started again by its server.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";
import { freePortRange } from "../state/etcd-testing.js";
import type { Logger } from "../structs/index.js";
import { startJoinListener, type JoinListener } from "./etcd-join.js";
import { startManagedEtcd, type ManagedEtcd } from "./etcd-member.js";
import { memberStatuses, removeMember } from "./etcd-membership.js";

/** Log lines kept per server, shown when a test fails. */
function recorder(name: string, lines: string[]): Logger {
  const rec = (level: string) => (fields: Record<string, unknown>, msg: string) => {
    lines.push(`${name} ${level} ${msg} ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`);
  };
  return { debug: () => undefined, info: rec("info"), warn: rec("warn"), error: rec("error") };
}

describe("a server's own etcd member", () => {
  const members: ManagedEtcd[] = [];
  const listeners: JoinListener[] = [];
  const clients: Etcd3[] = [];
  const dirs: string[] = []; // each server's data dir, by its index
  const lines: string[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const l of listeners) await l.close();
    for (const m of members) await m.stop();
    for (const d of dirs.filter(Boolean)) await rm(d, { recursive: true, force: true });
  });

  it("forms one cluster of three through retry_join, takes a fourth, removes it, and restarts a member that died", async ({ onTestFailed }) => {
    onTestFailed(() => {
      console.error(`--- the servers' logs ---\n${lines.join("\n")}`);
    });
    // Four servers, each with three consecutive ports: HTTP, etcd client, etcd peer.
    const base = await freePortRange(12);
    const http = [0, 1, 2, 3].map((i) => base + 3 * i);
    const addrs = http.map((p) => `127.0.0.1:${p}`);
    const opts = async (i: number, dir?: string) => {
      const dataDir = dir ?? (await mkdtemp(join(tmpdir(), `ruche-server-s${i + 1}-`)));
      dirs[i] = dataDir; // by index: the three are made at once, in no set order
      return {
        name: `s${i + 1}`,
        region: "europe",
        dataDir,
        bind: "127.0.0.1",
        httpPort: http[i]!,
        bootstrapExpect: 3,
        retryJoin: addrs.slice(0, 3),
        log: recorder(`s${i + 1}`, lines),
      };
    };
    const failed = (err: unknown): never => {
      throw new Error(`${String(err)}\n--- the servers' logs ---\n${lines.join("\n")}`);
    };

    // The three servers start at once; each waits for the other two through its join listener.
    const three = await Promise.all([0, 1, 2].map(async (i) => startManagedEtcd(await opts(i)))).catch(failed);
    members.push(...three);
    const [s1, s2, s3] = three as [ManagedEtcd, ManagedEtcd, ManagedEtcd];
    expect(s1.endpoints()[0]).toBe(`http://127.0.0.1:${http[0]! + 1}`);
    expect([...s1.endpoints()].sort()).toEqual([1, 2, 3].map((i) => `http://127.0.0.1:${http[i - 1]! + 1}`).sort());
    const client = new Etcd3({ hosts: s1.endpoints() });
    clients.push(client);
    const names = async (): Promise<string[]> => (await client.cluster.memberList({})).members.map((m) => m.name).sort();
    expect(await names()).toEqual(["s1", "s2", "s3"]);
    await client.put("/ruche/europe/x").value("1");
    const s3only = new Etcd3({ hosts: s3.clientURL });
    clients.push(s3only);
    expect(await s3only.get("/ruche/europe/x").string()).toBe("1");

    // Their APIs now answer the peer and join routes (here a join listener stands in for each).
    for (const [i, m] of three.entries()) listeners.push(await startJoinListener({ host: "127.0.0.1", port: http[i]!, self: m }));

    // A fourth server, configured as the others are, finds a running cluster and joins it.
    const s4 = await startManagedEtcd({ ...(await opts(3)), retryJoin: addrs }).catch(failed);
    members.push(s4);
    await expect.poll(names, { timeout: 5000 }).toEqual(["s1", "s2", "s3", "s4"]);
    const s4pid = s4.pid!;

    // Removed (force-leave), its member stops, and its server does not start it again.
    await removeMember(client, "s4");
    // (etcd 3.4 lists members from the answering member's memory: it may apply the removal a moment later.)
    await expect.poll(names, { timeout: 5000 }).toEqual(["s1", "s2", "s3"]);
    await expect.poll(() => s4.state, { timeout: 10_000 }).toBe("removed");
    expect(s4.pid).toBeUndefined();
    expect(alive(s4pid)).toBe(false);
    await expect(removeMember(client, "s4")).rejects.toThrow(/no etcd member named or with ID s4/);

    // A member killed is started again by its server, on its data, and rejoins.
    const before = s2.pid!;
    process.kill(before, "SIGKILL");
    await expect.poll(() => s2.restarts, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => s2.pid !== undefined && s2.pid !== before, { timeout: 5000 }).toBe(true);
    const s2only = new Etcd3({ hosts: s2.clientURL });
    clients.push(s2only);
    await expect.poll(async () => s2only.get("/ruche/europe/x").string().catch(() => null), { timeout: 15_000 }).toBe("1");
    expect(lines.some((l) => l.startsWith("s2 warn this server's etcd member exited"))).toBe(true);

    // A server started again on its data dir runs its member again: same member, no bootstrap.
    await s1.stop();
    await listeners.shift()!.close();
    const again = await startManagedEtcd(await opts(0, dirs[0])).catch(failed);
    members.push(again);
    expect(again.state).toBe("running");
    expect(lines.some((l) => l.startsWith("s1 info starting this server's etcd member on its data"))).toBe(true);
    await expect.poll(names, { timeout: 5000 }).toEqual(["s1", "s2", "s3"]);

    // The members' statuses: one leader; a stopped member is listed unreachable, with why.
    // (Two members were started again a moment ago: each answers once it has caught up.)
    await expect
      .poll(async () => (await memberStatuses(client)).map((s) => [s.Name, s.Reachable, s.Error]), { timeout: 15_000 })
      .toEqual([["s1", true, ""], ["s2", true, ""], ["s3", true, ""]]);
    let statuses = await memberStatuses(client);
    expect(statuses.filter((s) => s.IsLeader)).toHaveLength(1);
    expect(statuses[0]!.Version).toMatch(/^3\.4\./);
    expect(statuses[0]!.ID).toMatch(/^[0-9a-f]+$/);
    await s3.stop();
    statuses = await memberStatuses(client);
    const down = statuses.find((s) => s.Name === "s3")!;
    expect(down.Reachable).toBe(false);
    expect(down.Error).not.toBe("");
  }, 120_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
