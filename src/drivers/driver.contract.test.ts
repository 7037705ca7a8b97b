/**
 * What every task driver promises, run against each one on this node (real processes,
 * namespaces and cgroups, a real Docker engine). A driver that is not healthy here fails
 * the first test, saying why; none is skipped.
 *
 * Tasks are /bin/sh scripts (busybox's in the docker image). Every process of a test task
 * carries a marker in its environment; after each test the tasks are stopped and destroyed
 * through the driver, and no marked process may be left.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DRIVER_REQUIRED_CONFIG } from "../structs/index.js";
import { contractCase as containerd } from "./containerd/contract.case.js";
import { contractCase as docker } from "./docker/contract.case.js";
import type { Driver, TaskHandle } from "./driver.js";
import { contractCase as exec } from "./exec/contract.case.js";
import { contractCase as podman } from "./podman/contract.case.js";
import { contractCase as java } from "./java/contract.case.js";
import { contractCase as rawExec } from "./raw_exec/contract.case.js";
import { killPid, SIGKILL } from "./shared/index.js";
import { markedProcesses, readText, startInDoomedAgent, testTask, until, type DriverContractCase, type TestTask } from "./shared/testing.js";

/** Each case, with the module it comes from (the stand-in agent of the kill -9 test imports it). */
const CASES: { module: URL; contractCase: DriverContractCase }[] = [
  { module: new URL("./raw_exec/contract.case.ts", import.meta.url), contractCase: rawExec },
  { module: new URL("./exec/contract.case.ts", import.meta.url), contractCase: exec },
  { module: new URL("./java/contract.case.ts", import.meta.url), contractCase: java },
  { module: new URL("./docker/contract.case.ts", import.meta.url), contractCase: docker },
  { module: new URL("./containerd/contract.case.ts", import.meta.url), contractCase: containerd },
  { module: new URL("./podman/contract.case.ts", import.meta.url), contractCase: podman },
];

const sh = (script: string): string[] => ["/bin/sh", "-c", script];

/** Runs until stopped; says hello with its env, answers SIGHUP, exits 0 on SIGTERM. */
const SERVER = `trap 'echo got-hup' HUP; trap 'echo got-term; exit 0' TERM; echo "hello $GREETING"; while :; do sleep 0.1; done`;
/** Ignores SIGTERM: only SIGKILL ends it. */
const STUBBORN = `trap '' TERM; echo ready; while :; do sleep 0.1; done`;
/** Counts out loud ten times a second; exits 0 on SIGTERM. */
const COUNTER = `trap 'exit 0' TERM; i=0; while :; do i=$((i + 1)); echo "tick $i"; sleep 0.1; done`;

const clean = { exitCode: 0, signal: 0, oomKilled: false };

/**
 * Bytes the task's processes alive now have written (`wchar` of /proc/PID/io): read from the
 * host, whatever the driver does with the task's output.
 */
function written(task: TestTask): number {
  let n = 0;
  for (const pid of markedProcesses(task.marker)) n += Number(/^wchar: (\d+)$/m.exec(readText(`/proc/${pid}/io`))?.[1] ?? 0);
  return n;
}

