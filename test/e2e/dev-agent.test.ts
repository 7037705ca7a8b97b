/**
 * The Nomad walkthrough, and the dev agent running real tasks: `ruche agent -dev` (server and node agent in one process,
 * state in a temporary directory) runs the reference job examples/demoapp.hcl with the
 * docker driver — the local test image tagged `httpd` — and its twins with raw_exec and
 * exec. For each: both allocations serve HTTP on their dynamic ports, `ruche status`
 * shows them running, and the canary update of the reference walkthrough (cpu 300,
 * memory 128) goes plan (1 canary, 2 ignore, forces create/destroy) → a stale check-index
 * refused → run -check-index → deployment list waiting for promotion → promote → the old
 * allocations complete. Nothing of a stopped job is left running (docker ps, the process table).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSocket } from "node:dgram";
import Consul from "consul";
import dnsPacket from "dns-packet";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, processesOf, root, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";
let api: ApiClient;
/** The dev agent's node: other test files may run jobs of the same names on their own agents meanwhile. */
let nodeId = "";

const demo = readFileSync(join(root, "examples/demoapp.hcl"), "utf8");

/** The reference job with another name and another task body (driver and config). */
function variant(name: string, driverAndConfig: string): string {
  const start = demo.indexOf('driver = "docker"');
  const end = demo.indexOf("service {");
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  return demo.slice(0, start).replace('job "demoapp"', `job "${name}"`) + driverAndConfig + "\n      " + demo.slice(end);
}

/** A shell that writes the page busybox httpd serves, then becomes the server on the task's port. */
const serve = (dirVar: string): string =>
  `command = "/bin/sh"\n        args = ["-c", "echo ruche-test-busybox > ${dirVar}/index.html && echo serving on $NOMAD_PORT_http && exec /bin/busybox httpd -f -p $NOMAD_PORT_http -h ${dirVar}"]`;

