/**
 * Task lifecycle hooks through a dev agent (raw_exec): a prestart task writes a file that the
 * main task reads once it has exited; a prestart sidecar runs beside the main task; a
 * poststop task runs after `ruche job stop`, its output in `ruche alloc logs`. A prestart
 * task that fails for good fails the allocation, its main task never started, the events
 * saying why.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";

function task(name: string, script: string, lifecycle: string): string {
  return `    task "${name}" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(script)}]
      }
${lifecycle}
      kill_timeout = "2s"
      resources {
        cpu    = 20
        memory = 16
      }
    }
`;
}

const WEB = `job "web" {
  datacenters = ["dc1"]
  group "g" {
${task("init", "echo ready > $NOMAD_ALLOC_DIR/init.txt; echo init done", '      lifecycle {\n        hook = "prestart"\n      }')}
${task("proxy", "echo proxy up; exec sleep 300", '      lifecycle {\n        hook    = "prestart"\n        sidecar = true\n      }')}
${task("main", "echo main read $(cat $NOMAD_ALLOC_DIR/init.txt); exec sleep 300", "")}
${task("cleanup", "echo cleaned up after $(cat $NOMAD_ALLOC_DIR/init.txt)", '      lifecycle {\n        hook = "poststop"\n      }')}
  }
}
`;

const BROKEN = `job "broken" {
  datacenters = ["dc1"]
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
${task("init", "echo cannot prepare; exit 3", '      lifecycle {\n        hook = "prestart"\n      }')}
${task("main", "exec sleep 300", "")}
  }
}
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-lifecycle-e2e-"));
  writeFileSync(join(dir, "web.hcl"), WEB);
  writeFileSync(join(dir, "broken.hcl"), BROKEN);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("lifecycle hooks", () => {
  it("run prestart before the main task, a sidecar beside it, and poststop after job stop", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "web.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const id = await until("the main task running", async () => {
      const [stub] = (await api.jobAllocations("web")).body;
      if (stub?.ClientStatus === "failed") throw new Error(`the allocation failed: ${JSON.stringify(stub.TaskStates)}`);
      return stub?.TaskStates.main?.State === "running" ? stub.ID : undefined;
    });
    const logs = async (t: string): Promise<string> => (await ruche(a.address, dir, "alloc", "logs", id, t)).out.trim();
    await until("the main task's output", async () => ((await logs("main")) === "main read ready" ? true : undefined));
    const running = (await api.allocation(id)).body;
    expect(running.ClientStatus).toBe("running");
    expect(running.TaskStates.init).toMatchObject({ State: "dead", Failed: false, Restarts: 0 });
    expect(running.TaskStates.proxy?.State).toBe("running");
    expect(running.TaskStates.cleanup?.State).toBe("pending");
    expect(await logs("init")).toBe("init done");
    expect(await logs("proxy")).toBe("proxy up");

    const stop = await ruche(a.address, dir, "job", "stop", "-detach", "web");
    expect(stop.code).toBe(0);
    const done = await until("the allocation complete", async () => {
      const alloc = (await api.allocation(id)).body;
      return alloc.ClientStatus === "complete" ? alloc : undefined;
    });
    const states = done.TaskStates;
    expect(states.cleanup).toMatchObject({ State: "dead", Failed: false });
    // The poststop task started after the main task and its sidecar had stopped.
    expect(states.cleanup?.StartedAt ?? 0).toBeGreaterThanOrEqual(states.main?.FinishedAt ?? Infinity);
    expect(states.cleanup?.StartedAt ?? 0).toBeGreaterThanOrEqual(states.proxy?.FinishedAt ?? Infinity);
    expect(await logs("cleanup")).toBe("cleaned up after ready");
  }, 90_000);

  it("fail the allocation when a prestart task fails: the main task never starts, its event names the failed task", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "broken.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const failed = await until("the allocation failed", async () => {
      const [stub] = (await api.jobAllocations("broken")).body;
      return stub?.ClientStatus === "failed" && stub.TaskStates.main?.State === "dead" ? stub : undefined;
    });
    const states = failed.TaskStates;
    expect(states.init).toMatchObject({ State: "dead", Failed: true });
    // (In a deployment, "Alloc Unhealthy" follows it.)
    expect(states.init?.Events.find((e) => e.Type === "Not Restarting")?.Message).toMatch(/^Exceeded allowed attempts 0 in interval \S+ and mode is "fail"$/);
    expect(states.main?.Events.some((e) => e.Type === "Started")).toBe(false);
    expect(states.main?.Events.find((e) => e.Type === "Sibling Task Failed")?.Message).toBe('Task\'s sibling "init" failed');
    const status = await ruche(a.address, dir, "alloc", "status", failed.ID);
    expect(status.out).toContain("Sibling Task Failed");
  }, 90_000);
});