for (const { module, contractCase: c } of CASES) {
  describe(`driver contract: ${c.name}`, () => {
    let driver: Driver;
    const tasks: TestTask[] = [];
    const handles: { driver: Driver; handle: TaskHandle }[] = [];

    /** Starts `cmd` as a task of this test; it is stopped and destroyed after the test. */
    async function start(cmd: string[]): Promise<{ handle: TaskHandle; task: TestTask }> {
      const task = testTask(c.config(cmd));
      tasks.push(task);
      c.prepare?.(task.spec);
      const handle = await driver.start(task.spec);
      handles.push({ driver, handle });
      return { handle, task };
    }

    const stdout = (task: TestTask): string => readText(task.spec.stdoutPath);
    const printed = (task: TestTask, text: string): Promise<true> => until(`"${text}" in the task's stdout`, () => stdout(task).includes(text));

    beforeEach(() => {
      driver = c.make();
    });

    afterEach(async () => {
      const errors: string[] = [];
      for (const { driver: d, handle } of handles.splice(0)) {
        await d.stop(handle, 1000).catch((err: unknown) => errors.push(`stop: ${String(err)}`));
        await d.destroy(handle).catch((err: unknown) => errors.push(`destroy: ${String(err)}`));
      }
      const left = tasks.flatMap((t) => markedProcesses(t.marker));
      for (const pid of left) killPid(pid, SIGKILL);
      for (const t of tasks.splice(0)) t.cleanup();
      expect(errors, "stop and destroy of the test's tasks").toEqual([]);
      expect(left, "processes of the test's tasks alive after stop and destroy").toEqual([]);
    });

    it("is detected and healthy on this node", async () => {
      const fp = await driver.fingerprint();
      if (!fp.detected || !fp.healthy) {
        expect.fail(`${c.name} cannot run tasks on this node: ${fp.description}${c.needs === undefined ? "" : ` (it needs ${c.needs})`}`);
      }
      expect(fp.attributes[`driver.${c.name}`]).toBe("1");
    });

    it("validate names the key of a missing or ill-typed setting", () => {
      const good = c.config(sh("true"));
      expect(driver.validate(good)).toEqual([]);
      const required = (DRIVER_REQUIRED_CONFIG as Record<string, readonly string[] | undefined>)[c.name];
      expect(required, `DRIVER_REQUIRED_CONFIG lists ${c.name}`).toBeDefined();
      for (const key of required ?? []) {
        const { [key]: _, ...without } = good;
        expect(driver.validate(without).join("\n")).toContain(`config.${key}`);
      }
      expect(driver.validate({ ...good, command: 42 }).join("\n")).toContain("config.command");
      expect(driver.validate({ ...good, args: "--verbose" }).join("\n")).toContain("config.args");
    });

    it("starts a task that sees its env and writes to its stdout file", async () => {
      const { handle, task } = await start(sh(SERVER));
      expect(handle.driver).toBe(c.name);
      expect(handle.taskId).toBe(task.spec.id);
      expect(JSON.parse(JSON.stringify(handle))).toEqual(handle);
      await printed(task, "hello bonjour");
    });

    it("exec runs a command inside the task: output, exit code, env, stdin, a cap on output, a timeout that kills", async () => {
      const { handle, task } = await start(sh(SERVER));
      await printed(task, "hello");

      const r = await driver.exec(handle, sh('echo "exec $GREETING"; echo oops >&2; exit 4'), { timeoutMs: 10_000 });
      expect({ ...r, stdout: r.stdout.toString(), stderr: r.stderr.toString() }).toEqual({ exitCode: 4, stdout: "exec bonjour\n", stderr: "oops\n", timedOut: false });

      const fed = await driver.exec(handle, ["/bin/sh", "-c", "cat"], { timeoutMs: 10_000, stdin: Buffer.from("through stdin") });
      expect(fed.stdout.toString()).toBe("through stdin");

      const loud = await driver.exec(handle, sh("i=0; while [ $i -lt 1000 ]; do echo 0123456789; i=$((i + 1)); done"), { timeoutMs: 10_000, maxOutputBytes: 100 });
      expect(loud.stdout.length).toBe(100);
      expect(loud.exitCode).toBe(0);

      const began = Date.now();
      const slow = await driver.exec(handle, sh("echo started; sleep 30"), { timeoutMs: 500 });
      expect(slow.timedOut).toBe(true);
      expect(Date.now() - began).toBeLessThan(10_000);
      // The timed-out command is gone (the marker check after the test would find it), the task is not.
      await printed(task, "hello");
      const again = await driver.exec(handle, sh("echo still here"), { timeoutMs: 10_000 });
      expect(again.stdout.toString()).toBe("still here\n");
    });

    it("stats reads what the running task uses (memory held, CPU while it is busy), and nothing once it has exited", async () => {
      // ~8 MB held in a shell variable, then a busy loop.
      const { handle, task } = await start(sh('x=$(head -c 8000000 /dev/zero | tr "\\0" a); echo holding; while :; do :; done'));
      await printed(task, "holding");
      let s = await driver.stats(handle);
      for (let tries = 0; tries < 20 && (s === null || s.cpu.percent <= 1); tries++) s = await driver.stats(handle);
      if (s === null) return expect.fail("no reading of a running task");
      expect(s.memory.rss + s.memory.usage).toBeGreaterThan(4_000_000);
      expect(s.memory.measured.length).toBeGreaterThan(0);
      expect(s.cpu.totalTicks).toBeGreaterThan(0);
      expect(s.cpu.measured).toContain("Percent");
      expect(Math.abs(s.at - Date.now())).toBeLessThan(60_000);
      await driver.stop(handle, 1000);
      await driver.wait(handle);
      expect(await driver.stats(handle)).toBeNull();
    });

    it("delivers a signal to the task (its trap on SIGHUP runs) and the task runs on", async () => {
      const { handle, task } = await start(sh(SERVER));
      await printed(task, "hello");
      await driver.signal(handle, "SIGHUP");
      await printed(task, "got-hup");
      await driver.stop(handle, 10_000);
      expect(await driver.wait(handle)).toEqual(clean);
    });

    it("stop sends SIGTERM: a task that traps it and exits 0 reports exit code 0", async () => {
      const { handle, task } = await start(sh(SERVER));
      await printed(task, "hello");
      await driver.stop(handle, 10_000, "SIGTERM");
      expect(await driver.wait(handle)).toEqual(clean);
      expect(stdout(task)).toContain("got-term");
      // Stopping what has already stopped is not an error.
      await driver.stop(handle, 1000);
    });

    it("stop kills a task that ignores SIGTERM with SIGKILL once the timeout is over", async () => {
      const { handle, task } = await start(sh(STUBBORN));
      await printed(task, "ready");
      const began = Date.now();
      await driver.stop(handle, 700);
      expect(Date.now() - began).toBeGreaterThanOrEqual(650);
      const exit = await driver.wait(handle);
      expect(exit.signal).toBe(9);
      expect(exit.oomKilled).toBe(false);
    });

    it("reports the exit code of a task that exits by itself", async () => {
      const { handle, task } = await start(sh("echo bye; exit 3"));
      expect(await driver.wait(handle)).toEqual({ exitCode: 3, signal: 0, oomKilled: false });
      await printed(task, "bye");
    });

    it("a new driver instance (the agent restarted) recovers a running task and can wait for it and stop it", async () => {
      const { handle, task } = await start(sh(SERVER));
      await printed(task, "hello");
      const saved = JSON.parse(JSON.stringify(handle)) as TaskHandle;
      const restarted = c.make();
      expect(await restarted.recover(saved, task.spec)).toBe(true);
      handles.push({ driver: restarted, handle: saved });
      let ended = false;
      const exited = restarted.wait(saved).finally(() => {
        ended = true;
      });
      // The task answers a signal sent through the new instance: it runs, and the wait goes on.
      await restarted.signal(saved, "SIGHUP");
      await printed(task, "got-hup");
      await new Promise((r) => setImmediate(r)); // A wait already over has said so by now.
      expect(ended, "the wait on the recovered task ended while it runs").toBe(false);
      await restarted.stop(saved, 10_000);
      expect(await exited).toEqual(clean);
      // The very task that was started: only it could have answered the SIGTERM.
      expect(stdout(task)).toContain("got-term");
    });

    it("recovers a task that exited while the agent was away, with its exit code", async () => {
      const { handle, task } = await start(sh("exit 3"));
      await until("the task to end", () => markedProcesses(task.marker).length === 0);
      const restarted = c.make();
      const saved = JSON.parse(JSON.stringify(handle)) as TaskHandle;
      expect(await restarted.recover(saved, task.spec)).toBe(true);
      handles.push({ driver: restarted, handle: saved });
      expect(await restarted.wait(saved)).toEqual({ exitCode: 3, signal: 0, oomKilled: false });
    });

    it("does not recover a task that is gone, nor a handle that names nothing", async () => {
      const { handle, task } = await start(sh("exit 0"));
      await driver.wait(handle);
      await driver.destroy(handle);
      handles.length = 0;
      expect(await c.make().recover(handle, task.spec)).toBe(false);
      const bogus: TaskHandle = { driver: c.name, taskId: task.spec.id, startedAt: Date.now(), state: { nonsense: true } };
      expect(await c.make().recover(bogus, task.spec)).toBe(false);
    });

    it("a task outlives its agent killed with SIGKILL, and a new agent takes it over", async () => {
      const task = testTask(c.config(sh(COUNTER)));
      tasks.push(task);
      c.prepare?.(task.spec);
      const handle = await startInDoomedAgent(module, task.spec);
      // Its agent is dead: the task goes on writing (a pipe to the dead agent would have
      // ended it with SIGPIPE at its first write).
      const before = written(task);
      await until("three more ticks written by the task, its agent dead", () => written(task) >= before + 3 * "tick 10\n".length);
      expect(markedProcesses(task.marker), "the task's processes, its agent dead").not.toEqual([]);
      const restarted = c.make();
      expect(await restarted.recover(handle, task.spec)).toBe(true);
      handles.push({ driver: restarted, handle });
      // What it printed while no agent ran reaches its stdout file.
      await until("ten ticks in the task's stdout", () => /^tick 10$/m.test(stdout(task)));
      await restarted.stop(handle, 10_000);
      expect(await restarted.wait(handle)).toEqual(clean);
    });
  });
}
