/**
 * The tests' etcd clusters are real: three members of Debian's etcd form one cluster that
 * takes writes through any member, and goes on taking them with one member killed.
 */
import { Etcd3 } from "etcd3";
import { afterAll, describe, expect, it } from "vitest";
import { checkEtcdBinary } from "./etcd-process.js";
import { startEtcd, type EtcdTestCluster } from "./etcd-testing.js";

describe("startEtcd", () => {
  let cluster: EtcdTestCluster | undefined;
  const clients: Etcd3[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  it("runs three members as one cluster that survives the loss of one", async () => {
    cluster = await startEtcd({ members: 3 });
    const { members, endpoints } = cluster;
    expect(endpoints).toHaveLength(3);
    for (const m of members) expect(m.pid).toBeGreaterThan(0);

    // Written through the first member, read through the last: one cluster, not three.
    const first = new Etcd3({ hosts: endpoints[0]! });
    const last = new Etcd3({ hosts: endpoints[2]! });
    clients.push(first, last);
    await first.put("/ruche-test/a").value("1");
    expect(await last.get("/ruche-test/a").string()).toBe("1");
    const list = await first.cluster.memberList({});
    expect(list.members.map((m) => m.name).sort()).toEqual(["etcd0", "etcd1", "etcd2"]);

    // One member killed: the two others still have a quorum and take writes.
    const killed = members[0]!;
    const pid = killed.pid!;
    killed.kill("SIGKILL");
    // Counted out at once, gone once its exit is seen.
    expect(killed.running).toBe(false);
    await expect.poll(() => processAlive(pid), { timeout: 5000 }).toBe(false);
    await last.put("/ruche-test/b").value("2");
    expect(await last.get("/ruche-test/b").string()).toBe("2");

    // Started again on its data dir, it catches up with what it missed.
    await killed.start();
    await killed.waitHealthy();
    expect(await first.get("/ruche-test/b").string()).toBe("2");

    const pids = members.map((m) => m.pid!);
    await cluster.stop();
    cluster = undefined;
    for (const p of pids) expect(processAlive(p)).toBe(false);
  }, 60_000);

  it("names the Debian package when etcd is missing", async () => {
    await expect(checkEtcdBinary("/nonexistent/etcd")).rejects.toThrow(/etcd is not installed: \/nonexistent\/etcd is missing .*Debian's etcd-server package/);
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
