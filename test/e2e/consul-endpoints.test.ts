/**
 * Consul's agent, catalog, event and operator endpoints, `?filter=` and the registration
 * details, driven by the clients people use against Consul — python-consul (Debian's
 * python3-consul), the `consul` npm client and curl — against a dev agent, as they are.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Consul from "consul";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgentProcess, until, type AgentProcess } from "./harness.js";
import { runPython } from "./python-consul.js";

const exec = promisify(execFile);
let agent: AgentProcess;

const url = (path: string): string => `http://${agent.consulAddress}${path}`;

/** curl, which must be installed (scripts/test-deps.sh): its status code and body. */
async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  try {
    const { stdout } = await exec("curl", ["-sS", "-w", "\n%{http_code}", ...args], { timeout: 20_000 });
    const i = stdout.lastIndexOf("\n");
    return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") throw new Error("curl is not installed: scripts/test-deps.sh installs it (Debian package curl)", { cause: err });
    throw err;
  }
}

const py = (script: string): Promise<string> => runPython("python3-consul", `c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))\nimport json\n${script}`, agent.consulAddress.split(":"));

beforeAll(async () => {
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1", "-router-dashboard-port", "-1", "-datacenter", "dc-e"]);
  // The dev agent's node is in the catalog once its agent registered it.
  await until("the dev node in the catalog", async () => ((JSON.parse((await curl(url("/v1/catalog/nodes"))).body) as unknown[]).length > 0 ? true : undefined), 30_000);
}, 60_000);

afterAll(async () => {
  await agent.stop();
});

describe("registration details and default check IDs", () => {
  it("stores Weights, EnableTagOverride, Meta and TaggedAddresses and answers them where Consul does; several checks are service:ID:1, :2", async () => {
    const def = { ID: "web-1", Name: "web", Tags: ["v1"], Port: 8080, Address: "127.0.0.1", Meta: { env: "prod" }, EnableTagOverride: true, Weights: { Passing: 5, Warning: 2 }, TaggedAddresses: { lan: { Address: "10.1.0.1", Port: 8080 } }, Checks: [{ TTL: "30s" }, { TTL: "60s" }] };
    expect((await curl("-X", "PUT", "--data", JSON.stringify(def), url("/v1/agent/service/register"))).status).toBe(200);
    const agentSvc = JSON.parse((await curl(url("/v1/agent/service/web-1"))).body) as Record<string, unknown>;
    expect(agentSvc).toMatchObject({ ID: "web-1", Service: "web", Weights: { Passing: 5, Warning: 2 }, EnableTagOverride: true, Meta: { env: "prod" }, TaggedAddresses: { lan: { Address: "10.1.0.1", Port: 8080 } }, Datacenter: "dc-e" });
    expect(typeof agentSvc.ContentHash).toBe("string");
    // Consul's hash-based blocking: the same hash waits until the service changes, then answers with the new one.
    const t = Date.now();
    const waiting = curl(url(`/v1/agent/service/web-1?hash=${String(agentSvc.ContentHash)}&wait=20s`));
    await new Promise((r) => setTimeout(r, 500));
    await curl("-X", "PUT", "--data", JSON.stringify({ ...def, Tags: ["v1", "blue"] }), url("/v1/agent/service/register"));
    const changed = await waiting;
    expect(Date.now() - t).toBeLessThan(15_000);
    expect(JSON.parse(changed.body)).toMatchObject({ Tags: ["v1", "blue"] });
    expect((JSON.parse(changed.body) as { ContentHash: string }).ContentHash).not.toBe(agentSvc.ContentHash);
    const [cat] = JSON.parse((await curl(url("/v1/catalog/service/web"))).body) as Record<string, unknown>[];
    expect(cat).toMatchObject({ ServiceWeights: { Passing: 5, Warning: 2 }, ServiceEnableTagOverride: true, ServiceTaggedAddresses: { lan: { Address: "10.1.0.1", Port: 8080 } }, ServiceMeta: { env: "prod" } });
    // Two checks without IDs: Consul's service:web-1:1 and :2; a heartbeat to :1 is found.
    expect((await curl("-X", "PUT", url("/v1/agent/check/pass/service:web-1:1"))).status).toBe(200);
    const checks = JSON.parse((await curl(url("/v1/agent/checks"))).body) as Record<string, { Status: string }>;
    expect(checks["service:web-1:1"]?.Status).toBe("passing");
    expect(checks["service:web-1:2"]?.Status).toBe("critical");
    // A bad weight is refused as Consul refuses it.
    const bad = await curl("-X", "PUT", "--data", JSON.stringify({ Name: "x", Weights: { Passing: 0, Warning: 1 } }), url("/v1/agent/service/register"));
    expect(bad.status).toBe(400);
    expect(bad.body).toContain("Passing must be greater than 0");
  });

  it("agent/health/service answers 503 while a check is critical, 200 once all pass, in Consul's shape; text with ?format=text", async () => {
    const crit = await curl(url("/v1/agent/health/service/name/web"));
    expect(crit.status).toBe(503);
    const [entry] = JSON.parse(crit.body) as { AggregatedStatus: string; Service: { ID: string }; Checks: { CheckID: string }[] }[];
    expect(entry?.AggregatedStatus).toBe("critical");
    expect(entry?.Service.ID).toBe("web-1");
    await curl("-X", "PUT", url("/v1/agent/check/pass/service:web-1:2"));
    expect((await curl(url("/v1/agent/health/service/id/web-1?format=text"))).body).toBe("passing");
    expect((await curl(url("/v1/agent/health/service/id/web-1"))).status).toBe(200);
    expect((await curl(url("/v1/agent/health/service/id/nothing"))).status).toBe(404);
  });
});

