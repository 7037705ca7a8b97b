/**
 * The router failing over to the nearest datacenter, as the reference articles' two clouds
 * would use it: two regions as their own agent processes, `europe` (datacenter europe-west1)
 * and `us` (us-west-2), each one server with its client (raw_exec tasks: small node HTTP
 * servers that answer their datacenter's name), TLS and ACLs off, federated by us's
 * `-retry-join-wan` to europe; europe runs the router. The job `web` runs in both with the
 * tag `traefik.ruche.failover=nearest`; `plain`, in both too, without it. Under a steady loop
 * of GETs through europe's router: `ruche job stop web` in europe — the requests are answered
 * by us's instances, and the dashboard says so; `ruche job run` again — they are back on
 * europe. Not one request fails. A router-only agent of europe (`-router -servers`), which
 * reads us through europe's server (`?dc=`), fails over too. `plain`, stopped in europe, fails (404 once its route is
 * gone, 502 for a request in flight on an instance killed): without the tag, the router does
 * not fail over.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, ruche, startAgentProcess, until } from "./harness.js";

let dir = "";
let europe: AgentProcess | undefined;
let us: AgentProcess | undefined;
/** A router-only agent of europe (-router -servers): it reads us through europe's server. */
let edge: AgentProcess | undefined;
const client = new Agent({ keepAliveTimeout: 2000 });

/** A job of one group of `count` small HTTP servers (raw_exec: node) answering `answer`, its service routed by Host and checked over HTTP. */
function job(name: string, region: string, dc: string, count: number, tags: string[]): string {
  const script = `require("http").createServer((q, s) => s.end(${JSON.stringify(dc)})).listen(Number(process.env.NOMAD_PORT_http), "127.0.0.1")`;
  return `job "${name}" {
  region      = "${region}"
  datacenters = ["${dc}"]
  group "g" {
    count = ${count}
    network {
      port "http" {}
    }
    service {
      name = "${name}"
      port = "http"
      tags = [${[`traefik.frontend.rule=Host:${name}.example.com`, ...tags].map((t) => JSON.stringify(t)).join(", ")}]
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = ${JSON.stringify(process.execPath)}
        args    = ["-e", ${JSON.stringify(script)}]
      }
      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
`;
}

function regionArgs(name: string, region: string, dc: string, firstPort: number): string[] {
  return [
    ...NO_ACL_NO_TLS,
    "-server",
    "-client",
    "-raw-exec",
    "-bind",
    "127.0.0.1",
    "-http-port",
    "0",
    "-consul-port",
    "0",
    "-dns-port",
    "0",
    "-min-dynamic-port",
    String(firstPort),
    "-max-dynamic-port",
    String(firstPort + 199),
    "-node",
    name,
    "-region",
    region,
    "-datacenter",
    dc,
    "-data-dir",
    join(dir, name),
  ];
}

function agent(a: AgentProcess | undefined): AgentProcess {
  if (a === undefined) throw new Error("the agent did not start");
  return a;
}

async function call(address: string, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, text: await res.text() };
}

/** The passing instances of a service in a region, from its own health endpoint. */
async function passing(a: AgentProcess, service: string): Promise<number> {
  const r = await call(a.consulAddress, `/v1/health/service/${service}?passing`);
  return (JSON.parse(r.text) as unknown[]).length;
}

