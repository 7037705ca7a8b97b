/**
 * Consul's prepared queries failing over across datacenters, as the reference articles' two
 * clouds would use them: two single-server regions as their own processes, `europe`
 * (datacenter europe-west1) and `us` (us-west-2), each with two simulated nodes, TLS and ACLs
 * off, federated by us's `-retry-join-wan` to europe. The article's demoapp runs in both; a
 * query defined on europe only (made with the `consul` npm client) answers europe's
 * instances; once europe's job is stopped it answers us's (`Failovers: 1`), through the HTTP
 * API, `dig NAME.query.consul` and python-consul; run again in europe, it answers europe's
 * again.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Consul from "consul";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, root, ruche, srvTarget, startAgentProcess, until } from "./harness.js";

let dir = "";
let europe: AgentProcess | undefined;
let us: AgentProcess | undefined;

const SERVICE = "demoapp-webs-frontend";

function regionArgs(name: string, region: string, dc: string): string[] {
  return [...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-sim-nodes", "2", "-node", name, "-region", region, "-datacenter", dc, "-data-dir", join(dir, name)];
}

function agent(a: AgentProcess | undefined): AgentProcess {
  if (a === undefined) throw new Error("the agent did not start");
  return a;
}

/** `dig @DNS NAME TYPE +short` against an agent's DNS interface: its answer lines. */
async function dig(a: AgentProcess, name: string, type: string): Promise<string[]> {
  const [host, port] = a.dnsAddress.split(":") as [string, string];
  const { stdout } = await promisify(execFile)("dig", [`@${host}`, "-p", port, name, type, "+short", "+tries=1", "+time=5"], { timeout: 20_000 });
  return stdout.split("\n").filter((l) => l !== "");
}

