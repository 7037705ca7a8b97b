/**
 * The container's memory in its OCI spec under Nomad's memory oversubscription (`memory_max`):
 * the pure spec building, no containerd needed.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { testTask } from "../shared/testing.js";
import { parseContainerdConfig } from "./config.js";
import { buildSpec, memoryResources, type OciSpec } from "./spec.js";

const MiB = 1024 * 1024;

describe("containerd-driver spec: memory", () => {
  const dir = mkdtempSync(join(tmpdir(), "ruche-containerd-spec-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("memory is the limit; memory_max above it is the limit and memory the reservation; -1 no limit", () => {
    expect(memoryResources({ memoryMB: 256 })).toEqual({ limit: 256 * MiB });
    expect(memoryResources({ memoryMB: 256, memoryMaxMB: 0 })).toEqual({ limit: 256 * MiB });
    expect(memoryResources({ memoryMB: 256, memoryMaxMB: 128 })).toEqual({ limit: 256 * MiB });
    expect(memoryResources({ memoryMB: 256, memoryMaxMB: 1024 })).toEqual({ limit: 1024 * MiB, reservation: 256 * MiB });
    expect(memoryResources({ memoryMB: 256, memoryMaxMB: -1 })).toEqual({ limit: -1, reservation: 256 * MiB });
  });

  it("the task's memory_max reaches linux.resources.memory of the container's spec", () => {
    const base: OciSpec = { process: { cwd: "/", user: { uid: 0, gid: 0 } }, root: { path: "rootfs" }, mounts: [], linux: { namespaces: [{ type: "pid" }] } };
    mkdirSync(join(dir, "root"), { recursive: true });
    const image = { env: [], entrypoint: [], cmd: ["/bin/sh"], workingDir: "/", user: "" };
    const config = parseContainerdConfig({ image: "x" });
    for (const [memoryMaxMB, memory] of [
      [undefined, { limit: 64 * MiB }],
      [512, { limit: 512 * MiB, reservation: 64 * MiB }],
      [-1, { limit: -1, reservation: 64 * MiB }],
    ] as const) {
      const t = testTask({}, { memoryMB: 64, ...(memoryMaxMB === undefined ? {} : { memoryMaxMB }) });
      try {
        const s = buildSpec({ base, image, config, task: t.spec, containerId: "web-1", namespace: "nomad", rootfs: join(dir, "root"), hostsFile: join(dir, "hosts") });
        expect(s.linux.resources?.memory, String(memoryMaxMB)).toEqual(memory);
      } finally {
        t.cleanup();
      }
    }
  });
});
