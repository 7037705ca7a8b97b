/**
 * Three servers on a three-member etcd started apart from them (an external etcd, real
 * processes of Debian's etcd-server), under the cluster's faults (cluster-faults.ts): a
 * member of etcd is killed and started again by the test, and quorum is lost by killing a
 * second member while the first is down. cluster-managed.test.ts runs the same phases on
 * servers that run their own etcd members; the two files can run at the same time (their
 * job, router host, region, ports and dirs differ).
 */
import { startEtcd, type EtcdProc, type EtcdTestCluster } from "../../src/state/etcd-testing.js";
import { clusterFaultTests } from "./cluster-faults.js";

let etcd: EtcdTestCluster | undefined;

const cluster = (): EtcdTestCluster => {
  if (etcd === undefined) throw new Error("the etcd cluster did not start");
  return etcd;
};
/** The process of a member the phases name. */
const proc = (m: { name: string }): EtcdProc => {
  const p = cluster().members.find((x) => x.name === m.name);
  if (p === undefined) throw new Error(`no etcd member ${m.name}`);
  return p;
};

clusterFaultTests({
  label: "cluster e2e",
  title: "three servers on a three-member etcd, under faults",
  job: "cluster-web",
  host: "cluster.ruche.test",
  region: "e2e",
  tmpPrefix: "ruche-cluster-e2e-",
  // 17000-19999: above fleet.ts's (14000-16999) and below the agents' default range.
  dynamicPortBase: 17_000,
  logsEnv: "RUCHE_CLUSTER_E2E_LOGS",
  startEtcd: async () => {
    etcd = await startEtcd({ members: 3 });
    return { endpoints: etcd.endpoints };
  },
  stopEtcd: async () => {
    await etcd?.stop();
  },
  members: () => cluster().members,
  allMembersUp: async () => {
    const e = cluster();
    for (const m of e.members.filter((x) => !x.running)) await m.start();
    await Promise.all(e.members.map((m) => m.waitHealthy(30_000)));
  },
  memberBack: async (_f, m) => {
    const p = proc(m);
    const t = Date.now();
    await p.start();
    await p.waitHealthy();
    return `etcd member ${p.name} started again by the test, healthy after ${Date.now() - t} ms`;
  },
  // The etcd leader is down; a second member killed leaves one of three.
  loseQuorum: (_f, killedLeader) => {
    const e = cluster();
    const second = e.members.find((m) => m !== killedLeader && m.running);
    if (second === undefined) throw new Error("no second etcd member runs");
    second.kill("SIGKILL");
    return Promise.resolve({
      what: `etcd members ${killedLeader.name} and ${second.name} killed`,
      restore: async () => {
        await Promise.all([proc(killedLeader).start(), second.start()]);
      },
    });
  },
});