const JOBS = {
  demoapp: demo,
  "demoapp-raw": variant("demoapp-raw", `driver = "raw_exec"\n      config {\n        ${serve("$NOMAD_TASK_DIR")}\n      }`),
  "demoapp-exec": variant("demoapp-exec", `driver = "exec"\n      config {\n        ${serve("/local")}\n      }`),
} as const;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-dev-e2e-"));
  // The reference job runs the image "httpd": the local test image serving /www on port 80.
  await docker("tag", "ruche-test/httpd:latest", "httpd:latest");
  for (const [name, text] of Object.entries(JOBS)) {
    writeFileSync(join(dir, `${name}.hcl`), text);
    const bigger = text.replace("cpu    = 200", "cpu    = 300").replace("memory = 64", "memory = 128");
    expect(bigger).not.toBe(text);
    writeFileSync(join(dir, `${name}-step2.hcl`), bigger);
  }
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0", "-region", "europe", "-datacenter", "europe-west1"]);
  api = new ApiClient(agent.address);
  nodeId = await until("the dev agent's node", async () => (await api.nodes()).body[0]?.ID);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) {
    const graceful = await agent.stop();
    expect(graceful, `the agent did not stop on SIGTERM\nstderr:\n${agent.err()}`).toBe(true);
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
  // A temporary dev agent stops its tasks with it: no container of these jobs is left.
  for (const job of Object.keys(JOBS)) expect(await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${job}`, "--filter", `label=com.hashicorp.nomad.node_id=${nodeId}`), `containers of ${job}`).toBe("");
}, 60_000);

async function cli(...argv: string[]) {
  return ruche(agent?.address ?? "", dir, ...argv);
}

async function running(job: string): Promise<Allocation[]> {
  const stubs = (await api.jobAllocations(job)).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
  return Promise.all(stubs.map(async (s) => (await api.allocation(s.ID)).body));
}

function httpPort(a: Allocation): number {
  const p = a.Resources.Networks.flatMap((n) => n.DynamicPorts).find((x) => x.Label === "http");
  expect(p, `allocation ${a.ID} has no http port`).toBeDefined();
  return p?.Value ?? 0;
}

/** One DNS question over UDP, as dig sends it. */
async function dnsQuery(address: string, name: string, type: "A" | "SRV"): Promise<dnsPacket.DecodedPacket> {
  const [host = "", port = ""] = address.split(":");
  const sock = createSocket("udp4");
  try {
    const answer = new Promise<Buffer>((resolve, reject) => {
      sock.once("message", resolve);
      sock.once("error", reject);
    });
    sock.send(dnsPacket.encode({ type: "query", id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }), Number(port), host);
    return dnsPacket.decode(await answer);
  } finally {
    sock.close();
  }
}

async function page(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
  return (await r.text()).trim();
}

describe.each(Object.keys(JOBS))("the dev agent runs %s", (job) => {
  it("runs both allocations, which serve HTTP on their dynamic ports; status shows them running", async () => {
    const r = await cli("job", "run", `${job}.hcl`);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/ {4}"webs": 2 of 2 healthy\n==> Deployment "[0-9a-f]{8}" successful\n$/);
    expect(r.code).toBe(0);
    const allocs = await running(job);
    expect(allocs).toHaveLength(2);
    const ports = allocs.map(httpPort);
    expect(new Set(ports).size).toBe(2);
    for (const port of ports) expect(await until(`HTTP on port ${port}`, () => page(port))).toBe("ruche-test-busybox");

    const status = await cli("status", job);
    expect(status.code).toBe(0);
    expect(status.out).toContain("Summary\nTask Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown\nwebs        0       0         2        0       0         0     0\n");
  }, 120_000);

  it("the job's service is in the catalog with its two instances, passing, as a Consul client sees it", async () => {
    const [host, port] = (agent?.consulAddress ?? "").split(":");
    const consul = new Consul({ host: host ?? "", port: Number(port) });
    const service = `${job}-webs-frontend`;
    expect(await consul.catalog.service.list()).toHaveProperty(service);
    const healthy = (await consul.health.service({ service, passing: true })) as { Node: { Node: string }; Service: { Port: number; Tags: string[] }; Checks: { Status: string }[] }[];
    expect(healthy).toHaveLength(2);
    const ports = (await running(job)).map(httpPort).sort();
    expect(healthy.map((h) => h.Service.Port).sort()).toEqual(ports);
    for (const h of healthy) {
      expect(h.Service.Tags).toEqual(["traefik.frontend.rule=Host:demo.exemple.com", "traefik.tags=exposed"]);
      expect(h.Checks.every((c) => c.Status === "passing")).toBe(true);
    }
    const entries = (await consul.catalog.service.nodes(service)) as { ServiceAddress: string; ServicePort: number }[];
    expect(entries.map((e) => e.ServicePort).sort()).toEqual(ports);
    expect(entries.every((e) => e.ServiceAddress === "127.0.0.1")).toBe(true);
    // DNS, as dig asks it: SRV records with each instance's port, A records of the node.
    const srv = await dnsQuery(agent?.dnsAddress ?? "", `${service}.service.consul`, "SRV");
    expect((srv as { rcode?: string }).rcode).toBe("NOERROR");
    expect((srv.answers ?? []).map((a) => ("data" in a ? (a.data as { port: number }).port : 0)).sort()).toEqual(ports);
    expect((srv.additionals ?? []).some((a) => a.type === "A" && "data" in a && a.data === "127.0.0.1")).toBe(true);
    const list = await cli("catalog", "services");
    expect(list.out).toMatch(new RegExp(`^${service} +traefik\\.frontend\\.rule=Host:demo\\.exemple\\.com,traefik\\.tags=exposed$`, "m"));
    const one = await cli("catalog", "service", service);
    for (const p of ports) expect(one.out).toMatch(new RegExp(`^\\S+ +127\\.0\\.0\\.1:${p} +passing +`, "m"));
  }, 30_000);

  it("alloc exec runs a command inside a task; alloc logs prints what the task wrote", async () => {
    const [a] = await running(job);
    if (a === undefined) throw new Error("no running allocation");
    const ex = await cli("alloc", "exec", a.ID.slice(0, 8), "/bin/sh", "-c", "echo $RUCHE_ALLOC_ID; echo to-stderr >&2; exit 3");
    expect(ex).toEqual({ code: 3, out: `${a.ID}\n`, err: "to-stderr\n" });
    // The allocation's shared directory, with the task's log files in it, as the task sees it.
    const ls = await cli("alloc", "exec", a.ID.slice(0, 8), "/bin/sh", "-c", "ls $NOMAD_ALLOC_DIR/logs");
    expect(ls.out.split("\n")).toEqual(expect.arrayContaining(["frontend.stdout.0", "frontend.stderr.0"]));
    const logs = await cli("alloc", "logs", a.ID.slice(0, 8), "frontend");
    expect(logs.err).toBe("");
    expect(logs.code).toBe(0);
    // The docker image's httpd writes nothing; the exec twins say which port they serve.
    expect(logs.out).toBe(job === "demoapp" ? "" : `serving on ${httpPort(a)}\n`);
    const status = await cli("alloc", "status", a.ID.slice(0, 8));
    expect(status.out).toMatch(/Task "frontend" is "running"/);
    expect(status.out).toMatch(/Recent Events:\nTime +Type +Description\n.* +Started +Task started by client\n/);
  }, 60_000);

  it("rolls out the canary update: plan, run -check-index, canary, promote, the old allocations complete", async () => {
    const before = (await running(job)).map((a) => a.ID);
    const plan = await cli("job", "plan", `${job}-step2.hcl`);
    expect(plan.code).toBe(1);
    expect(plan.out).toContain("+/- Task Group: \"webs\" (1 canary, 2 ignore)");
    expect(plan.out).toContain('+/- Task: "frontend" (forces create/destroy update)');
    const index = /Job Modify Index: (\d+)/.exec(plan.out)?.[1] ?? "";
    expect(index).not.toBe("");

    // A check-index that is no longer the job's is refused, and nothing changes.
    const stale = await cli("job", "run", "-check-index", String(Number(index) - 1), `${job}-step2.hcl`);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(/modify index/i);
    expect((await running(job)).map((a) => a.ID).sort()).toEqual([...before].sort());

    const run = await cli("job", "run", "-check-index", index, `${job}-step2.hcl`);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const deployment = /Evaluation within deployment: "([0-9a-f]{8})"/.exec(run.out)?.[1] ?? "";
    expect(run.out).toContain(`"webs": 1 of 1 canary healthy\n==> Deployment "${deployment}" waiting for promotion\n`);
    const canary = (await running(job)).find((a) => !before.includes(a.ID));
    expect(canary?.Resources.CPU).toBe(300);
    expect(canary?.Resources.MemoryMB).toBe(128);
    expect(await page(httpPort(canary as Allocation))).toBe("ruche-test-busybox");
    const deployments = await cli("deployment", "list");
    expect(deployments.out).toMatch(new RegExp(`^${deployment} +${job} +1 +running +Deployment is running but requires manual promotion`, "m"));

    // By the deployment's ID, or (raw_exec twin) by the job's name as Nomad's job promote.
    const promote = job === "demoapp-raw" ? await cli("job", "promote", job) : await cli("deployment", "promote", deployment);
    expect(promote.err).toBe("");
    expect(promote.code).toBe(0);
    expect(promote.out).toMatch(/==> Deployment "[0-9a-f]{8}" successful\n$/);

    const after = await until("two allocations of version 1 running", async () => {
      const now = await running(job);
      return now.length === 2 && now.every((a) => a.Job.Version === 1) ? now : undefined;
    });
    for (const a of after) expect(await page(httpPort(a))).toBe("ruche-test-busybox");
    for (const id of before) {
      const old = await until(`old allocation ${id} to complete`, async () => {
        const a = (await api.allocation(id)).body;
        return a.ClientStatus === "complete" ? a : undefined;
      });
      expect(old.DesiredStatus).toBe("stop");
    }
  }, 180_000);

  it("stops the job, and nothing of it is left running", async () => {
    const allocs = await running(job);
    const ports = allocs.map(httpPort);
    const stop = await cli("job", "stop", "-yes", job);
    expect(stop.code).toBe(0);
    await until("every allocation to complete", async () => {
      const all = (await api.jobAllocations(job)).body;
      return all.every((a) => a.ClientStatus === "complete" || a.ClientStatus === "failed") ? true : undefined;
    });
    expect(await docker("ps", "-q", "--filter", `label=com.ruche.job_id=${job}`, "--filter", `label=com.hashicorp.nomad.node_id=${nodeId}`)).toBe("");
    // Stopped instances leave the catalog: no failing ghosts.
    const consulApi = await fetch(`http://${agent?.consulAddress ?? ""}/v1/health/service/${job}-webs-frontend`);
    expect(await consulApi.json()).toEqual([]);
    for (const port of ports) await expect(page(port)).rejects.toThrow();
    for (const a of allocs) expect(await processesOf(a.ID), `processes of allocation ${a.ID}`).toEqual([]);
  }, 60_000);
});