describe("registered HTTP and TCP checks", () => {
  it("fill Output for a failing check from its first probe, though its status stays critical", async () => {
    const def = { ID: "down-1", Name: "down", Port: 1, Checks: [{ CheckID: "down-http", HTTP: "http://127.0.0.1:1/health", Interval: "1s", Timeout: "1s" }, { CheckID: "down-tcp", TCP: "127.0.0.1:1", Interval: "1s", Timeout: "1s" }] };
    expect((await curl("-X", "PUT", "--data", JSON.stringify(def), url("/v1/agent/service/register"))).status).toBe(200);
    const outputs = await until(
      "the failing checks' output",
      async () => {
        const checks = JSON.parse((await curl(url("/v1/health/checks/down"))).body) as { CheckID: string; Status: string; Output: string }[];
        return checks.length === 2 && checks.every((c) => c.Output !== "") ? checks : undefined;
      },
      15_000,
    );
    expect(outputs.find((c) => c.CheckID === "down-http")).toMatchObject({ Status: "critical", Output: expect.stringMatching(/^HTTP http:\/\/127\.0\.0\.1:1\/health: /) as unknown });
    expect(outputs.find((c) => c.CheckID === "down-tcp")).toMatchObject({ Status: "critical", Output: expect.stringMatching(/^TCP connect 127\.0\.0\.1:1: /) as unknown });
    await curl("-X", "PUT", url("/v1/agent/service/deregister/down-1"));
  });
});

describe("?filter= with Consul's grammar, through curl", () => {
  it("filters health, catalog and agent answers; a malformed filter is 400 saying where", async () => {
    await curl("-X", "PUT", "--data", JSON.stringify({ ID: "web-2", Name: "web", Tags: ["v2"], Port: 8081, Meta: { env: "dev" } }), url("/v1/agent/service/register"));
    const get = async (path: string, filter: string): Promise<unknown> => JSON.parse((await curl("-G", url(path), "--data-urlencode", `filter=${filter}`)).body);
    expect(((await get("/v1/health/service/web", 'Service.Meta.env == "dev"')) as { Service: { ID: string } }[]).map((e) => e.Service.ID)).toEqual(["web-2"]);
    expect(((await get("/v1/catalog/service/web", '"v1" in ServiceTags and ServicePort == 8080')) as { ServiceID: string }[]).map((e) => e.ServiceID)).toEqual(["web-1"]);
    expect(Object.keys((await get("/v1/agent/services", 'Service == "web" and Meta["env"] matches "^d"')) as object)).toEqual(["web-2"]);
    expect(Object.keys((await get("/v1/catalog/services", 'ServiceMeta.env == "dev"')) as object)).toEqual(["web"]);
    expect(((await get("/v1/health/state/any", 'ServiceID == "web-1" and Status == passing')) as unknown[]).length).toBe(2);
    const bad = await curl("-G", url("/v1/health/service/web"), "--data-urlencode", 'filter=Service.ID == "web');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain("Failed to create result filter: 1:15 (14): Unterminated string literal");
  });
});

