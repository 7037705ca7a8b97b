/**
 * The java driver on this host's real JVM (Debian's default-jdk-headless), namespaces and
 * cgroups (the contract test covers what every driver does): the fingerprint, a jar run with
 * `-jar` and a class from a class path, what the JVM is given (jvm_options, args, cwd,
 * work_dir), its
 * output and exit code, the heap a JVM takes of its cgroup's memory limit when nothing is
 * added, and `pid_mode`.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TaskHandle } from "../driver.js";
import { killPid, SIGKILL } from "../shared/index.js";
import { shimStateOf } from "../shared/task-state.js";
import { markedProcesses, readText, testTask, until, type TestTask } from "../shared/testing.js";
import { JavaDriver } from "./driver.js";
import { buildJar, HELLO_JAVA, RUN_ARGS_JAVA } from "./testing.js";

describe("java driver", () => {
  const driver = new JavaDriver();
  const tasks: TestTask[] = [];
  const handles: TaskHandle[] = [];
  let jars = "";
  let hello = "";
  let runArgs = "";

  beforeAll(() => {
    jars = mkdtempSync(join(tmpdir(), "ruche-java-test-"));
    hello = buildJar(jars, "hello.jar", { Hello: HELLO_JAVA }, "Hello");
    runArgs = buildJar(jars, "run-args.jar", { RunArgs: RUN_ARGS_JAVA });
  }, 120_000);

  afterAll(() => {
    if (jars !== "") rmSync(jars, { recursive: true, force: true });
  });

  /** Starts a java task with `config`, hello.jar and run-args.jar in its local/. */
  async function start(config: Record<string, unknown>, memoryMB = 128): Promise<{ handle: TaskHandle; task: TestTask }> {
    const task = testTask(config, { memoryMB });
    tasks.push(task);
    copyFileSync(hello, join(task.spec.taskDir, "local", "hello.jar"));
    copyFileSync(runArgs, join(task.spec.taskDir, "local", "run-args.jar"));
    const handle = await driver.start(task.spec);
    handles.push(handle);
    return { handle, task };
  }

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

  it("fingerprints the node's JVM as Nomad does: driver.java, its version, runtime and vm", async () => {
    const fp = await driver.fingerprint();
    if (!fp.detected || !fp.healthy) expect.fail(`java cannot run tasks on this node: ${fp.description}`);
    expect(fp.attributes["driver.java"]).toBe("1");
    expect(fp.attributes["driver.java.version"]).toMatch(/^\d+(\.\d+)*(_\d+)?$/);
    expect(fp.attributes["driver.java.runtime"]).toMatch(/Runtime Environment/);
    expect(fp.attributes["driver.java.vm"]).toMatch(/VM/);
    // The version the fingerprint read is the JVM's that runs the tasks.
    const { handle, task } = await start({ jar_path: "local/hello.jar" });
    await driver.wait(handle);
    expect(readText(task.spec.stdoutPath)).toContain(`Hello from Java ${fp.attributes["driver.java.version"]}\n`);
  });

  it("runs a jar with -jar: jvm_options and args reach the JVM, in / of the task; stdout, stderr and the exit code", async () => {
    const { handle, task } = await start({ jar_path: "local/hello.jar", jvm_options: ["-Dgreeting=bonjour", "-XX:+UseSerialGC"], args: ["3", "two words"] });
    expect(await driver.wait(handle)).toEqual({ exitCode: 3, signal: 0, oomKilled: false });
    const out = readText(task.spec.stdoutPath);
    expect(out).toContain("args: 3,two words\n");
    expect(out).toContain("greeting: bonjour\n");
    expect(out).toContain("cwd: /\n");
    expect(readText(task.spec.stderrPath)).toBe("to stderr\n");
  });

  it("work_dir: the JVM starts there, and relative paths are taken from it", async () => {
    const { handle, task } = await start({ jar_path: "hello.jar", work_dir: "/local", args: ["0"] });
    expect(await driver.wait(handle)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
    expect(readText(task.spec.stdoutPath)).toContain("cwd: /local\n");
  });

  it("runs a class from a class path", async () => {
    const { handle, task } = await start({ class: "Hello", class_path: "/local/hello.jar", args: ["0"] });
    expect(await driver.wait(handle)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
    expect(readText(task.spec.stdoutPath)).toContain("args: 0\n");
  });

  it("a jar that is not there: the JVM's error in stderr and its exit code", async () => {
    const { handle, task } = await start({ jar_path: "local/missing.jar" });
    expect((await driver.wait(handle)).exitCode).toBe(1);
    expect(readText(task.spec.stderrPath)).toContain("Unable to access jarfile local/missing.jar");
  });

  it("adds no heap size: the JVM finds its cgroup's memory limit and takes a quarter of it", async () => {
    const { handle, task } = await start({ jar_path: "local/hello.jar" }, 1024);
    await driver.wait(handle);
    const heap = Number(/^max heap MB: (\d+)$/m.exec(readText(task.spec.stdoutPath))?.[1]);
    expect(heap).toBeGreaterThan(192);
    expect(heap).toBeLessThanOrEqual(256);
    // What it read: the limit of its own cgroup, at /sys/fs/cgroup in its cgroup namespace.
    const { handle: h2 } = await start({ class: "RunArgs", class_path: "local/run-args.jar", args: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"] }, 96);
    const r = await driver.exec(h2, ["/bin/sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"], { timeoutMs: 10_000 });
    expect(r.stdout.toString()).toContain(`${96 * 1024 * 1024}\n`);
    expect(r.stdout.toString()).toMatch(/^\d+:[^:]*memory[^:]*:\/$|^0::\/$/m);
  });

  it("pid_mode: the JVM has a pid namespace of its own, or the host's with pid_mode host", async () => {
    const own = await start({ jar_path: "local/hello.jar" });
    await driver.wait(own.handle);
    const ownPid = Number(/^pid: (\d+)$/m.exec(readText(own.task.spec.stdoutPath))?.[1]);
    expect(ownPid).toBeGreaterThan(0);
    expect(ownPid).not.toBe(shimStateOf(own.handle)?.pid);

    const host = await start({ jar_path: "local/hello.jar", pid_mode: "host", ipc_mode: "host" });
    const taskPid = shimStateOf(host.handle)?.pid;
    await driver.wait(host.handle);
    expect(readText(host.task.spec.stdoutPath)).toContain(`pid: ${taskPid}\n`);
  });

  it("runs on until stopped, and alloc exec runs a command beside the JVM", async () => {
    const { handle, task } = await start({ class: "RunArgs", class_path: "local/run-args.jar", args: ["/bin/sh", "-c", "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"] });
    await until("the task to be up", () => readText(task.spec.stdoutPath).includes("up"));
    const r = await driver.exec(handle, ["/bin/sh", "-c", "ls /local"], { timeoutMs: 10_000 });
    expect(r.stdout.toString()).toBe("hello.jar\nrun-args.jar\n");
    await driver.stop(handle, 10_000);
    expect(await driver.wait(handle)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
  });
});