describe("the dev agent's KV, as a Consul client uses it", () => {
  it("puts, gets, compares-and-sets, locks with a session, and deletes", async () => {
    const [host, port] = (agent?.consulAddress ?? "").split(":");
    const consul = new Consul({ host: host ?? "", port: Number(port) });
    expect(await consul.kv.set("app/config/greeting", "bonjour")).toBe(true);
    const got = (await consul.kv.get("app/config/greeting")) as { Value: string; ModifyIndex: number };
    expect(got.Value).toBe("bonjour");
    // The client library hands a refusal (the body `false`) back as a falsy value.
    expect(await consul.kv.set({ key: "app/config/greeting", value: "salut", cas: got.ModifyIndex - 1 })).toBeFalsy();
    expect(((await consul.kv.get("app/config/greeting")) as { Value: string }).Value).toBe("bonjour");
    expect(await consul.kv.set({ key: "app/config/greeting", value: "salut", cas: got.ModifyIndex })).toBe(true);
    expect(await consul.kv.keys("app/")).toEqual(["app/config/greeting"]);
    const session = (await consul.session.create({ ttl: "15s", behavior: "release" }));
    expect(await consul.kv.set({ key: "app/leader", value: "me", acquire: session.ID })).toBe(true);
    const other = (await consul.session.create({ ttl: "15s" }));
    expect(await consul.kv.set({ key: "app/leader", value: "you", acquire: other.ID })).toBeFalsy();
    expect(((await consul.kv.get("app/leader")) as unknown as { Session: string; Value: string })).toMatchObject({ Session: session.ID, Value: "me" });
    await consul.session.destroy(session.ID);
    await consul.session.destroy(other.ID);
    await consul.kv.del({ key: "app/", recurse: true });
    expect(await consul.kv.get("app/config/greeting")).toBeUndefined();
  }, 30_000);

  it("the kv commands read and write the same store", async () => {
    expect(await cli("kv", "put", "svc/web/port", "8080")).toEqual({ code: 0, out: "Success! Data written to: svc/web/port\n", err: "" });
    expect((await cli("kv", "put", "svc/db/host", "db.local")).code).toBe(0);
    expect(await cli("kv", "get", "svc/web/port")).toEqual({ code: 0, out: "8080\n", err: "" });
    expect((await cli("kv", "list", "svc/")).out).toBe("svc/db/\nsvc/web/\n");
    expect((await cli("kv", "list", "-recurse", "svc/")).out).toBe("svc/db/host\nsvc/web/port\n");
    const refused = await cli("kv", "put", "-cas", "0", "svc/web/port", "9090");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('Did not write to "svc/web/port"');
    expect((await cli("kv", "delete", "-recurse", "svc/")).code).toBe(0);
    const gone = await cli("kv", "get", "svc/web/port");
    expect(gone).toEqual({ code: 1, out: "", err: 'Error: No key exists at "svc/web/port"\n' });
  }, 30_000);
});

