/**
 * The commands Nomad users reach for, against a real server in this process (`testing.ts`):
 * `system gc`, `system reconcile summaries`, `node drain|eligibility -self` and `node drain
 * -monitor`, `deployment pause|resume`, `job restart` (in place and `-reschedule`), `alloc
 * checks`, and `alloc status`'s resource use, with the routes behind them in Nomad's shapes
 * (`api.AllocCheckStatus`, `api.AllocResourceUsage`, `api.DeploymentUpdateResponse`). A real
 * node agent of this process (mock driver) runs the allocations whose checks, stats and
 * restarts are read; simulated nodes carry the deployments.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AllocStub } from "../apiclient/index.js";
import type { AllocResourceUsage } from "../structs/index.js";
import { cliCluster, eventually, type CliCluster } from "./testing.js";

/** Nomad's `api.AllocCheckStatus` fields, and `api.AllocResourceUsage` with what it holds (api/allocations.go, api/nodes.go). */
const CHECK_FIELDS = ["Check", "Group", "ID", "Mode", "Output", "Service", "Status", "StatusCode", "Task", "Timestamp"];
const USAGE_FIELDS = ["ResourceUsage", "Tasks", "Timestamp"];
const RESOURCE_USAGE_FIELDS = ["CpuStats", "DeviceStats", "MemoryStats"];
const MEMORY_FIELDS = ["Cache", "KernelMaxUsage", "KernelUsage", "MaxUsage", "Measured", "RSS", "Swap", "Usage"];
const CPU_FIELDS = ["Measured", "Percent", "SystemMode", "ThrottledPeriods", "ThrottledTime", "TotalTicks", "UserMode"];
const TASK_USAGE_FIELDS = ["Pids", "ResourceUsage", "Timestamp"];

function appJob(apiPort: number): string {
  return `job "app" {
  datacenters = ["dc1"]
  update {
    min_healthy_time = "1s"
  }
  group "g" {
    count = 2
    service {
      name = "app"
      port = "${apiPort}"
      check {
        name     = "api-up"
        type     = "http"
        path     = "/v1/status/leader"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "t" {
      driver = "mock"
      config {
        stats_memory_mb = 4
        stats_cpu_mhz   = 12
      }
      resources {
        cpu    = 100
        memory = 300
      }
    }
  }
}
`;
}

