/**
 * Requests for another region or datacenter, sent there through any server, as in the
 * reference articles' two clouds: two single-server regions as their own processes, `europe`
 * (datacenter europe-west1) and `us` (us-west-2), each with two simulated nodes, TLS and ACLs
 * off (federation over TLS is refused until the regions share a CA), federated by us's
 * `-retry-join-wan` to europe. Through europe: `?region=us` answers us's jobs; `ruche job run`
 * of the article's demoapp with `region = "us"` runs it in us, not europe; `?region=mars`
 * answers "No path to region"; a KV write with `?dc=us-west-2` lands in us only; the catalog
 * with `?dc=us-west-2` answers us's instances; a blocking query forwarded to us answers when us
 * changes; europe's DNS answers `NAME.service.us-west-2.consul` and `NODE.node.us-west-2.consul`
 * from us's catalog (dig, which scripts/test-deps.sh installs).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, root, ruche, srvTarget, startAgentProcess, until } from "./harness.js";

let dir = "";
let europe: AgentProcess | undefined;
let us: AgentProcess | undefined;

function regionArgs(name: string, region: string, dc: string): string[] {
  return [...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-sim-nodes", "2", "-node", name, "-region", region, "-datacenter", dc, "-data-dir", join(dir, name)];
}

/** `dig @DNS NAME TYPE +short` against an agent's DNS interface: its answer lines. */
async function dig(a: AgentProcess, name: string, type: string): Promise<string[]> {
  const [host, port] = a.dnsAddress.split(":") as [string, string];
  const { stdout } = await promisify(execFile)("dig", [`@${host}`, "-p", port, name, type, "+short", "+tries=1", "+time=5"], { timeout: 20_000 });
  return stdout.split("\n").filter((l) => l !== "");
}

function agent(a: AgentProcess | undefined): AgentProcess {
  if (a === undefined) throw new Error("the agent did not start");
  return a;
}

