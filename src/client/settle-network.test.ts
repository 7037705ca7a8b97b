/**
 * The settle path against the real engine: an allocation of a bridge group that the servers
 * stopped and this agent holds no runner for leaves no pause container behind.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DockerDriver, type Driver } from "../drivers/index.js";
import { mock, silentLogger } from "../structs/index.js";
import { allocPorts } from "./env.js";
import { settleStopped } from "./settle.js";

const IMAGE = "ruche-test/busybox:latest";
const dirs: string[] = [];
const drivers: DockerDriver[] = [];

afterEach(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("settling a stopped allocation of a bridge group", () => {
  it("removes its pause container", async () => {
    const docker = new DockerDriver({ infraImage: IMAGE });
    drivers.push(docker);
    const node = mock.node();
    const job = mock.job({ id: `settle-net-${Date.now().toString(36)}`, driver: "docker" });
    const group = job.TaskGroups[0];
    if (group === undefined) throw new Error("mock job without a group");
    group.Networks = [{ Mode: "bridge", MBits: 0, IP: "", ReservedPorts: [], DynamicPorts: [] }];
    const alloc = mock.alloc(job, node, 0, { DesiredStatus: "stop" });
    const net = await docker.createNetwork({ allocId: alloc.ID, jobId: job.ID, group: group.Name, namespace: alloc.Namespace, ports: allocPorts(alloc) });
    expect((await docker.docker.getContainer(net.containerId).inspect()).State.Running).toBe(true);

    const allocRoot = mkdtempSync(join(tmpdir(), "ruche-settle-net-"));
    dirs.push(allocRoot);
    const found = await settleStopped(alloc, { node, drivers: new Map<string, Driver>([["docker", docker]]), allocRoot, log: silentLogger });
    expect(found).toBe(0);
    await expect(docker.docker.getContainer(net.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});
