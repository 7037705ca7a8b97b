/**
 * Three servers that run their own etcd members (`-bootstrap-expect 3 -retry-join a,b,c`, as
 * README's "Three servers" configures them: each server's member is its child, on its HTTP
 * port + 1 and + 2, its data in `<data_dir>/etcd`), under the cluster's faults
 * (cluster-faults.ts). What a managed member changes in the phases:
 *
 * - kill -9 of the leader kills its etcd member with it (the parent-death signal): the two
 *   members left keep etcd's quorum. Beforehand, etcd's leader is on another server's member
 *   (the Ruche leader moves it away, agent/etcd-leadership.ts), so that the kill costs one
 *   election, Ruche's, within 3 s. Started again on its data dir, the server's member comes
 *   back as the same etcd member (same ID).
 * - etcd's faults hit the servers' children: a member killed is started again by its server
 *   (after 1 s); quorum is lost by holding two members with SIGSTOP (a killed one would come
 *   back by itself), then SIGCONT.
 *
 * It runs beside cluster.test.ts (external etcd) at the same time: its job, router host,
 * region, client ports (11000-13999) and dirs are its own.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { etcdHealth } from "../../src/state/index.js";
import type { EtcdMemberStatus } from "../../src/server/index.js";
import type { ClusterFleet, ClusterServer } from "./cluster-fleet.js";
import { http } from "./cluster-fleet.js";
import { clusterFaultTests, etcdLeaderOf, type EtcdMember } from "./cluster-faults.js";
import { until } from "./harness.js";

/**
 * The etcd processes (not yet reaped ones aside) whose `--data-dir` is `dataDir`, found in
 * /proc: a server's member is its child, and outlives it only if the parent-death signal failed.
 */
function etcdPids(dataDir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      const state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${name}/stat`, "utf8"))?.[1];
      if (argv[0] === "/usr/bin/etcd" && argv[argv.indexOf("--data-dir") + 1] === dataDir && state !== "Z") out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** The running process of `s`'s etcd member, checked to be its server's child. */
function memberPid(s: ClusterServer): number | undefined {
  const pid = etcdPids(join(s.dataDir, "etcd"))[0];
  if (pid === undefined) return undefined;
  const ppid = /^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1];
  if (Number(ppid) !== s.agent?.child.pid) throw new Error(`${s.name}'s etcd member (pid ${pid}) is the child of ${ppid ?? "?"}, not of its server (${s.agent?.child.pid ?? "not running"})`);
  return pid;
}

/** The pid each member had when the test last signalled it. */
const signalled = new Map<string, number>();

function member(s: ClusterServer): EtcdMember {
  return {
    name: s.name,
    clientURL: `http://127.0.0.1:${s.httpPort + 1}`,
    kill(signal) {
      const pid = memberPid(s);
      if (pid === undefined) throw new Error(`${s.name}'s etcd member does not run`);
      signalled.set(s.name, pid);
      process.kill(pid, signal);
    },
  };
}

function serverOf(f: ClusterFleet, m: EtcdMember): ClusterServer {
  const s = f.servers.find((x) => x.name === m.name);
  if (s === undefined) throw new Error(`no server named ${m.name}`);
  return s;
}

/** `s`'s etcd members as `/v1/operator/etcd/members` lists them. */
async function etcdMembers(s: ClusterServer): Promise<EtcdMemberStatus[]> {
  const r = await fetch(`http://${http(s)}/v1/operator/etcd/members`, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`/v1/operator/etcd/members on ${s.name} answered ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { Members: EtcdMemberStatus[] }).Members;
}

const brief = (ms: EtcdMemberStatus[]): string => ms.map((m) => `${m.Name} ${m.ID}${m.Reachable ? "" : " (unreachable)"}${m.IsLeader ? " (leader)" : ""}`).join(", ");

/** Each server's etcd member ID before the leader was killed. */
const memberIds = new Map<string, string>();

/** Waits until `s`'s member runs (again: not the process last signalled) and is healthy; how long it took. */
async function memberUp(s: ClusterServer, ms = 30_000): Promise<number> {
  const t = Date.now();
  await until(`${s.name}'s etcd member to run again and be healthy`, async () => {
    const pid = memberPid(s);
    if (pid === undefined || pid === signalled.get(s.name)) return undefined;
    return (await etcdHealth(member(s).clientURL)).healthy ? true : undefined;
  }, ms);
  return Date.now() - t;
}

