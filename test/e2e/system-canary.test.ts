/**
 * A system job's canaries (Nomad 1.11, its e2e `scheduler_system` canary test): an agent that is
 * server and client and three client agents (raw_exec, real processes) run a system job on
 * their four nodes; its new
 * version with `canary = 50` runs on half of them while the others keep the old one, until
 * `ruche deployment promote`; then it rolls to every node and the deployment is successful.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type AllocStub } from "../../src/apiclient/index.js";
import { alive, NO_ACL_NO_TLS, processesOf, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let dev: AgentProcess | undefined;
const clients: AgentProcess[] = [];
let api: ApiClient;
const everyAlloc = new Set<string>();

/** The job at `seconds` of sleep: a new value is a new version that replaces every allocation. */
function canaryJob(seconds: number): string {
  return `job "sysjob" {
  datacenters = ["dc1"]
  type        = "system"

  group "sysjob" {
    update {
      max_parallel     = 2
      min_healthy_time = "1s"
      healthy_deadline = "1m"
      auto_revert      = false
      canary           = 50
    }

    task "sleepy" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["${seconds}"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;
}

async function cli(...argv: string[]) {
  return ruche(dev?.address ?? "", dir, ...argv);
}

async function running(): Promise<AllocStub[]> {
  const allocs = (await api.jobAllocations("sysjob")).body;
  for (const a of allocs) everyAlloc.add(a.ID);
  return allocs.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-system-canary-e2e-"));
  dev = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-client", "-raw-exec", "-bind", "127.0.0.1", "-node", "canary-0", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-data-dir", join(dir, "server")]);
  api = new ApiClient(dev.address);
  const server = dev.address;
  for (const name of ["canary-1", "canary-2", "canary-3"]) {
    clients.push(await startAgentProcess([...NO_ACL_NO_TLS, "-client", "-raw-exec", "-servers", server, "-data-dir", join(dir, name), "-node", name, "-http-port", "0"]));
  }
  await until("four ready nodes", async () => ((await api.nodes()).body.filter((n) => n.Status === "ready").length === 4 ? true : undefined));
  writeFileSync(join(dir, "v0.hcl"), canaryJob(3600));
  writeFileSync(join(dir, "v1.hcl"), canaryJob(3601));
}, 120_000);

afterAll(async () => {
  // Client agents with a data dir leave their tasks running when they stop: stop the job first.
  if (dev !== undefined) {
    await cli("job", "stop", "-detach", "sysjob");
    await until("every task of the job to end", async () => {
      for (const id of everyAlloc) if ((await processesOf(id)).some(alive)) return undefined;
      return true;
    }, 60_000).catch(async (err: unknown) => {
      for (const id of everyAlloc) for (const pid of await processesOf(id)) process.kill(pid, "SIGKILL");
      throw err;
    });
  }
  for (const c of clients) await c.stop();
  if (dev !== undefined) await dev.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("a system job with canary = 50", () => {
  it("runs its first version on every node, as a deployment that succeeds", async () => {
    const r = await cli("job", "run", "v0.hcl");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toContain("Deployment");
    const allocs = await until("one running allocation on each of the four nodes", async () => {
      const live = await running();
      return new Set(live.map((a) => a.NodeID)).size === 4 && live.length === 4 ? live : undefined;
    });
    expect(allocs.every((a) => a.JobVersion === 0)).toBe(true);
    const d = await until("the first deployment to be successful", async () => (await api.deployments()).body.find((x) => x.JobID === "sysjob" && x.JobVersion === 0 && x.Status === "successful"));
    expect(d.TaskGroups.sysjob?.DesiredTotal).toBe(4);
  }, 90_000);

  it("puts the new version on half the nodes as canaries, the others keep the old one until promotion", async () => {
    const r = await cli("job", "run", "v1.hcl");
    // job run follows the deployment until it waits for its canaries to be promoted.
    expect(r.code, r.out + r.err).toBe(0);
    const d = await until("the deployment to wait for promotion with its canaries healthy", async () => {
      const x = (await api.deployments()).body.find((y) => y.JobID === "sysjob" && y.JobVersion === 1);
      const s = x?.TaskGroups.sysjob;
      return x !== undefined && s !== undefined && s.DesiredCanaries === 2 && s.HealthyAllocs >= 2 ? x : undefined;
    });
    expect(d.Status).toBe("running");
    expect(d.StatusDescription).toBe("Deployment is running but requires manual promotion");
    // It stays so: half the nodes on each version, for as long as nobody promotes.
    await new Promise((res) => setTimeout(res, 3000));
    const live = await running();
    expect(live).toHaveLength(4);
    const v1 = live.filter((a) => a.JobVersion === 1);
    expect(v1).toHaveLength(2);
    expect(v1.every((a) => a.DeploymentStatus?.Canary === true && a.DeploymentID === d.ID)).toBe(true);
    expect(live.filter((a) => a.JobVersion === 0)).toHaveLength(2);
    expect(new Set(live.map((a) => a.NodeID)).size).toBe(4);
    const status = await cli("deployment", "status", d.ID);
    expect(status.out).toMatch(/requires manual promotion/);
  }, 120_000);

  it("rolls to every node once promoted, and the deployment succeeds", async () => {
    const d = (await api.deployments()).body.find((y) => y.JobID === "sysjob" && y.JobVersion === 1);
    expect(d).toBeDefined();
    const r = await cli("deployment", "promote", d?.ID ?? "");
    expect(r.code, r.out + r.err).toBe(0);
    const done = await until("the deployment to be successful", async () => {
      const x = (await api.deployment(d?.ID ?? "")).body;
      return x.Status === "successful" ? x : undefined;
    }, 90_000);
    expect(done.TaskGroups.sysjob).toMatchObject({ Promoted: true, DesiredTotal: 4, HealthyAllocs: 4 });
    const live = await running();
    expect(live.map((a) => a.JobVersion)).toEqual([1, 1, 1, 1]);
    expect(new Set(live.map((a) => a.NodeID)).size).toBe(4);
  }, 120_000);
});
