/**
 * Host volumes on a real dev agent: its config offers a temporary directory twice, as the
 * host volume "shared" (read-write) and "shared-ro" (read-only); `node status -verbose` shows
 * them as Nomad's "Host Volumes" section. A docker task (the busybox test image) writes a
 * file into "shared" through its volume_mount; an exec task reads it through "shared-ro",
 * mounted at "${NOMAD_TASK_DIR}/data" (read on the node, as Nomad does), and cannot write
 * there. A job asking for a volume no node has, or read-write of a read-only one, is not
 * placed, and `job status` and `eval status` say why in Nomad's words. raw_exec mounts
 * nothing (refused at validation, as Nomad's raw_exec refuses host volumes when the task
 * starts; see jobspec's volumes tests). A `per_alloc` volume: the node offers "perdata[0]"
 * alone, so of a job of two allocations the first (index 0) runs with its own volume and
 * the second is not placed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let volumeDir = "";
let perAllocDir = "";
let agent: AgentProcess | undefined;

const batch = (name: string, source: string, readOnly: boolean, task: string): string => `job "${name}" {
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
    volume "data" {
      type      = "host"
      source    = "${source}"
      read_only = ${String(readOnly)}
    }
${task}
  }
}
`;

const WRITER = `    task "write" {
      driver = "docker"
      config {
        image   = "ruche-test/busybox:latest"
        command = "sh"
        args    = ["-c", "echo written by docker > /srv/data/note.txt"]
      }
      volume_mount {
        volume      = "data"
        destination = "/srv/data"
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }`;

const READER = `    task "read" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "cat /local/data/note.txt; if (echo x > /local/data/other) 2>/dev/null; then echo writable; else echo read-only; fi"]
      }
      volume_mount {
        volume      = "data"
        destination = "\${NOMAD_TASK_DIR}/data"
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }`;

async function finished(api: ApiClient, name: string): Promise<Allocation> {
  return until(`the allocation of ${name} to finish`, async () => {
    const [stub] = (await api.jobAllocations(name)).body;
    if (stub === undefined || (stub.ClientStatus !== "complete" && stub.ClientStatus !== "failed")) return undefined;
    return (await api.allocation(stub.ID)).body;
  }, 60_000);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-host-volumes-e2e-"));
  volumeDir = mkdtempSync(join(tmpdir(), "ruche-host-volumes-e2e-data-"));
  perAllocDir = mkdtempSync(join(tmpdir(), "ruche-host-volumes-e2e-peralloc-"));
  writeFileSync(
    join(dir, "agent.hcl"),
    `client {
  host_volume "shared" {
    path = "${volumeDir}"
  }
  host_volume "shared-ro" {
    path      = "${volumeDir}"
    read_only = true
  }
  host_volume "perdata[0]" {
    path = "${perAllocDir}"
  }
}
`,
  );
  writeFileSync(
    join(dir, "per-alloc.hcl"),
    batch("hv-per-alloc", "perdata", false, WRITER.replace("echo written by docker > /srv/data/note.txt", "echo alloc ${NOMAD_ALLOC_INDEX} > /srv/data/note.txt"))
      .replace('  group "g" {', '  group "g" {\n    count = 2')
      .replace('      read_only = false\n', '      read_only = false\n      per_alloc = true\n'),
  );
  writeFileSync(join(dir, "writer.hcl"), batch("hv-writer", "shared", false, WRITER));
  writeFileSync(join(dir, "reader.hcl"), batch("hv-reader", "shared-ro", true, READER));
  writeFileSync(join(dir, "missing.hcl"), batch("hv-missing", "nowhere", false, WRITER));
  writeFileSync(join(dir, "writable-ro.hcl"), batch("hv-writable-ro", "shared-ro", false, WRITER));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-config", join(dir, "agent.hcl")]);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  for (const job of ["hv-writer", "hv-per-alloc"]) {
    const ids = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${job}`);
    if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  }
  // The docker task wrote as root into the volume: remove what it left.
  if (volumeDir !== "") rmSync(volumeDir, { recursive: true, force: true });
  if (perAllocDir !== "") rmSync(perAllocDir, { recursive: true, force: true });
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("host volumes", () => {
  it("are fingerprinted into the node and shown by node status -verbose", async () => {
    const a = agent!;
    const nodeId = a.out().match(/Node: +(\S+)/)?.[1] ?? "";
    const node = (await new ApiClient(a.address).node(nodeId)).body;
    expect(node.HostVolumes).toEqual({ shared: { Name: "shared", Path: volumeDir, ReadOnly: false }, "shared-ro": { Name: "shared-ro", Path: volumeDir, ReadOnly: true }, "perdata[0]": { Name: "perdata[0]", Path: perAllocDir, ReadOnly: false } });
    const verbose = await ruche(a.address, dir, "node", "status", "-verbose", nodeId);
    expect(verbose.code).toBe(0);
    expect(verbose.out).toContain("Host Volumes\nName");
    for (const [name, ro, path] of [["shared", false, volumeDir], ["shared-ro", true, volumeDir], ["perdata[0]", false, perAllocDir]] as const) expect(verbose.out).toMatch(new RegExp(`\\n${name.replace(/[[\]]/g, "\\$&")} +${String(ro)} +${path}\\n`));
    const short = await ruche(a.address, dir, "node", "status", nodeId);
    expect(short.out).toMatch(/Host Volumes += (?=.*\bshared\b)(?=.*shared-ro)(?=.*perdata\[0\])/);
  });

  it("a docker task writes into the volume and an exec task reads it through a read-only one", async () => {
    const a = agent!;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "writer.hcl")).code).toBe(0);
    const written = await finished(api, "hv-writer");
    expect(written.ClientStatus, JSON.stringify(written.TaskStates)).toBe("complete");
    expect(readFileSync(join(volumeDir, "note.txt"), "utf8")).toBe("written by docker\n");

    expect((await ruche(a.address, dir, "job", "run", "-detach", "reader.hcl")).code).toBe(0);
    const read = await finished(api, "hv-reader");
    expect(read.ClientStatus, JSON.stringify(read.TaskStates)).toBe("complete");
    const logs = await ruche(a.address, dir, "alloc", "logs", read.ID.slice(0, 8), "read");
    expect(logs.out).toBe("written by docker\nread-only\n");
  }, 120_000);

  it("a per_alloc volume: each allocation gets source[N], the one the node lacks is not placed", async () => {
    const a = agent!;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "job", "validate", "per-alloc.hcl")).code).toBe(0);
    expect((await ruche(a.address, dir, "job", "run", "-detach", "per-alloc.hcl")).code).toBe(0);
    const done = await until("hv-per-alloc[0] to finish", async () => {
      const stubs = (await api.jobAllocations("hv-per-alloc")).body;
      const first = stubs.find((s) => s.Name === "hv-per-alloc.g[0]");
      return first !== undefined && (first.ClientStatus === "complete" || first.ClientStatus === "failed") ? stubs : undefined;
    }, 60_000);
    expect(done.map((s) => [s.Name, s.ClientStatus])).toEqual([["hv-per-alloc.g[0]", "complete"]]);
    expect(readFileSync(join(perAllocDir, "note.txt"), "utf8")).toBe("alloc 0\n");
    const status = await until("hv-per-alloc's placement failure", async () => {
      const s = await ruche(a.address, dir, "job", "status", "hv-per-alloc");
      return s.out.includes("missing compatible host volumes") ? s : undefined;
    });
    expect(status.out).toContain("1 node missing compatible host volumes");
  }, 120_000);

  it("a job asking for a volume the node lacks, or read-write of a read-only one, is not placed, and job status says why", async () => {
    const a = agent!;
    for (const [file, job] of [
      ["missing.hcl", "hv-missing"],
      ["writable-ro.hcl", "hv-writable-ro"],
    ] as const) {
      const run = await ruche(a.address, dir, "job", "run", "-detach", file);
      expect(run.code).toBe(0);
      const status = await until(`${job}'s placement failure`, async () => {
        const s = await ruche(a.address, dir, "job", "status", job);
        return s.out.includes("missing compatible host volumes") ? s : undefined;
      });
      expect(status.out).toContain("1 node missing compatible host volumes");
      const evalId = (await new ApiClient(a.address).request<{ ID: string }[]>("GET", `/v1/job/${job}/evaluations`)).body[0]?.ID ?? "";
      const ev = await ruche(a.address, dir, "eval", "status", evalId);
      expect(ev.out).toContain("1 node missing compatible host volumes");
    }
  }, 60_000);
});
