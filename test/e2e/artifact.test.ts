/**
 * Artifacts through a dev agent, from an HTTP server of the test on port 0 of 127.0.0.1: a
 * raw_exec task gets a tar.gz unpacked into its `local/` and a file whose sha256 checksum
 * is checked, and prints them; a wrong checksum fails the allocation with the task event
 * "Failed Artifact Download" saying so (also in `ruche alloc status`), the task not started;
 * a docker task reads the unpacked files at `/local` inside its container. A release zip of
 * one executable in mode "file" lands as that file, its absolute destination (`/local/bin/tool`,
 * `/app/latest`) taken from the task's directory, as Nomad does.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let server: Server | undefined;
let dir = "";
let base = "";
const requests: string[] = [];

const CONFIG = "port = 8080\n";
const sha256 = createHash("sha256").update(CONFIG).digest("hex");

const job = (name: string, driver: string, checksum: string): string => `job "${name}" {
  datacenters = ["dc1"]
  type        = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "t" {
      driver = "${driver}"
      artifact {
        source = "${base}/app.tar.gz"
      }
      artifact {
        source      = "${base}/config.txt"
        destination = "local/conf"
        options {
          checksum = "sha256:${checksum}"
        }
        headers {
          X-Job = "\${NOMAD_JOB_NAME}"
        }
      }
      config {
${
  driver === "docker"
    ? `        image   = "ruche-test/busybox:latest"
        command = "cat"
        args    = ["/local/app/README", "/local/conf/config.txt"]`
    : `        command = "/bin/sh"
        args    = ["-c", "cat local/app/README local/conf/config.txt"]`
}
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`;

async function finished(api: ApiClient, name: string): Promise<Allocation> {
  return until(`the allocation of ${name} to finish`, async () => {
    const [stub] = (await api.jobAllocations(name)).body;
    if (stub === undefined || (stub.ClientStatus !== "complete" && stub.ClientStatus !== "failed")) return undefined;
    return (await api.allocation(stub.ID)).body;
  }, 60_000);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-artifact-e2e-"));
  mkdirSync(join(dir, "src", "app"), { recursive: true });
  writeFileSync(join(dir, "src", "app", "README"), "from the archive\n");
  execFileSync("tar", ["-czf", join(dir, "app.tar.gz"), "-C", join(dir, "src"), "app"]);
  const archive = readFileSync(join(dir, "app.tar.gz"));
  execFileSync("python3", ["-c", `import zipfile; z=zipfile.ZipFile("${join(dir, "tool.zip")}","w"); i=zipfile.ZipInfo("tool_v1/tool"); i.external_attr=0o755<<16; z.writestr(i,"#!/bin/sh\\necho the tool runs\\n"); z.close()`]);
  const zip = readFileSync(join(dir, "tool.zip"));
  server = createServer((req, res) => {
    requests.push(`${req.url ?? ""} X-Job=${String(req.headers["x-job"] ?? "")}`);
    if (req.url === "/app.tar.gz") res.end(archive);
    else if (req.url === "/config.txt") res.end(CONFIG);
    else if (req.url === "/tool.zip") res.end(zip);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeFileSync(join(dir, "good.hcl"), job("fetch", "raw_exec", sha256));
  writeFileSync(join(dir, "bad.hcl"), job("badsum", "raw_exec", "0".repeat(64)));
  writeFileSync(join(dir, "docker.hcl"), job("fetch-docker", "docker", sha256));
  writeFileSync(
    join(dir, "release.hcl"),
    `job "release" {
  datacenters = ["dc1"]
  type        = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "raw_exec"
      artifact {
        source      = "${base}/tool.zip"
        destination = "/local/bin/tool"
        mode        = "file"
      }
      artifact {
        source      = "${base}/app.tar.gz"
        destination = "/app/latest"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "local/bin/tool && cat app/latest/app/README"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`,
  );
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  const ids = await docker("ps", "-aq", "--filter", "label=com.ruche.job_id=fetch-docker").catch(() => "");
  if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  await new Promise((r) => server?.close(r));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("artifacts", () => {
  it("a raw_exec task reads an unpacked tar.gz and a checksummed file, fetched before it started", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "good.hcl");
    expect(run.err).toBe("");
    const alloc = await finished(api, "fetch");
    expect(alloc.ClientStatus).toBe("complete");
    const types = alloc.TaskStates.t?.Events.map((e) => e.Type) ?? [];
    expect(types.indexOf("Downloading Artifacts")).toBeGreaterThan(-1);
    expect(types.indexOf("Downloading Artifacts")).toBeLessThan(types.indexOf("Started"));
    const logs = await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "t");
    expect(logs.out).toBe(`from the archive\n${CONFIG}`);
    expect(requests).toContain("/config.txt X-Job=fetch");
  }, 90_000);

  it("a zip of one executable in mode file becomes that file; absolute destinations are taken from the task's directory", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "validate", "release.hcl")).code).toBe(0);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "release.hcl")).code).toBe(0);
    const alloc = await finished(api, "release");
    expect(alloc.ClientStatus).toBe("complete");
    const logs = await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "t");
    expect(logs.out).toBe("the tool runs\nfrom the archive\n");
  }, 90_000);

  it("a wrong checksum fails the allocation with the event saying so, and the task never starts", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "bad.hcl")).code).toBe(0);
    const alloc = await finished(api, "badsum");
    expect(alloc.ClientStatus).toBe("failed");
    const events = alloc.TaskStates.t?.Events ?? [];
    const failed = events.find((e) => e.Type === "Failed Artifact Download");
    expect(failed?.Message).toBe(`failed to download artifact "${base}/config.txt": Checksums did not match for config.txt. Expected: ${"0".repeat(64)} Got: ${sha256}`);
    expect(failed?.Details.download_error).toBe(failed?.Message);
    expect(events.map((e) => e.Type)).not.toContain("Started");
    expect(events.at(-1)?.Type).toBe("Not Restarting");
    const status = await ruche(a.address, dir, "alloc", "status", alloc.ID.slice(0, 8));
    expect(status.out).toContain("Failed Artifact Download");
    expect(status.out).toContain("Checksums did not match for config.txt");
  }, 90_000);

  it("a docker task finds the artifacts in /local", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "docker.hcl")).code).toBe(0);
    const alloc = await finished(api, "fetch-docker");
    expect(alloc.ClientStatus, JSON.stringify(alloc.TaskStates)).toBe("complete");
    const logs = await until("the container's output", async () => {
      const out = (await ruche(a.address, dir, "alloc", "logs", alloc.ID.slice(0, 8), "t")).out;
      return out === "" ? undefined : out;
    });
    expect(logs).toBe(`from the archive\n${CONFIG}`);
  }, 120_000);
});
