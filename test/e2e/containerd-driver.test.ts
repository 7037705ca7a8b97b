/**
 * Jobs of nomad-driver-containerd's `containerd-driver` through a dev agent, on a real
 * containerd (the Docker engine's of scripts/test-deps.sh, or the node's own) in a namespace of
 * this test: the node fingerprints containerd; a batch task's output (its hostname, extra hosts
 * and env) reaches its logs and its exit code 3 fails the allocation; a service task answers
 * `alloc exec` and, stopped with the job, hears SIGTERM and completes. The test's image is
 * imported from the Docker engine (no registry), and the namespace is removed at the end.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { importTestImage, testContainerdAddress, TEST_IMAGE } from "../../src/drivers/containerd/testing.js";
import type { Allocation } from "../../src/structs/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

const NAMESPACE = `ruche-test-e2e-${randomUUID().slice(0, 8)}`;
const ADDRESS = testContainerdAddress();
let agent: AgentProcess | undefined;
let dir = "";

const ctr = (...args: string[]): string => execFileSync("ctr", ["--address", ADDRESS, "--namespace", NAMESPACE, ...args], { encoding: "utf8" });

const BATCH = `job "boxed" {
  datacenters = ["dc1"]
  type        = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "hello" {
      driver = "containerd-driver"
      config {
        image       = "${TEST_IMAGE}"
        command     = "/bin/sh"
        args        = ["-c", "echo hello $NOMAD_JOB_NAME; hostname; grep db.internal /etc/hosts; echo oops >&2; exit 3"]
        hostname    = "box-host"
        extra_hosts = ["db.internal:10.1.2.3"]
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

const SERVICE = `job "boxed-service" {
  datacenters = ["dc1"]
  group "g" {
    task "server" {
      driver = "containerd-driver"
      config {
        image   = "${TEST_IMAGE}"
        command = "/bin/sh"
        args    = ["-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.2; done"]
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

async function allocOf(api: ApiClient, job: string, done: (a: Allocation) => boolean, what: string): Promise<Allocation> {
  return until(what, async () => {
    const [stub] = (await api.jobAllocations(job)).body;
    if (stub === undefined) return undefined;
    const a = (await api.allocation(stub.ID)).body;
    return done(a) ? a : undefined;
  }, 60_000);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-containerd-e2e-"));
  writeFileSync(join(dir, "batch.hcl"), BATCH);
  writeFileSync(join(dir, "service.hcl"), SERVICE);
  importTestImage(NAMESPACE, ADDRESS);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"], {
    CONTAINERD_ADDRESS: ADDRESS,
    CONTAINERD_NAMESPACE: NAMESPACE,
  });
}, 120_000);

afterAll(async () => {
  // A dev agent destroys its tasks as it stops: nothing of them may be left in containerd.
  if (agent !== undefined) await agent.stop();
  const left = ctr("containers", "ls", "-q").trim();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
  expect(left, "containers of the test's tasks left after the agent stopped").toBe("");
  for (const image of ctr("images", "ls", "-q").split("\n").filter((l) => l !== "")) ctr("images", "rm", "--sync", image);
  execFileSync("ctr", ["--address", ADDRESS, "namespaces", "rm", NAMESPACE], { stdio: "ignore" });
}, 60_000);

describe("containerd-driver jobs", () => {
  it("the node offers containerd-driver with containerd's version", async () => {
    const api = new ApiClient((agent as AgentProcess).address);
    const node = await until("the node to fingerprint containerd-driver", async () => {
      const [stub] = (await api.nodes()).body;
      const n = stub === undefined ? undefined : (await api.node(stub.ID)).body;
      return n?.Drivers["containerd-driver"]?.Healthy === true ? n : undefined;
    });
    expect(node.Attributes["driver.containerd-driver"]).toBe("1");
    expect(node.Attributes["driver.containerd.containerd_version"]).toMatch(/^v?\d+\.\d+/);
  }, 60_000);

  it("a task's output reaches its logs (hostname, extra_hosts, env) and its exit code 3 fails the allocation", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "batch.hcl");
    expect(run.err).toBe("");
    const alloc = await allocOf(api, "boxed", (x) => x.ClientStatus === "complete" || x.ClientStatus === "failed", "the batch allocation to finish");
    expect(alloc.ClientStatus, JSON.stringify(alloc.TaskStates)).toBe("failed");
    expect(alloc.TaskStates.hello?.Events.find((e) => e.Type === "Terminated")?.ExitCode).toBe(3);
    const logs = await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "hello");
    expect(logs.out).toBe("hello boxed\nbox-host\n10.1.2.3\tdb.internal\n");
    const stderr = await ruche(a.address, dir, "alloc", "logs", "-stderr", alloc.ID.slice(0, 8), "hello");
    expect(stderr.out).toBe("oops\n");
  }, 90_000);

  it("a service task answers alloc exec, and stopping the job sends it SIGTERM", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "service.hcl")).code).toBe(0);
    const alloc = await allocOf(api, "boxed-service", (x) => x.TaskStates.server?.State === "running", "the service task to run");
    const id = alloc.ID.slice(0, 8);
    await until("ready in the task's logs", async () => (await ruche(a.address, dir, "alloc", "logs", id, "server")).out.includes("ready"));
    const exec = await ruche(a.address, dir, "alloc", "exec", "-i=false", "-t=false", id, "/bin/sh", "-c", "echo in $NOMAD_TASK_NAME at $(cat /proc/1/cmdline | tr '\\0' ' '); exit 2");
    expect(exec.out).toBe("in server at /bin/sh -c trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.2; done\n");
    expect(exec.code).toBe(2);
    expect((await ruche(a.address, dir, "job", "stop", "-detach", "boxed-service")).code).toBe(0);
    const stopped = await allocOf(api, "boxed-service", (x) => x.ClientStatus === "complete", "the service allocation to complete");
    expect(stopped.TaskStates.server?.Events.find((e) => e.Type === "Terminated")?.ExitCode).toBe(0);
    expect((await ruche(a.address, dir, "alloc", "logs", id, "server")).out).toBe("ready\ngot-term\n");
  }, 90_000);
});
