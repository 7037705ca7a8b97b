/**
 * Consul's user events and nodes' coordinates on two servers of one region (on one external
 * etcd member, Debian's etcd-server), with a node agent joined to them, driven by
 * python-consul (python3-consul): an event fired on one server is listed on the other, whose
 * blocking list wakes for it; the node's coordinate, sent with its heartbeats, is read on
 * either server.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEtcd, type EtcdTestCluster } from "../../src/state/etcd-testing.js";
import { NO_ACL_NO_TLS, startAgentProcess, until, type AgentProcess } from "./harness.js";
import { runPython } from "./python-consul.js";

const dir = mkdtempSync(join(tmpdir(), "ruche-consul-cluster-events-"));
let etcd: EtcdTestCluster | undefined;
const agents: AgentProcess[] = [];
let a: AgentProcess;
let b: AgentProcess;

const py = (on: AgentProcess, script: string): Promise<string> => runPython("python3-consul", `c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))\n${script}`, on.consulAddress.split(":"));
const getJson = async <T>(on: AgentProcess, path: string): Promise<T> => (await (await fetch(`http://${on.consulAddress}${path}`)).json()) as T;

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
  const endpoint = etcd.members[0]?.clientURL ?? "";
  const server = async (name: string): Promise<AgentProcess> => {
    const s = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-etcd-endpoints", endpoint, "-region", "events19", "-node", name, "-data-dir", join(dir, name), "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
    agents.push(s);
    return s;
  };
  a = await server("ev-a");
  b = await server("ev-b");
  await until("both servers in the region", async () => ((await getJson<{ Servers: unknown[] }>(b, "/v1/operator/raft/configuration")).Servers.length === 2 ? true : undefined), 60_000);
  agents.push(await startAgentProcess([...NO_ACL_NO_TLS, "-client", "-servers", `${a.address},${b.address}`, "-node", "ev-node", "-data-dir", join(dir, "node"), "-http-port", "0"]));
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((x) => x.stop()));
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("user events and coordinates on two servers", () => {
  it("an event fired on one server is listed on the other, and wakes the other's blocking list", async () => {
    const first = await py(a, `
ev = c.event.fire("deploy", "v7")
print(ev["Name"], ev["Payload"], ev["Version"])
`);
    expect(first.trim()).toBe("deploy djc= 1");
    const listed = await py(b, `
index, evs = c.event.list(name="deploy")
print(len(evs), evs[0]["Name"], evs[0]["Payload"], evs[0]["Version"], evs[0]["LTime"] > 0, int(index) > 0)
`);
    expect(listed.trim()).toBe("1 deploy b'v7' 1 True True");
    // A blocking list on the second server, at the index it has, answers once the first fires another.
    const res = await fetch(`http://${b.consulAddress}/v1/event/list`);
    const index = res.headers.get("x-consul-index") ?? "";
    const t = Date.now();
    const waiting = fetch(`http://${b.consulAddress}/v1/event/list?index=${index}&wait=20s`);
    await new Promise((r) => setTimeout(r, 500));
    await py(a, `c.event.fire("later", "")`);
    const woke = await waiting;
    expect(Date.now() - t).toBeLessThan(15_000);
    expect(((await woke.json()) as { Name: string }[]).map((e) => e.Name)).toEqual(["deploy", "later"]);
    expect(woke.headers.get("x-consul-index")).not.toBe(index);
  }, 60_000);

  it("the node's coordinate, sent with its heartbeats, is read on either server", async () => {
    for (const s of [a, b]) await until(`the node's coordinate on ${s.consulAddress}`, async () => ((await getJson<{ Node: string }[]>(s, "/v1/coordinate/nodes")).some((c) => c.Node === "ev-node") ? true : undefined), 40_000);
    const out = await py(b, `
index, coords = c.coordinate.nodes()
x = [k for k in coords if k["Node"] == "ev-node"][0]
print(len(x["Coord"]["Vec"]), x["Coord"]["Error"] < 1.5)
`);
    expect(out.trim()).toBe("8 True");
  }, 60_000);
});
