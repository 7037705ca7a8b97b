/**
 * The edge router on the dev agent, as the reference articles use Traefik in front of
 * Consul: article 2's router configuration (domain exemple.com, constraint tag==exposed),
 * the reference job examples/demoapp.hcl with the docker driver (the local test image
 * tagged `httpd`). curl with `Host: demo.exemple.com` reaches both instances in turn; the
 * canary update (cpu 300, memory 128: run, canary, promote) and a `kill -9` of an
 * instance's process go by under a steady stream of GETs without one 5xx; article 2's
 * web.json, registered through the agent API, is routed by its tags alone, by the dev
 * agent's router and by a router-only agent following the dev agent's catalog.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { type AgentProcess, docker, NO_ACL_NO_TLS, root, ruche, startAgentProcess, until } from "./harness.js";

const exec = promisify(execFile);
let agent: AgentProcess;
let api: ApiClient;
let dir = "";
const client = new Agent({ keepAliveTimeout: 2000 });
const HOST = "demo.exemple.com";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-router-e2e-"));
  await docker("tag", "ruche-test/httpd:latest", "httpd:latest");
  const demo = readFileSync(join(root, "examples/demoapp.hcl"), "utf8");
  writeFileSync(join(dir, "demoapp.hcl"), demo);
  const bigger = demo.replace("cpu    = 200", "cpu    = 300").replace("memory = 64", "memory = 128");
  expect(bigger).not.toBe(demo);
  writeFileSync(join(dir, "demoapp-step2.hcl"), bigger);
  // Article 2's [consulCatalog] section, as the router's configuration.
  writeFileSync(join(dir, "router.json"), JSON.stringify({ defaultEntryPoints: ["http"], consulCatalog: { watch: true, domain: "exemple.com", prefix: "traefik", constraints: ["tag==exposed"] } }));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0", "-router-config", join(dir, "router.json"), "-region", "europe", "-datacenter", "europe-west1"]);
  api = new ApiClient(agent.address);
}, 60_000);

afterAll(async () => {
  await client.close();
  const graceful = await agent.stop();
  expect(graceful, `the agent did not stop on SIGTERM\nstderr:\n${agent.err()}`).toBe(true);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const cli = (...argv: string[]) => ruche(agent.address, dir, ...argv);

async function get(host: string): Promise<{ status: number; body: string }> {
  const r = await request(`http://${agent.routerAddress}/`, { headers: { host }, dispatcher: client, headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: r.statusCode, body: (await r.body.text()).trim() };
}

interface Overview {
  routes: { name: string; rule: string; backends: { origin: string; requests: number; ejected: boolean }[] }[];
  skipped: { service: string; reason: string }[];
}

async function overview(): Promise<Overview> {
  return (await (await fetch(`http://${agent.routerDashboard}/api/overview`)).json()) as Overview;
}

async function running(job: string): Promise<Allocation[]> {
  const stubs = (await api.jobAllocations(job)).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
  return Promise.all(stubs.map(async (s) => (await api.allocation(s.ID)).body));
}

const portOf = (a: Allocation): number => a.Resources.Networks.flatMap((n) => n.DynamicPorts).find((p) => p.Label === "http")?.Value ?? 0;

/** GETs through the router, two at a time, until stopped: how many of each status (0 for a failed connection). */
function steadyGets(): { total: () => number; stop: () => Promise<Map<number, number>> } {
  const seen = new Map<number, number>();
  let total = 0;
  let on = true;
  const loop = async (): Promise<void> => {
    while (on) {
      let status: number;
      try {
        status = (await get(HOST)).status;
      } catch {
        status = 0;
      }
      seen.set(status, (seen.get(status) ?? 0) + 1);
      total++;
    }
  };
  const loops = [loop(), loop()];
  return {
    total: () => total,
    stop: async () => {
      on = false;
      await Promise.all(loops);
      return seen;
    },
  };
}

