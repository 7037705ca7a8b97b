/**
 * What a docker task may take of its node, against the real engine: a limit on its
 * processes, its memory under oversubscription (`memory_max`), and volumes that stay inside the allocation's directory unless the node allows
 * host paths. When no engine answers, every test fails saying so.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../structs/index.js";
import { markedProcesses, MARKER_VAR, readText, until } from "../shared/testing.js";
import { dockerTestBed } from "./testing.js";

const bed = dockerTestBed("ruche-docker-limits");

/** Forks 300 sleeps in a child shell, which dies at the first fork that fails; the task itself then lives on without forking. */
const FORK_300 = `sh -c 'i=0; while [ $i -lt 300 ]; do sleep 60 & i=$((i+1)); done; echo "all 300 forked"'; echo "forking stopped"; exec sleep 60`;

describe("a docker task's processes", () => {
  it("are limited by pids_limit: forking 300 with pids_limit = 50 fails, and no more than 50 live", async () => {
    const marker = `limits-${Date.now()}`;
    const spec = bed.spec("forks", { command: "sh", args: ["-c", FORK_300], pids_limit: 50 }, { env: { [MARKER_VAR]: marker } });
    const d = bed.driver();
    const h = await d.start(spec);
    await until("the forking to stop", () => readText(spec.stdoutPath).includes("forking stopped"), 20_000);
    expect(readText(spec.stdoutPath)).not.toContain("all 300 forked");
    expect(readText(spec.stderrPath)).toMatch(/fork/i);
    const live = markedProcesses(marker).length;
    expect(live).toBeGreaterThan(10);
    expect(live).toBeLessThanOrEqual(50);
    const info = await d.docker.getContainer(String(h.state.containerId)).inspect();
    expect(info.HostConfig.PidsLimit).toBe(50);
    await d.stop(h, 1000);
    await d.destroy(h);
  });
});

describe("a docker task's memory under oversubscription", () => {
  const MiB = 1024 * 1024;
  // The container's own memory cgroup as it sees it: v1's limit and soft limit, or v2's memory.max and memory.low.
  const CGROUP_MEMORY = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.low";

  it("memory_max is the container's limit and the task's memory its reservation; -1 leaves it without a limit", async () => {
    const d = bed.driver();
    const over = bed.spec("memory-max", { command: "sh", args: ["-c", CGROUP_MEMORY] }, { memoryMB: 32, memoryMaxMB: 96 });
    const h = await d.start(over);
    expect(await d.wait(h)).toMatchObject({ exitCode: 0 });
    expect(readText(over.stdoutPath).trim().split("\n")).toEqual([String(96 * MiB), String(32 * MiB)]);
    const info = await d.docker.getContainer(String(h.state.containerId)).inspect();
    expect(info.HostConfig).toMatchObject({ Memory: 96 * MiB, MemorySwap: 96 * MiB, MemoryReservation: 32 * MiB });
    await d.destroy(h);

    const unlimited = bed.spec("memory-unlimited", { command: "sh", args: ["-c", CGROUP_MEMORY] }, { memoryMB: 32, memoryMaxMB: -1 });
    const u = await d.start(unlimited);
    expect(await d.wait(u)).toMatchObject({ exitCode: 0 });
    const [limit, reservation] = readText(unlimited.stdoutPath).trim().split("\n");
    // v2 says "max"; v1 its largest page-aligned value.
    expect(limit === "max" || BigInt(limit ?? "0") > BigInt(1) << BigInt(62), `limit ${limit}`).toBe(true);
    expect(reservation).toBe(String(32 * MiB));
    const uinfo = await d.docker.getContainer(String(u.state.containerId)).inspect();
    expect(uinfo.HostConfig).toMatchObject({ Memory: 0, MemoryReservation: 32 * MiB });
    await d.destroy(u);
  });
});

describe("a docker task's volumes", () => {
  it("refuses a relative path that leaves the allocation's directory, naming it, and makes nothing on the host", async () => {
    const spec = bed.spec("escape", { command: "true", volumes: ["../../ruche-escaped:/x"] });
    const d = bed.driver();
    expect(d.validate(spec.config)).toEqual([
      'config.volumes[0] mounts "../../ruche-escaped", which leaves the allocation\'s directory: a relative host path is taken from the task\'s directory and must stay inside the allocation\'s',
    ]);
    await expect(d.start(spec)).rejects.toMatchObject({ code: ErrorCode.DockerBadConfig, status: 400, message: expect.stringContaining("../../ruche-escaped") as unknown });
    expect(existsSync(join(spec.allocDir, "..", "ruche-escaped"))).toBe(false);
  });

  it("refuses a relative path that a symlink in the task's directory leads out of the allocation's directory", async () => {
    const spec = bed.spec("symlink", { command: "true", volumes: ["local/out/sub:/x"] });
    symlinkSync("/", join(spec.taskDir, "local", "out"));
    await expect(bed.driver().start(spec)).rejects.toMatchObject({ code: ErrorCode.DockerBadConfig, message: expect.stringContaining("outside the allocation's directory") as unknown });
  });

  it("mounts a host path only where the node allows host volumes", async () => {
    const spec = bed.spec("host", { command: "sh", args: ["-c", "cat /host/hostname"], volumes: ["/etc:/host:ro"] });
    const closed = bed.driver();
    expect(closed.validate(spec.config)[0]).toContain('mounts the host path "/etc", and this node does not allow host volumes: start its agent with -docker-volumes');
    await expect(closed.start(spec)).rejects.toMatchObject({ code: ErrorCode.DockerBadConfig });
    expect((await closed.fingerprint()).attributes["driver.docker.volumes.enabled"]).toBeUndefined();

    const open = bed.driver({ volumesEnabled: true });
    expect((await open.fingerprint()).attributes["driver.docker.volumes.enabled"]).toBe("1");
    const h = await open.start(spec);
    expect(await open.wait(h)).toMatchObject({ exitCode: 0 });
    expect(readText(spec.stdoutPath)).toBe(readFileSync("/etc/hostname", "utf8"));
  });

  it("mounts a relative path from the task's directory, and the allocation's shared alloc/ through ..", async () => {
    const spec = bed.spec("rel", { command: "sh", args: ["-c", "echo kept > /data/kept.txt && echo shared > /shared/s.txt"], volumes: ["data:/data", "../alloc/data:/shared"] });
    mkdirSync(join(spec.allocDir, "alloc", "data"), { recursive: true });
    const d = bed.driver();
    expect(await d.wait(await d.start(spec))).toMatchObject({ exitCode: 0 });
    expect(readText(join(spec.taskDir, "data", "kept.txt"))).toBe("kept\n");
    expect(readText(join(spec.allocDir, "alloc", "data", "s.txt"))).toBe("shared\n");
  });
});
