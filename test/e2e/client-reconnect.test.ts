/**
 * An agent restart does not restart the node's work: a server and two client agents as
 * their own processes; a client agent is killed (kill -9, its tasks left running) and kept
 * down well past the heartbeat TTL and grace. Its node is disconnected, its allocations
 * unknown and replaced on the other node at once; when the agent starts again on its data
 * dir it finds its tasks, reports them, and the servers keep the originals (they have run
 * the longest) and stop the replacements: the same processes run, and exactly `count`.
 * Meanwhile GETs through the server's router to the job's service do not fail.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type AllocStub } from "../../src/apiclient/index.js";
import { errorMessage } from "../../src/structs/index.js";
import { type AgentProcess, alive, getThrough, NO_ACL_NO_TLS, processesOf, ruche, startAgentProcess, until } from "./harness.js";

// Two web servers, one per node (spread), behind the router as keep.test.
const JOB = `job "keep" {
  datacenters = ["dc1"]
  placement {
    strategy = "spread"
  }
  group "keep" {
    count = 2
    network {
      port "http" {}
    }
    service {
      name = "keep"
      port = "http"
      tags = ["traefik.frontend.rule=Host:keep.test"]
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "proc" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ > $NOMAD_TASK_DIR/pid; echo ok > $NOMAD_TASK_DIR/index.html; exec busybox httpd -f -p $NOMAD_PORT_http -h $NOMAD_TASK_DIR"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

let dir = "";
let server: AgentProcess;
const clients = new Map<string, AgentProcess>();
let api: ApiClient;

function startClient(name: string): Promise<AgentProcess> {
  return startAgentProcess([...NO_ACL_NO_TLS, "-client", "-raw-exec", "-servers", server.address, "-data-dir", join(dir, name), "-node", name, "-http-port", "0"]).then((c) => {
    clients.set(name, c);
    return c;
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-reconnect-e2e-"));
  writeFileSync(join(dir, "keep.hcl"), JOB);
  // The heartbeat settings at their defaults, written out: 2 s TTL and 1 s grace.
  server = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", join(dir, "server"), "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "0", "-router-dashboard-port", "-1", "-min-heartbeat-ttl", "2s", "-heartbeat-grace", "1s", "-max-heartbeats-per-second", "50"]);
  api = new ApiClient(server.address);
  await Promise.all([startClient("one"), startClient("two")]);
}, 90_000);

afterAll(async () => {
  const allocs = await api.jobAllocations("keep").then((r) => r.body.map((a) => a.ID), () => [] as string[]);
  await ruche(server.address, dir, "job", "stop", "-detach", "keep");
  await until("every task of the job to end", async () => {
    for (const id of allocs) if ((await processesOf(id)).some(alive)) return undefined;
    return true;
  }, 60_000).catch(async (err: unknown) => {
    for (const id of allocs) for (const pid of await processesOf(id)) process.kill(pid, "SIGKILL");
    throw err;
  });
  for (const c of clients.values()) await c.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

async function live(): Promise<AllocStub[]> {
  return (await api.jobAllocations("keep")).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
}

/** Each allocation of the job, for a failure's message: id, node, desired and client status, recorded client statuses. */
async function describeAllocs(): Promise<string> {
  const stubs = (await api.jobAllocations("keep")).body;
  const full = await Promise.all(stubs.map((a) => api.allocation(a.ID).then((r) => r.body)));
  const nodes = new Map((await api.nodes()).body.map((n) => [n.ID, `${n.Name}:${n.Status}`]));
  return JSON.stringify(full.map((a) => [a.ID.slice(0, 8), nodes.get(a.NodeID), a.DesiredStatus, a.ClientStatus, (a.AllocStates ?? []).map((x) => x.Value).join(">")]));
}