async function call(address: string, method: string, path: string, body?: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`http://${address}${path}`, { method, ...(body === undefined ? {} : { body }) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function jobIds(address: string, query = ""): Promise<string[]> {
  const r = await call(address, "GET", `/v1/jobs${query}`);
  expect(r.status, r.text).toBe(200);
  return (JSON.parse(r.text) as { ID: string }[]).map((j) => j.ID);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-region-forwarding-"));
  // The article's job, as its copy for the other cloud: region us, datacenter us-west-2.
  const demo = readFileSync(join(root, "examples/demoapp.hcl"), "utf8");
  const inUs = demo.replace('region = "europe"', 'region = "us"').replace('datacenters = ["europe-west1"]', 'datacenters = ["us-west-2"]');
  expect(inUs).toContain('region = "us"');
  expect(inUs).toContain('datacenters = ["us-west-2"]');
  writeFileSync(join(dir, "demoapp-us.hcl"), inUs);
  europe = await startAgentProcess(regionArgs("eu-1", "europe", "europe-west1"));
  us = await startAgentProcess([...regionArgs("us-1", "us", "us-west-2"), "-retry-join-wan", europe.address]);
  // Both know both regions: us asked europe, which learnt of us from the asking.
  for (const a of [europe, us]) {
    await until(`${a.address} knows both regions`, async () => {
      const r = await call(a.address, "GET", "/v1/regions");
      return r.status === 200 && JSON.stringify(JSON.parse(r.text)) === JSON.stringify(["europe", "us"]) ? true : undefined;
    });
  }
}, 90_000);

afterAll(async () => {
  await Promise.all([us?.stop(), europe?.stop()]);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("two regions federated", () => {
  it("ruche job run of the demoapp with region us, sent to europe, runs in us and not in europe", async () => {
    const eu = agent(europe);
    const r = await ruche(eu.address, dir, "job", "run", "demoapp-us.hcl");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    // The CLI followed the evaluation and the deployment in us, through europe.
    expect(r.out).toMatch(/==> Evaluation "[0-9a-f]{8}" finished with status "complete"/);
    expect(r.out).toMatch(/==> Deployment "[0-9a-f]{8}" successful\n$/);
    expect(await jobIds(eu.address)).not.toContain("demoapp");
    expect(await jobIds(agent(us).address)).toContain("demoapp");
    const job = JSON.parse((await call(agent(us).address, "GET", "/v1/job/demoapp")).text) as { Region: string; Status: string };
    expect(job).toMatchObject({ Region: "us", Status: "running" });
    // ?region=us on europe answers us's jobs, and `ruche status -region us` through europe too.
    expect(await jobIds(eu.address, "?region=us")).toContain("demoapp");
    const status = await ruche(eu.address, dir, "status", "-region", "us", "demoapp");
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^ID {12}= demoapp\n/);
    expect((await ruche(eu.address, dir, "status", "demoapp")).code).toBe(1);
  }, 120_000);

  it("answers No path to region for a region nobody knows", async () => {
    const r = await call(agent(europe).address, "GET", "/v1/jobs?region=mars");
    expect(r.status).toBe(400);
    expect((JSON.parse(r.text) as { error: { message: string } }).error.message).toMatch(/^No path to region "mars"/);
    const cli = await ruche(agent(europe).address, dir, "status", "-region", "mars");
    expect(cli.code).toBe(1);
    expect(cli.err).toContain('No path to region "mars"');
  });

  it("writes a key with ?dc=us-west-2 in us only", async () => {
    const eu = agent(europe);
    const put = await call(eu.consulAddress, "PUT", "/v1/kv/federated/greeting?dc=us-west-2", "hello from europe");
    expect(put).toMatchObject({ status: 200, text: "true" });
    expect((await call(agent(us).consulAddress, "GET", "/v1/kv/federated/greeting?raw")).text).toBe("hello from europe");
    expect((await call(eu.consulAddress, "GET", "/v1/kv/federated/greeting?raw")).status).toBe(404);
    expect(await call(eu.consulAddress, "PUT", "/v1/kv/federated/lost?dc=nowhere", "x")).toMatchObject({ status: 500, text: "No path to datacenter" });
  });

  it("answers /v1/catalog/service/NAME?dc=us-west-2 on europe with us's instances", async () => {
    const eu = agent(europe);
    const inUs = await until("us's catalog has the demoapp's two instances", async () => {
      const r = await call(agent(us).consulAddress, "GET", "/v1/catalog/service/demoapp-webs-frontend");
      const list = JSON.parse(r.text) as { ServiceID: string; Datacenter: string }[];
      return list.length === 2 ? list : undefined;
    });
    const through = JSON.parse((await call(eu.consulAddress, "GET", "/v1/catalog/service/demoapp-webs-frontend?dc=us-west-2")).text) as { ServiceID: string }[];
    expect(through.map((s) => s.ServiceID).sort()).toEqual(inUs.map((s) => s.ServiceID).sort());
    expect(JSON.parse((await call(eu.consulAddress, "GET", "/v1/catalog/service/demoapp-webs-frontend")).text)).toEqual([]);
  });

  it("answers NAME.service.us-west-2.consul and NODE.node.us-west-2.consul on europe's DNS from us's catalog", async () => {
    const eu = agent(europe);
    const instances = JSON.parse((await call(agent(us).consulAddress, "GET", "/v1/catalog/service/demoapp-webs-frontend")).text) as { Node: string; ServiceAddress: string; ServicePort: number }[];
    expect(instances).toHaveLength(2);
    const srv = await dig(eu, "demoapp-webs-frontend.service.us-west-2.consul", "SRV");
    expect(srv.sort()).toEqual(instances.map((i) => `1 1 ${i.ServicePort} ${srvTarget(i.Node, i.ServiceAddress, "us-west-2")}`).sort());
    // Not a service of europe's own datacenter.
    expect(await dig(eu, "demoapp-webs-frontend.service.consul", "SRV")).toEqual([]);
    const node = instances[0]?.Node ?? "";
    expect((await dig(eu, `${node}.node.us-west-2.consul`, "A")).length).toBe(1);
    // A datacenter nobody knows: NXDOMAIN.
    const [host, port] = eu.dnsAddress.split(":") as [string, string];
    const { stdout } = await promisify(execFile)("dig", [`@${host}`, "-p", port, "demoapp-webs-frontend.service.nowhere.consul", "SRV", "+tries=1", "+time=5"]);
    expect(stdout).toContain("status: NXDOMAIN");
  });

  it("relays a blocking query to us, which answers when us changes", async () => {
    const eu = agent(europe);
    const first = await call(eu.address, "GET", "/v1/jobs?region=us");
    const index = Number(first.headers.get("x-nomad-index"));
    expect(index).toBeGreaterThan(0);
    const started = Date.now();
    const waiting = call(eu.address, "GET", `/v1/jobs?region=us&index=${index}&wait=60s`);
    // Still waiting a moment later: the query waits in us.
    expect(await Promise.race([waiting.then(() => "answered"), new Promise((r) => setTimeout(() => { r("waiting"); }, 1000))])).toBe("waiting");
    const stop = await call(agent(us).address, "DELETE", "/v1/job/demoapp");
    expect(stop.status).toBe(200);
    const woken = await waiting;
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(Number(woken.headers.get("x-nomad-index"))).toBeGreaterThan(index);
    expect((JSON.parse(woken.text) as { ID: string; Stop: boolean }[]).find((j) => j.ID === "demoapp")?.Stop).toBe(true);
  }, 60_000);
});
