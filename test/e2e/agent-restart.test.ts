/**
 * Restarting the agent does not restart tasks: `kill -9` of a dev agent with a kept data
 * dir, ten times in a row while a raw_exec task and a docker task run, and each time the
 * new agent process finds the same process (pid and start time) and the same container
 * again, with a restart count of 0. Stopping the job afterwards leaves nothing running.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { alive, blockingQueries, docker, DOCKER_SLEEPER_TASK, processesOf, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";

const JOB = `job "sleepers" {
  datacenters = ["dc1"]
  group "g" {
    task "proc" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ > $NOMAD_TASK_DIR/pid; exec sleep 100000"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
${DOCKER_SLEEPER_TASK}
  }
}
`;

async function start(): Promise<AgentProcess> {
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0", "-data-dir", join(dir, "data"), "-datacenter", "dc1"]);
  return agent;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-restart-e2e-"));
  writeFileSync(join(dir, "sleepers.hcl"), JOB);
  await start();
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  await docker("ps", "-aq", "--filter", "label=com.ruche.job_id=sleepers").then(async (ids) => {
    if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  });
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function theAlloc(api: ApiClient): Promise<Allocation> {
  const [stub] = (await api.jobAllocations("sleepers")).body.filter((a) => a.DesiredStatus === "run");
  if (stub === undefined) throw new Error("no allocation of the job");
  return (await api.allocation(stub.ID)).body;
}

describe("restarting the agent", () => {
  it("kill -9 ten times: the same process and container go on, with no restart", async () => {
    const a = agent as AgentProcess;
    const run = await ruche(a.address, dir, "job", "run", "-detach", "sleepers.hcl");
    expect(run.err).toBe("");
    let api = new ApiClient(a.address);
    const alloc = await until("both tasks running", async () => {
      const x = await theAlloc(api);
      return x.ClientStatus === "running" ? x : undefined;
    });
    const pidFile = join(dir, "data", "alloc", alloc.ID, "proc", "local", "pid");
    const pid = Number(await until("the task's pid file", () => readFileSync(pidFile, "utf8").trim() || undefined));
    const startTime = (): string => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[19] ?? "";
    const started = startTime();
    const container = await until("the task's container", async () => (await docker("ps", "-q", "--no-trunc", "--filter", `label=com.ruche.alloc_id=${alloc.ID}`)) || undefined);

    for (let i = 1; i <= 10; i++) {
      await (agent as AgentProcess).crash();
      expect(alive(pid), `the task died with the agent (round ${i})`).toBe(true);
      // The new agent is up once its node is registered, which its client does after it has
      // found its tasks again from its own state.
      const b = await start();
      api = new ApiClient(b.address);
      // Then its client takes the allocations from the servers, acts on them, and waits for
      // the next change: its blocking query and the router's on the allocations both wait.
      await until(`round ${i}: the agent at rest`, async () => ((await blockingQueries(b.address, "allocs")) >= 2 ? true : undefined));
      const now = await theAlloc(api);
      expect(now.ClientStatus, `round ${i}: the allocation`).toBe("running");
      expect(alive(pid), `round ${i}: the process`).toBe(true);
      expect(startTime(), `round ${i}: the same process, not one with its pid`).toBe(started);
      expect(await docker("ps", "-q", "--no-trunc", "--filter", `label=com.ruche.alloc_id=${alloc.ID}`), `round ${i}: the same container`).toBe(container);
      for (const t of ["proc", "box"]) {
        expect(now.TaskStates[t]?.Restarts, `round ${i}: restarts of ${t}`).toBe(0);
        expect(now.TaskStates[t]?.Events.filter((e) => e.Type === "Started"), `round ${i}: ${t} started once`).toHaveLength(1);
      }
    }

    const stop = await ruche((agent as AgentProcess).address, dir, "job", "stop", "sleepers");
    expect(stop.code).toBe(0);
    await until("the allocation to complete", async () => ((await api.allocation(alloc.ID)).body.ClientStatus === "complete" ? true : undefined));
    await until("the process to be gone", () => (alive(pid) ? undefined : true));
    expect(await docker("ps", "-aq", "--filter", `label=com.ruche.alloc_id=${alloc.ID}`)).toBe("");
    expect(await processesOf(alloc.ID)).toEqual([]);
  }, 240_000);
});