describe("services registered directly, as a Consul client registers them", () => {
  it("registers, turns a TTL check passing, runs an HTTP check, and deregisters", async () => {
    const [host, port] = (agent?.consulAddress ?? "").split(":");
    const consul = new Consul({ host: host ?? "", port: Number(port) });
    // The library reads a check's id from `checkid` (its typings say `id`): written as its code reads it.
    const registration = {
      name: "billing",
      id: "billing-1",
      tags: ["v2"],
      address: "127.0.0.1",
      port: 9999,
      checks: [
        { checkid: "billing-ttl", name: "billing ttl", ttl: "30s" },
        { checkid: "billing-http", name: "billing http", http: `http://${agent?.address ?? ""}/v1/status/leader`, interval: "200ms" },
      ],
    };
    await consul.agent.service.register(registration as unknown as Parameters<typeof consul.agent.service.register>[0]);
    const health = async (): Promise<{ Service: { ID: string; Port: number; Tags: string[] }; Checks: { CheckID: string; Status: string }[] }[]> =>
      (await consul.health.service("billing")) as { Service: { ID: string; Port: number; Tags: string[] }; Checks: { CheckID: string; Status: string }[] }[];
    const status = (entries: Awaited<ReturnType<typeof health>>, id: string): string | undefined => entries[0]?.Checks.find((c) => c.CheckID === id)?.Status;
    expect((await health())[0]?.Service).toMatchObject({ ID: "billing-1", Port: 9999, Tags: ["v2"] });
    expect(status(await health(), "billing-ttl")).toBe("critical");
    expect(await consul.health.service({ service: "billing", passing: true })).toEqual([]);
    await consul.agent.check.pass({ id: "billing-ttl", note: "all good" });
    await until("the HTTP check to pass", async () => (status(await health(), "billing-http") === "passing" ? true : undefined), 10_000);
    expect(status(await health(), "billing-ttl")).toBe("passing");
    expect(await consul.health.service({ service: "billing", passing: true })).toHaveLength(1);
    await consul.agent.service.deregister("billing-1");
    expect(await health()).toEqual([]);
  }, 30_000);
});
