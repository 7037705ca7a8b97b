/**
 * Groups of several docker tasks on a dev agent and the real engine, as Nomad runs them:
 * in `network { mode = "bridge" }` the group's tasks share one network namespace, held by the
 * pause container `nomad_init_<alloc>` (here made of the local busybox test image, given with
 * -docker-infra-image), and reach each other on localhost (exec and raw_exec tasks too: they
 * join the pause container's namespace), while the group's port is
 * published on the host once, on the pause container; the pause container outlives an agent
 * restart with its tasks and goes with the allocation (an allocation that replaces it on the
node, on the same static port, makes its own once the old one is gone). In host mode, each task publishes
 * only the ports its config lists, so a task with none beside one with a port runs (no
 * "port is already allocated"), and two tasks may each declare port "http" in their own
 * resources, the older syntax.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

const IMAGE = "ruche-test/busybox:latest";
let dir = "";
const agents: AgentProcess[] = [];

/** A bridge group on a static port; `version` in its env makes an update replace the allocation. */
const bridged = (port: number, version: number): string => `job "bridged" {
  datacenters = ["dc1"]
  group "g" {
    network {
      mode = "bridge"
      port "http" {
        static = ${port}
        to     = 8080
      }
    }
    task "server" {
      driver = "docker"
      env {
        VERSION = "${version}"
      }
      config {
        image   = "${IMAGE}"
        command = "httpd"
        args    = ["-f", "-p", "8080", "-h", "/www"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
    task "client" {
      driver = "docker"
      config {
        image   = "${IMAGE}"
        command = "/bin/sh"
        args    = ["-c", "until wget -q -O - http://localhost:8080/; do sleep 0.5; done; exec sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
    task "probe" {
      driver = "exec"
      config {
        command = "/bin/busybox"
        args    = ["sh", "-c", "until busybox wget -q -O - http://localhost:8080/; do sleep 0.5; done; exec busybox sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
    task "rawprobe" {
      driver = "raw_exec"
      config {
        command = "/bin/busybox"
        args    = ["sh", "-c", "until busybox wget -q -O - http://localhost:8080/; do sleep 0.5; done; exec busybox sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const hostMode = `job "hosted" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "http" {
        to = 8080
      }
    }
    task "server" {
      driver = "docker"
      config {
        image   = "${IMAGE}"
        command = "httpd"
        args    = ["-f", "-p", "8080", "-h", "/www"]
        ports   = ["http"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
    task "worker" {
      driver = "docker"
      config {
        image   = "${IMAGE}"
        command = "sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

/** The older syntax: each task declares its port "http" in its own resources, and publishes it. */
const oldSyntax = `job "legacy" {
  datacenters = ["dc1"]
  group "g" {
    task "one" {
      driver = "docker"
      config {
        image   = "${IMAGE}"
        command = "/bin/sh"
        args    = ["-c", "echo one > /local/index.html; exec httpd -f -p $NOMAD_PORT_http -h /local"]
      }
      resources {
        cpu    = 20
        memory = 16
        network {
          port "http" {}
        }
      }
    }
    task "two" {
      driver = "docker"
      config {
        image   = "${IMAGE}"
        command = "/bin/sh"
        args    = ["-c", "echo two > /local/index.html; exec httpd -f -p $NOMAD_PORT_http -h /local"]
      }
      resources {
        cpu    = 20
        memory = 16
        network {
          port "http" {}
        }
      }
    }
  }
}
`;

async function agent(dataDir: string): Promise<AgentProcess> {
  const a = await startAgentProcess([
    "-dev",
    "-data-dir",
    dataDir,
    "-http-port",
    "0",
    "-consul-port",
    "-1",
    "-dns-port",
    "-1",
    "-router-port",
    "-1",
    "-router-dashboard-port",
    "-1",
    "-docker-infra-image",
    IMAGE,
  ]);
  agents.push(a);
  return a;
}

async function running(api: ApiClient, job: string, tasks: string[]): Promise<Allocation> {
  return until(
    `the tasks of ${job} to run`,
    async () => {
      const [stub] = (await api.jobAllocations(job)).body;
      if (stub === undefined) return undefined;
      const a = (await api.allocation(stub.ID)).body;
      if (a.ClientStatus === "failed") throw new Error(`${job} failed: ${JSON.stringify(a.TaskStates)}`);
      return tasks.every((t) => a.TaskStates[t]?.State === "running") ? a : undefined;
    },
    60_000,
  );
}

function hostPort(a: Allocation, label: string): number {
  const p = a.Resources.Networks.flatMap((n) => [...n.ReservedPorts, ...n.DynamicPorts]).find((x) => x.Label === label);
  if (p === undefined) throw new Error(`allocation ${a.ID} holds no port ${label}`);
  return p.Value;
}

async function page(port: number): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
  return res?.ok === true ? (await res.text()).trim() : undefined;
}

/** A port of 127.0.0.1 free now (the kernel's pick), for the group's static port. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => { resolve(); }));
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

async function containerState(name: string): Promise<string> {
  return docker("inspect", "--format", "{{.Id}} {{.State.Status}}", name).catch(() => "gone");
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-bridge-e2e-"));
  writeFileSync(join(dir, "hosted.hcl"), hostMode);
  writeFileSync(join(dir, "legacy.hcl"), oldSyntax);
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  for (const job of ["bridged", "hosted", "legacy"]) {
    const ids = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${job}`);
    if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("groups of several docker tasks", () => {
  it("bridge mode: the tasks share a namespace held by nomad_init_<alloc>, the group's port is published once, and all of it outlives an agent restart and goes with the allocation", async () => {
    const dataDir = join(dir, "data");
    const port = await freePort();
    writeFileSync(join(dir, "bridged.hcl"), bridged(port, 1));
    let a = await agent(dataDir);
    let api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "bridged.hcl")).code).toBe(0);
    const alloc = await running(api, "bridged", ["server", "client", "probe", "rawprobe"]);
    const pause = `nomad_init_${alloc.ID}`;
    const before = await containerState(pause);
    expect(before).toMatch(/ running$/);

    // The client task (docker) and the probe tasks (exec, raw_exec) reached the server task on localhost.
    for (const task of ["client", "probe", "rawprobe"]) {
      await until(`the ${task} task to reach the server on localhost`, async () => {
        const logs = await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), task);
        return logs.out.includes("ruche-test-busybox") ? true : undefined;
      });
    }
    // The group's port, published on the pause container, reaches the server task from the host.
    expect(hostPort(alloc, "http")).toBe(port);
    expect(await until(`the group's port ${port} from the host`, () => page(port))).toBe("ruche-test-busybox");
    // The task containers publish nothing of their own: they are in the pause container's network.
    const mode = await docker("inspect", "--format", "{{.HostConfig.NetworkMode}}", `server-${alloc.ID}`);
    expect(mode).toBe(`container:${before.split(" ")[0] ?? ""}`);

    // An agent restart leaves the pause container and the tasks as they are.
    await a.stop();
    expect(await containerState(pause)).toBe(before);
    a = await agent(dataDir);
    api = new ApiClient(a.address);
    await running(api, "bridged", ["server", "client", "probe", "rawprobe"]);
    expect(await containerState(pause)).toBe(before);
    expect(await until(`the group's port ${port} after the restart`, () => page(port))).toBe("ruche-test-busybox");

    // Updated, the allocation is replaced on this node: the new one's pause container, on the
    // same static port, is made once the old one is gone with its own.
    writeFileSync(join(dir, "bridged.hcl"), bridged(port, 2));
    expect((await ruche(a.address, dir, "job", "run", "-detach", "bridged.hcl")).code).toBe(0);
    const next = await until(
      "the replacement allocation to run",
      async () => {
        const allocs = (await api.jobAllocations("bridged")).body.filter((x) => x.ID !== alloc.ID && x.ClientStatus === "running");
        const [stub] = allocs;
        if (stub === undefined) return undefined;
        const full = (await api.allocation(stub.ID)).body;
        return ["server", "client", "probe", "rawprobe"].every((t) => full.TaskStates[t]?.State === "running") ? full : undefined;
      },
      90_000,
    );
    expect(await containerState(pause)).toBe("gone");
    const nextPause = `nomad_init_${next.ID}`;
    expect(await containerState(nextPause)).toMatch(/ running$/);
    expect(await until(`the static port ${port} after the update`, () => page(port))).toBe("ruche-test-busybox");

    // Stopped, the allocation takes its pause container with it: its port is free again.
    expect((await ruche(a.address, dir, "job", "stop", "bridged")).code).toBe(0);
    await until("the pause container to go", async () => ((await containerState(nextPause)) === "gone" ? true : undefined), 60_000);
    await a.stop();
  }, 180_000);

  it("host mode: a task publishes only the ports it lists, so two tasks of a group run side by side", async () => {
    const a = await agent(join(dir, "data-host"));
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "hosted.hcl")).code).toBe(0);
    const alloc = await running(api, "hosted", ["server", "worker"]);
    expect(await until("the server's port from the host", () => page(hostPort(alloc, "http")))).toBe("ruche-test-busybox");
    expect(await docker("inspect", "--format", "{{json .HostConfig.PortBindings}}", `worker-${alloc.ID}`)).toBe("{}");

    // Two tasks each with port "http" in their own resources: each gets its own, and serves on it.
    expect((await ruche(a.address, dir, "job", "run", "-detach", "legacy.hcl")).code).toBe(0);
    const legacy = await running(api, "legacy", ["one", "two"]);
    const ports = legacy.Resources.Networks.flatMap((n) => n.DynamicPorts);
    expect(ports).toHaveLength(2);
    const served = await Promise.all(ports.map((p) => until(`port ${p.Value} from the host`, () => page(p.Value))));
    expect(served.sort()).toEqual(["one", "two"]);
    await ruche(a.address, dir, "job", "stop", "hosted");
    await ruche(a.address, dir, "job", "stop", "legacy");
    await a.stop();
  }, 180_000);
});
