/**
 * The commands a Nomad user reaches for, against a real dev agent (`ruche agent -dev` as its
 * own process: a server and a node agent, raw_exec on, HTTP on port 0 of 127.0.0.1); the CLI
 * runs in-process through `runCli`. What only a node agent can do is checked here on real
 * processes: `node status -self`, the allocation's addresses, `alloc signal`, `alloc restart`
 * and `alloc stop`, and the tasks' resource use (raw_exec from /proc, docker from the engine). The job's task is a shell that says when it gets SIGUSR1. `job init`'s
 * example runs too: its image, redis:7, is stood in for by the local test image tagged so
 * (no registry is reached), as dev-agent.test.ts does for httpd.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type AllocStub } from "../../src/apiclient/index.js";
import { type AgentProcess, docker, ruche as runRuche, startAgentProcess, until } from "./harness.js";

let agent: AgentProcess | undefined;
let api: ApiClient;
let dir = "";

const JOB = `job "sig" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "http" {}
    }
    task "sh" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'echo got-usr1' USR1; echo started; while true; do sleep 0.1; done"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
      action "greet" {
        command = "/bin/sh"
        args    = ["-c", "echo hello from $NOMAD_TASK_NAME; exit 3"]
      }
    }
  }
}
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-cli-nomad-e2e-"));
  writeFileSync(join(dir, "sig.hcl"), JOB);
  await docker("tag", "ruche-test/httpd:latest", "redis:7");
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0"]);
  api = new ApiClient(agent.address);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) {
    const graceful = await agent.stop();
    expect(graceful, `the agent did not stop on SIGTERM\nstderr:\n${agent.err()}`).toBe(true);
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
  // The tag only: the test image stays.
  await docker("rmi", "redis:7");
}, 60_000);

function ruche(...argv: string[]) {
  return runRuche(agent?.address ?? "", dir, ...argv);
}

async function runningAlloc(): Promise<AllocStub> {
  return until("a running allocation", async () => (await api.jobAllocations("sig")).body.find((a) => a.DesiredStatus === "run" && a.ClientStatus === "running"));
}

async function stdout(id: string): Promise<string> {
  const r = await ruche("alloc", "logs", id, "sh");
  return r.out;
}

describe("Nomad's habits on a dev agent", () => {
  it("node status -self shows the agent's own node", async () => {
    const nodes = (await api.nodes()).body;
    expect(nodes).toHaveLength(1);
    const r = await ruche("node", "status", "-self");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^ID +\\= ${nodes[0]?.ID.slice(0, 8) ?? "-"}\\n`));
  });

  it("job init -short writes a job that validates; a mistyped command is corrected", async () => {
    expect(await ruche("job", "init", "-short")).toEqual({ code: 0, out: "Example job file written to example.nomad.hcl\n", err: "" });
    expect(await ruche("job", "validate", "example.nomad.hcl")).toEqual({ code: 0, out: "Job validation successful\n", err: "" });
    expect((await ruche("job", "valdate", "example.nomad.hcl")).err.split("\n")[0]).toBe("unknown command: job valdate; did you mean job validate?");
  });

  it("runs the job; alloc status shows its address; status finds the allocation by its start", async () => {
    const run = await ruche("job", "run", "-detach", "sig.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const stub = await runningAlloc();
    const a = (await api.allocation(stub.ID)).body;
    const port = a.Resources.Networks[0]?.DynamicPorts.find((p) => p.Label === "http");
    expect(port?.Value).toBeGreaterThan(0);
    const r = await ruche("status", stub.ID.slice(0, 6));
    expect(r.err).toBe("");
    expect(r.out).toContain(`Allocation Addresses (mode = "host"):\nLabel  Dynamic  Address\n*http  yes      ${a.Resources.Networks[0]?.IP ?? ""}:${port?.Value ?? 0}\n`);
    expect(await until("the task's first line", async () => ((await stdout(stub.ID)).includes("started") ? true : undefined))).toBe(true);
  });

  it("alloc status shows the raw_exec task's CPU and memory use, read from its processes in /proc (Nomad's alloc stats)", async () => {
    const stub = await runningAlloc();
    const usage = (await api.allocStats(stub.ID)).body;
    expect(usage.Tasks.sh?.ResourceUsage.MemoryStats.RSS).toBeGreaterThan(0);
    expect(usage.Tasks.sh?.ResourceUsage.MemoryStats.Measured).toEqual(["RSS", "Swap"]);
    expect(usage.ResourceUsage.MemoryStats.RSS).toBe(usage.Tasks.sh?.ResourceUsage.MemoryStats.RSS);
    const r = await ruche("alloc", "status", stub.ID);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/Task Resources\nCPU +Memory +Disk +Addresses\n\d+\/20 MHz +[0-9.]+ [KM]iB\/32 MiB +300 MiB\n/);
  });

  it("action runs a task's declared action in a running allocation, by group and task or by -alloc; an unknown one is named", async () => {
    const a = await runningAlloc();
    const byGroup = await ruche("action", "-job", "sig", "-group", "g", "-task", "sh", "greet");
    expect(byGroup).toMatchObject({ code: 3, out: "hello from sh\n" });
    const byAlloc = await ruche("job", "action", "-job", "sig", "-alloc", a.ID.slice(0, 8), "greet");
    expect(byAlloc).toMatchObject({ code: 3, out: "hello from sh\n" });
    const unknown = await ruche("action", "-job", "sig", "-alloc", a.ID, "nope");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('action "nope" not found in task "sh"; its actions are greet');
  });

  it("alloc signal sends the task a signal it handles; alloc restart restarts it in place", async () => {
    const stub = await runningAlloc();
    expect(await ruche("alloc", "signal", "-s", "SIGUSR1", stub.ID.slice(0, 8), "sh")).toEqual({ code: 0, out: "", err: "" });
    expect(await until("got-usr1 in the task's output", async () => ((await stdout(stub.ID)).includes("got-usr1") ? true : undefined))).toBe(true);
    const events = async () => (await api.allocation(stub.ID)).body.TaskStates.sh?.Events.map((e) => e.Type) ?? [];
    expect(await until("the Signaling event reported", async () => ((await events()).includes("Signaling") ? true : undefined))).toBe(true);

    expect(await ruche("alloc", "restart", stub.ID)).toEqual({ code: 0, out: "", err: "" });
    const state = await until("the task running again after its restart", async () => {
      const s = (await api.allocation(stub.ID)).body.TaskStates.sh;
      return s !== undefined && s.Restarts === 1 && s.State === "running" && s.Events.at(-1)?.Type === "Started" ? s : undefined;
    });
    expect(state.Events.map((e) => e.Type)).toEqual(expect.arrayContaining(["Restart Signaled", "Restarting"]));
    expect((await api.allocation(stub.ID)).body.ClientStatus).toBe("running");
    expect(await ruche("alloc", "restart", "-task", "nosuch", stub.ID)).toMatchObject({ code: 1, err: expect.stringContaining('has no task "nosuch"') as unknown });
  });

  it("alloc stop stops the allocation; a replacement runs", async () => {
    const stub = await runningAlloc();
    const r = await ruche("alloc", "stop", stub.ID.slice(0, 8));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^==> Monitoring evaluation "[0-9a-f]{8}"\n/);
    const next = await until("a replacement running", async () => {
      const a = await runningAlloc();
      return a.ID !== stub.ID ? a : undefined;
    });
    expect((await api.allocation(next.ID)).body.PreviousAllocation).toBe(stub.ID);
    await until("the stopped allocation complete", async () => ((await api.allocation(stub.ID)).body.ClientStatus === "complete" ? true : undefined));
    expect((await ruche("job", "stop", "sig")).code).toBe(0);
  }, 60_000);

  it("job init's example, as Nomad writes it, runs: its redis task and its nomad service", async () => {
    expect(await ruche("job", "init", "full.nomad.hcl")).toEqual({ code: 0, out: "Example job file written to full.nomad.hcl\n", err: "" });
    const run = await ruche("job", "run", "-detach", "full.nomad.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const a = await until("the example's allocation running", async () => (await api.jobAllocations("example")).body.find((x) => x.ClientStatus === "running"), 60_000);
    expect(a.TaskGroup).toBe("cache");
    const status = await ruche("alloc", "status", a.ID);
    expect(status.out).toMatch(/\*db +yes +[0-9.]+:\d+ -> 6379\n/);
    expect(status.out).toContain('Task "redis" is "running"');
    // The container's use, from the engine's stats: memory above zero against its 256 MiB.
    expect(status.out).toMatch(/Task Resources\nCPU +Memory +Disk +Addresses\n\d+\/500 MHz +[0-9.]+ [KM]iB\/256 MiB /);
    const usage = (await api.allocStats(a.ID)).body;
    expect(usage.Tasks.redis?.ResourceUsage.MemoryStats.Usage).toBeGreaterThan(0);
    // Its service block (provider "nomad") is in the catalog, with its tags.
    expect(await until("the redis-cache service in the catalog", async () => (await api.catalogServices()).body["redis-cache"])).toEqual(["global", "cache"]);
    expect((await ruche("job", "stop", "example")).code).toBe(0);
  }, 90_000);
});
