/**
 * Docker volumes through dev agents: a relative host path that climbs out of the
 * allocation's directory is refused when the job is submitted, naming it; an absolute host
 * path fails the task ("Failed Validation", naming the path and the -docker-volumes option)
 * on an agent that does not allow host volumes, and is mounted on one started with
 * -docker-volumes, whose node says so (`driver.docker.volumes.enabled`).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import type { Allocation } from "../../src/structs/index.js";
import { docker, ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
const agents: AgentProcess[] = [];

const job = (name: string, volume: string): string => `job "${name}" {
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
      driver = "docker"
      config {
        image   = "ruche-test/busybox:latest"
        command = "cat"
        args    = ["/host/marker.txt"]
        volumes = ["${volume}:/host:ro"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`;

async function agent(...extra: string[]): Promise<AgentProcess> {
  const a = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", ...extra]);
  agents.push(a);
  return a;
}

async function finished(api: ApiClient, name: string): Promise<Allocation> {
  return until(`the allocation of ${name} to finish`, async () => {
    const [stub] = (await api.jobAllocations(name)).body;
    if (stub === undefined || (stub.ClientStatus !== "complete" && stub.ClientStatus !== "failed")) return undefined;
    return (await api.allocation(stub.ID)).body;
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-volumes-e2e-"));
  writeFileSync(join(dir, "marker.txt"), "from the host\n");
  writeFileSync(join(dir, "escape.hcl"), job("escape", "../../.."));
  writeFileSync(join(dir, "host.hcl"), job("host", dir));
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  const ids = await docker("ps", "-aq", "--filter", "label=com.ruche.job_id=host");
  if (ids !== "") await docker("rm", "-f", ...ids.split("\n"));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("docker volumes", () => {
  it("a relative path out of the allocation's directory is refused at submission; a host path needs -docker-volumes", async () => {
    const closed = await agent();
    const escape = await ruche(closed.address, dir, "job", "run", "-detach", "escape.hcl");
    expect(escape.code).not.toBe(0);
    expect(escape.err).toContain('volume "../../..:/host:ro" leaves the allocation\'s directory');

    const api = new ApiClient(closed.address);
    const node = (await api.node(closed.out().match(/Node: +(\S+)/)?.[1] ?? "")).body;
    expect(node.Attributes["driver.docker.volumes.enabled"]).toBeUndefined();
    expect((await ruche(closed.address, dir, "job", "run", "-detach", "host.hcl")).code).toBe(0);
    const refused = await finished(api, "host");
    expect(refused.ClientStatus).toBe("failed");
    const event = refused.TaskStates.t?.Events.find((e) => e.Type === "Failed Validation");
    expect(event?.Message).toContain(`mounts the host path "${dir}", and this node does not allow host volumes: start its agent with -docker-volumes`);
    await closed.stop();

    const open = await agent("-docker-volumes");
    const openApi = new ApiClient(open.address);
    const openNode = (await openApi.node(open.out().match(/Node: +(\S+)/)?.[1] ?? "")).body;
    expect(openNode.Attributes["driver.docker.volumes.enabled"]).toBe("1");
    expect((await ruche(open.address, dir, "job", "run", "-detach", "host.hcl")).code).toBe(0);
    const mounted = await finished(openApi, "host");
    expect(mounted.ClientStatus).toBe("complete");
    const logs = await ruche(open.address, dir, "alloc", "logs", mounted.ID.slice(0, 8), "t");
    expect(logs.out).toBe("from the host\n");
  }, 90_000);
});
