/**
 * The multi-cloud walkthrough (reference article 1, with article 2's look at the other
 * datacenter), on one machine: two regions, `europe` (datacenter europe-west1, the article's
 * GCP) and `us` (us-west-2, its AWS), each one server and two docker clients started from agent
 * config files in the article's form, us's server joined to europe's with `retry_join_wan`.
 * Every command goes to europe's server, as the article's go to one server: `job run` of the
 * article's job (app-gcp-step1.nomad) and of its copy for the other cloud (app-aws-step1.nomad,
 * `region = "us"`), `status` showing what the article shows; from europe, us's instances in the
 * catalog with `?dc=us-west-2` and in DNS, a key written in us with `?dc=`, `?region=mars`
 * refused. Then the article's canary update in us, and us's server killed while its deployment
 * waits for promotion: europe goes on (its own canary update, planned, run and promoted), us's
 * requests answer "No path to region" (its datacenter's, Consul's "Remote DC has no server
 * currently reachable", and SERVFAIL in DNS) and us's tasks go on serving; us's server started again
 * on its data dir has lost nothing (the job, its allocations, the deployment waiting, the key),
 * and the promotion sent through europe finishes us's update. The local test image, tagged
 * `httpd`, stands in for the article's image.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docker, root, ruche, srvTarget, until } from "./harness.js";
import { Region } from "./regions.js";

let dir = "";
let europe: Region | undefined;
let us: Region | undefined;

function region(r: Region | undefined): Region {
  if (r === undefined) throw new Error("the region did not start");
  return r;
}

/** `nomad ... -address=http://europe's server`: every command of the walkthrough goes to europe. */
function cli(...argv: string[]) {
  return ruche(region(europe).server.address, dir, ...argv);
}

