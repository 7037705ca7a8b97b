/**
 * A purged job's port, end to end: a dev agent (its own process, one node) runs a docker
 * task holding a static host port and slow to stop (it ignores SIGTERM, so it lives out its
 * kill_timeout). The job is purged and registered again at once, while the old container
 * still holds the port: the new allocation waits for the port instead of failing with
 * "address already in use" / "port is already allocated", and starts once the old task is
 * gone. Purged for good, no container of the job is left on the engine.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

const JOB = "purge-ports";

function job(port: number, version = "1"): string {
  return `job "${JOB}" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "http" {
        static = ${port}
        to     = 8000
      }
    }
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "box" {
      driver       = "docker"
      kill_timeout = "4s"
      env {
        VERSION = "${version}"
      }
      config {
        image   = "ruche-test/busybox:latest"
        command = "sh"
        args    = ["-c", "trap '' TERM; while true; do sleep 1; done"]
        ports   = ["http"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`;
}

let agent: AgentProcess | undefined;
let dir = "";

/** Every container of the job on the engine, running or not. */
function containersOfJob(): Promise<string> {
  return docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${JOB}`);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-purge-ports-e2e-"));
  const port = await freePort();
  writeFileSync(join(dir, "job.hcl"), job(port));
  writeFileSync(join(dir, "job-v2.hcl"), job(port, "2"));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1", "-datacenter", "dc1"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  const ids = await containersOfJob();
  if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function allocs(api: ApiClient): Promise<Allocation[]> {
  const stubs = (await api.jobAllocations(JOB)).body;
  return Promise.all(stubs.map(async (s) => (await api.allocation(s.ID)).body));
}

describe("a purged job's ports and containers", () => {
  it("re-registered at once, its new allocation waits for the port and starts; purged, no container is left", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "job.hcl")).code).toBe(0);
    const first = await until("the first allocation running", async () => (await allocs(api)).find((x) => x.ClientStatus === "running" && x.TaskStates.box?.State === "running"));

    // Purged, then registered again the moment the servers told the old allocation to stop:
    // its container ignores SIGTERM and holds the port for its 4 s kill_timeout.
    await api.stop(JOB, true);
    await until("the old allocation told to stop", async () => ((await api.allocation(first.ID)).body.DesiredStatus === "stop" ? true : undefined), 10_000);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "job.hcl")).code).toBe(0);
    expect((await docker("ps", "-q", "--filter", `label=com.ruche.alloc_id=${first.ID}`)) !== "").toBe(true);

    const next = await until(
      "the new allocation running or failed",
      async () => (await allocs(api)).find((x) => x.ID !== first.ID && (x.ClientStatus === "running" || x.ClientStatus === "failed")),
      30_000,
    );
    const events = next.TaskStates.box?.Events ?? [];
    expect(events.filter((e) => e.Type === "Driver Failure").map((e) => e.Message)).toEqual([]);
    expect(next.ClientStatus).toBe("running");
    // It started only once the old task was gone.
    const old = (await api.allocation(first.ID)).body;
    expect(old.ClientStatus).toBe("complete");

    // A new version replaces it on the same node (a destructive update): the replacement's
    // task starts once the old one is gone, and gets the port.
    expect((await ruche(a.address, dir, "job", "run", "-detach", "job-v2.hcl")).code).toBe(0);
    const v2 = await until(
      "the new version's allocation running or failed",
      async () => (await allocs(api)).find((x) => x.PreviousAllocation === next.ID && (x.ClientStatus === "running" || x.ClientStatus === "failed")),
      30_000,
    );
    expect((v2.TaskStates.box?.Events ?? []).filter((e) => e.Type === "Driver Failure").map((e) => e.Message)).toEqual([]);
    expect(v2.ClientStatus).toBe("running");

    // Purged for good: the client stops the task and removes its container.
    await api.stop(JOB, true);
    await until("no container of the job on the engine", async () => ((await containersOfJob()) === "" ? true : undefined), 30_000);
  }, 120_000);
});
