/**
 * A dead Docker engine, end to end: a dev agent whose docker driver talks to the engine
 * through a unix socket proxy that this test runs in its own process in front of
 * /var/run/docker.sock (DOCKER_HOST=unix://<proxy>), and stops (every connection cut, new
 * ones refused) and starts again. While the engine is away the node's docker driver is
 * unhealthy (GET /v1/node/:id) within seconds and a new docker job is not placed there,
 * saying why; a container killed meanwhile (through the real socket) is restarted per its
 * restart policy once the engine is back, and another allocation's container, alive all
 * along, is kept; the waiting job is then placed.
 *
 * The docker driver fingerprints the engine every 2 s (its default): no setting is needed
 * to keep this test short.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { EngineProxy } from "../../src/drivers/docker/engine-proxy.js";
import { describeFailure, type Allocation, type DriverInfo } from "../../src/structs/index.js";
import { docker, DOCKER_SLEEPER_TASK, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

const JOBS = ["engine-dies", "engine-lives", "engine-during"];

function job(name: string): string {
  return `job "${name}" {
  datacenters = ["dc1"]
  group "g" {
    restart {
      attempts = 2
      interval = "1m"
      delay    = "1s"
      mode     = "fail"
    }
${DOCKER_SLEEPER_TASK}
  }
}
`;
}

let agent: AgentProcess | undefined;
let proxy: EngineProxy | undefined;
let dir = "";

async function removeContainers(): Promise<void> {
  for (const j of JOBS) {
    const ids = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${j}`);
    if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-engine-loss-e2e-"));
  for (const j of JOBS) writeFileSync(join(dir, `${j}.hcl`), job(j));
  proxy = new EngineProxy(join(dir, "docker.sock"));
  await proxy.start();
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1", "-datacenter", "dc1"], { DOCKER_HOST: `unix://${proxy.socketPath}` });
}, 60_000);

afterAll(async () => {
  // The engine back first: a dev agent removes its containers as it stops.
  await proxy?.start();
  if (agent !== undefined) await agent.stop();
  await proxy?.close();
  await removeContainers();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function theAlloc(api: ApiClient, jobId: string): Promise<Allocation | undefined> {
  const [stub] = (await api.jobAllocations(jobId)).body.filter((a) => a.DesiredStatus === "run");
  return stub === undefined ? undefined : (await api.allocation(stub.ID)).body;
}

async function running(api: ApiClient, jobId: string): Promise<Allocation | undefined> {
  const a = await theAlloc(api, jobId);
  return a?.ClientStatus === "running" && a.TaskStates.box?.State === "running" ? a : undefined;
}

/** The allocation's running container (through the real socket), or "" for none. */
function containerOf(allocId: string): Promise<string> {
  return docker("ps", "-q", "--no-trunc", "--filter", `label=com.ruche.alloc_id=${allocId}`);
}

async function dockerDriver(address: string, nodeId: string): Promise<DriverInfo | undefined> {
  const res = await fetch(`http://${address}/v1/node/${nodeId}`);
  if (!res.ok) throw new Error(`GET /v1/node/${nodeId} answered ${res.status}`);
  const node = (await res.json()) as { Drivers: Record<string, DriverInfo> };
  return node.Drivers.docker;
}

describe("the Docker engine goes away and comes back", () => {
  it("the driver turns unhealthy and nothing is placed; back, the dead container is restarted, the live one kept", async () => {
    const a = agent as AgentProcess;
    const p = proxy as EngineProxy;
    const api = new ApiClient(a.address);
    for (const j of ["engine-dies", "engine-lives"]) expect((await ruche(a.address, dir, "job", "run", "-detach", `${j}.hcl`)).code).toBe(0);
    const dies = await until("the first job's task running", () => running(api, "engine-dies"));
    const lives = await until("the second job's task running", () => running(api, "engine-lives"));
    const nodeId = dies.NodeID;
    const diesContainer = await until("the first task's container", async () => (await containerOf(dies.ID)) || undefined);
    const livesContainer = await until("the second task's container", async () => (await containerOf(lives.ID)) || undefined);
    expect(await dockerDriver(a.address, nodeId)).toMatchObject({ Detected: true, Healthy: true });

    // The engine goes away.
    await p.stop();
    const sick = await until("the node's docker driver to be unhealthy", async () => {
      const d = await dockerDriver(a.address, nodeId);
      return d?.Healthy === false ? d : undefined;
    }, 10_000);
    expect(sick).toMatchObject({ Detected: true, Healthy: false });
    expect(sick.HealthDescription).toContain(`unix://${p.socketPath}`);

    // Nothing more is placed on the node while its docker driver is unhealthy, and the job says why.
    expect((await ruche(a.address, dir, "job", "run", "-detach", "engine-during.hcl")).code).toBe(0);
    const refused = await until("the new job's evaluation to fail placing it", async () =>
      (await api.jobEvaluations("engine-during")).body.find((e) => e.Status === "complete" && Object.keys(e.FailedTGAllocs).length > 0),
    );
    const metric = refused.FailedTGAllocs.g;
    expect(metric === undefined ? "" : describeFailure(metric)).toBe("1 node missing drivers");
    expect((await api.jobAllocations("engine-during")).body).toEqual([]);

    // A container dies while the engine is away: the agent cannot know yet.
    await docker("kill", diesContainer);
    await p.start();

    const restarted = await until("the dead task restarted by its restart policy", async () => {
      const x = await running(api, "engine-dies");
      return x !== undefined && x.TaskStates.box?.Restarts === 1 ? x : undefined;
    }, 30_000);
    expect(restarted.ID).toBe(dies.ID);
    expect(restarted.TaskStates.box?.Events.map((e) => e.Type)).toEqual(expect.arrayContaining(["Terminated", "Restarting"]));
    const newContainer = await containerOf(dies.ID);
    expect(newContainer).not.toBe("");
    expect(newContainer).not.toBe(diesContainer);

    // The other allocation's container lived through it: the same one, never restarted.
    const kept = await running(api, "engine-lives");
    expect(kept?.TaskStates.box?.Restarts).toBe(0);
    expect(kept?.TaskStates.box?.Events.filter((e) => e.Type === "Started")).toHaveLength(1);
    expect(await containerOf(lives.ID)).toBe(livesContainer);

    // Healthy again: the waiting job is placed on the node and runs.
    expect(await dockerDriver(a.address, nodeId)).toMatchObject({ Detected: true, Healthy: true });
    await until("the job that waited for the engine running", () => running(api, "engine-during"), 30_000);
  }, 120_000);
});
