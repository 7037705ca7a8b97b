/**
 * Namespaces through a dev agent (raw_exec), as a Nomad user drives them from the CLI: a job
 * file with `namespace = "prod"` is refused until the namespace exists (`namespace apply`),
 * then runs there; `job status` and `job stop` find it with `-namespace prod` (or
 * NOMAD_NAMESPACE) and not without; `namespace delete prod` is refused while the job runs and
 * succeeds once it is stopped and dead.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { runCli, type IO } from "../../src/cli/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";

const WEB = `job "web" {
  namespace   = "prod"
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["300"]
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
  dir = mkdtempSync(join(tmpdir(), "ruche-namespaces-e2e-"));
  writeFileSync(join(dir, "web.hcl"), WEB);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The CLI with NOMAD_NAMESPACE set, as a Nomad user's shell has it. */
async function rucheIn(namespace: string, address: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: address, NOMAD_NAMESPACE: namespace }, cwd: dir };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe("a job in namespace prod", () => {
  it("runs once the namespace exists; status, stop and namespace delete act in it", async () => {
    const a = agent as AgentProcess;
    const prod = new ApiClient(a.address, { query: { namespace: "prod" } });

    const early = await ruche(a.address, dir, "job", "run", "-detach", "web.hcl");
    expect(early.code).toBe(1);
    expect(early.err).toContain('job "web" is in nonexistent namespace "prod"');

    expect(await ruche(a.address, dir, "namespace", "apply", "-description", "Production services", "prod")).toEqual({ code: 0, out: 'Successfully applied namespace "prod"!\n', err: "" });
    const list = await ruche(a.address, dir, "namespace", "list");
    expect(list.out).toBe("Name     Description\ndefault  Default shared namespace\nprod     Production services\n");
    const shown = await ruche(a.address, dir, "namespace", "status", "prod");
    expect(shown.out).toMatch(/^Name += prod\nDescription += Production services\n/);

    const run = await ruche(a.address, dir, "job", "run", "-detach", "web.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    await until("web running in prod", async () => ((await prod.jobAllocations("web")).body.some((x) => x.ClientStatus === "running") ? true : undefined), 60_000);

    // Not in the default namespace; in prod by -namespace and by NOMAD_NAMESPACE.
    const missing = await ruche(a.address, dir, "job", "status", "web");
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/No job with prefix or id "web" found|job "web" not found/);
    const status = await ruche(a.address, dir, "job", "status", "-namespace", "prod", "web");
    expect(status.err).toBe("");
    expect(status.out).toMatch(/^ID += web$/m);
    expect(status.out).toMatch(/^Namespace += prod$/m);
    expect(status.out).toMatch(/^Status += running$/m);
    expect((await rucheIn("prod", a.address, "job", "status", "web")).out).toMatch(/^Status += running$/m);
    // The list in prod holds it; the default one does not.
    expect((await ruche(a.address, dir, "job", "status", "-namespace", "prod")).out).toMatch(/^web +service +\d+ +running/m);
    expect((await ruche(a.address, dir, "job", "status")).out).toBe("No running jobs\n");
    // "*": every namespace, with Nomad's Namespace column; a job ID is found wherever it is.
    expect((await rucheIn("*", a.address, "job", "status")).out).toMatch(/^ID +Namespace +Type +Priority +Status +Submit Date\nweb +prod +service +\d+ +running/);
    expect((await rucheIn("*", a.address, "job", "status", "web")).out).toMatch(/^Namespace += prod$/m);

    const refused = await ruche(a.address, dir, "namespace", "delete", "prod");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('namespace "prod" contains at least one non-terminal job "web"');

    const stop = await ruche(a.address, dir, "job", "stop", "-namespace", "prod", "web");
    expect(stop.err).toBe("");
    expect(stop.code).toBe(0);
    await until("web's allocation stopped", async () => ((await prod.jobAllocations("web")).body.every((x) => x.ClientStatus === "complete" || x.ClientStatus === "failed") ? true : undefined), 60_000);

    expect(await ruche(a.address, dir, "namespace", "delete", "prod")).toEqual({ code: 0, out: 'Successfully deleted namespace "prod"!\n', err: "" });
    expect((await ruche(a.address, dir, "namespace", "list")).out).toBe("Name     Description\ndefault  Default shared namespace\n");
    const gone = await ruche(a.address, dir, "namespace", "delete", "default");
    expect(gone.code).toBe(1);
    expect(gone.err).toContain("default namespace can not be deleted");
  }, 120_000);
});
