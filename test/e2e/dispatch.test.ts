/**
 * Parameterized jobs and sysbatch jobs through a dev agent (raw_exec): a parameterized job is
 * registered (nothing runs), dispatched twice with `ruche job dispatch -meta ... FILE`; each
 * child runs and its task prints the payload from `local/<dispatch_payload.file>` and the meta
 * from NOMAD_META_* (a payload from standard input too, `-`); a dispatch the job does not allow is refused with Nomad's words. A
 * sysbatch job runs to completion on the agent's node and is not run again.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { type AgentProcess, root, ruche, rucheProgram, startAgentProcess, until } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";

const REPORT = `job "report" {
  datacenters = ["dc1"]
  type        = "batch"
  meta {
    color = "none"
  }
  parameterized {
    payload       = "required"
    meta_required = ["size"]
    meta_optional = ["color"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "printf 'payload=%s size=%s color=%s parent=%s\\\\n' \\"$(cat $NOMAD_TASK_DIR/input/data.txt)\\" \\"$NOMAD_META_size\\" \\"$NOMAD_META_color\\" \\"$NOMAD_JOB_PARENT_ID\\""]
      }
      dispatch_payload {
        file = "input/data.txt"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const SWEEP = `job "sweep" {
  datacenters = ["dc1"]
  type        = "sysbatch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo swept on $NOMAD_JOB_ID"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-dispatch-e2e-"));
  writeFileSync(join(dir, "report.hcl"), REPORT);
  writeFileSync(join(dir, "sweep.hcl"), SWEEP);
  writeFileSync(join(dir, "first.txt"), "first-input");
  writeFileSync(join(dir, "second.txt"), "second-input");
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The allocation of `job` once it completed, or the test fails saying what it saw. */
async function completed(api: ApiClient, job: string): Promise<string> {
  return until(`${job} complete`, async () => {
    const [stub] = (await api.jobAllocations(job)).body;
    if (stub?.ClientStatus === "failed") throw new Error(`${job}'s allocation failed: ${JSON.stringify(stub.TaskStates)}`);
    return stub?.ClientStatus === "complete" ? stub.ID : undefined;
  });
}

describe("a parameterized job", () => {
  it("runs nothing when registered, and once per dispatch with that dispatch's payload and meta", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "report.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    expect((await api.jobAllocations("report")).body).toEqual([]);
    expect((await api.job("report")).body.Status).toBe("running");

    const first = await ruche(a.address, dir, "job", "dispatch", "-meta", "size=3", "-meta", "color=red", "report", "first.txt");
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    const firstId = /^Dispatched Job ID = (\S+)$/m.exec(first.out)?.[1] ?? "";
    expect(firstId).toMatch(/^report\/dispatch-\d+-[0-9a-f]{8}$/);
    expect(first.out).toMatch(/^Evaluation ID {5}= [0-9a-f]{8}$/m);
    expect(first.out).toContain("==> Monitoring evaluation");

    const second = await ruche(a.address, dir, "job", "dispatch", "-detach", "-meta", "size=5", "report", "second.txt");
    expect(second.code).toBe(0);
    const secondId = /^Dispatched Job ID = (\S+)$/m.exec(second.out)?.[1] ?? "";
    expect(secondId).not.toBe(firstId);
    expect(second.out).not.toContain("Monitoring");

    const firstAlloc = await completed(api, firstId);
    const secondAlloc = await completed(api, secondId);
    const logs = async (alloc: string): Promise<string> => (await ruche(a.address, dir, "alloc", "logs", alloc, "t")).out.trim();
    expect(await logs(firstAlloc)).toBe("payload=first-input size=3 color=red parent=report");
    expect(await logs(secondAlloc)).toBe("payload=second-input size=5 color=none parent=report");
    const child = (await api.job(firstId)).body;
    expect(child).toMatchObject({ ParentID: "report", Dispatched: true, Meta: { size: "3", color: "red" } });

    // `job status` of the parent, as Nomad's: its block, its children's counts, the children.
    const status = await ruche(a.address, dir, "job", "status", "report");
    expect(status.out).toMatch(/^Parameterized += true$/m);
    expect(status.out).toContain("Parameterized Job\nPayload           = required\nRequired Metadata = size\nOptional Metadata = color");
    expect(status.out).toMatch(/Parameterized Job Summary\nPending +Running +Dead\n0 +0 +2\n/);
    expect(status.out).toContain(`Dispatched Jobs\nID`);
    for (const id of [firstId, secondId]) expect(status.out).toMatch(new RegExp(`^${id.replace("/", "\\/")} +dead$`, "m"));
  }, 90_000);

  it("reads the payload from standard input when INPUT is -", async () => {
    const a = agent as AgentProcess;
    const child = spawn(process.execPath, [rucheProgram(), "job", "dispatch", "-detach", "-meta", "size=7", "report", "-"], {
      cwd: root,
      env: { ...process.env, RUCHE_ADDR: a.address },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.stdin.end("from-stdin");
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(err).toBe("");
    expect(code).toBe(0);
    const id = /^Dispatched Job ID = (\S+)$/m.exec(out)?.[1] ?? "";
    const alloc = await completed(new ApiClient(a.address), id);
    expect((await ruche(a.address, dir, "alloc", "logs", alloc, "t")).out.trim()).toBe("payload=from-stdin size=7 color=none parent=report");
  }, 60_000);

  it("refuses a dispatch without its required meta or payload, or with meta it does not name, in Nomad's words", async () => {
    const a = agent as AgentProcess;
    const noMeta = await ruche(a.address, dir, "job", "dispatch", "report", "first.txt");
    expect(noMeta.code).toBe(1);
    expect(noMeta.err).toContain("Dispatch did not provide required meta keys: [size]");
    const noPayload = await ruche(a.address, dir, "job", "dispatch", "-meta", "size=1", "report");
    expect(noPayload.err).toContain("Payload is not provided but required by parameterized job");
    const unknown = await ruche(a.address, dir, "job", "dispatch", "-meta", "size=1", "-meta", "shape=round", "report", "first.txt");
    expect(unknown.err).toContain("Dispatch request included unpermitted metadata keys: [shape]");
    const res = await fetch(`http://${a.address}/v1/job/report/dispatch`, { method: "POST", body: JSON.stringify({ Meta: { size: "1" } }) });
    expect(res.status).toBe(400);
  }, 60_000);
});

describe("a sysbatch job", () => {
  it("runs to completion on the agent's node, and is not run again", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "sweep.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const alloc = await completed(api, "sweep");
    expect((await ruche(a.address, dir, "alloc", "logs", alloc, "t")).out.trim()).toBe("swept on sweep");
    await until("the job dead", async () => ((await api.job("sweep")).body.Status === "dead" ? true : undefined));
    // Registered again unchanged, its evaluation completes without placing it again.
    const again = await ruche(a.address, dir, "job", "run", "sweep.hcl");
    expect(again.code).toBe(0);
    expect((await api.jobAllocations("sweep")).body.map((s) => s.ID)).toEqual([alloc]);
  }, 60_000);
});
