/**
 * Consul's agent endpoints asked of a follower, on two servers of one region (on one external
 * etcd member, Debian's etcd-server), each running its own node (`-server -client`), driven by
 * python-consul2 (python3-consul2; python-consul 0.7.1 deregisters and passes TTL checks with
 * GETs, which Consul refuses since 1.0): the follower forwards the writes to the leader, and they act
 * on the follower's node, as a Consul agent's endpoints act on the agent asked — a service and
 * its check, a node check, maintenance, a session, and their removal — never on the leader's;
 * the follower probes the http check of a service registered through it, and its status
 * reaches the catalog through the leader.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEtcd, type EtcdTestCluster } from "../../src/state/etcd-testing.js";
import { NO_ACL_NO_TLS, startAgentProcess, until, type AgentProcess } from "./harness.js";
import { runPython } from "./python-consul.js";

const dir = mkdtempSync(join(tmpdir(), "ruche-consul-agent-follower-"));
let etcd: EtcdTestCluster | undefined;
const agents: AgentProcess[] = [];
let leader: AgentProcess;
let follower: AgentProcess;
let leaderName = "";
let followerName = "";

const py = (on: AgentProcess, script: string): Promise<string> => runPython("python3-consul2", `c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))\n${script}`, on.consulAddress.split(":"));
const getJson = async <T>(on: AgentProcess, path: string): Promise<T> => (await (await fetch(`http://${on.consulAddress}${path}`)).json()) as T;

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  const endpoint = etcd.members[0]?.clientURL ?? "";
  const server = async (name: string): Promise<AgentProcess> => {
    const s = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-client", "-bind", "127.0.0.1", "-etcd-endpoints", endpoint, "-region", "fw17", "-node", name, "-data-dir", join(dir, name), "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
    agents.push(s);
    return s;
  };
  const [a, b] = await Promise.all([server("fw-a"), server("fw-b")]);
  const raft = await until("both servers in the region, one leading", async () => {
    const r = await getJson<{ Servers: { Node: string; Leader: boolean }[] }>(a, "/v1/operator/raft/configuration");
    return r.Servers.length === 2 && r.Servers.some((s) => s.Leader) ? r : undefined;
  }, 40_000);
  leaderName = raft.Servers.find((s) => s.Leader)?.Node ?? "";
  [leader, follower] = leaderName === "fw-a" ? [a, b] : [b, a];
  followerName = leaderName === "fw-a" ? "fw-b" : "fw-a";
  await until("both servers' nodes in the catalog", async () => {
    const nodes = await getJson<{ Node: string }[]>(follower, "/v1/catalog/nodes");
    return ["fw-a", "fw-b"].every((n) => nodes.some((x) => x.Node === n)) ? true : undefined;
  }, 40_000);
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((x) => x.stop()));
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("Consul's agent endpoints asked of a follower", () => {
  it("register a service and checks on the follower's node, put it in maintenance, and remove them there", async () => {
    const registered = await py(follower, `
c.agent.service.register("web", service_id="web-1", port=8080, check=consul.Check.ttl("30s"))
c.agent.check.register("disk", check=consul.Check.ttl("30s"), check_id="disk")
print(c.agent.check.ttl_pass("service:web-1", "all good"))
index, nodes = c.catalog.service("web")
print(len(nodes), nodes[0]["Node"], nodes[0]["ServiceID"])
print(sorted(c.agent.services().keys()), sorted(k for k in c.agent.checks().keys()))
print(c.agent.checks()["service:web-1"]["Status"], c.agent.checks()["service:web-1"]["Output"])
`);
    expect(registered.trim().split("\n")).toEqual(["True", `1 ${followerName} web-1`, "['web-1'] ['disk', 'service:web-1']", "passing all good"]);
    // The leader's agent has none of them.
    const onLeader = await py(leader, `
print(sorted(c.agent.services().keys()), sorted(c.agent.checks().keys()))
`);
    expect(onLeader.trim()).toBe("[] []");

    const maint = await py(follower, `
c.agent.maintenance(True, "upgrading")
c.agent.service.maintenance("web-1", True, "deploying")
for node in (sys.argv[3], sys.argv[4]):
    index, checks = c.health.node(node)
    print(node, sorted(x["CheckID"] for x in checks if x["CheckID"] != "serfHealth"))
index, nodes = c.health.service("web")
print([x["Node"]["Node"] for x in nodes], [x["Notes"] for x in nodes[0]["Checks"] if x["CheckID"].startswith("_")])
`.replace("sys.argv[3], sys.argv[4]", `"${followerName}", "${leaderName}"`));
    expect(maint.trim().split("\n")).toEqual([`${followerName} ['_node_maintenance', '_service_maintenance:web-1', 'disk', 'service:web-1']`, `${leaderName} []`, `['${followerName}'] ['upgrading', 'deploying']`]);

    // The follower's own answer, a status code: 503 in maintenance.
    const health = await fetch(`http://${follower.consulAddress}/v1/agent/health/service/id/web-1?format=text`);
    expect([health.status, await health.text()]).toEqual([503, "maintenance"]);

    const session = await py(follower, `
sid = c.session.create(name="lock", checks=[])
print(c.session.info(sid)[1]["Node"])
c.session.destroy(sid)
`);
    expect(session.trim()).toBe(followerName);

    const gone = await py(follower, `
c.agent.maintenance(False)
c.agent.service.maintenance("web-1", False)
c.agent.check.deregister("disk")
c.agent.service.deregister("web-1")
index, nodes = c.catalog.service("web")
print(len(nodes), sorted(c.agent.services().keys()), sorted(c.agent.checks().keys()))
index, checks = c.health.node(sys.argv[3])
print(sorted(x["CheckID"] for x in checks))
`.replace("sys.argv[3]", `"${followerName}"`));
    expect(gone.trim().split("\n")).toEqual(["0 [] []", "['serfHealth']"]);
  }, 40_000);

  it("the follower probes the http check of a service registered through it, and its status reaches the catalog", async () => {
    let healthy = true;
    const target = createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 500).end(healthy ? "ok" : "down");
    });
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
    const port = (target.address() as { port: number }).port;
    try {
      await py(follower, `c.agent.service.register("api", service_id="api-1", port=${port}, check=consul.Check.http("http://127.0.0.1:${port}/health", "1s"))`);
      const status = (): Promise<string> => py(leader, `
index, checks = c.health.checks("api")
print(" ".join(x["Node"] + ":" + x["Status"] for x in checks))
`).then((o) => o.trim());
      await until("the check passing", async () => ((await status()) === `${followerName}:passing` ? true : undefined), 15_000);
      healthy = false;
      await until("the check critical", async () => ((await status()) === `${followerName}:critical` ? true : undefined), 15_000);
      await py(follower, `c.agent.service.deregister("api-1")`);
    } finally {
      target.close();
    }
  }, 40_000);
});