describe("python-consul", () => {
  it("reads agent.members(), fires and lists events (base64 payloads, ?name=, the index of the last), and blocks until the next", async () => {
    const out = await py(`
members = c.agent.members()
print(json.dumps(sorted(set((m["Tags"]["role"], m["Status"]) for m in members))))
c.event.fire("deploy", "v42")
c.event.fire("other", "x")
index, evs = c.event.list(name="deploy")
print(json.dumps([[e["Name"], e["Payload"].decode()] for e in evs]))
index, evs = c.event.list()
print(len(evs), index == str(index) and int(index) > 0)
import threading, time
threading.Timer(0.5, lambda: c.event.fire("later", "")).start()
t = time.time()
index2, evs2 = c.event.list(index=index, wait="10s")
print(evs2[-1]["Name"], evs2[-1]["Payload"], index2 != index, 0.3 < time.time() - t < 9)
`);
    const lines = out.trim().split("\n");
    // The dev agent is a server and a client: one agent, listed once, alive.
    expect(JSON.parse(lines[0] ?? "")).toEqual([["consul", 1]]);
    expect(JSON.parse(lines[1] ?? "")).toEqual([["deploy", "v42"]]);
    expect(lines[2]).toBe("2 True");
    expect(lines[3]).toBe("later None True True");
  });

  it("registers a node check and a check of a service, deregisters one; agent.maintenance and service maintenance add and remove Consul's critical checks", async () => {
    const out = await py(`
c.agent.check.register("mem", consul.Check.ttl("30s"), notes="memory")
c.agent.check.register("web-extra", consul.Check.ttl("30s"), service_id="web-2")
checks = c.agent.checks()
print(json.dumps(sorted(k for k in checks if k in ("mem", "web-extra"))), checks["mem"]["ServiceID"] == "", checks["web-extra"]["ServiceName"])
# python-consul 0.7.1 deregisters with GET, which Consul 1.x refuses (405): the PUT Consul takes, through its own client.
c.http.put(consul.base.CB.bool(), "/v1/agent/check/deregister/web-extra")
print("web-extra" in c.agent.checks())
c.agent.maintenance(True, "patching")
m = c.agent.checks()["_node_maintenance"]
print(m["Status"], m["Notes"], m["Name"])
c.agent.service.maintenance("web-1", True)
s = c.agent.checks()["_service_maintenance:web-1"]
print(s["Status"], s["ServiceID"], s["Notes"].startswith("Maintenance mode is enabled for this service"))
c.agent.maintenance(False)
c.agent.service.maintenance("web-1", False)
print(sorted(k for k in c.agent.checks() if k.startswith("_")))
`);
    const lines = out.trim().split("\n");
    expect(lines[0]).toBe('["mem", "web-extra"] True web');
    expect(lines[1]).toBe("False");
    expect(lines[2]).toBe("critical patching Node Maintenance Mode");
    expect(lines[3]).toBe("critical web-1 True");
    expect(lines[4]).toBe("[]");
  });

  it("registers an external service on a node of its own with catalog.register, finds it in catalog and health, deregisters it", async () => {
    const out = await py(`
c.catalog.register("ext-db", "10.9.0.1", service={"Service": "db", "ID": "db-1", "Port": 5432, "Tags": ["primary"]}, check={"Node": "ext-db", "CheckID": "db-alive", "Name": "db alive", "Status": "passing", "ServiceID": "db-1"})
index, nodes = c.catalog.nodes()
print("ext-db" in [n["Node"] for n in nodes])
index, svc = c.catalog.service("db")
print(svc[0]["Node"], svc[0]["Address"], svc[0]["ServicePort"])
index, h = c.health.service("db", passing=True)
print(len(h), [x["CheckID"] for x in h[0]["Checks"]])
c.catalog.deregister("ext-db")
index, svc = c.catalog.service("db")
index, nodes = c.catalog.nodes()
print(len(svc), "ext-db" in [n["Node"] for n in nodes])
`);
    expect(out.trim().split("\n")).toEqual(["True", "ext-db 10.9.0.1 5432", "1 ['db-alive']", "0 False"]);
  });

  it("reads operator.raft_config() from the servers; the node's coordinate appears after its heartbeats, in Consul's shape, and ?near= sorts by it", async () => {
    const cfg = await py(`
cfg = c.operator.raft_config()
print(len(cfg["Servers"]), cfg["Servers"][0]["Leader"], cfg["Servers"][0]["Voter"])
`);
    expect(cfg.trim()).toBe("1 True True");
    // The node agent sends its coordinate with its heartbeats; the server writes them every 5 s (Consul's coordinate_update_period).
    await until("the dev node's coordinate", async () => ((JSON.parse((await curl(url("/v1/coordinate/nodes"))).body) as unknown[]).length > 0 ? true : undefined), 30_000);
    const out = await py(`
index, coords = c.coordinate.nodes()
x = coords[0]
print(len(coords), sorted(x.keys()), len(x["Coord"]["Vec"]), sorted(x["Coord"].keys()), x["Segment"] == "", int(index) > 0)
index, nodes = c.catalog.nodes(near="_agent")
print(nodes[0]["Node"] == x["Node"])
`);
    const lines = out.trim().split("\n");
    expect(lines[0]).toBe("1 ['Coord', 'Node', 'Segment'] 8 ['Adjustment', 'Error', 'Height', 'Vec'] True True");
    expect(lines[1]).toBe("True");
    const nodes = await curl("-i", url("/v1/coordinate/nodes"));
    expect(nodes.body).toMatch(/x-consul-index: [1-9]/i);
    const [one] = JSON.parse((await curl(url("/v1/catalog/nodes"))).body) as { Node: string }[];
    const node = one?.Node ?? "";
    expect((JSON.parse((await curl(url(`/v1/coordinate/node/${node}`))).body) as { Node: string }[])[0]?.Node).toBe(node);
    expect((await curl(url("/v1/coordinate/node/nowhere"))).status).toBe(404);
    // An update as Consul's API takes it; a bad coordinate, or a node the catalog does not have, is refused with what is wrong.
    const coord = { Vec: [0.001, 0, 0, 0, 0, 0, 0, 0], Error: 0.2, Adjustment: 0, Height: 0.0001 };
    expect((await curl("-X", "PUT", "--data", JSON.stringify({ Node: node, Coord: coord }), url("/v1/coordinate/update"))).status).toBe(200);
    const bad = await curl("-X", "PUT", "--data", JSON.stringify({ Node: node, Coord: { ...coord, Vec: [1, 2] } }), url("/v1/coordinate/update"));
    expect(bad).toEqual({ status: 400, body: "rejected bad coordinate: dimensions aren't compatible: Vec has 2, want 8" });
    expect((await curl("-X", "PUT", "--data", JSON.stringify({ Node: "nowhere", Coord: coord }), url("/v1/coordinate/update"))).body).toContain('Node "nowhere" is not in the catalog');
    // ?near=: an external node half a second away from the origin; each node is nearest to itself.
    expect((await curl("-X", "PUT", "--data", JSON.stringify({ Node: "far-ext", Address: "10.9.9.9" }), url("/v1/catalog/register"))).status).toBe(200);
    expect((await curl("-X", "PUT", "--data", JSON.stringify({ node: "far-ext", coord: { vec: [0.5, 0, 0, 0, 0, 0, 0, 0], error: 0.2, adjustment: 0, height: 0.0001 } }), url("/v1/coordinate/update"))).status).toBe(200);
    const firstNear = async (near: string): Promise<string | undefined> => (JSON.parse((await curl(url(`/v1/catalog/nodes?near=${near}`))).body) as { Node: string }[])[0]?.Node;
    await until("far-ext's coordinate", async () => ((await firstNear("far-ext")) === "far-ext" ? true : undefined), 20_000);
    expect(await firstNear("_agent")).toBe(node);
    expect((await curl("-X", "PUT", "--data", JSON.stringify({ Node: "far-ext" }), url("/v1/catalog/deregister"))).status).toBe(200);
    // Its coordinate leaves with it, as in Consul.
    expect((await curl(url("/v1/coordinate/node/far-ext"))).status).toBe(404);
  }, 60_000);
});