describe("the router on the dev agent", () => {
  it("prints its addresses; the dashboard is on 127.0.0.1", () => {
    expect(agent.routerAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(agent.routerDashboard).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("curl -H 'Host: demo.exemple.com' reaches both instances of the demo job in turn", async () => {
    const r = await cli("job", "run", "demoapp.hcl");
    expect(r.code, r.out + r.err).toBe(0);
    const ports = (await running("demoapp")).map(portOf).sort();
    expect(ports).toHaveLength(2);
    // The route is there as soon as the catalog has both instances.
    await until("the route to both instances", async () => ((await overview()).routes.find((x) => x.rule === `Host:${HOST}`)?.backends.length === 2 ? true : undefined));
    for (let i = 0; i < 10; i++) {
      const { stdout } = await exec("curl", ["-sS", "--fail-with-body", "-H", `Host: ${HOST}`, `http://${agent.routerAddress}/`]);
      expect(stdout.trim()).toBe("ruche-test-busybox");
    }
    const route = (await overview()).routes.find((x) => x.name === "demoapp-webs-frontend");
    expect(route?.backends.map((b) => [Number(b.origin.split(":").at(-1)), b.requests]).sort()).toEqual(ports.map((p) => [p, 5]));
    const unknown = await exec("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: nope.exemple.com", `http://${agent.routerAddress}/`]);
    expect(unknown.stdout).toBe("404");
  }, 120_000);

  it("the canary update goes through with a client looping on the URL, and not one 5xx", async () => {
    const before = (await running("demoapp")).map((a) => a.ID);
    const load = steadyGets();
    const plan = await cli("job", "plan", "demoapp-step2.hcl");
    const index = /Job Modify Index: (\d+)/.exec(plan.out)?.[1] ?? "";
    const run = await cli("job", "run", "-check-index", index, "demoapp-step2.hcl");
    expect(run.code, run.out + run.err).toBe(0);
    const deployment = /Evaluation within deployment: "([0-9a-f]{8})"/.exec(run.out)?.[1] ?? "";
    expect(run.out).toContain("waiting for promotion");
    // The canary is routed beside the old instances as soon as it runs.
    const canary = (await running("demoapp")).find((a) => !before.includes(a.ID));
    expect(canary).toBeDefined();
    await until("the canary to take requests", async () => ((await overview()).routes[0]?.backends.find((b) => b.origin.endsWith(`:${portOf(canary as Allocation)}`))?.requests ?? 0) > 0 ? true : undefined, 10_000);
    const promote = await cli("deployment", "promote", deployment);
    expect(promote.code, promote.out + promote.err).toBe(0);
    await until("the old allocations to complete", async () => {
      const all = (await api.jobAllocations("demoapp")).body;
      return before.every((id) => all.find((a) => a.ID === id)?.ClientStatus === "complete") ? true : undefined;
    }, 60_000);
    // The load goes on until the route leads to the new allocations alone, and 50 more requests after.
    const after = (await running("demoapp")).map(portOf).sort();
    const routed = async (): Promise<number[] | undefined> => (await overview()).routes[0]?.backends.map((b) => Number(b.origin.split(":").at(-1))).sort();
    await until("the route to lead to the new allocations alone", async () => (JSON.stringify(await routed()) === JSON.stringify(after) ? true : undefined), 10_000);
    const then = load.total();
    await until("50 more requests through the new route", () => (load.total() >= then + 50 ? true : undefined), 10_000);
    const seen = await load.stop();
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(100);
    expect(Object.fromEntries(seen)).toEqual({ 200: total });
    expect(await routed()).toEqual(after);
  }, 180_000);

  it("kill -9 of an instance's process: not one 5xx", async () => {
    const [victim] = await running("demoapp");
    if (victim === undefined) throw new Error("no running allocation");
    const container = await docker("ps", "-q", "--filter", `label=com.ruche.alloc_id=${victim.ID}`);
    expect(container).not.toBe("");
    const pid = await docker("inspect", "-f", "{{.State.Pid}}", container);
    const load = steadyGets();
    await until("steady traffic", () => (load.total() >= 20 ? true : undefined), 10_000);
    process.kill(Number(pid), "SIGKILL");
    // The load goes on until the router sends nothing more to the killed instance (it has
    // left the route, or is ejected), and 50 more requests after.
    const victimPort = `:${portOf(victim)}`;
    await until("the killed instance out of the route", async () => {
      const backends = (await overview()).routes.find((r) => r.name === "demoapp-webs-frontend")?.backends;
      return backends !== undefined && backends.every((b) => !b.origin.endsWith(victimPort) || b.ejected) ? true : undefined;
    }, 20_000);
    const then = load.total();
    await until("50 more requests after", () => (load.total() >= then + 50 ? true : undefined), 10_000);
    const seen = await load.stop();
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(50);
    expect(Object.fromEntries(seen)).toEqual({ 200: total });
  }, 60_000);

  it("stops the job: its route has no backend left, and answers 503", async () => {
    expect((await cli("job", "stop", "-yes", "demoapp")).code).toBe(0);
    await until("no backend left", async () => ((await overview()).routes.find((r) => r.name === "demoapp-webs-frontend") === undefined ? true : undefined), 30_000);
    expect((await get(HOST)).status).toBe(404);
  }, 60_000);

  it("article 2's web.json, registered from outside, is routed by its tags: the default rule Host:demo.exemple.com and the exposed constraint", async () => {
    const web: Server = createServer((_req, res) => res.end("welcome to webserver : web-1\n"));
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
    try {
      const port = (web.address() as AddressInfo).port;
      const put = async (body: unknown): Promise<number> => (await fetch(`http://${agent.consulAddress}/v1/agent/service/register`, { method: "PUT", body: JSON.stringify(body) })).status;
      expect(await put({ name: "demo", tags: ["traefik.tags=exposed"], port })).toBe(200);
      expect(await put({ name: "hidden", tags: [], port })).toBe(200);
      await until("the demo route", async () => ((await get(HOST)).status === 200 ? true : undefined), 5000);
      expect(await get(HOST)).toEqual({ status: 200, body: "welcome to webserver : web-1" });
      const o = await overview();
      expect(o.routes.map((r) => [r.name, r.rule])).toEqual([["demo", "Host:demo.exemple.com"]]);
      expect(o.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ service: "hidden", reason: "constraint tag==exposed does not hold for its tags" })]));
      expect((await get("hidden.exemple.com")).status).toBe(404);

      // A router-only agent, pointed at the servers, routes the same by their catalog.
      const edge = await startAgentProcess([...NO_ACL_NO_TLS, "-router", "-servers", agent.address, "-bind", "127.0.0.1", "-http-port", "0", "-router-port", "0", "-router-dashboard-port", "0", "-router-config", join(dir, "router.json")]);
      try {
        const viaEdge = async (): Promise<{ status: number; body: string }> => {
          const r = await request(`http://${edge.routerAddress}/`, { headers: { host: HOST }, dispatcher: client });
          return { status: r.statusCode, body: (await r.body.text()).trim() };
        };
        await until("the router-only agent to route demo", async () => ((await viaEdge()).status === 200 ? true : undefined), 10_000);
        expect(await viaEdge()).toEqual({ status: 200, body: "welcome to webserver : web-1" });
      } finally {
        expect(await edge.stop()).toBe(true);
      }
    } finally {
      web.closeAllConnections();
      await new Promise((r) => web.close(r));
    }
  }, 30_000);

  it("the dashboard is read-only and shows the metrics of routes and backends", async () => {
    expect((await fetch(`http://${agent.routerDashboard}/api/overview`, { method: "DELETE" })).status).toBe(405);
    const metrics = await (await fetch(`http://${agent.routerDashboard}/metrics`)).text();
    expect(metrics).toMatch(/^ruche_router_requests_total\{route="demoapp-webs-frontend",code="200"\} \d+$/m);
    expect(metrics).not.toMatch(/^ruche_router_requests_total\{route="demoapp-webs-frontend",code="5\d\d"\}/m);
  });
});