describe("on a node agent of this process", () => {
  let c: CliCluster;
  let allocs: AllocStub[] = [];

  beforeAll(async () => {
    c = await cliCluster({ name: "nomad-commands-local", local: true });
    const port = Number(new URL(c.http.address.startsWith("http") ? c.http.address : `http://${c.http.address}`).port);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${c.dir}/app.hcl`, appJob(port));
    const r = await c.ruche(["job", "run", "-detach", "app.hcl"]);
    expect(r.code, r.err).toBe(0);
    allocs = await c.allocations("app", 2, (a) => a.ClientStatus === "running");
    await eventually("the deployment done", async () => (await c.api.jobDeployments("app")).body.some((d) => d.Status === "successful"), 30_000);
  }, 60_000);

  afterAll(async () => {
    await c.close();
  });

  it("alloc checks prints each check's latest result, as nomad alloc checks does, from the node's probes", async () => {
    const id = allocs[0]?.ID ?? "";
    const checks = await eventually("the check probed", async () => {
      const body = (await c.api.allocChecks(id)).body;
      return Object.values(body).some((x) => x.Status === "success") ? body : undefined;
    });
    const [check] = Object.values(checks);
    expect(Object.keys(check ?? {}).sort()).toEqual(CHECK_FIELDS);
    expect(check).toMatchObject({ Check: "api-up", Group: "g", Service: "app", Status: "success", StatusCode: 200, Mode: "healthiness", Task: "" });
    expect(Object.keys(checks)).toEqual([check?.ID]);
    expect(check?.Timestamp).toBeGreaterThan(Date.now() / 1000 - 60);
    const r = await c.ruche(["alloc", "checks", id.slice(0, 8)]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^Status of 1 Nomad Service Checks\n\n/);
    expect(r.out).toMatch(new RegExp(`ID +=  ?${check?.ID ?? ""}\\n`));
    expect(r.out).toMatch(/Name +=  ?api-up\n/);
    expect(r.out).toMatch(/Task +=  ?\(group\)\n/);
    expect(r.out).toMatch(/Status +=  ?success\nStatusCode += 200\n/);
    expect(r.out).toMatch(/Output += HTTP GET http:\/\/127\.0\.0\.1:\d+\/v1\/status\/leader: 200 OK/);
    const bad = await c.ruche(["alloc", "checks"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("An allocation ID is required");
  });

  it("the stats route answers Nomad's AllocResourceUsage, and alloc status shows CPU and memory use against the reservation", async () => {
    const id = allocs[0]?.ID ?? "";
    const usage: AllocResourceUsage = (await c.api.allocStats(id)).body;
    expect(Object.keys(usage).sort()).toEqual(USAGE_FIELDS);
    expect(Object.keys(usage.ResourceUsage).sort()).toEqual(RESOURCE_USAGE_FIELDS);
    expect(Object.keys(usage.ResourceUsage.MemoryStats).sort()).toEqual(MEMORY_FIELDS);
    expect(Object.keys(usage.ResourceUsage.CpuStats).sort()).toEqual(CPU_FIELDS);
    expect(Object.keys(usage.Tasks)).toEqual(["t"]);
    expect(Object.keys(usage.Tasks.t ?? {}).sort()).toEqual(TASK_USAGE_FIELDS);
    expect(usage.ResourceUsage.MemoryStats.RSS).toBe(4 * 1024 * 1024);
    expect(usage.Tasks.t?.ResourceUsage.CpuStats.TotalTicks).toBe(12);
    // Nanoseconds, as Nomad's Timestamp.
    expect(usage.Timestamp).toBeGreaterThan(Date.now() * 1_000_000 - 60e9);
    const r = await c.ruche(["alloc", "status", id]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("Task Resources\nCPU         Memory           Disk     Addresses\n12/100 MHz  4.0 MiB/300 MiB  300 MiB");
    const one = await c.api.allocStats(id, { task: "nope" }).catch((e: unknown) => e);
    expect(String(one)).toContain('has no task "nope"');
  });

  it("node eligibility and node drain take -self, the node of the agent at -address", async () => {
    const nodeId = c.client?.nodeId ?? "";
    const off = await c.ruche(["node", "eligibility", "-disable", "-self"]);
    expect(off.code, off.err).toBe(0);
    expect(off.out).toBe(`Node "${nodeId.slice(0, 8)}" scheduling eligibility set: ineligible for scheduling\n`);
    expect((await c.api.node(nodeId)).body.SchedulingEligibility).toBe("ineligible");
    const on = await c.ruche(["node", "eligibility", "-enable", "-self"]);
    expect(on.code, on.err).toBe(0);
    expect((await c.api.node(nodeId)).body.SchedulingEligibility).toBe("eligible");
    const both = await c.ruche(["node", "eligibility", "-enable", "-self", nodeId]);
    expect(both.code).toBe(1);
    expect(both.err).toContain("give either -self or a node ID, not both");
    const monitor = await c.ruche(["node", "drain", "-monitor", "-self"]);
    expect(monitor.code, monitor.err).toBe(0);
    expect(monitor.out).toBe(`No drain strategy set for node ${nodeId}\n`);
    const mixed = await c.ruche(["node", "drain", "-monitor", "-enable", "-self"]);
    expect(mixed.code).toBe(1);
    expect(mixed.err).toContain("-monitor goes alone");
  });

  it("job restart restarts each running allocation's tasks in place, a batch at a time", async () => {
    const r = await c.ruche(["job", "restart", "-yes", "-batch-size", "2", "app"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^==> .* UTC: Restarting 2 allocations\n==> .* UTC: Restarting 1st batch of 2 allocations\n/);
    for (const a of allocs) expect(r.out).toContain(`Restarting running tasks in allocation "${a.ID.slice(0, 8)}" for group "g"`);
    expect(r.out).toMatch(/==> .* UTC: Job restart finished\n\nJob restarted successfully!\n$/);
    for (const a of allocs) {
      await eventually(`alloc ${a.ID} restarted`, async () => (await c.api.allocation(a.ID)).body.TaskStates.t?.Events.some((e) => e.Type === "Restart Signaled") === true);
    }
    const bad = await c.ruche(["job", "restart", "-yes", "-batch-size", "0", "app"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('Invalid -batch-size value "0": number value must be greater than zero');
    const ask = await c.ruche(["job", "restart", "app"]);
    expect(ask.code).toBe(1);
    expect(ask.err).toContain("cannot be used when terminal is not interactive");
    const task = await c.ruche(["job", "restart", "-yes", "-task", "t", "app"]);
    expect(task.code, task.err).toBe(0);
    for (const a of allocs) expect(task.out).toContain(`Restarting task "t" in allocation "${a.ID.slice(0, 8)}" for group "g"`);
    const both = await c.ruche(["job", "restart", "-yes", "-reschedule", "-task", "t", "app"]);
    expect(both.code).toBe(1);
    expect(both.err).toContain("The -reschedule option cannot be used with -task");
    const none = await c.ruche(["job", "restart", "-yes", "-group", "other", "app"]);
    expect(none.out).toBe("No allocations to restart\n");
  });
});

const WEB = `job "web" {
  datacenters = ["dc1"]
  update {
    max_parallel     = 1
    min_healthy_time = "1s"
    healthy_deadline = "1m"
    progress_deadline = "2m"
  }
  group "g" {
    count = 3
    task "t" {
      driver = "mock"
      env {
        VERSION = "1"
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
`;

const ONCE = `job "once" {
  datacenters = ["dc1"]
  type        = "batch"
  group "g" {
    task "t" {
      driver = "mock"
    }
  }
}
`;

describe("on simulated nodes", () => {
  let c: CliCluster;

  beforeAll(async () => {
    c = await cliCluster({
      name: "nomad-commands-sim",
      sims: [
        { id: "9b1c0000-0000-4000-8000-000000000001", name: "one" },
        { id: "9b1c0000-0000-4000-8000-000000000002", name: "two" },
      ],
      simOptions: { healthyAfterMs: 1500 },
      files: { "web.hcl": WEB, "web2.hcl": WEB.replace('VERSION = "1"', 'VERSION = "2"'), "once.hcl": ONCE },
    });
    const r = await c.ruche(["job", "run", "web.hcl"]);
    expect(r.code, r.out + r.err).toBe(0);
  });

  afterAll(async () => {
    await c.close();
  });

  it("a paused deployment places no more of its rollout until resumed", async () => {
    const run = await c.ruche(["job", "run", "-detach", "web2.hcl"]);
    expect(run.code, run.err).toBe(0);
    const d = await eventually("the new deployment", async () => (await c.api.jobDeployments("web")).body.find((x) => x.JobVersion === 1));
    // A pause starts no evaluation: -detach is refused, as Nomad's flag parser refuses it.
    const detached = await c.ruche(["deployment", "pause", "-detach", d.ID.slice(0, 8)]);
    expect(detached.code).toBe(1);
    expect(detached.err).toMatch(/-detach/);
    expect((await c.api.deployment(d.ID)).body.Status).not.toBe("paused");
    const paused = await c.ruche(["deployment", "pause", d.ID.slice(0, 8)]);
    expect(paused.code, paused.err).toBe(0);
    expect(paused.out).toBe(`Deployment "${d.ID}" paused\n`);
    const after = (await c.api.deployment(d.ID)).body;
    expect(after.Status).toBe("paused");
    expect(after.StatusDescription).toBe("Deployment is paused");
    // Nomad's DeploymentUpdateResponse (api/deployments.go); no evaluation for a pause.
    const body = (await c.api.pauseDeployment(d.ID, true)).body;
    expect(Object.keys(body).sort()).toEqual(["DeploymentModifyIndex", "EvalCreateIndex", "EvalID", "Index", "RevertedJobVersion"]);
    expect(body.EvalID).toBe("");
    // Long past the first new allocation's health: nothing more of version 1 is placed.
    await new Promise((r) => setTimeout(r, 3500));
    const v1 = (await c.api.jobAllocations("web")).body.filter((a) => a.JobVersion === 1);
    expect(v1.length).toBe(1);
    expect((await c.api.deployment(d.ID)).body.Status).toBe("paused");
    const status = await c.ruche(["deployment", "status", d.ID]);
    expect(status.out).toMatch(/Status += paused\n/);
    expect(status.out).toMatch(/Description += Deployment is paused\n/);
    const resumed = await c.ruche(["deployment", "resume", "-detach", d.ID]);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toBe(`Deployment "${d.ID}" resumed\n`);
    await eventually("the rollout done", async () => ((await c.api.deployment(d.ID)).body.Status === "successful" ? true : undefined), 20_000);
    const all = (await c.api.jobAllocations("web")).body;
    const live = all.filter((a) => a.DesiredStatus === "run");
    expect(live.map((a) => a.JobVersion), JSON.stringify(all.map((a) => [a.Name, a.JobVersion, a.DesiredStatus, a.ClientStatus, a.DeploymentID.slice(0, 8), a.DeploymentStatus?.Healthy]))).toEqual([1, 1, 1]);
    const again = await c.ruche(["deployment", "pause", d.ID]);
    expect(again.code).toBe(1);
    expect(again.err).toContain("only an active deployment can be paused");
  }, 40_000);

  it("job restart -reschedule stops each allocation and waits for its replacement to run", async () => {
    const before = (await c.api.jobAllocations("web")).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
    expect(before.length).toBe(3);
    const r = await c.ruche(["job", "restart", "-reschedule", "-yes", "-group", "g", "web"]);
    expect(r.code, r.out + r.err).toBe(0);
    for (const a of before) {
      expect(r.out).toContain(`Rescheduling allocation "${a.ID.slice(0, 8)}" for group "g"`);
      expect(r.out).toMatch(new RegExp(`Allocation "${a.ID.slice(0, 8)}" replaced by "[0-9a-f]{8}", waiting for "[0-9a-f]{8}" to start running`));
    }
    const now = (await c.api.jobAllocations("web")).body;
    for (const a of before) expect(now.find((x) => x.ID === a.ID)?.DesiredStatus).toBe("stop");
    expect(now.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running").length).toBe(3);
  }, 40_000);

  it("system gc collects what is terminal now; system reconcile summaries has nothing to mend", async () => {
    const run = await c.ruche(["job", "run", "-detach", "once.hcl"]);
    expect(run.code, run.err).toBe(0);
    await c.allocations("once", 1, (a) => a.ClientStatus === "running");
    expect((await c.ruche(["job", "stop", "-detach", "once"])).code).toBe(0);
    await c.allocations("once", 1, (a) => a.ClientStatus === "complete");
    expect((await c.api.jobEvaluations("once")).body.length).toBeGreaterThan(0);
    const gc = await c.ruche(["system", "gc"]);
    expect(gc.code, gc.err).toBe(0);
    expect(gc.out).toBe("");
    expect((await c.api.jobAllocations("once")).body).toEqual([]);
    expect((await c.api.jobEvaluations("once")).body).toEqual([]);
    // Live allocations stay.
    expect((await c.api.jobAllocations("web")).body.filter((a) => a.DesiredStatus === "run").length).toBe(3);
    const rs = await c.ruche(["system", "reconcile", "summaries"]);
    expect(rs.code, rs.err).toBe(0);
    expect(rs.out).toBe("");
    const extra = await c.ruche(["system", "gc", "now"]);
    expect(extra.code).toBe(1);
    expect(extra.err).toContain("This command takes no arguments");
  });
});