/** A GET through europe's router (or `via` another) for `Host: NAME.example.com`: its status and body (status 0: the connection failed). */
async function get(name: string, via: AgentProcess | undefined = europe): Promise<{ status: number; body: string }> {
  try {
    const r = await request(`http://${agent(via).routerAddress}/`, { headers: { host: `${name}.example.com` }, dispatcher: client, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return { status: r.statusCode, body: (await r.body.text()).trim() };
  } catch {
    return { status: 0, body: "" };
  }
}

interface Overview {
  routes: { name: string; failover: { datacenters: unknown; servedFrom: string | null; note: string | null } | null; backends: { origin: string; datacenter?: string }[] }[];
  datacenters: { unavailable: string | null; list: { name: string; index: number | null }[] };
}

async function overview(via: AgentProcess | undefined = europe): Promise<Overview> {
  return (await (await fetch(`http://${agent(via).routerDashboard}/api/overview`)).json()) as Overview;
}

/** GETs through the router, two at a time, until stopped: every answer by status and body. */
function steadyGets(name: string): { answers: () => Map<string, number>; stop: () => Promise<Map<string, number>> } {
  const seen = new Map<string, number>();
  let on = true;
  const loop = async (): Promise<void> => {
    while (on) {
      const r = await get(name);
      const key = `${r.status} ${r.status === 200 ? r.body : ""}`.trim();
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  };
  const loops = [loop(), loop()];
  return {
    answers: () => seen,
    stop: async () => {
      on = false;
      await Promise.all(loops);
      return seen;
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-router-failover-"));
  writeFileSync(join(dir, "web-europe.hcl"), job("web", "europe", "europe-west1", 2, ["traefik.ruche.failover=nearest"]));
  writeFileSync(join(dir, "web-us.hcl"), job("web", "us", "us-west-2", 2, ["traefik.ruche.failover=nearest"]));
  writeFileSync(join(dir, "plain-europe.hcl"), job("plain", "europe", "europe-west1", 1, []));
  writeFileSync(join(dir, "plain-us.hcl"), job("plain", "us", "us-west-2", 1, []));
  europe = await startAgentProcess([...regionArgs("eu-1", "europe", "europe-west1", 10000), "-router-port", "0", "-router-dashboard-port", "0"]);
  us = await startAgentProcess([...regionArgs("us-1", "us", "us-west-2", 10400), "-retry-join-wan", europe.address]);
  edge = await startAgentProcess([...NO_ACL_NO_TLS, "-router", "-servers", europe.address, "-bind", "127.0.0.1", "-http-port", "0", "-router-port", "0", "-router-dashboard-port", "0"]);
  for (const a of [europe, us]) {
    await until(`${a.address} knows both datacenters`, async () => {
      const r = await call(a.consulAddress, "/v1/catalog/datacenters");
      return r.status === 200 && (JSON.parse(r.text) as string[]).length === 2 ? true : undefined;
    });
  }
  // Each job submitted to europe; its region sends it where it runs.
  for (const file of ["web-europe.hcl", "web-us.hcl", "plain-europe.hcl", "plain-us.hcl"]) {
    const r = await ruche(europe.address, dir, "job", "run", "-detach", file);
    expect(r.err, file).toBe("");
    expect(r.code, file).toBe(0);
  }
  for (const a of [europe, us]) {
    await until(`${a.address} has web and plain passing`, async () => ((await passing(a, "web")) === 2 && (await passing(a, "plain")) === 1 ? true : undefined), 90_000);
  }
}, 180_000);

/** Stops every job of a region and waits until none of its tasks runs: raw_exec tasks outlive their agent. */
async function stopAll(a: AgentProcess): Promise<void> {
  for (const name of ["web", "plain"]) await ruche(a.address, dir, "job", "stop", "-detach", "-purge", name);
  await until(
    `${a.address}'s tasks stopped`,
    async () => {
      const allocs = JSON.parse((await call(a.address, "/v1/allocations")).text) as { ClientStatus: string }[];
      return allocs.every((x) => x.ClientStatus !== "running" && x.ClientStatus !== "pending") ? true : undefined;
    },
    30_000,
  );
}

afterAll(async () => {
  await client.close();
  for (const a of [europe, us]) if (a !== undefined) await stopAll(a).catch(() => undefined);
  await Promise.all([edge?.stop(10_000), us?.stop(10_000), europe?.stop(10_000)]);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("the router failing over from europe to us", () => {
  it("serves europe's instances while they pass, us's known and followed", async () => {
    await until("europe's router routes web to europe", async () => ((await get("web")).body === "europe-west1" ? true : undefined));
    await until("the router-only agent routes web to europe", async () => ((await get("web", edge)).body === "europe-west1" ? true : undefined));
    const o = await until("the router follows us's catalog", async () => {
      const v = await overview();
      return v.datacenters.list.some((d) => d.name === "us-west-2" && d.index !== null) ? v : undefined;
    });
    const web = o.routes.find((r) => r.name === "web");
    expect(web?.failover).toEqual({ datacenters: "nearest", servedFrom: null, note: null });
    expect(web?.backends.every((b) => b.datacenter === undefined)).toBe(true);
    // Without the tag, no failover is asked.
    expect(o.routes.find((r) => r.name === "plain")?.failover).toBeNull();
  });

  it("job stop in europe: us answers, the dashboard says so; job run again: back on europe; not one request fails", async () => {
    const gets = steadyGets("web");
    try {
      await failOverAndBack(gets);
    } finally {
      await gets.stop();
    }
    const seen = gets.answers();
    expect((await overview()).routes.find((r) => r.name === "web")?.failover?.servedFrom).toBeNull();
    const failed = [...seen].filter(([k]) => !k.startsWith("200 ")).reduce((n, [, c]) => n + c, 0);
    expect(failed, `answers: ${JSON.stringify([...seen])}`).toBe(0);
    expect(seen.get("200 us-west-2") ?? 0).toBeGreaterThan(20);
  }, 180_000);

  async function failOverAndBack(gets: ReturnType<typeof steadyGets>): Promise<void> {
    await until("a few requests answered", () => ((gets.answers().get("200 europe-west1") ?? 0) > 20 ? true : undefined));
    const stopped = await ruche(agent(europe).address, dir, "job", "stop", "-detach", "web");
    expect(stopped.code, stopped.err).toBe(0);
    await until("requests answered by us", () => ((gets.answers().get("200 us-west-2") ?? 0) > 20 ? true : undefined));
    const o = await overview();
    const web = o.routes.find((r) => r.name === "web");
    expect(web?.failover?.servedFrom).toBe("us-west-2");
    expect(web?.backends.map((b) => b.datacenter)).toEqual(["us-west-2", "us-west-2"]);
    // Traefik's shape of the same, with Ruche's failover.
    const services = (await (await fetch(`http://${agent(europe).routerDashboard}/api/http/services`)).json()) as { name: string; failover: { servedFrom: string } | null; loadBalancer: { servers: { datacenter?: string }[] } }[];
    const svc = services.find((s) => s.name === "web@consulcatalog");
    expect(svc?.failover?.servedFrom).toBe("us-west-2");
    expect(svc?.loadBalancer.servers.map((s) => s.datacenter)).toEqual(["us-west-2", "us-west-2"]);
    // The router-only agent reads us through europe's server (?dc=): it fails over too.
    await until("the router-only agent serves web from us", async () => ((await get("web", edge)).body === "us-west-2" ? true : undefined));
    expect((await overview(edge)).routes.find((r) => r.name === "web")?.failover?.servedFrom).toBe("us-west-2");
    // The log says it; and never that the router could not fail over.
    const logs = agent(europe).out() + agent(europe).err();
    expect(logs).toContain("route web has no passing instance here: served from datacenter us-west-2");
    expect(logs).not.toContain("asks for failover to other datacenters, but");

    const again = await ruche(agent(europe).address, dir, "job", "run", "-detach", "web-europe.hcl");
    expect(again.code, again.err).toBe(0);
    const beforeBack = gets.answers().get("200 europe-west1") ?? 0;
    await until("requests back on europe", () => ((gets.answers().get("200 europe-west1") ?? 0) > beforeBack ? true : undefined), 90_000);
    const afterBack = gets.answers().get("200 europe-west1") ?? 0;
    await until("europe answering steadily", () => ((gets.answers().get("200 europe-west1") ?? 0) > afterBack + 20 ? true : undefined), 30_000);
  }

  it("without the tag (plain): stopped in europe, its requests fail though us has it", async () => {
    expect((await get("plain")).body).toBe("europe-west1");
    const gets = steadyGets("plain");
    try {
      await until("a few requests answered", () => ((gets.answers().get("200 europe-west1") ?? 0) > 20 ? true : undefined));
      const stopped = await ruche(agent(europe).address, dir, "job", "stop", "-detach", "plain");
      expect(stopped.code, stopped.err).toBe(0);
      await until("requests failing", () => ([...gets.answers().keys()].filter((k) => !k.startsWith("200 ")).length > 0 ? true : undefined));
    } finally {
      await gets.stop();
    }
    // Without failover the requests fail: a request in flight when its instance is killed has no
    // other backend to be retried on (502), the route gone with its last instance, the host is
    // unknown (404); an instance failing its check and not yet deregistered would answer 503.
    const failed = [...gets.answers()].filter(([k]) => !k.startsWith("200 "));
    expect(failed.length).toBeGreaterThan(0);
    for (const [k] of failed) expect(["502", "503", "404"], JSON.stringify([...gets.answers()])).toContain(k);
    expect(gets.answers().get("404")).toBeGreaterThan(0);
    expect(gets.answers().get("200 us-west-2")).toBeUndefined();
    expect(await passing(agent(us), "plain")).toBe(1);
  }, 60_000);
});