async function call(address: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${address}${path}`, { method, ...(body === undefined ? {} : { body }) });
  return { status: res.status, text: await res.text() };
}

/** `dig @SERVER -p PORT NAME TYPE ARGS...`: what it prints. */
async function digOut(dnsAddress: string, name: string, type: string, ...args: string[]): Promise<string> {
  const [host, port] = dnsAddress.split(":") as [string, string];
  const { stdout } = await promisify(execFile)("dig", [`@${host}`, "-p", port, name, type, ...args, "+tries=1", "+time=5"], { timeout: 20_000 });
  return stdout;
}

/** `dig @SERVER -p PORT NAME TYPE +short`: its answer lines. */
async function dig(dnsAddress: string, name: string, type: string): Promise<string[]> {
  return (await digOut(dnsAddress, name, type, "+short")).split("\n").filter((l) => l !== "");
}

interface Instance {
  Node: string;
  Datacenter: string;
  ServiceAddress: string;
  ServicePort: number;
  ServiceTags: string[];
}

/** The demoapp's instances a datacenter's catalog lists, asked of europe's Consul API (`?dc=` for another one). */
async function instances(dc?: string): Promise<Instance[]> {
  const r = await call(region(europe).server.consulAddress, "GET", `/v1/catalog/service/demoapp-webs-frontend${dc === undefined ? "" : `?dc=${dc}`}`);
  expect(r.status, r.text).toBe(200);
  return JSON.parse(r.text) as Instance[];
}

/** The page an instance serves (`curl http://ADDRESS:PORT/`). */
async function page(i: Instance): Promise<string> {
  return (await (await fetch(`http://${i.ServiceAddress}:${i.ServicePort}/`)).text()).trim();
}

/** The rows of a `status` output's Allocations table: [ID, Node ID, Task Group, Version, Desired, Status]. */
function allocRows(status: string): string[][] {
  const table = status.slice(status.indexOf("\nAllocations\n") + "\nAllocations\n".length).trimEnd().split("\n").slice(1);
  return table.map((l) => l.split(/ +/).slice(0, 6));
}

/** `status`'s Latest Deployment ID. */
function latestDeployment(status: string): string {
  const id = /^Latest Deployment\nID += ([0-9a-f]{8})$/m.exec(status)?.[1];
  if (id === undefined) throw new Error(`no latest deployment in:\n${status}`);
  return id;
}

/** What `job run` printed of its evaluation, as the article shows it: the allocations it created (id, node). */
function evaluationCreated(out: string): { alloc: string; node: string }[] {
  expect(out).toMatch(/^==> Monitoring evaluation "[0-9a-f]{8}"\n {4}Evaluation triggered by job "demoapp"\n {4}Evaluation within deployment: "[0-9a-f]{8}"\n/);
  expect(out).toMatch(/^ {4}Evaluation status changed: "pending" -> "complete"\n==> Evaluation "[0-9a-f]{8}" finished with status "complete"$/m);
  return [...out.matchAll(/^ {4}Allocation "([0-9a-f]{8})" created: node "([0-9a-f]{8})", group "webs"$/gm)].map((m) => ({ alloc: m[1] ?? "", node: m[2] ?? "" }));
}

const demo = readFileSync(join(root, "examples/demoapp.hcl"), "utf8");
/** The article's step 2: the same job with more cpu and memory. */
const step2 = (job: string): string => job.replace("cpu    = 200", "cpu    = 300").replace("memory = 64", "memory = 128");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-multicloud-e2e-"));
  await docker("tag", "ruche-test/httpd:latest", "httpd:latest");
  // The article's job for each cloud: "one job per region".
  const aws = demo.replace('region = "europe"', 'region = "us"').replace('datacenters = ["europe-west1"]', 'datacenters = ["us-west-2"]');
  expect(aws).toContain('region = "us"');
  expect(aws).toContain('datacenters = ["us-west-2"]');
  writeFileSync(join(dir, "app-gcp-step1.nomad"), demo);
  writeFileSync(join(dir, "app-gcp-step2.nomad"), step2(demo));
  writeFileSync(join(dir, "app-aws-step1.nomad"), aws);
  writeFileSync(join(dir, "app-aws-step2.nomad"), step2(aws));
  expect(step2(aws)).not.toBe(aws);
  europe = await Region.start({ region: "europe", datacenter: "europe-west1", dir, clients: 2, firstPort: 9_000 });
  us = await Region.start({ region: "us", datacenter: "us-west-2", dir, clients: 2, firstPort: 9_400, retryJoinWan: [europe.server.address] });
  for (const r of [europe, us]) {
    await until(`${r.spec.region} knows both regions`, async () => ((await call(r.server.address, "GET", "/v1/regions")).text === '["europe","us"]' ? true : undefined));
  }
}, 240_000);

afterAll(async () => {
  const stopped = await Promise.all([us?.stop(), europe?.stop()]);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
  // Each agent ends on SIGTERM, the clients' docker tasks left running (as `ruche agent` does outside -dev).
  for (const s of stopped) expect(s).toEqual({ graceful: true, runningOn: 2 });
}, 90_000);