describe("the consul npm client", () => {
  it("lists members, fires an event with a payload, registers and deregisters an external node, lists catalog node services", async () => {
    const [host, port] = agent.consulAddress.split(":") as [string, string];
    const consul = new Consul({ host, port: Number(port) });
    const members = (await consul.agent.members()) as { Status: number }[];
    expect(members.length).toBeGreaterThan(0);
    const ev = (await consul.event.fire({ name: "npm-deploy", payload: "hello" } as never)) as { Name: string; Payload: string };
    expect(ev.Name).toBe("npm-deploy");
    expect(ev.Payload).toBe("hello"); // the client decodes Consul's base64
    const listed = (await consul.event.list({ name: "npm-deploy" } as never)) as { Payload: unknown }[];
    expect(listed).toHaveLength(1);
    await consul.catalog.register({ node: "ext-cache", address: "10.9.0.2", service: { service: "cache", port: 6379 } } as never);
    const ns = JSON.parse((await curl(url("/v1/catalog/node-services/ext-cache"))).body) as { Node: { Node: string }; Services: { Service: string }[] };
    expect(ns.Node.Node).toBe("ext-cache");
    expect(ns.Services.map((s) => s.Service)).toEqual(["cache"]);
    await consul.catalog.deregister({ node: "ext-cache" } as never);
    expect((await curl(url("/v1/catalog/node-services/ext-cache"))).body).toBe("null");
  });
});

