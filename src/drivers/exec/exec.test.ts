/**
 * The exec driver's isolation, on this host's real namespaces and cgroups (the contract
 * test covers what every driver does): the task's own pid, mount, ipc and uts namespaces,
 * its view of the filesystem, its hostname, its cgroup's limits, an OOM kill, and the
 * cgroup gone after destroy.
 */
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { TaskHandle } from "../driver.js";
import { allProcesses, DEFAULT_PIDS_LIMIT, killPid, SIGKILL } from "../shared/index.js";
import { shimStateOf } from "../shared/task-state.js";
import { markedProcesses, readText, testTask, until, type TestTask } from "../shared/testing.js";
import { CgroupVersion, cpuWeight, TaskCgroup } from "./cgroup.js";
import { ExecDriver } from "./driver.js";
import { taskHostname } from "./isolation.js";

const sh = (script: string): Record<string, unknown> => ({ command: "/bin/sh", args: ["-c", script] });
const SERVER = `trap 'exit 0' TERM; echo "pid $$"; while :; do sleep 0.1; done`;
/** Forks 300 sleeps in a child shell, which dies at the first fork that fails; the task itself then lives on without forking. */
const FORK_300 = `sh -c 'i=0; while [ $i -lt 300 ]; do sleep 60 & i=$((i+1)); done; echo "all 300 forked"'; echo "forking stopped"; exec sleep 60`;