clusterFaultTests({
  label: "cluster-managed e2e",
  title: "three servers that run their own etcd members, under faults",
  job: "cluster-managed-web",
  host: "cluster-managed.ruche.test",
  region: "e2e-managed",
  tmpPrefix: "ruche-cluster-managed-e2e-",
  // 11000-13999: below fleet.ts's (14000-16999) and cluster.test.ts's (17000-19999).
  dynamicPortBase: 11_000,
  logsEnv: "RUCHE_CLUSTER_MANAGED_E2E_LOGS",
  startEtcd: () => Promise.resolve("managed"),
  // The servers stop their members (and a killed server's member dies with it).
  stopEtcd: () => Promise.resolve(),
  members: (f) => f.servers.map(member),
  allMembersUp: async (f) => {
    for (const s of f.servers) {
      const pid = memberPid(s);
      if (pid !== undefined) process.kill(pid, "SIGCONT");
    }
    await Promise.all(
      f.servers.map((s) => until(`${s.name}'s etcd member to be healthy`, async () => ((await etcdHealth(member(s).clientURL)).healthy ? true : undefined), 30_000)),
    );
  },
  memberBack: async (f, m) => {
    const s = serverOf(f, m);
    const took = await memberUp(s);
    return `etcd member ${m.name} started again by its server, healthy ${took} ms after the kill was seen`;
  },
  // A killed member comes back by itself: two of three are held paused instead.
  loseQuorum: async (f, killedLeader) => {
    const back = await memberUp(serverOf(f, killedLeader));
    const members = f.servers.map(member);
    const paused = [members.find((m) => m.name === killedLeader.name), members.find((m) => m.name !== killedLeader.name)].filter((m) => m !== undefined);
    for (const m of paused) m.kill("SIGSTOP");
    return {
      what: `etcd leader ${killedLeader.name} back (started again by its server, healthy after ${back} ms); members ${paused.map((m) => m.name).join(" and ")} paused with SIGSTOP`,
      restore: () => {
        for (const m of paused) m.kill("SIGCONT");
        return Promise.resolve();
      },
    };
  },
  leaderKill: {
    before: async (f, leader) => {
      const listed = await etcdMembers(leader);
      for (const m of listed) memberIds.set(m.Name, m.ID);
      // The Ruche leader keeps etcd's leader on another server's member.
      const etcdLeader = await until(`etcd's leader to be on another server's member than the Ruche leader's (${leader.name})`, async () => {
        const l = await etcdLeaderOf(f.servers.map(member));
        return l.name === leader.name ? undefined : l;
      }, 10_000);
      return `etcd members ${brief(listed)}; etcd's leader on ${etcdLeader.name}'s member`;
    },
    after: async (_f, killed, survivors) => {
      const t = Date.now();
      await until(`${killed.name}'s etcd member to die with it`, () => (etcdPids(join(killed.dataDir, "etcd")).length === 0 ? true : undefined), 5000);
      const gone = Date.now() - t;
      const listed = await until("the two members left to hold etcd's quorum", async () => {
        const ms = await etcdMembers(survivors[0] as ClusterServer);
        const up = ms.filter((m) => m.Reachable);
        return up.length === 2 && up.some((m) => m.IsLeader) && !up.some((m) => m.Name === killed.name) ? ms : undefined;
      }, 10_000);
      return `${killed.name}'s etcd member gone with it (${gone} ms after the kill was seen); the two left hold the quorum: ${brief(listed)}`;
    },
    restarted: async (_f, s) => {
      const listed = await until(`${s.name}'s etcd member to be back as the same member`, async () => {
        const ms = await etcdMembers(s);
        return ms.length === 3 && ms.every((m) => m.Reachable) && ms.find((m) => m.Name === s.name)?.ID === memberIds.get(s.name) ? ms : undefined;
      }, 30_000).catch(async (err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}; before the kill: ${[...memberIds].map(([n, id]) => `${n} ${id}`).join(", ")}; now: ${brief(await etcdMembers(s).catch(() => []))}\n${s.agent?.err().split("\n").slice(-20).join("\n") ?? ""}`);
      });
      return `${s.name} back on its data dir, its etcd member the same (${memberIds.get(s.name) ?? "?"}): ${brief(listed)}`;
    },
  },
});
