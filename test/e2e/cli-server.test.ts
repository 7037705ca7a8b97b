/**
 * The CLI against a real agent: `ruche agent -server -sim-nodes 3` runs as its own process
 * (HTTP on port 0 of 127.0.0.1, three simulated nodes in datacenter "dc1"), and the CLI
 * runs in-process through `runCli`, with RUCHE_ADDR pointing at the agent. The steps
 * follow the walkthrough (article 1): run the demo job, look at it, plan and run a canary
 * update with -check-index, promote it, then drain a node.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, alive, type CliResult, NO_ACL_NO_TLS, root, ruche as runRuche, startAgentProcess } from "./harness.js";


let agent: AgentProcess | undefined;
let addr = "";
let dir = "";

function ruche(...argv: string[]): Promise<CliResult> {
  return runRuche(addr, dir, ...argv);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-cli-e2e-"));
  // The walkthrough's job targets datacenter "europe-west1"; the simulated nodes are in "dc1".
  const demo = readFileSync(join(root, "examples/demoapp.hcl"), "utf8");
  const inDc1 = demo.replace('datacenters = ["europe-west1"]', 'datacenters = ["dc1"]');
  expect(inDc1).not.toBe(demo);
  writeFileSync(join(dir, "demoapp.hcl"), inDc1);
  // Step 2 of the walkthrough: more cpu and memory, rolled out through a canary.
  const bigger = inDc1.replace("cpu    = 200", "cpu    = 300").replace("memory = 64", "memory = 128");
  expect(bigger).toContain("cpu    = 300");
  expect(bigger).toContain("memory = 128");
  writeFileSync(join(dir, "demoapp-step2.hcl"), bigger);
  agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-region", "europe", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-sim-nodes", "3", "-data-dir", join(dir, "data")]);
  addr = agent.address;
}, 30_000);

afterAll(async () => {
  const a = agent;
  const pid = a?.child.pid;
  if (a !== undefined && pid !== undefined) {
    if (a.child.exitCode === null && a.child.signalCode === null) {
      const graceful = await a.stop(10_000);
      expect(graceful, `the agent did not stop on SIGTERM\nstderr:\n${a.err()}`).toBe(true);
      expect(a.out()).toContain("==> Caught signal: shutting down");
    }
    expect(alive(pid)).toBe(false);
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 30_000);

const ID = "[0-9a-f]{8}";
let canaryDeployment = "";

describe("ruche CLI against a real agent", () => {
  it("job run: monitors the evaluation as nomad run does, then the deployment to success", async () => {
    const r = await ruche("job", "run", "demoapp.hcl");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `^==> Monitoring evaluation "(${ID})"\\n` +
          `    Evaluation triggered by job "demoapp"\\n` +
          `    Evaluation within deployment: "(${ID})"\\n` +
          `(    Allocation "${ID}" created: node "[^"]{8}", group "webs"\\n){2}` +
          `    Evaluation status changed: "pending" -> "complete"\\n` +
          `==> Evaluation "\\1" finished with status "complete"\\n` +
          `==> Monitoring deployment "\\2"\\n`,
      ),
    );
    expect(r.out).toMatch(/ {4}"webs": 2 of 2 healthy\n==> Deployment "[0-9a-f]{8}" successful\n$/);
  });

  it("status: lists the job, and shows its 2 allocations running", async () => {
    const list = await ruche("status");
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^ID +Type +Priority +Status +Submit Date\ndemoapp +service +50 +running +\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d UTC\n$/);

    const r = await ruche("status", "demoapp");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ID {12}= demoapp\nName {10}= demoapp\n/);
    expect(r.out).toContain("Datacenters   = dc1\nNamespace     = default\n");
    expect(r.out).toContain("Summary\nTask Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown\nwebs        0       0         2        0       0         0     0\n");
    expect(r.out).toMatch(/Latest Deployment\nID {10}= [0-9a-f]{8}\nStatus {6}= successful\n/);
    expect(r.out).toContain("Deployed\nTask Group  Desired  Placed  Healthy  Unhealthy\nwebs        2        2       2        0\n");
    const allocs = r.out.split("Allocations\n")[1]?.trimEnd().split("\n") ?? [];
    expect(allocs[0]).toMatch(/^ID +Node ID +Task Group +Version +Desired +Status +Created +Modified$/);
    expect(allocs.slice(1).filter((l) => /^[0-9a-f]{8} +\S{8} +webs +0 +run +running +/.test(l))).toHaveLength(2);
  });

  it("plan: shows the canary update, the dry run and the check-index hint, and exits 1", async () => {
    const r = await ruche("job", "plan", "demoapp-step2.hcl");
    expect(r.err).toBe("");
    expect(r.code).toBe(1);
    expect(r.out).toContain('+/- Job: "demoapp"\n+/- Task Group: "webs" (1 canary, 2 ignore)\n  +/- Task: "frontend" (forces create/destroy update)\n');
    expect(r.out).toMatch(/\+\/- CPU: +"200" => "300"/);
    expect(r.out).toMatch(/\+\/- MemoryMB: +"64" => "128"/);
    expect(r.out).toContain("\n\nScheduler dry-run:\n- All tasks successfully allocated.\n\nJob Modify Index: ");
    const index = /Job Modify Index: (\d+)\n/.exec(r.out)?.[1] ?? "";
    expect(r.out).toContain(
      `To submit the job with version verification run:\nruche job run -check-index ${index} demoapp-step2.hcl\n\n` +
        "When running the job with the check-index flag, the job will only be run if the\n" +
        "server side version matches the job modify index returned. If the index has\n" +
        "changed, another user has modified the job and the plan's results are\n" +
        "potentially invalid.\n",
    );

    const unchanged = await ruche("plan", "demoapp.hcl");
    expect(unchanged.code).toBe(0);
    expect(unchanged.out).toMatch(/^Job: "demoapp"\nTask Group: "webs" \(2 ignore\)\n/);
  });

  it("run -check-index: refuses a stale index with the conflict, then places a canary with the right one", async () => {
    const plan = await ruche("plan", "demoapp-step2.hcl");
    const index = Number(/Job Modify Index: (\d+)/.exec(plan.out)?.[1]);
    expect(index).toBeGreaterThan(0);

    const stale = await ruche("job", "run", "-check-index", String(index - 1), "demoapp-step2.hcl");
    expect(stale).toEqual({ code: 1, out: "", err: `Error: job "demoapp" has changed: its modify index is ${index}, not ${index - 1}; plan again\n` });

    const r = await ruche("job", "run", "-check-index", String(index), "demoapp-step2.hcl");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out.match(/Allocation "[0-9a-f]{8}" created/g)).toHaveLength(1);
    canaryDeployment = /Evaluation within deployment: "([0-9a-f]{8})"/.exec(r.out)?.[1] ?? "";
    expect(r.out).toContain(`"webs": 1 of 1 canary healthy\n==> Deployment "${canaryDeployment}" waiting for promotion\n    Promote it with "ruche deployment promote ${canaryDeployment}"\n`);

    const status = await ruche("status", "demoapp");
    expect(status.out).toContain("Deployed\nTask Group  Promoted  Desired  Canaries  Placed  Healthy  Unhealthy\nwebs        false     2        1         1       1        0\n");
  });

  it("deployment list: shows the canary deployment running above the first, successful one", async () => {
    const r = await ruche("deployment", "list");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID +Job ID +Job Version +Status +Description$/);
    expect(lines[1]).toMatch(new RegExp(`^${canaryDeployment} +demoapp +1 +running +`));
    expect(lines[2]).toMatch(/^[0-9a-f]{8} +demoapp +0 +successful +Deployment completed successfully$/);
    expect(lines).toHaveLength(3);

    const status = await ruche("deployment", "status", canaryDeployment.slice(0, 5));
    expect(status.code).toBe(0);
    expect(status.out).toMatch(new RegExp(`^ID {10}= ${canaryDeployment}\\nJob ID {6}= demoapp\\nJob Version = 1\\nStatus {6}= running\\n`));
  });

  it("deployment promote: the rollout goes on and completes", async () => {
    const r = await ruche("deployment", "promote", canaryDeployment);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^==> Monitoring evaluation "${ID}"\\n    Evaluation triggered by job "demoapp"\\n    Evaluation within deployment: "${canaryDeployment}"\\n`));
    expect(r.out).toMatch(new RegExp(`"webs": 2 of 2 healthy\\n==> Deployment "${canaryDeployment}" successful\\n$`));

    const status = await ruche("status", "demoapp");
    expect(status.out).toContain("webs        0       0         2        0       2         0     0\n");
    expect(status.out).toContain("webs        true      2        1         2       2        0\n");
  });

  it("job history: versions 1 and 0, newest first, both stable", async () => {
    const r = await ruche("job", "history", "demoapp");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Version {5}= 1\nStable {6}= true\nSubmit Date = .+ UTC\n\nVersion {5}= 0\nStable {6}= true\nSubmit Date = .+ UTC\n$/);
  });

  it("node status: lists the 3 simulated nodes", async () => {
    const r = await ruche("node", "status");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID +Node Pool +DC +Name +Class +Drain +Eligibility +Status$/);
    expect(lines.slice(1)).toHaveLength(3);
    for (const l of lines.slice(1)) expect(l).toMatch(/ default +dc1 +sim-\d +<none> +false +eligible +ready$/);
  });

  it("node drain -enable -yes: the node's allocations move to the other nodes", async () => {
    // Nomad's `job status -json`: a list of JobJson, one per job.
    const [before] = JSON.parse((await ruche("job", "status", "-json", "demoapp")).out) as [{ Allocations: { ID: string; NodeID: string; DesiredStatus: string; ClientStatus: string }[] }];
    const running = before.Allocations.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
    expect(running).toHaveLength(2);
    const node = running[0]!.NodeID;
    const moving = running.filter((a) => a.NodeID === node);

    const r = await ruche("node", "drain", "-enable", "-yes", node);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    for (const a of moving) expect(r.out).toContain(`Allocation "${a.ID.slice(0, 8)}" marked for migration`);
    expect(r.out).toContain(`==> Drain complete for node "${node.slice(0, 8)}"`);
    expect(r.out).toMatch(/==> All allocations on node "[^"]{8}" have stopped\n$/);

    await expect
      .poll(
        async () => {
          const [now] = JSON.parse((await ruche("job", "status", "-json", "demoapp")).out) as [typeof before];
          const live = now.Allocations.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
          return { running: live.length, onDrained: live.filter((a) => a.NodeID === node).length };
        },
        { timeout: 10_000 },
      )
      .toEqual({ running: 2, onDrained: 0 });
    const nodes = await ruche("node", "status", "-verbose");
    expect(nodes.out).toMatch(new RegExp(`^${node} +default +dc1 +sim-\\d +<none> +false +ineligible +ready$`, "m"));
  });

  it("job stop: the job's allocations stop and the job is dead", async () => {
    const r = await ruche("job", "stop", "demoapp");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^==> Monitoring evaluation "[0-9a-f]{8}"\n/);
    expect(r.out).toMatch(/==> Evaluation "[0-9a-f]{8}" finished with status "complete"\n$/);
    expect((await ruche("status")).out).toMatch(/\ndemoapp +service +50 +dead +/);
  });

  it("names an API error and a missing object plainly", async () => {
    expect(await ruche("job", "status", "nope")).toEqual({ code: 1, out: "", err: 'Error: No job with prefix or id "nope" found\n' });
    expect(await ruche("deployment", "promote", canaryDeployment)).toMatchObject({ code: 1, out: "", err: expect.stringMatching(/^Error: deployment "[0-9a-f-]{36}" is successful; only a running deployment can be promoted\n$/) as unknown });
  });
});
