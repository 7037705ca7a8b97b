/**
 * Podman jobs through a dev agent, as nomad-driver-podman runs them: the node fingerprints
 * the podman service the agent is pointed at (`-podman-socket`, the plugin's `socket_path`)
 * with the plugin's attributes; a service job whose task serves HTTP on a group port is
 * reached on the host port the allocation holds, its output is in `alloc logs`, and
 * `job stop` stops it (its trap on SIGTERM runs) and removes its container. The podman
 * service is the test's own (`podman system service` on a socket in a temp dir), the image
 * the tests' busybox imported into podman's storage (no registry).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { PODMAN_TEST_IMAGE, podmanTestService, stopPodmanTestService } from "../../src/drivers/podman/testing.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";
let socket = "";

const JOB = `job "web-podman" {
  datacenters = ["dc1"]
  group "web" {
    network {
      port "http" {
        to = 8080
      }
    }
    task "httpd" {
      driver       = "podman"
      kill_timeout = "5s"
      config {
        image = "${PODMAN_TEST_IMAGE}"
        command = "/bin/sh"
        args  = ["-c", "trap 'echo stopping; exit 0' TERM; echo \\"serving \${NOMAD_JOB_NAME}\\"; httpd -f -p 8080 -h /www & wait"]
        ports = ["http"]
        labels {
          team = "web"
        }
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

/** Two podman tasks of a bridge group: the server's port published once for the group, the client reaching it on localhost. */
const BRIDGE_JOB = `job "pair-podman" {
  datacenters = ["dc1"]
  group "pair" {
    network {
      mode = "bridge"
      port "http" {
        to = 8080
      }
    }
    task "server" {
      driver       = "podman"
      kill_timeout = "1s"
      config {
        image   = "${PODMAN_TEST_IMAGE}"
        command = "httpd"
        args    = ["-f", "-p", "8080", "-h", "/www"]
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
    task "client" {
      driver = "podman"
      config {
        image   = "${PODMAN_TEST_IMAGE}"
        command = "/bin/sh"
        args    = ["-c", "trap 'exit 0' TERM; until wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done; while :; do sleep 0.2; done"]
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

/** The containers podman holds of a job, by the label every task container carries. */
function containersOf(jobId: string): string[] {
  const out = execFileSync("podman", ["--url", `unix://${socket}`, "ps", "-a", "-q", "--filter", `label=com.hashicorp.nomad.job_id=${jobId}`], { encoding: "utf8" });
  return out.split("\n").filter((l) => l !== "");
}

beforeAll(async () => {
  socket = await podmanTestService();
  dir = mkdtempSync(join(tmpdir(), "ruche-podman-e2e-"));
  writeFileSync(join(dir, "web.hcl"), JOB);
  writeFileSync(join(dir, "pair.hcl"), BRIDGE_JOB);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-podman-socket", `unix://${socket}`, "-docker-infra-image", PODMAN_TEST_IMAGE]);
}, 120_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  // Nothing of the test's jobs may stay in podman's storage (the machine's): tasks first, then pause containers they joined.
  if (socket !== "") {
    for (let i = 0; i < 2; i++) {
      for (const id of [...containersOf("web-podman"), ...containersOf("pair-podman")]) {
        try {
          execFileSync("podman", ["--url", `unix://${socket}`, "rm", "-f", id], { stdio: "ignore" });
        } catch {
          // A pause container still joined by a task: removed on the second round.
        }
      }
    }
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
  stopPodmanTestService();
}, 60_000);

describe("podman jobs", () => {
  it("the node offers podman with the plugin's attributes", async () => {
    const api = new ApiClient((agent as AgentProcess).address);
    const node = await until("the node to fingerprint podman", async () => {
      const [stub] = (await api.nodes()).body;
      const n = stub === undefined ? undefined : (await api.node(stub.ID)).body;
      return n?.Drivers.podman?.Healthy === true ? n : undefined;
    });
    expect(node.Drivers.podman?.Detected).toBe(true);
    expect(node.Attributes["driver.podman"]).toBe("1");
    expect(node.Attributes["driver.podman.version"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(node.Attributes["driver.podman.rootless"]).toBe("false");
  }, 60_000);

  it("runs a service: its port published on the allocation's host port, its output in alloc logs, stopped and removed by job stop", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "web.hcl");
    expect(run.err).toBe("");
    const alloc = await until("the allocation to run", async () => {
      const [stub] = (await api.jobAllocations("web-podman")).body;
      if (stub === undefined) return undefined;
      if (stub.ClientStatus === "failed") throw new Error(`the allocation failed: ${JSON.stringify((await api.allocation(stub.ID)).body.TaskStates)}`);
      return stub.ClientStatus === "running" ? (await api.allocation(stub.ID)).body : undefined;
    }, 60_000);
    const net = alloc.Resources.Networks[0];
    const port = net?.DynamicPorts.find((p) => p.Label === "http");
    expect(port).toBeDefined();
    const body = await until("the task to answer on its host port", async () => {
      const r = await fetch(`http://${net?.IP ?? ""}:${port?.Value ?? 0}/`).catch(() => undefined);
      return r?.ok === true ? r.text() : undefined;
    });
    expect(body).toBe("ruche-test-busybox\n");
    const logs = await until("the task's output in alloc logs", async () => {
      const l = await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "httpd");
      return l.out.includes("serving web-podman") ? l.out : undefined;
    });
    expect(logs).toContain("serving web-podman\n");
    expect(containersOf("web-podman")).toHaveLength(1);

    const stop = await ruche(a.address, dir, "job", "stop", "-detach", "web-podman");
    expect(stop.code).toBe(0);
    const stopped = await until("the allocation to stop", async () => {
      const b = (await api.allocation(alloc.ID)).body;
      return b.ClientStatus === "complete" ? b : undefined;
    }, 30_000);
    expect(stopped.TaskStates.httpd?.Events.find((e) => e.Type === "Terminated")?.ExitCode).toBe(0);
    await until("the task's last words in alloc logs", async () => (await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "httpd")).out.includes("stopping\n"));
    await until("its container removed", () => containersOf("web-podman").length === 0, 30_000);
  }, 120_000);

  it("runs a bridge group: its tasks share one network (localhost), its port published once on the host", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "pair.hcl")).err).toBe("");
    const alloc = await until("the allocation to run", async () => {
      const [stub] = (await api.jobAllocations("pair-podman")).body;
      if (stub === undefined) return undefined;
      if (stub.ClientStatus === "failed") throw new Error(`the allocation failed: ${JSON.stringify((await api.allocation(stub.ID)).body.TaskStates)}`);
      return stub.ClientStatus === "running" ? (await api.allocation(stub.ID)).body : undefined;
    }, 60_000);
    await until("the client task to reach the server on localhost", async () => (await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "client")).out.includes("ruche-test-busybox"));
    const net = alloc.Resources.Networks[0];
    const port = net?.DynamicPorts.find((p) => p.Label === "http");
    const body = await until("the group's port to answer on the host", async () => {
      const r = await fetch(`http://${net?.IP ?? ""}:${port?.Value ?? 0}/`).catch(() => undefined);
      return r?.ok === true ? r.text() : undefined;
    });
    expect(body).toBe("ruche-test-busybox\n");
    expect((await ruche(a.address, dir, "job", "stop", "-detach", "pair-podman")).code).toBe(0);
    await until("the allocation to stop", async () => (await api.allocation(alloc.ID)).body.ClientStatus === "complete", 30_000);
    await until("the group's containers (tasks and pause) removed", () => containersOf("pair-podman").length === 0, 60_000);
  }, 120_000);
});
