/**
 * Task cgroups. On this host's real hierarchy (v1 here, or v2): made with their limits and
 * removed. The v2 layout is also checked against a temporary dir standing in for
 * /sys/fs/cgroup, because a host has only one hierarchy and this one is v1; a stand-in
 * shows which files are written, not that the kernel accepts them.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLimits } from "../shared/index.js";
import { CGROUP_PARENT, CgroupVersion, cpuShares, cpuWeight, detectCgroups, TaskCgroup } from "./cgroup.js";

const read = (path: string): string => readFileSync(path, "utf8").trim();

describe("task cgroups", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("converts MHz to cpu shares (at least 2) and shares to cgroup v2 weights as runc does", () => {
    expect(cpuShares(0)).toBe(2);
    expect(cpuShares(500)).toBe(500);
    expect(cpuWeight(2)).toBe(1);
    expect(cpuWeight(1024)).toBe(39);
    expect(cpuWeight(262144)).toBe(10000);
  });

  it("on this host: made with the memory limit and cpu shares (replacing a stale one), found again from its state, removed", async () => {
    const version = detectCgroups();
    expect(version, "a cgroup hierarchy at /sys/fs/cgroup").toBeDefined();
    const stale = await TaskCgroup.create(`.test-${process.pid}`, { memoryMB: 8, cpuMHz: 10, pids: 10 });
    const cg = await TaskCgroup.create(`.test-${process.pid}`, { memoryMB: 32, cpuMHz: 300, pids: 50 });
    expect(cg.state).toEqual(stale.state);
    try {
      expect(TaskCgroup.fromState(JSON.parse(JSON.stringify(cg.state)))?.state).toEqual(cg.state);
      if (version === CgroupVersion.V1) {
        expect(read(join(cg.state.memory, "memory.limit_in_bytes"))).toBe(String(32 * 1024 * 1024));
        expect(read(join(cg.state.cpu, "cpu.shares"))).toBe("300");
        expect(cg.state.pids).toBe(join("/sys/fs/cgroup/pids", CGROUP_PARENT, `.test-${process.pid}`));
      } else {
        expect(read(join(cg.state.memory, "memory.max"))).toBe(String(32 * 1024 * 1024));
        expect(read(join(cg.state.cpu, "cpu.weight"))).toBe(String(cpuWeight(300)));
      }
      expect(read(join(cg.state.pids ?? "", "pids.max"))).toBe("50");
      expect(cg.oomKilled()).toBe(false);
    } finally {
      await cg.remove();
    }
    expect(existsSync(cg.state.memory)).toBe(false);
    expect(existsSync(cg.state.cpu)).toBe(false);
    expect(existsSync(cg.state.pids ?? "")).toBe(false);
    await cg.remove(); // Removing what is gone is fine.
  });

  it("memory limits as Nomad's executor: memory_max above memory is the limit and memory the reservation; -1 no limit", () => {
    const MiB = 1024 * 1024;
    expect(memoryLimits(256)).toEqual({ limitBytes: 256 * MiB, reservationBytes: 0 });
    expect(memoryLimits(256, 0)).toEqual({ limitBytes: 256 * MiB, reservationBytes: 0 });
    expect(memoryLimits(256, 256)).toEqual({ limitBytes: 256 * MiB, reservationBytes: 0 });
    expect(memoryLimits(256, 1024)).toEqual({ limitBytes: 1024 * MiB, reservationBytes: 256 * MiB });
    expect(memoryLimits(256, -1)).toEqual({ limitBytes: -1, reservationBytes: 256 * MiB });
    expect(memoryLimits(0)).toEqual({ limitBytes: 0, reservationBytes: 0 });
  });

  it("on this host: memory_max is the cgroup's limit and memory its soft limit; memory_max = -1 leaves it unlimited", async () => {
    const version = detectCgroups();
    const MiB = 1024 * 1024;
    const over = await TaskCgroup.create(`.test-max-${process.pid}`, { memoryMB: 32, memoryMaxMB: 96, cpuMHz: 100, pids: 10 });
    try {
      if (version === CgroupVersion.V1) {
        expect(read(join(over.state.memory, "memory.limit_in_bytes"))).toBe(String(96 * MiB));
        expect(read(join(over.state.memory, "memory.soft_limit_in_bytes"))).toBe(String(32 * MiB));
      } else {
        expect(read(join(over.state.memory, "memory.max"))).toBe(String(96 * MiB));
        expect(read(join(over.state.memory, "memory.low"))).toBe(String(32 * MiB));
      }
    } finally {
      await over.remove();
    }
    const unlimited = await TaskCgroup.create(`.test-max-${process.pid}`, { memoryMB: 32, memoryMaxMB: -1, cpuMHz: 100, pids: 10 });
    try {
      if (version === CgroupVersion.V1) {
        // The kernel reads -1 back as its largest page-aligned value: no limit.
        const parent = read(join("/sys/fs/cgroup/memory", "memory.limit_in_bytes"));
        expect(BigInt(read(join(unlimited.state.memory, "memory.limit_in_bytes")))).toBeGreaterThan(BigInt(1) << BigInt(62));
        expect(read(join(unlimited.state.memory, "memory.limit_in_bytes"))).toBe(parent);
        expect(read(join(unlimited.state.memory, "memory.soft_limit_in_bytes"))).toBe(String(32 * MiB));
      } else {
        expect(read(join(unlimited.state.memory, "memory.max"))).toBe("max");
        expect(read(join(unlimited.state.memory, "memory.low"))).toBe(String(32 * MiB));
      }
    } finally {
      await unlimited.remove();
    }
  });

  it("v2 (stand-in dir): memory_max as memory.max with memory as memory.low; -1 as \"max\"; without it no memory.low", async () => {
    const root = mkdtempSync(join(tmpdir(), "ruche-cgroup-v2-"));
    dirs.push(root);
    writeFileSync(join(root, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    const MiB = 1024 * 1024;
    const dir = join(root, CGROUP_PARENT, "a1-web");
    await TaskCgroup.create("a1-web", { memoryMB: 64, memoryMaxMB: 256, cpuMHz: 100, pids: 10 }, root);
    expect(read(join(dir, "memory.max"))).toBe(String(256 * MiB));
    expect(read(join(dir, "memory.low"))).toBe(String(64 * MiB));
    rmSync(dir, { recursive: true });
    await TaskCgroup.create("a1-web", { memoryMB: 64, memoryMaxMB: -1, cpuMHz: 100, pids: 10 }, root);
    expect(read(join(dir, "memory.max"))).toBe("max");
    expect(read(join(dir, "memory.low"))).toBe(String(64 * MiB));
    rmSync(dir, { recursive: true });
    await TaskCgroup.create("a1-web", { memoryMB: 64, memoryMaxMB: 32, cpuMHz: 100, pids: 10 }, root);
    expect(read(join(dir, "memory.max"))).toBe(String(64 * MiB));
    expect(existsSync(join(dir, "memory.low"))).toBe(false);
  });

  it("v2 (stand-in dir): controllers handed down to ruche/, memory.max, no swap, cpu.weight, oom_kill from memory.events", async () => {
    const root = mkdtempSync(join(tmpdir(), "ruche-cgroup-v2-"));
    dirs.push(root);
    writeFileSync(join(root, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    expect(detectCgroups(root)).toBe(CgroupVersion.V2);
    const cg = await TaskCgroup.create("a1-web", { memoryMB: 64, cpuMHz: 1024, pids: 100 }, root);
    const dir = join(root, CGROUP_PARENT, "a1-web");
    expect(cg.state).toEqual({ version: "v2", memory: dir, cpu: dir, pids: dir });
    expect(cg.procsFiles()).toEqual([join(dir, "cgroup.procs")]);
    expect(read(join(root, "cgroup.subtree_control"))).toBe("+memory +cpu +pids");
    expect(read(join(root, CGROUP_PARENT, "cgroup.subtree_control"))).toBe("+memory +cpu +pids");
    expect(read(join(dir, "pids.max"))).toBe("100");
    expect(read(join(dir, "memory.max"))).toBe(String(64 * 1024 * 1024));
    expect(read(join(dir, "cpu.weight"))).toBe("39");
    expect(cg.oomKilled()).toBe(false);
    writeFileSync(join(dir, "memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
    expect(cg.oomKilled()).toBe(true);
  });

  it("v1 (stand-in dir): a memory, a cpu and a pids cgroup, joined through the three cgroup.procs files", async () => {
    const root = mkdtempSync(join(tmpdir(), "ruche-cgroup-v1-"));
    dirs.push(root);
    for (const c of ["memory", "cpu", "pids"]) {
      mkdirSync(join(root, c), { recursive: true });
      writeFileSync(join(root, c, "cgroup.procs"), "");
    }
    expect(detectCgroups(root)).toBe(CgroupVersion.V1);
    const cg = await TaskCgroup.create("a1-web", { memoryMB: 0, cpuMHz: 1, pids: 7 }, root);
    expect(cg.procsFiles()).toEqual(["memory", "cpu", "pids"].map((c) => join(root, c, CGROUP_PARENT, "a1-web", "cgroup.procs")));
    expect(read(join(root, "pids", CGROUP_PARENT, "a1-web", "pids.max"))).toBe("7");
    expect(existsSync(join(cg.state.memory, "memory.limit_in_bytes")), "no limit for 0 MB").toBe(false);
    expect(read(join(cg.state.cpu, "cpu.shares"))).toBe("2");
    writeFileSync(join(cg.state.memory, "memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    expect(cg.oomKilled()).toBe(true);
  });

  it("refuses to make a task cgroup where the pids controller is missing: the task's process limit would not hold", async () => {
    const root = mkdtempSync(join(tmpdir(), "ruche-cgroup-v2-"));
    dirs.push(root);
    writeFileSync(join(root, "cgroup.controllers"), "cpu memory\n");
    await expect(TaskCgroup.create("a1-web", { memoryMB: 64, cpuMHz: 100, pids: 100 }, root)).rejects.toThrow("the pids cgroup controller is not available");
  });

  it("reads back only a well-formed state", () => {
    expect(TaskCgroup.fromState(undefined)).toBeUndefined();
    expect(TaskCgroup.fromState({ version: "v3", memory: "/x", cpu: "/x" })).toBeUndefined();
    expect(TaskCgroup.fromState({ version: "v2", memory: 1, cpu: "/x" })).toBeUndefined();
    // Removing a cgroup kills its processes: a handle may only name task cgroups.
    expect(TaskCgroup.fromState({ version: "v1", memory: "/sys/fs/cgroup/memory", cpu: "/sys/fs/cgroup/cpu" })).toBeUndefined();
    expect(TaskCgroup.fromState({ version: "v2", memory: "/sys/fs/cgroup/ruche/../x", cpu: "/sys/fs/cgroup/ruche/../x" })).toBeUndefined();
    expect(TaskCgroup.fromState({ version: "v2", memory: "/sys/fs/cgroup/ruche/a-web", cpu: "/sys/fs/cgroup/ruche/a-web" })).toBeDefined();
    expect(TaskCgroup.fromState({ version: "v1", memory: "/sys/fs/cgroup/memory/ruche/a-web", cpu: "/sys/fs/cgroup/cpu/ruche/a-web", pids: "/sys/fs/cgroup/pids" })).toBeUndefined();
  });
});
