/**
 * A bridge group's shared network against the real engine: the pause container
 * `nomad_init_<alloc>` made once and found again (after an agent restart the client asks
 * again), started again when it stopped, a task joined to it, removed with the allocation;
 * a container of that name that is not the allocation's is left alone. When no engine
 * answers, every test fails saying so.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../structs/index.js";
import { TEST_IMAGE } from "./contract.case.js";
import { Label } from "./container.js";
import { pauseContainerName } from "./network.js";
import { dockerTestBed } from "./testing.js";

const bed = dockerTestBed("ruche-docker-network");

function request(allocId: string) {
  return { allocId, jobId: bed.jobId(), group: "g", namespace: "default", ports: [] };
}

describe("a bridge group's pause container", () => {
  it("is made once per allocation, found again, started again when stopped, and removed", async () => {
    const d = bed.driver({ infraImage: TEST_IMAGE });
    const allocId = randomUUID();
    const first = await d.createNetwork(request(allocId));
    const info = await bed.docker.getContainer(pauseContainerName(allocId)).inspect();
    expect(info.Id).toBe(first.containerId);
    expect(info.State.Running).toBe(true);
    expect(first.netnsPath).toBe(`/proc/${info.State.Pid}/ns/net`);
    expect(existsSync(first.netnsPath)).toBe(true);

    // Asked again (an agent restart): the same container.
    expect((await d.createNetwork(request(allocId))).containerId).toBe(first.containerId);
    // Stopped meanwhile: started again, the same container.
    await bed.docker.getContainer(first.containerId).stop({ t: 0 });
    const again = await d.createNetwork(request(allocId));
    expect(again.containerId).toBe(first.containerId);
    expect((await bed.docker.getContainer(first.containerId).inspect()).State.Running).toBe(true);

    await d.destroyNetwork(allocId);
    await expect(bed.docker.getContainer(first.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Nothing there: not an error.
    await d.destroyNetwork(allocId);
  });

  it("gives a task that joins it the pause container's network", async () => {
    const d = bed.driver({ infraImage: TEST_IMAGE });
    const spec = bed.spec("joined", { command: "sleep", args: ["60"] });
    const network = await d.createNetwork(request(spec.allocId));
    const h = await d.start({ ...spec, network });
    const info = await bed.docker.getContainer(String(h.state.containerId)).inspect();
    expect(info.HostConfig.NetworkMode).toBe(`container:${network.containerId}`);
    await d.stop(h, 1000);
    await d.destroy(h);
    await d.destroyNetwork(spec.allocId);
  });

  it("gives the network the group's hostname, which its tasks see as theirs", async () => {
    const d = bed.driver({ infraImage: TEST_IMAGE });
    const spec = bed.spec("named", { command: "hostname" });
    const network = await d.createNetwork({ ...request(spec.allocId), hostname: "mylittlepony-0" });
    const h = await d.start({ ...spec, network });
    expect(await d.wait(h)).toMatchObject({ exitCode: 0 });
    expect(readFileSync(spec.stdoutPath, "utf8")).toBe("mylittlepony-0\n");
    await d.destroy(h);
    await d.destroyNetwork(spec.allocId);
  });

  it("is not taken over, nor removed, when a container of that name is not the allocation's", async () => {
    const d = bed.driver({ infraImage: TEST_IMAGE });
    const allocId = randomUUID();
    const name = pauseContainerName(allocId);
    const other = await bed.docker.createContainer({ name, Image: TEST_IMAGE, Cmd: ["true"], Labels: { [Label.JobId]: bed.jobId() } });
    await expect(d.createNetwork(request(allocId))).rejects.toMatchObject({ code: ErrorCode.DockerNameTaken });
    await d.destroyNetwork(allocId);
    expect((await other.inspect()).Id).toBe(other.id);
  });
});
