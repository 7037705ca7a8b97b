import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliCluster, type CliCluster } from "./testing.js";

/** `ruche operator scheduler get-config|set-config`, as Nomad's CLI prints and takes them. */
let c: CliCluster;
beforeAll(async () => {
  c = await cliCluster({ name: "scheduler-config" });
});
afterAll(async () => {
  await c.close();
});

describe("operator scheduler", () => {
  it("shows the configuration as Nomad's CLI does, and changes only what a flag names", async () => {
    const before = await c.ruche(["operator", "scheduler", "get-config"]);
    expect(before.code).toBe(0);
    expect(before.out).toBe(
      [
        "Scheduler Algorithm               = binpack",
        "Memory Oversubscription           = false",
        "Reject Job Registration           = false",
        "Pause Eval Broker                 = false",
        "Preemption System Scheduler       = false",
        "Preemption Service Scheduler      = false",
        "Preemption Batch Scheduler        = false",
        "Preemption SysBatch Scheduler     = false",
        "Node Limit For Feasibility Checks = 0",
        "Modify Index                      = 0",
        "",
      ].join("\n"),
    );
    expect(await c.ruche(["operator", "scheduler", "set-config", "-memory-oversubscription", "-scheduler-algorithm=spread"])).toEqual({ code: 0, out: "Scheduler configuration updated!\n", err: "" });
    const after = (await c.api.schedulerConfig()).body.SchedulerConfig;
    expect(after).toMatchObject({ SchedulerAlgorithm: "spread", MemoryOversubscriptionEnabled: true, RejectJobRegistration: false });
    expect(await c.ruche(["operator", "scheduler", "set-config", "-memory-oversubscription=false"])).toMatchObject({ code: 0 });
    expect((await c.api.schedulerConfig()).body.SchedulerConfig).toMatchObject({ SchedulerAlgorithm: "spread", MemoryOversubscriptionEnabled: false });
    const stale = await c.ruche(["operator", "scheduler", "set-config", "-check-index", "1", "-reject-job-registration"]);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(/check-index 1 does not match does not match current state value \d+/);
    const refused = await c.ruche(["operator", "scheduler", "set-config", "-preempt-service-scheduler"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("PreemptionConfig.ServiceSchedulerEnabled: Ruche's schedulers do not preempt allocations");
    expect(JSON.parse((await c.ruche(["operator", "scheduler", "get-config", "-json"])).out)).toMatchObject({ SchedulerConfig: { SchedulerAlgorithm: "spread" } });
  });
});
