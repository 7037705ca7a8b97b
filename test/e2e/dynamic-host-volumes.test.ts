/**
 * Dynamic host volumes on a real dev agent, as Nomad's e2e `dynamic_host_volumes` sticky test:
 * `volume create` of Nomad's own spec (type "host", plugin "mkdir", a capability and a kernel
 * constraint) makes the directory on the node; a service job of the docker driver asks for it
 * with `sticky = true`, and each allocation appends its ID to a file in it after printing what
 * was there. `alloc stop` makes a replacement, which the scheduler must put on the same volume:
 * it prints the first allocation's line. `volume delete` is refused while the job claims the
 * volume, and removes the directory once the job is stopped. Then the same on a node whose
 * client runs in an agent of its own, apart from the server asked: that agent pulls the volume
 * from its server, makes it and reports it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { docker, NO_ACL_NO_TLS, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let agent: AgentProcess | undefined;
let remoteServer: AgentProcess | undefined;
let remoteClient: AgentProcess | undefined;

// e2e/dynamic_host_volumes/input/volume-sticky.nomad.hcl of hashicorp/nomad, as it is.
const SPEC = `name      = "sticky-volume"
type      = "host"
plugin_id = "mkdir"

capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}

constraint {
  attribute = "\${attr.kernel.name}"
  value     = "linux"
}
`;

const JOB = `job "dhv-sticky" {
  datacenters = ["dc1"]
  update {
    min_healthy_time = "1s"
  }
  group "web" {
    volume "data" {
      type   = "host"
      source = "sticky-volume"
      sticky = true
    }
    task "http" {
      driver       = "docker"
      kill_timeout = "1s"
      config {
        image   = "ruche-test/busybox:latest"
        command = "sh"
        args    = ["-c", "cat /var/www/log 2>/dev/null; echo $NOMAD_ALLOC_ID >> /var/www/log; exec sleep 3600"]
      }
      volume_mount {
        volume      = "data"
        destination = "/var/www"
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-dynamic-host-volumes-e2e-"));
  writeFileSync(join(dir, "volume.hcl"), SPEC);
  writeFileSync(join(dir, "job.hcl"), JOB);
  // The corpus' copy of Nomad's sticky job asks for busybox:1: the tests' busybox stands in (no registry here), also as bridge groups' pause container.
  await docker("tag", "ruche-test/busybox:latest", "busybox:1");
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-data-dir", join(dir, "data"), "-docker-infra-image", "ruche-test/busybox:latest"]);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await Promise.all([remoteClient?.stop(), remoteServer?.stop()]);
  for (const job of ["dhv-sticky", "example", "dhv-remote"]) {
    const ids = await docker("ps", "-aq", "--filter", `label=com.ruche.job_id=${job}`);
    if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("dynamic host volumes", () => {
  it("volume create makes the volume, a sticky job's replacement lands on it and reads what the first wrote, delete waits for the job to stop", async () => {
    const a = agent!;
    const api = new ApiClient(a.address);
    const created = await ruche(a.address, dir, "volume", "create", "volume.hcl");
    expect(created.code, created.err).toBe(0);
    const id = /Created host volume sticky-volume with ID (\S+)/.exec(created.out)?.[1] ?? "";
    const vol = (await api.hostVolume(id)).body;
    expect(vol).toMatchObject({ Name: "sticky-volume", State: "ready", PluginID: "mkdir", HostPath: join(dir, "data", "host_volumes", id) });
    expect(existsSync(vol.HostPath)).toBe(true);

    expect((await ruche(a.address, dir, "job", "run", "-detach", "job.hcl")).code).toBe(0);
    const running = async (not: string) =>
      until("a running allocation of dhv-sticky", async () => (await api.jobAllocations("dhv-sticky")).body.find((s) => s.ClientStatus === "running" && s.ID !== not), 60_000);
    const first = await running("");
    expect((await api.allocation(first.ID)).body.HostVolumeIDs).toEqual([id]);
    await until("the first allocation's line", () => (existsSync(join(vol.HostPath, "log")) && readFileSync(join(vol.HostPath, "log"), "utf8") === `${first.ID}\n`) || undefined);

    const refused = await ruche(a.address, dir, "volume", "delete", "-type", "host", id);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`volume ${id} in use by allocations: [${first.ID}]`);

    expect((await ruche(a.address, dir, "alloc", "stop", "-detach", first.ID)).code).toBe(0);
    const second = await running(first.ID);
    const replacement = (await api.allocation(second.ID)).body;
    expect(replacement.PreviousAllocation).toBe(first.ID);
    expect(replacement.HostVolumeIDs).toEqual([id]);
    const logs = await until("the replacement's output", async () => {
      const r = await ruche(a.address, dir, "alloc", "logs", second.ID.slice(0, 8), "http");
      return r.out !== "" ? r : undefined;
    });
    expect(logs.out).toBe(`${first.ID}\n`);
    await until("both lines", () => readFileSync(join(vol.HostPath, "log"), "utf8") === `${first.ID}\n${second.ID}\n` || undefined);

    expect((await ruche(a.address, dir, "job", "stop", "-detach", "dhv-sticky")).code).toBe(0);
    await until("the job's allocations done", async () => (await api.jobAllocations("dhv-sticky")).body.every((s) => s.ClientStatus === "complete") || undefined, 30_000);
    const deleted = await ruche(a.address, dir, "volume", "delete", "-type", "host", id);
    expect(deleted.code, deleted.err).toBe(0);
    expect(deleted.out).toBe(`Successfully deleted volume "${id}"!\n`);
    expect(existsSync(vol.HostPath)).toBe(false);
    expect((await ruche(a.address, dir, "volume", "status")).out).toBe("No dynamic host volumes\n");
  }, 120_000);

  it("runs the corpus' copy of Nomad's e2e sticky job unchanged on a volume made from Nomad's spec, and its replacement on the same volume", async () => {
    const a = agent!;
    const api = new ApiClient(a.address);
    const created = await ruche(a.address, dir, "volume", "create", "volume.hcl");
    expect(created.code, created.err).toBe(0);
    const id = /with ID (\S+)/.exec(created.out)?.[1] ?? "";
    const file = fileURLToPath(new URL("../fixtures/nomad-corpus/nomad__e2e-dynamic_host_volumes-input-sticky.nomad.hcl", import.meta.url));
    expect((await ruche(a.address, dir, "job", "run", "-detach", file)).code).toBe(0);
    const running = async (not: string) => until("a running allocation of example", async () => (await api.jobAllocations("example")).body.find((s) => s.ClientStatus === "running" && s.ID !== not), 60_000);
    const first = await running("");
    expect((await api.allocation(first.ID)).body.HostVolumeIDs).toEqual([id]);
    expect((await ruche(a.address, dir, "alloc", "stop", "-detach", first.ID)).code).toBe(0);
    const second = await running(first.ID);
    expect((await api.allocation(second.ID)).body.HostVolumeIDs).toEqual([id]);
    expect((await ruche(a.address, dir, "job", "stop", "-purge", "-detach", "example")).code).toBe(0);
  }, 120_000);

  it("a server agent has a volume made on a node whose client runs in another agent, and a job there uses it", async () => {
    const server = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", join(dir, "server"), "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
    remoteServer = server;
    remoteClient = await startAgentProcess([...NO_ACL_NO_TLS, "-client", "-servers", server.address, "-data-dir", join(dir, "node"), "-node", "dhv-node", "-http-port", "0", "-docker-infra-image", "ruche-test/busybox:latest"]);
    const api = new ApiClient(server.address);
    const node = await until("the client's node ready", async () => (await api.nodes()).body.find((n) => n.Name === "dhv-node" && n.Status === "ready"));
    writeFileSync(join(dir, "remote.hcl"), `${SPEC}node_id = "${node.ID}"\n`);
    const created = await ruche(server.address, dir, "volume", "create", "remote.hcl");
    expect(created.code, created.err).toBe(0);
    const id = /Created host volume sticky-volume with ID (\S+)/.exec(created.out)?.[1] ?? "";
    const vol = (await api.hostVolume(id)).body;
    expect(vol).toMatchObject({ NodeID: node.ID, State: "ready", HostPath: join(dir, "node", "host_volumes", id) });
    expect(existsSync(vol.HostPath)).toBe(true);

    writeFileSync(join(dir, "remote-job.hcl"), JOB.replace('job "dhv-sticky"', 'job "dhv-remote"'));
    expect((await ruche(server.address, dir, "job", "run", "-detach", "remote-job.hcl")).code).toBe(0);
    const alloc = await until("a running allocation of dhv-remote", async () => (await api.jobAllocations("dhv-remote")).body.find((s) => s.ClientStatus === "running"), 45_000);
    expect(alloc.NodeID).toBe(node.ID);
    await until("the allocation's line in the volume", () => (existsSync(join(vol.HostPath, "log")) && readFileSync(join(vol.HostPath, "log"), "utf8") === `${alloc.ID}\n`) || undefined);

    expect((await ruche(server.address, dir, "job", "stop", "-detach", "dhv-remote")).code).toBe(0);
    await until("the job's allocations done", async () => (await api.jobAllocations("dhv-remote")).body.every((s) => s.ClientStatus === "complete") || undefined, 30_000);
    const deleted = await ruche(server.address, dir, "volume", "delete", "-type", "host", id);
    expect(deleted.code, deleted.err).toBe(0);
    expect(existsSync(vol.HostPath)).toBe(false);
    expect((await api.hostVolumes()).body).toEqual([]);
  }, 60_000);
});