describe("snapshots, with curl as Consul's docs show them", () => {
  it("saves the KV and the registrations as Consul's archive (gzipped tar: meta.json, state.bin, SHA256SUMS) and restores them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-consul-snap-"));
    try {
      const file = join(dir, "backup.snap");
      await curl("-X", "PUT", "--data", "before", url("/v1/kv/snap/key"));
      await curl("-X", "PUT", "--data", JSON.stringify({ ID: "snap-1", Name: "snap", Port: 1 }), url("/v1/agent/service/register"));
      const saved = await curl("-o", file, "-D", "-", url("/v1/snapshot"));
      expect(saved.status).toBe(200);
      expect(saved.body).toMatch(/x-consul-index: \d+/i);
      const listing = (await exec("tar", ["-tzf", file])).stdout.trim().split("\n");
      expect(listing).toEqual(["meta.json", "state.bin", "SHA256SUMS"]);
      expect((await exec("sh", ["-c", `cd ${dir} && tar -xzf backup.snap && sha256sum -c SHA256SUMS`])).stdout).toMatch(/meta.json: OK\nstate.bin: OK/);

      await curl("-X", "PUT", "--data", "after", url("/v1/kv/snap/key"));
      await curl("-X", "PUT", "--data", "x", url("/v1/kv/snap/new"));
      await curl("-X", "PUT", url("/v1/agent/service/deregister/snap-1"));
      expect((await curl("-X", "PUT", "--data-binary", `@${file}`, url("/v1/snapshot"))).status).toBe(200);
      expect((await curl(url("/v1/kv/snap/key?raw"))).body).toBe("before");
      expect((await curl(url("/v1/kv/snap/new"))).status).toBe(404);
      expect((JSON.parse((await curl(url("/v1/catalog/service/snap"))).body) as unknown[]).length).toBe(1);

      const bad = await curl("-X", "PUT", "--data-binary", "not an archive", url("/v1/snapshot"));
      expect(bad.status).toBe(400);
      expect(bad.body).toContain("not a gzipped snapshot archive");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