describe("the multi-cloud walkthrough, two regions on one machine", () => {
  it("runs app-gcp-step1.nomad in europe: the evaluation and the status the article shows", async () => {
    const run = await cli("job", "run", "app-gcp-step1.nomad");
    expect(run.code, run.err).toBe(0);
    const created = evaluationCreated(run.out);
    expect(created).toHaveLength(2);
    // On europe's two clients, one each (the scheduler spreads a job's allocations).
    expect(created.map((c) => c.node).sort()).toEqual(region(europe).nodeIds.map((id) => id.slice(0, 8)).sort());
    const status = await cli("status", "demoapp");
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^ID += demoapp\nName += demoapp\n/);
    expect(status.out).toMatch(/^Datacenters += europe-west1$/m);
    expect(status.out).toMatch(/^Status += running$/m);
    expect(status.out).toMatch(/^webs +0 +0 +2 +0 +0 +0/m);
    expect(status.out).toMatch(/^Status += successful\nDescription += Deployment completed successfully$/m);
    expect(status.out).toMatch(/^webs +2 +2 +2 +0$/m);
    expect(allocRows(status.out).map((r) => r.slice(2)).sort()).toEqual([["webs", "0", "run", "running"], ["webs", "0", "run", "running"]]);
    // Each instance serves the page.
    for (const i of await instances()) expect(await page(i)).toBe("ruche-test-busybox");
  }, 180_000);

  it("runs app-aws-step1.nomad (region us) sent to europe's server: it runs on us's clients, not europe's", async () => {
    const run = await cli("job", "run", "app-aws-step1.nomad");
    expect(run.code, run.err).toBe(0);
    const created = evaluationCreated(run.out);
    expect(created.map((c) => c.node).sort()).toEqual(region(us).nodeIds.map((id) => id.slice(0, 8)).sort());
    const status = await cli("status", "-region", "us", "demoapp");
    expect(status.code, status.err).toBe(0);
    expect(status.out).toMatch(/^Datacenters += us-west-2$/m);
    expect(status.out).toMatch(/^webs +0 +0 +2 +0 +0 +0/m);
    expect(status.out).toMatch(/^Status += successful$/m);
    // europe's demoapp is europe's still: one job per region, each its own.
    expect((await cli("status", "demoapp")).out).toMatch(/^Datacenters += europe-west1$/m);
  }, 180_000);

  it("shows us's instances from europe: the catalog with ?dc=us-west-2, DNS, a key written with ?dc=, and no path to mars", async () => {
    const eu = region(europe).server;
    const there = await until("us's catalog to list both instances through europe", async () => {
      const list = await instances("us-west-2");
      return list.length === 2 ? list : undefined;
    });
    expect(there.map((i) => [i.Node, i.Datacenter]).sort()).toEqual([["us-client-1", "us-west-2"], ["us-client-2", "us-west-2"]]);
    expect(there[0]?.ServiceTags).toEqual(["traefik.frontend.rule=Host:demo.exemple.com", "traefik.tags=exposed"]);
    // Without ?dc=, europe's own.
    expect((await instances()).map((i) => i.Datacenter)).toEqual(["europe-west1", "europe-west1"]);
    for (const i of there) expect(await page(i)).toBe("ruche-test-busybox");
    const srv = await dig(eu.dnsAddress, "demoapp-webs-frontend.service.us-west-2.consul", "SRV");
    expect(srv.sort()).toEqual(there.map((i) => `1 1 ${i.ServicePort} ${srvTarget(i.Node, i.ServiceAddress, "us-west-2")}`).sort());

    expect(await call(eu.consulAddress, "PUT", "/v1/kv/app/greeting?dc=us-west-2", "bonjour d'Europe")).toEqual({ status: 200, text: "true" });
    expect((await call(region(us).server.consulAddress, "GET", "/v1/kv/app/greeting?raw")).text).toBe("bonjour d'Europe");
    expect((await call(eu.consulAddress, "GET", "/v1/kv/app/greeting")).status).toBe(404);

    const mars = await call(eu.address, "GET", "/v1/jobs?region=mars");
    expect(mars.status).toBe(400);
    expect((JSON.parse(mars.text) as { error: { message: string } }).error.message).toMatch(/^No path to region "mars"/);
    const cliMars = await cli("status", "-region", "mars", "demoapp");
    expect(cliMars.code).toBe(1);
    expect(cliMars.err).toContain('No path to region "mars"');
  }, 60_000);

  let usCanary = "";
  let usBefore: string[][] = [];

  it("updates us with a canary, through europe: plan, run -check-index, status waiting for promotion", async () => {
    const plan = await cli("job", "plan", "app-aws-step2.nomad");
    expect(plan.code, plan.err).toBe(1);
    expect(plan.out).toContain('+/- Task Group: "webs" (1 canary, 2 ignore)');
    expect(plan.out).toContain('+/- Task: "frontend" (forces create/destroy update)');
    expect(plan.out).toMatch(/\+\/- CPU: +"200" => "300"/);
    expect(plan.out).toMatch(/\+\/- MemoryMB: +"64" => "128"/);
    const index = /^Job Modify Index: (\d+)$/m.exec(plan.out)?.[1];
    expect(index).toBeDefined();
    const run = await cli("job", "run", "-check-index", index ?? "", "app-aws-step2.nomad");
    expect(run.code, run.err).toBe(0);
    const created = evaluationCreated(run.out);
    expect(created).toHaveLength(1);
    expect(region(us).nodeIds.map((id) => id.slice(0, 8))).toContain(created[0]?.node);
    const status = await cli("status", "-region", "us", "demoapp");
    expect(status.out).toMatch(/^webs +0 +0 +3 +0 +0 +0/m);
    expect(status.out).toMatch(/^Status += running\nDescription += Deployment is running but requires (manual )?promotion$/m);
    expect(status.out).toMatch(/^webs +false +2 +1 +1 +1 +0$/m);
    usCanary = latestDeployment(status.out);
    usBefore = allocRows(status.out);
    expect(usBefore.map((r) => r.slice(3)).sort()).toEqual([["0", "run", "running"], ["0", "run", "running"], ["1", "run", "running"]]);
    const list = await cli("deployment", "list", "-region", "us");
    expect(list.out).toMatch(new RegExp(`^${usCanary} +demoapp +1 +running +Deployment is running but requires (manual )?promotion$`, "m"));
  }, 180_000);

  it("us's server killed: europe goes on with its own canary update; us's requests answer No path; us's tasks go on serving", async () => {
    const eu = region(europe).server;
    const usInstances = await instances("us-west-2");
    expect(usInstances).toHaveLength(3);
    await region(us).server.crash();

    // Nomad's answer for a region none of whose servers answers, once europe has marked it failed.
    const noPath = await until("europe to answer No path for us", async () => {
      const r = await call(eu.address, "GET", "/v1/jobs?region=us");
      return r.status === 503 ? r : undefined;
    });
    expect((JSON.parse(noPath.text) as { error: { message: string } }).error.message).toMatch(/^No path to region "us": none of its servers answers/);
    const cliUs = await cli("status", "-region", "us", "demoapp");
    expect(cliUs.code).toBe(1);
    expect(cliUs.err).toContain('No path to region "us"');
    // Consul's, for its datacenter: the API's text, and DNS's SERVFAIL (NXDOMAIN is for a datacenter nobody knows).
    expect(await call(eu.consulAddress, "GET", "/v1/catalog/service/demoapp-webs-frontend?dc=us-west-2")).toEqual({ status: 500, text: "Remote DC has no server currently reachable" });
    expect(await digOut(eu.dnsAddress, "demoapp-webs-frontend.service.us-west-2.consul", "SRV")).toContain("status: SERVFAIL");
    expect(await digOut(eu.dnsAddress, "demoapp-webs-frontend.service.mars-1.consul", "SRV")).toContain("status: NXDOMAIN");
    // us's tasks do not need their server to serve.
    for (const i of usInstances) expect(await page(i)).toBe("ruche-test-busybox");

    // europe: the article's whole canary update, meanwhile.
    const plan = await cli("job", "plan", "app-gcp-step2.nomad");
    expect(plan.out).toContain('+/- Task Group: "webs" (1 canary, 2 ignore)');
    const index = /^Job Modify Index: (\d+)$/m.exec(plan.out)?.[1] ?? "";
    const run = await cli("job", "run", "-check-index", index, "app-gcp-step2.nomad");
    expect(run.code, run.err).toBe(0);
    expect(evaluationCreated(run.out)).toHaveLength(1);
    const waiting = await cli("deployment", "list");
    const id = new RegExp(`^([0-9a-f]{8}) +demoapp +1 +running +Deployment is running but requires (manual )?promotion$`, "m").exec(waiting.out)?.[1];
    expect(id, waiting.out).toBeDefined();
    const promote = await cli("deployment", "promote", id ?? "");
    expect(promote.code, promote.err).toBe(0);
    expect(promote.out).toMatch(/^ {4}Allocation "[0-9a-f]{8}" created: node "[0-9a-f]{8}", group "webs"$/m);
    const done = await until("europe's update to finish", async () => {
      const s = (await cli("status", "demoapp")).out;
      return /^webs +0 +0 +2 +0 +2 +0/m.test(s) && /^Status += successful$/m.test(s) ? s : undefined;
    }, 120_000);
    expect(allocRows(done).map((r) => r.slice(3)).sort()).toEqual([["0", "stop", "complete"], ["0", "stop", "complete"], ["1", "run", "running"], ["1", "run", "running"]]);
    expect(done).toMatch(/^webs +true +2 +1 +2 +2 +0$/m);
  }, 240_000);

  it("us's server back on its data dir has lost nothing, and the promotion sent through europe finishes us's update", async () => {
    const eu = region(europe).server;
    await region(us).restartServer();
    await until("europe to reach us again", async () => ((await call(eu.address, "GET", "/v1/jobs?region=us")).status === 200 ? true : undefined), 60_000);
    const status = await cli("status", "-region", "us", "demoapp");
    expect(status.code, status.err).toBe(0);
    // The same allocations, the same deployment, still waiting for its promotion.
    expect(latestDeployment(status.out)).toBe(usCanary);
    expect(status.out).toMatch(/^Status += running\nDescription += Deployment is running but requires (manual )?promotion$/m);
    expect(allocRows(status.out).map((r) => r.slice(0, 5)).sort()).toEqual(usBefore.map((r) => r.slice(0, 5)).sort());
    expect((await call(eu.consulAddress, "GET", "/v1/kv/app/greeting?dc=us-west-2&raw")).text).toBe("bonjour d'Europe");
    await until("europe's DNS to answer us's three instances again", async () => ((await dig(eu.dnsAddress, "demoapp-webs-frontend.service.us-west-2.consul", "SRV")).length === 3 ? true : undefined));

    const promote = await cli("deployment", "promote", "-region", "us", usCanary);
    expect(promote.code, promote.err).toBe(0);
    expect(promote.out).toMatch(/^ {4}Allocation "[0-9a-f]{8}" created: node "[0-9a-f]{8}", group "webs"$/m);
    const done = await until("us's update to finish", async () => {
      const s = (await cli("status", "-region", "us", "demoapp")).out;
      return /^webs +0 +0 +2 +0 +2 +0/m.test(s) && /^Status += successful$/m.test(s) ? s : undefined;
    }, 120_000);
    expect(latestDeployment(done)).toBe(usCanary);
    expect(allocRows(done).map((r) => r.slice(3)).sort()).toEqual([["0", "stop", "complete"], ["0", "stop", "complete"], ["1", "run", "running"], ["1", "run", "running"]]);
    const list = await cli("deployment", "list", "-region", "us");
    expect(list.out).toMatch(new RegExp(`^${usCanary} +demoapp +1 +successful +Deployment completed successfully$`, "m"));
    // Both instances of the new version serve, and us's catalog, through europe, lists them alone.
    const now = await until("us's catalog to list the two new instances", async () => {
      const list = await instances("us-west-2");
      return list.length === 2 ? list : undefined;
    });
    for (const i of now) expect(await page(i)).toBe("ruche-test-busybox");
  }, 240_000);

  // Multiregion jobs (one `multiregion { }` job rolled out europe then us) and failover across
  // datacenters (a prepared query, the router answering from us when europe has no instance)
  // take these two regions as they are: their steps go here.
});