/** GETs through the router with Host: keep.test, one at a time, until stopped: how many of each status (0: no answer). */
function steadyGets(): { stop: () => Promise<Map<number, number>> } {
  const seen = new Map<number, number>();
  let on = true;
  const loop = (async () => {
    while (on) {
      const status = await getThrough(server.routerAddress, "keep.test").then((r) => r.status, () => 0);
      seen.set(status, (seen.get(status) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return seen;
    },
  };
}

function pidOf(node: string, allocId: string): number {
  return Number(readFileSync(join(dir, node, "alloc", allocId, "proc", "local", "pid"), "utf8").trim());
}

describe("a client agent down past its heartbeats, then started again", () => {
  it("has its work replaced while away, and keeps its original tasks when it is back: exactly count run", async () => {
    expect((await ruche(server.address, dir, "job", "run", "-detach", "keep.hcl")).code).toBe(0);
    const first = await until("2 running allocations", async () => {
      const l = await live();
      return l.length === 2 ? l : undefined;
    }, 60_000);
    const nodes = new Map((await api.nodes()).body.map((n) => [n.ID, n.Name]));
    const victimId = first[0]!.NodeID;
    const victim = nodes.get(victimId)!;
    const originals = first.filter((a) => a.NodeID === victimId);
    const pids = new Map(await Promise.all(originals.map(async (a) => [a.ID, await until(`the pid of ${a.ID}`, () => pidOf(victim, a.ID) || undefined)] as const)));
    await until("both instances answering through the router", async () => {
      const passing = (await (await fetch(`http://${server.address}/v1/health/service/keep?passing`)).json()) as unknown[];
      const answered = await getThrough(server.routerAddress, "keep.test").then((r) => r.status, () => 0);
      return passing.length === 2 && answered === 200 ? true : undefined;
    }, 30_000);
    const gets = steadyGets();

    // kill -9: the agent is gone, its tasks go on.
    const t0 = Date.now();
    await clients.get(victim)!.crash();
    for (const pid of pids.values()) expect(alive(pid)).toBe(true);
    await until("the node disconnected", async () => ((await api.node(victimId)).body.Status === "disconnected" ? true : undefined), 15_000);
    const replacements = await until("replacements running on the other node", async () => {
      const l = (await live()).filter((a) => a.NodeID !== victimId);
      return l.length === 2 ? l.filter((a) => !first.some((f) => f.ID === a.ID)) : undefined;
    }, 15_000);
    const replacedAfterMs = Date.now() - t0;
    expect(replacements).toHaveLength(originals.length);
    for (const o of originals) expect((await api.allocation(o.ID)).body).toMatchObject({ ClientStatus: "unknown", DesiredStatus: "run" });
    // Down longer than the TTL and grace (3 s) many times over.
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - t0))));

    await startClient(victim);
    await until("the originals kept and the replacements stopped", async () => {
      const l = await live();
      const ok = l.length === 2 && originals.every((o) => l.some((a) => a.ID === o.ID)) && replacements.every((r) => !l.some((a) => a.ID === r.ID));
      return ok ? true : undefined;
    }, 30_000).catch(async (err: unknown) => {
      throw new Error(`${errorMessage(err)}; the job's allocations: ${await describeAllocs()}`, { cause: err });
    });
    for (const [id, pid] of pids) {
      expect(alive(pid), `the original task of ${id}`).toBe(true);
      expect(pidOf(victim, id)).toBe(pid);
      const a = (await api.allocation(id)).body;
      expect(a.TaskStates.proc?.Restarts).toBe(0);
      expect(a.TaskStates.proc?.Events.filter((e) => e.Type === "Started")).toHaveLength(1);
    }
    for (const r of replacements) {
      await until(`the replacement ${r.ID} stopped`, async () => ((await api.allocation(r.ID)).body.ClientStatus === "complete" ? true : undefined), 30_000);
      expect((await processesOf(r.ID)).filter(alive)).toEqual([]);
    }
    expect(await live()).toHaveLength(2);
    const statuses = await gets.stop();
    const failed = [...statuses].filter(([code]) => code !== 200).reduce((n, [, c]) => n + c, 0);
    console.log(JSON.stringify({ replacedAfterMs, routerRequests: [...statuses.values()].reduce((a, b) => a + b, 0), routerFailed: Object.fromEntries([...statuses].filter(([c]) => c !== 200)) }));
    expect(failed, `requests through the router that failed: ${JSON.stringify(Object.fromEntries(statuses))}`).toBe(0);
  }, 180_000);
});