async function call(address: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${address}${path}`, { method, ...(body === undefined ? {} : { body }) });
  return { status: res.status, text: await res.text() };
}

/** The consul npm client on an agent's Consul-compatible port. */
function consulOf(a: AgentProcess): Consul {
  const [host, port] = a.consulAddress.split(":") as [string, string];
  return new Consul({ host, port: Number(port) });
}

interface Executed {
  Service: string;
  Datacenter: string;
  Failovers: number;
  Nodes: { Node: { Node: string; Datacenter: string }; Service: { ID: string; Port: number } }[];
}

/**
 * python-consul (Debian's python3-consul, which scripts/test-deps.sh installs), used as its
 * documentation shows against an agent's Consul port: a query made with `create` (the client
 * sends its fields in lower case, and always as a `name_prefix_match` template), read with
 * `get`, `list` and `explain`, executed, deleted. Prints what each answered, as JSON.
 */
const PYTHON_CLIENT = `
import json, sys
import consul
c = consul.Consul(host=sys.argv[1], port=int(sys.argv[2]))
made = c.query.create(sys.argv[3], name="py-demo", nearestn=1, onlypassing=True, ttl="5s")
out = {"id": made["ID"], "get": c.query.get(made["ID"]), "list": [q["ID"] for q in c.query.list()]}
out["execute"] = c.query.execute("py-demo", limit=1)
out["explain"] = c.query.explain("py-demo")
out["deleted"] = c.query.delete(made["ID"])
print(json.dumps(out))
`;

async function pythonConsul(a: AgentProcess): Promise<{ id: string; get: { Name: string; Service: unknown; DNS: unknown; Template: unknown }[]; list: string[]; execute: Executed; explain: { Query: { ID: string } }; deleted: boolean }> {
  const [host, port] = a.consulAddress.split(":") as [string, string];
  try {
    const { stdout } = await promisify(execFile)("/usr/bin/python3", ["-c", PYTHON_CLIENT, host, port, SERVICE], { timeout: 30_000 });
    return JSON.parse(stdout) as never;
  } catch (err) {
    if (/No module named 'consul'/.test(String((err as { stderr?: unknown }).stderr))) throw new Error("python-consul is not installed: scripts/test-deps.sh installs it (Debian package python3-consul)", { cause: err });
    throw err;
  }
}

/** The passing instances of the demoapp in a region, read from its own health endpoint. */
async function healthy(a: AgentProcess): Promise<{ Node: { Node: string }; Service: { ID: string; Port: number; Address: string } }[]> {
  const r = await call(a.consulAddress, "GET", `/v1/health/service/${SERVICE}?passing`);
  return JSON.parse(r.text) as never;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-query-failover-"));
  const demo = readFileSync(join(root, "examples/demoapp.hcl"), "utf8");
  writeFileSync(join(dir, "demoapp.hcl"), demo);
  writeFileSync(join(dir, "demoapp-us.hcl"), demo.replace('region = "europe"', 'region = "us"').replace('datacenters = ["europe-west1"]', 'datacenters = ["us-west-2"]'));
  europe = await startAgentProcess(regionArgs("eu-1", "europe", "europe-west1"));
  us = await startAgentProcess([...regionArgs("us-1", "us", "us-west-2"), "-retry-join-wan", europe.address]);
  for (const a of [europe, us]) {
    await until(`${a.address} knows both datacenters`, async () => {
      const r = await call(a.consulAddress, "GET", "/v1/catalog/datacenters");
      return r.status === 200 && (JSON.parse(r.text) as string[]).length === 2 ? true : undefined;
    });
  }
  // The demoapp in both regions, both submitted to europe.
  for (const file of ["demoapp.hcl", "demoapp-us.hcl"]) {
    const r = await ruche(europe.address, dir, "job", "run", file);
    expect(r.err, file).toBe("");
    expect(r.code, file).toBe(0);
  }
  for (const a of [europe, us]) await until(`${a.address} has two healthy instances`, async () => ((await healthy(a)).length === 2 ? true : undefined), 60_000);
}, 180_000);

afterAll(async () => {
  await Promise.all([us?.stop(), europe?.stop()]);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("a prepared query failing over from europe to us", () => {
  let id = "";

  it("is made, read and listed with the consul npm client, explained, on europe only", async () => {
    const consul = consulOf(agent(europe));
    const made = await consul.query.create({ name: "demo", service: { service: SERVICE, failover: { nearestn: 1 }, onlypassing: true }, dns: { ttl: "7s" } });
    id = made.ID;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const got = (await consul.query.get(id)) as { Name: string; Service: { Service: string; Failover: { NearestN: number }; OnlyPassing: boolean }; DNS: { TTL: string } };
    expect(got).toMatchObject({ Name: "demo", Service: { Service: SERVICE, Failover: { NearestN: 1 }, OnlyPassing: true }, DNS: { TTL: "7s" } });
    expect(((await consul.query.list()) as { ID: string }[]).map((q) => q.ID)).toEqual([id]);
    // Explain with curl's request: the client's explain() reads an answer as a list, and Consul's (like Ruche's) is an object, `{"Query": ...}`.
    const explained = await call(agent(europe).consulAddress, "GET", "/v1/query/demo/explain");
    expect((JSON.parse(explained.text) as { Query: { ID: string } }).Query.ID).toBe(id);
    // us does not have it.
    expect((await call(agent(us).consulAddress, "GET", "/v1/query/demo/execute")).status).toBe(404);
  });

  it("answers europe's instances while europe has them", async () => {
    const eu = agent(europe);
    const r = (await consulOf(eu).query.execute("demo")) as Executed;
    expect(r).toMatchObject({ Service: SERVICE, Datacenter: "europe-west1", Failovers: 0 });
    expect(r.Nodes.map((n) => n.Service.ID).sort()).toEqual((await healthy(eu)).map((h) => h.Service.ID).sort());
    const srv = await dig(eu, "demo.query.consul", "SRV");
    expect(srv).toHaveLength(2);
    for (const line of srv) expect(line).toMatch(/^1 1 \d+ \S+\.(node|addr)\.europe-west1\.consul\.$/);
    // NAME.query.DC.consul of the other datacenter: its servers execute their own query of that name; us has no "demo".
    expect(await dig(eu, "demo.query.us-west-2.consul", "SRV")).toEqual([]);
    const usQuery = await call(agent(us).consulAddress, "POST", "/v1/query", JSON.stringify({ Name: "us-demo", Service: { Service: SERVICE } }));
    expect(usQuery.status, usQuery.text).toBe(200);
    const usInstances = await healthy(agent(us));
    expect((await dig(eu, "us-demo.query.us-west-2.consul", "SRV")).sort()).toEqual(usInstances.map((i) => `1 1 ${i.Service.Port} ${srvTarget(i.Node.Node, i.Service.Address, "us-west-2")}`).sort());
  });

  it("answers us's instances once europe's are stopped, through the API, DNS and python-consul; run again in europe, europe's", async () => {
    const eu = agent(europe);
    const usInstances = await healthy(agent(us));
    expect((await call(eu.address, "DELETE", "/v1/job/demoapp")).status).toBe(200);
    await until("europe has no healthy instance left", async () => ((await healthy(eu)).length === 0 ? true : undefined), 60_000);

    const r = (await consulOf(eu).query.execute(id)) as Executed;
    expect(r).toMatchObject({ Service: SERVICE, Datacenter: "us-west-2", Failovers: 1 });
    expect(r.Nodes.map((n) => n.Service.ID).sort()).toEqual(usInstances.map((h) => h.Service.ID).sort());
    expect(r.Nodes.every((n) => n.Node.Datacenter === "us-west-2")).toBe(true);
    const srv = await dig(eu, "demo.query.consul", "SRV");
    expect(srv.sort()).toEqual(usInstances.map((i) => `1 1 ${i.Service.Port} ${srvTarget(i.Node.Node, i.Service.Address, "us-west-2")}`).sort());
    // The query's TTL, and the datacenter named in the question: executed by europe, the query's own.
    const [host, port] = eu.dnsAddress.split(":") as [string, string];
    const full = (await promisify(execFile)("dig", [`@${host}`, "-p", port, "demo.query.europe-west1.consul", "A", "+noall", "+answer", "+tries=1", "+time=5"])).stdout;
    expect(full).toMatch(/^demo\.query\.europe-west1\.consul\.\s+7\s+IN\s+A\s+\S+$/m);

    // python-consul's query, made now, fails over too.
    const py = await pythonConsul(eu);
    expect(py.get).toEqual([expect.objectContaining({ Name: "py-demo", Service: expect.objectContaining({ Service: SERVICE, Failover: { NearestN: 1, Datacenters: null }, OnlyPassing: true }) as unknown, DNS: { TTL: "5s" }, Template: { Type: "name_prefix_match", Regexp: "", RemoveEmptyTags: false } })]);
    expect(py.list).toEqual(expect.arrayContaining([py.id, id]));
    expect(py.execute).toMatchObject({ Service: SERVICE, Datacenter: "us-west-2", Failovers: 1 });
    expect(py.execute.Nodes).toHaveLength(1);
    expect(py.explain.Query.ID).toBe(py.id);
    expect(py.deleted).toBe(true);

    const again = await ruche(eu.address, dir, "job", "run", "demoapp.hcl");
    expect(again.code, again.err).toBe(0);
    await until("europe has two healthy instances again", async () => ((await healthy(eu)).length === 2 ? true : undefined), 60_000);
    const back = (await consulOf(eu).query.execute("demo")) as Executed;
    expect(back).toMatchObject({ Datacenter: "europe-west1", Failovers: 0 });
    expect(back.Nodes).toHaveLength(2);
    for (const line of await dig(eu, "demo.query.consul", "SRV")) expect(line).toMatch(/\.(node|addr)\.europe-west1\.consul\.$/);
  }, 180_000);

  it("is deleted with the client, and then not found", async () => {
    // The client has destroy() (DELETE /v1/query/:id); its typings leave it out.
    const consul = consulOf(agent(europe)).query as unknown as { destroy(id: string): Promise<unknown> };
    await consul.destroy(id);
    expect((await call(agent(europe).consulAddress, "GET", `/v1/query/${id}`)).text).toBe("Query not found");
    expect(await dig(agent(europe), "demo.query.consul", "A")).toEqual([]);
  });
});
