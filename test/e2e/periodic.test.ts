/**
 * Periodic jobs on a dev agent with raw_exec, as Nomad runs them: registering a periodic job
 * (a 7-field cron, every 2 seconds) runs nothing itself; the leader launches children
 * `tick/periodic-<unix>` that run and complete; `job status` shows the next launch and the
 * children; `job periodic force` launches one at once; stopping the parent stops the launches
 * (observed against another periodic job that goes on launching meanwhile); an agent that was
 * down launches one missed time when it is back, not every time it missed.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type JobStub } from "../../src/apiclient/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";
let api: ApiClient;

function periodicJob(name: string, periodic: string): string {
  return `job "${name}" {
  datacenters = ["dc1"]
  type        = "batch"
  periodic {
${periodic}
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo launched $NOMAD_JOB_ID"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-periodic-e2e-"));
  writeFileSync(join(dir, "tick.hcl"), periodicJob("tick", '    cron             = "*/2 * * * * * *"\n    time_zone        = "Europe/Paris"\n    prohibit_overlap = true'));
  writeFileSync(join(dir, "weekly.hcl"), periodicJob("weekly", '    crons = ["@weekly", "0 0 3 1 1 * 2099"]'));
  writeFileSync(join(dir, "marker.hcl"), periodicJob("marker", '    cron = "*/2 * * * * * *"'));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
  api = new ApiClient(agent.address);
}, 60_000);

afterAll(async () => {
  // The parents stop launching first: the agent then stops with no child starting under it.
  if (agent !== undefined) for (const parent of ["tick", "weekly", "marker"]) await ruche(agent.address, dir, "job", "stop", "-detach", parent).catch(() => undefined);
  if (agent !== undefined) await agent.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function childrenOf(parent: string): Promise<JobStub[]> {
  return (await api.jobs()).body.filter((j) => j.ParentID === parent);
}

describe("periodic jobs on a dev agent", () => {
  it("launch children on schedule that run and complete; the parent runs nothing itself", async () => {
    const address = agent?.address ?? "";
    const run = await ruche(address, dir, "job", "run", "tick.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^Job registration successful\nApproximate next launch time: .+ \(\d+s from now\)\n$/);

    const done = await until("two children of tick complete", async () => {
      const kids = (await childrenOf("tick")).filter((k) => k.Status === "dead");
      return kids.length >= 2 ? kids : undefined;
    });
    for (const k of done) {
      expect(k.ID).toMatch(/^tick\/periodic-\d+$/);
      expect(Number(k.ID.split("-").at(-1)) % 2).toBe(0);
      const allocs = (await api.jobAllocations(k.ID)).body;
      expect(allocs.map((a) => a.ClientStatus)).toEqual(["complete"]);
    }
    expect((await api.jobAllocations("tick")).body).toEqual([]);
    const parent = (await api.job("tick")).body;
    expect(parent.Periodic).toMatchObject({ Spec: "*/2 * * * * * *", TimeZone: "Europe/Paris", ProhibitOverlap: true, Enabled: true });
    expect(parent.Status).toBe("running");

    const status = await ruche(address, dir, "job", "status", "tick");
    expect(status.out).toMatch(/^Periodic +\s*= true$/m);
    expect(status.out).toMatch(/^Next Periodic Launch += .+ \(\d+s from now\)$/m);
    expect(status.out).toContain("Previously Launched Jobs");
    expect(status.out).toContain(done[0]!.ID);
    const list = await ruche(address, dir, "job", "status");
    expect(list.out).toMatch(/^tick +batch\/periodic /m);
    expect(list.out).toContain(done[0]!.ID);
  });

  it("job periodic force launches a child at once", async () => {
    const address = agent?.address ?? "";
    expect((await ruche(address, dir, "job", "run", "weekly.hcl")).code).toBe(0);
    expect(await childrenOf("weekly")).toEqual([]);
    const forced = await ruche(address, dir, "job", "periodic", "force", "-detach", "week");
    expect(forced.err).toBe("");
    expect(forced.out).toMatch(/^Force periodic successful\nEvaluation ID: [0-9a-f-]{36}\n$/);
    const [child] = await until("the forced child complete", async () => {
      const kids = await childrenOf("weekly");
      return kids.length === 1 && kids[0]?.Status === "dead" ? kids : undefined;
    });
    expect(child?.ID).toMatch(/^weekly\/periodic-\d+$/);
    const refused = await ruche(address, dir, "job", "periodic", "force", "nothing-here");
    expect(refused.code).toBe(1);
    expect(refused.err).toBe('No periodic job(s) with prefix or ID "nothing-here" found\n');
  });

  it("stopping the parent stops its launches while other periodic jobs go on", async () => {
    const address = agent?.address ?? "";
    expect((await ruche(address, dir, "job", "stop", "tick")).code).toBe(0);
    const before = (await childrenOf("tick")).map((k) => k.ID).sort();
    // The dispatcher keeps launching marker (the same schedule): two of its launches after the stop.
    expect((await ruche(address, dir, "job", "run", "marker.hcl")).code).toBe(0);
    await until("two launches of marker", async () => ((await childrenOf("marker")).length >= 2 ? true : undefined));
    expect((await childrenOf("tick")).map((k) => k.ID).sort()).toEqual(before);
    const status = await ruche(address, dir, "job", "status", "tick");
    expect(status.out).toMatch(/^Next Periodic Launch += none \(job stopped\)$/m);
  });

  it("after the agent was down, launches one missed time at once, not every one it missed", async () => {
    await agent?.stop();
    const args = ["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-data-dir", join(dir, "data"), "-log-level", "info"];
    agent = await startAgentProcess(args);
    api = new ApiClient(agent.address);
    writeFileSync(join(dir, "every.hcl"), periodicJob("every", '    cron = "*/2 * * * * * *"'));
    expect((await ruche(agent.address, dir, "job", "run", "every.hcl")).code).toBe(0);
    await until("a launch of every", async () => ((await childrenOf("every")).length >= 1 ? true : undefined));
    await agent.stop();
    const launchTime = (k: JobStub): number => Number(k.ID.split("-").at(-1)) * 1000;
    // Down for 5 s: two launch times pass with no leader to launch them.
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const upAt = Date.now();
    agent = await startAgentProcess(args);
    api = new ApiClient(agent.address);
    const caughtUp = await until("the missed launch made at the restart", async () => (await childrenOf("every")).find((k) => launchTime(k) >= Math.floor(upAt / 1000) * 1000));
    expect(caughtUp.ID).toMatch(/^every\/periodic-\d+$/);
    const restored = (agent.out() + agent.err()).split("\n").filter((l) => l.includes("missed a launch"));
    expect(restored).toHaveLength(1);
    // Nothing was launched for the times missed while the agent was down.
    const kids = await childrenOf("every");
    expect(kids.filter((k) => launchTime(k) > downAt && launchTime(k) < upAt - 1000)).toEqual([]);
    expect(new Set(kids.map((k) => k.ID)).size).toBe(kids.length);
  }, 60_000);
});
