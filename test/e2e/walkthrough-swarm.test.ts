/**
 * The Swarm walkthrough, on Ruche: a server and three client agents on this machine
 * (127.0.0.1, their own ports and data dirs), one of them labelled `role=manager`. A web
 * service of 2 replicas is scaled to 10 and spreads over the three; a system job lands on
 * a fourth agent when it joins; a job constrained to managers stays on the manager; an
 * agent and its tasks killed with `kill -9` have their allocations replaced on the others
 * while the router's clients see no error; a drained agent's work moves away.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type AllocStub } from "../../src/apiclient/index.js";
import { type AgentProcess, alive, getThrough, NO_ACL_NO_TLS, processesOf, ruche, sleeperJob, startAgentProcess, until } from "./harness.js";

let dir = "";
let server: AgentProcess;
const clients = new Map<string, AgentProcess>();
let api: ApiClient;
const JOBS = ["web", "monitor", "manager-only"];
const everyAlloc = new Set<string>();
/** Keep-alive to the router, as a browser or a load balancer in front of it would. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** A service of busybox httpd processes (raw_exec) on their dynamic port, with an HTTP check. */
const WEB = `job "web" {
  datacenters = ["dc1"]
  group "web" {
    count = 2
    spread {
      attribute = "\${node.unique.name}"
    }
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
      tags = ["traefik.frontend.rule=Host:web.swarm.test"]
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "web" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo web $NOMAD_ALLOC_ID > $NOMAD_TASK_DIR/index.html && exec /bin/busybox httpd -f -p $NOMAD_PORT_http -h $NOMAD_TASK_DIR"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

async function startClient(name: string, role: string): Promise<AgentProcess> {
  const c = await startAgentProcess([...NO_ACL_NO_TLS, "-client", "-raw-exec", "-servers", server.address, "-data-dir", join(dir, name), "-node", name, "-http-port", "0", "-meta", `role=${role}`]);
  clients.set(name, c);
  return c;
}

async function cli(...argv: string[]) {
  return ruche(server.address, dir, ...argv);
}

const names = new Map<string, string>();
async function nodeName(id: string): Promise<string> {
  const known = names.get(id);
  if (known !== undefined) return known;
  const name = (await api.node(id)).body.Name;
  names.set(id, name);
  return name;
}

/** How many running allocations of a job each node has, once `check` holds of them. */
async function placement(job: string, what: string, check: (byNode: Map<string, number>, total: number) => boolean): Promise<Map<string, number>> {
  return until(`${job}: ${what}`, async () => {
    const running = (await api.jobAllocations(job)).body.filter((a: AllocStub) => a.DesiredStatus === "run" && a.ClientStatus === "running");
    for (const a of running) everyAlloc.add(a.ID);
    const byNode = new Map<string, number>();
    for (const a of running) {
      const n = await nodeName(a.NodeID);
      byNode.set(n, (byNode.get(n) ?? 0) + 1);
    }
    return check(byNode, running.length) ? byNode : undefined;
  }, 60_000);
}

interface Traffic {
  ok: number;
  failures: string[];
  /** The instances that answered (each says its allocation). */
  from: Set<string>;
}

/** A client looping on GETs through the router for `host`, one after the other, recording what is not a 200. */
function steadyTraffic(host: string): { until(check: (t: Traffic) => boolean): Promise<void>; stop(): Promise<Traffic> } {
  const t: Traffic = { ok: 0, failures: [], from: new Set() };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const r = await getThrough(server.routerAddress, host, agent);
        if (r.status === 200) {
          t.ok++;
          t.from.add(r.body);
        } else t.failures.push(`${r.status}: ${r.body.slice(0, 200)}`);
      } catch (err) {
        t.failures.push(err instanceof Error ? err.message : String(err));
      }
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  return {
    until: async (check) => {
      await until("steady traffic through the router", () => (check(t) ? true : undefined));
    },
    stop: async () => {
      stopped = true;
      await loop;
      return t;
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-swarm-e2e-"));
  server = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-router", "-bind", "127.0.0.1", "-data-dir", join(dir, "server"), "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0"]);
  api = new ApiClient(server.address);
  await Promise.all([startClient("manager-1", "manager"), startClient("worker-1", "worker"), startClient("worker-2", "worker")]);
  await until("three ready nodes", async () => ((await api.nodes()).body.filter((n) => n.Status === "ready").length === 3 ? true : undefined));
  writeFileSync(join(dir, "web.hcl"), WEB);
  writeFileSync(join(dir, "monitor.hcl"), sleeperJob("monitor", "system", 0, ""));
  writeFileSync(join(dir, "manager-only.hcl"), sleeperJob("manager-only", "service", 2, `constraint {\n    attribute = "\${meta.role}"\n    value     = "manager"\n  }`));
}, 90_000);

afterAll(async () => {
  // Client agents with a data dir leave their tasks running when they stop: stop the jobs first.
  for (const job of JOBS) await cli("job", "stop", "-detach", job);
  await until("every task of the walkthrough to end", async () => {
    for (const id of everyAlloc) if ((await processesOf(id)).some(alive)) return undefined;
    return true;
  }, 60_000).catch(async (err: unknown) => {
    for (const id of everyAlloc) for (const pid of await processesOf(id)) process.kill(pid, "SIGKILL");
    throw err;
  });
  for (const c of clients.values()) await c.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("the Swarm walkthrough", () => {
  it("scales a service of 2 replicas to 10, spread over the three agents", async () => {
    const r = await cli("job", "run", "web.hcl");
    expect(r.code).toBe(0);
    await placement("web", "2 running", (_, total) => total === 2);
    const scaled = await cli("job", "scale", "web", "web", "10");
    expect(scaled.code, scaled.err).toBe(0);
    const byNode = await placement("web", "10 running", (_, total) => total === 10);
    expect([...byNode.keys()].sort()).toEqual(["manager-1", "worker-1", "worker-2"]);
    for (const [node, n] of byNode) expect(n, `replicas on ${node}`).toBeGreaterThanOrEqual(3);
    const healthy = await until("10 passing instances of web", async () => {
      const entries = (await api.healthService("web")).body.filter((e) => e.Checks.every((c) => c.Status === "passing"));
      return entries.length === 10 ? entries : undefined;
    });
    expect(new Set(healthy.map((e) => e.Service.Port)).size).toBe(10);
  }, 120_000);

  it("keeps a job constrained to role=manager on the manager", async () => {
    expect((await cli("job", "run", "-detach", "manager-only.hcl")).code).toBe(0);
    const byNode = await placement("manager-only", "2 running", (_, total) => total === 2);
    expect([...byNode.entries()]).toEqual([["manager-1", 2]]);
  }, 60_000);

  it("runs a system job on every agent, and on a fourth when it joins", async () => {
    expect((await cli("job", "run", "-detach", "monitor.hcl")).code).toBe(0);
    await placement("monitor", "one on each of 3 agents", (byNode) => byNode.size === 3);
    await startClient("worker-3", "worker");
    const byNode = await placement("monitor", "one on each of 4 agents", (byNode) => byNode.size === 4);
    expect([...byNode.values()]).toEqual([1, 1, 1, 1]);
  }, 60_000);

  it("replaces the allocations of an agent killed with kill -9, tasks and all, while the router's clients see no error", async () => {
    const worker1 = (await api.nodes()).body.find((n) => n.Name === "worker-1");
    const lost = (await api.nodeAllocations(worker1?.ID ?? "")).body.filter((a) => a.ClientStatus === "running");
    expect(lost.length).toBeGreaterThan(0);
    const traffic = steadyTraffic("web.swarm.test");
    await traffic.until((r) => r.ok > 20);
    await clients.get("worker-1")?.crash();
    for (const a of lost) for (const pid of await processesOf(a.ID)) process.kill(pid, "SIGKILL");
    clients.delete("worker-1");
    // Silent past its heartbeat TTL: disconnected, its allocations unknown and replaced at once.
    await until("worker-1 to be disconnected", async () => ((await api.node(worker1?.ID ?? "")).body.Status === "disconnected" ? true : undefined));
    const byNode = await placement("web", "10 running on the other agents", (b, total) => total === 10 && !b.has("worker-1"));
    expect(byNode.has("worker-1")).toBe(false);
    await placement("monitor", "on the 3 agents left", (b) => b.size === 3 && !b.has("worker-1"));
    const seen = await traffic.stop();
    expect(seen.failures, seen.failures.join("\n")).toEqual([]);
    expect(seen.ok).toBeGreaterThan(50);
    expect(seen.from.size).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it("moves a drained agent's work away", async () => {
    const r = await cli("node", "drain", "-enable", "-yes", "-deadline", "30s", "worker-2");
    expect(r.code, r.out + r.err).toBe(0);
    const byNode = await placement("web", "10 running, none on worker-2", (b, total) => total === 10 && !b.has("worker-2"));
    expect([...byNode.keys()].sort()).toEqual(["manager-1", "worker-3"]);
    const node = (await api.nodes()).body.find((n) => n.Name === "worker-2");
    expect(node?.SchedulingEligibility).toBe("ineligible");
  }, 120_000);
});