describe("exec driver isolation", () => {
  const driver = new ExecDriver();
  const tasks: TestTask[] = [];
  const handles: TaskHandle[] = [];

  async function start(script: string, overrides: Parameters<typeof testTask>[1] = {}): Promise<{ handle: TaskHandle; task: TestTask }> {
    const task = testTask(sh(script), overrides);
    tasks.push(task);
    const handle = await driver.start(task.spec);
    handles.push(handle);
    return { handle, task };
  }

  const run = async (handle: TaskHandle, script: string): Promise<{ code: number; out: string; err: string }> => {
    const r = await driver.exec(handle, ["/bin/sh", "-c", script], { timeoutMs: 10_000 });
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
  };

  afterEach(async () => {
    for (const handle of handles.splice(0)) {
      await driver.stop(handle, 1000);
      await driver.destroy(handle);
    }
    const left = tasks.flatMap((t) => markedProcesses(t.marker));
    for (const pid of left) killPid(pid, SIGKILL);
    for (const t of tasks.splice(0)) t.cleanup();
    expect(left).toEqual([]);
  });

  it("gives the task its own pid, mount, ipc and uts namespaces, and the host's network", async () => {
    const { handle, task } = await start(SERVER);
    const { pid } = shimStateOf(handle)!;
    for (const ns of ["pid", "mnt", "ipc", "uts"]) {
      expect(readlinkSync(`/proc/${pid}/ns/${ns}`), ns).not.toBe(readlinkSync(`/proc/self/ns/${ns}`));
    }
    expect(readlinkSync(`/proc/${pid}/ns/net`)).toBe(readlinkSync("/proc/self/ns/net"));

    // Its pid inside is the one the host's NSpid gives, low, and not its host pid.
    const inside = Number(/^pid (\d+)$/m.exec(await until("the task's pid", () => /^pid \d+$/m.test(readText(task.spec.stdoutPath)) && readText(task.spec.stdoutPath)))?.[1]);
    const nspid = /^NSpid:\s+(\d+)\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    expect(Number(nspid?.[2])).toBe(inside);
    expect(inside).not.toBe(pid);
    expect(inside).toBeLessThan(1000);

    // Its /proc shows its own processes only: the shim as pid 1, the task, and the looker.
    const ps = await run(handle, `for p in /proc/[0-9]*; do echo "\${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)"; done`);
    const procs = ps.out.trim().split("\n");
    expect(procs.length, ps.out).toBeLessThan(10);
    expect(procs.find((l) => l.startsWith("1 "))).toMatch(/shim\.sh/);
    expect(procs.find((l) => l.startsWith(`${inside} `))).toMatch(/sleep|sh/);
  });

  it("mounts the allocation's /alloc and the task's /local, /secrets and /tmp read-write, and shows them on the host", async () => {
    const { handle, task } = await start(SERVER);
    const r = await run(handle, "echo a > /alloc/data/a && echo l > /local/l && echo s > /secrets/s && echo t > /tmp/t && cat /alloc/data/a /local/l /secrets/s /tmp/t");
    expect(r).toEqual({ code: 0, out: "a\nl\ns\nt\n", err: "" });
    expect(readFileSync(join(task.spec.allocDir, "alloc/data/a"), "utf8")).toBe("a\n");
    expect(readFileSync(join(task.spec.taskDir, "local/l"), "utf8")).toBe("l\n");
    expect(readFileSync(join(task.spec.taskDir, "secrets/s"), "utf8")).toBe("s\n");
    expect(readFileSync(join(task.spec.taskDir, "tmp/t"), "utf8")).toBe("t\n");
  });

  it("shows the host's system read-only, and nothing of the host beyond it", async () => {
    const { handle } = await start(SERVER);
    for (const path of ["/etc/ruche-exec-test", "/usr/ruche-exec-test", "/ruche-exec-test"]) {
      const r = await run(handle, `echo x > ${path}`);
      expect(r.code, path).not.toBe(0);
      expect(r.err, path).toMatch(/Read-only file system/);
      expect(existsSync(path), path).toBe(false);
    }
    const ls = await run(handle, "ls /; ls /dev");
    expect(ls.out).not.toMatch(/^(home|root|var|boot|mnt)$/m);
    expect(ls.out).toMatch(/^null$/m);
    expect(ls.out).not.toMatch(/^(sda|vda|mem|kmsg)$/m);
    expect((await run(handle, "cat /etc/os-release")).out).toBe(readFileSync("/etc/os-release", "utf8"));
  });

  it("runs the task, and what is exec'd in it, with the default capabilities only; cap_drop and cap_add change them", async () => {
    // chown, dac_override, fowner, fsetid, kill, setgid, setuid, setpcap, net_bind_service,
    // sys_chroot, mknod, audit_write, setfcap: Docker's defaults without net_raw.
    const DEFAULT = "00000000a80405fb";
    const { handle, task } = await start(`grep -E '^Cap(Eff|Bnd)' /proc/self/status; ${SERVER}`);
    await until("the task's capabilities", () => readText(task.spec.stdoutPath).includes("CapBnd"));
    expect(readText(task.spec.stdoutPath)).toContain(`CapEff:\t${DEFAULT}\nCapBnd:\t${DEFAULT}\n`);
    expect((await run(handle, "grep -E '^CapBnd' /proc/self/status")).out).toBe(`CapBnd:\t${DEFAULT}\n`);
    // No CAP_SYS_ADMIN: root in the task cannot mount.
    const mount = await run(handle, "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m");
    expect(mount.code).not.toBe(0);

    const few = testTask({ ...sh(`grep -E '^CapBnd' /proc/self/status; ${SERVER}`), cap_drop: ["all"], cap_add: ["net_bind_service", "CAP_KILL"] });
    tasks.push(few);
    handles.push(await driver.start(few.spec));
    // kill (5) and net_bind_service (10).
    await until("the task's capabilities", () => readText(few.spec.stdoutPath).includes("CapBnd"));
    expect(readText(few.spec.stdoutPath)).toContain("CapBnd:\t0000000000000420\n");
    expect(driver.validate({ command: "x", cap_add: ["sys_admin"], cap_drop: "all" })).toEqual([
      'config.cap_add: "sys_admin" is not a capability the exec driver allows (it allows audit_write, chown, dac_override, fowner, fsetid, kill, mknod, net_bind_service, setfcap, setgid, setpcap, setuid, sys_chroot)',
      'config.cap_drop must be a list of capability names such as "net_bind_service"',
    ]);
  });

  it("sets the task's hostname, not the host's", async () => {
    const { handle, task } = await start(SERVER);
    const r = await run(handle, "cat /proc/sys/kernel/hostname");
    expect(r.out.trim()).toBe(taskHostname(task.spec));
    expect(r.out.trim()).toBe(task.spec.allocId.slice(0, 8));
    expect(r.out.trim()).not.toBe(hostname());
    expect(hostname()).toBe(readFileSync("/proc/sys/kernel/hostname", "utf8").trim());
  });

  it("puts the task, and what is exec'd in it, in its cgroup with its memory limit and cpu shares", async () => {
    const { handle } = await start(SERVER, { cpu: 250, memoryMB: 48 });
    const cg = TaskCgroup.fromState(handle.state.cgroup)!;
    const { pid } = shimStateOf(handle)!;
    const procs = readFileSync(join(cg.state.memory, "cgroup.procs"), "utf8").split("\n").map(Number);
    expect(procs).toContain(pid);
    if (cg.state.version === CgroupVersion.V1) {
      expect(readFileSync(join(cg.state.memory, "memory.limit_in_bytes"), "utf8").trim()).toBe(String(48 * 1024 * 1024));
      expect(readFileSync(join(cg.state.cpu, "cpu.shares"), "utf8").trim()).toBe("250");
    } else {
      expect(readFileSync(join(cg.state.memory, "memory.max"), "utf8").trim()).toBe(String(48 * 1024 * 1024));
      expect(readFileSync(join(cg.state.cpu, "cpu.weight"), "utf8").trim()).toBe(String(cpuWeight(250)));
    }
    // What is exec'd joins the cgroup too: the host sees it there.
    const exec = driver.exec(handle, ["/bin/sleep", "7.77"], { timeoutMs: 500 });
    const name = cg.state.memory.split("/").slice(-2).join("/");
    await until("the exec'd command in the task's cgroup, as the host sees it", () =>
      allProcesses().some(({ pid }) => readText(`/proc/${pid}/cmdline`) === "/bin/sleep\u00007.77\u0000" && readText(`/proc/${pid}/cgroup`).includes(`/${name}`)),
    );
    await exec;
    // The task sees its own cgroup, limits included, at /sys/fs/cgroup, in a cgroup namespace of its own (a JVM sizes its heap from it).
    const seen = await run(handle, "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max");
    expect(seen.out).toContain(`${48 * 1024 * 1024}\n`);
    expect(seen.out).toMatch(cg.state.version === CgroupVersion.V1 ? /^\d+:memory:\/$/m : /^0::\/$/m);
    expect(seen.out).not.toContain(cg.state.memory.split("/").at(-1));
  });

  it("limits the task's processes: with pids_limit = 50, forking 300 fails and no more than 50 live; the default is DEFAULT_PIDS_LIMIT", async () => {
    const { handle, task } = await start(FORK_300, { config: { ...sh(FORK_300), pids_limit: 50 } });
    await until("the forking to stop", () => readText(task.spec.stdoutPath).includes("forking stopped"));
    expect(readText(task.spec.stdoutPath)).not.toContain("all 300 forked");
    expect(readText(task.spec.stderrPath)).toMatch(/fork/i);
    const live = markedProcesses(task.marker).length;
    expect(live).toBeGreaterThan(10);
    expect(live).toBeLessThanOrEqual(50);
    const cg = TaskCgroup.fromState(handle.state.cgroup)!;
    expect(readFileSync(join(cg.state.pids!, "pids.max"), "utf8").trim()).toBe("50");
    const plain = await start(SERVER);
    expect(readFileSync(join(TaskCgroup.fromState(plain.handle.state.cgroup)!.state.pids!, "pids.max"), "utf8").trim()).toBe(String(DEFAULT_PIDS_LIMIT));
    expect(driver.validate({ command: "x", pids_limit: 0 })).toEqual([`config.pids_limit must be a whole number of processes from 1 to 4194304, got 0`]);
  });

  it("a task that allocates beyond its memory limit is OOM-killed, and the exit says so", async () => {
    const { handle } = await start("x=0123456789abcdef; while :; do x=$x$x; done", { memoryMB: 16 });
    const exit = await driver.wait(handle);
    expect(exit).toEqual({ exitCode: 137, signal: 9, oomKilled: true });
  });

  it("memory_max (oversubscription): the task's cgroup, as the task sees it, has memory_max as its limit and memory as its soft limit", async () => {
    const { handle } = await start(SERVER, { memoryMB: 16, memoryMaxMB: 64 });
    const seen = await run(handle, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.soft_limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.low");
    expect(seen.out).toBe(`${64 * 1024 * 1024}\n${16 * 1024 * 1024}\n`);
  });

  it("a task killed by a plain SIGKILL is not reported as OOM-killed", async () => {
    const { handle, task } = await start(`trap '' TERM; echo ready; while :; do sleep 0.1; done`);
    await until("the task to be ready", () => readText(task.spec.stdoutPath).includes("ready"));
    await driver.stop(handle, 100);
    expect(await driver.wait(handle)).toEqual({ exitCode: 137, signal: 9, oomKilled: false });
  });

  it("destroy removes the task's cgroup and the driver's files in its task dir", async () => {
    const { handle, task } = await start("exit 0");
    await driver.wait(handle);
    const cg = TaskCgroup.fromState(handle.state.cgroup)!;
    expect(existsSync(cg.state.memory)).toBe(true);
    await driver.destroy(handle);
    handles.length = 0;
    expect(existsSync(cg.state.memory)).toBe(false);
    expect(existsSync(cg.state.cpu)).toBe(false);
    expect(existsSync(cg.state.pids!)).toBe(false);
    expect(existsSync(join(task.spec.taskDir, ".ruche"))).toBe(false);
  });
});
