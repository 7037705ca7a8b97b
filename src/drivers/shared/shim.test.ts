/**
 * The shim, through the two drivers that run tasks under it (real processes; exec in real
 * namespaces and cgroups): signals reach the task with their default effect and are
 * recorded, logs are written by the task itself while no agent runs, a task runs as its
 * user, and what goes wrong around a task (a killed shim, a reused pid, an agent shutting
 * down) is reported rather than guessed.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Driver, TaskHandle } from "../driver.js";
import { ExecDriver } from "../exec/index.js";
import { RawExecDriver } from "../raw_exec/index.js";
import { launchShim } from "./launch.js";
import { readStat } from "./proc.js";
import { killPid, SIGKILL } from "./signals.js";
import { shimStateOf } from "./task-state.js";
import { markedProcesses, readText, startInDoomedAgent, testTask, until, type TestTask } from "./testing.js";

const DRIVERS = [
  { name: "raw_exec", make: (signal?: AbortSignal) => new RawExecDriver(signal === undefined ? {} : { signal }), module: new URL("../raw_exec/contract.case.ts", import.meta.url) },
  { name: "exec", make: (signal?: AbortSignal) => new ExecDriver(signal === undefined ? {} : { signal }), module: new URL("../exec/contract.case.ts", import.meta.url) },
];

const sh = (script: string): Record<string, unknown> => ({ command: "/bin/sh", args: ["-c", script] });

/** The bytes in a stream's files (`<dir>/<prefix>N`) now. */
function streamBytes(dir: string, prefix: string): number {
  let total = 0;
  for (const f of readdirSync(dir)) {
    try {
      if (f.startsWith(prefix)) total += statSync(join(dir, f)).size;
    } catch {
      // Removed between the listing and the stat.
    }
  }
  return total;
}

describe("starting a task under the shim", () => {
  it("fails with what the shim said when it cannot start the task, and leaves nothing running", async () => {
    const task = testTask(sh("echo never"));
    try {
      const failed = launchShim(task.spec, { driver: "raw_exec", command: { command: "/bin/echo", args: ["never"] }, prefix: [], shimOptions: ["--bogus"] });
      await expect(failed).rejects.toThrow(/did not start.*ruche shim: unknown option --bogus/);
      expect(readText(task.spec.stdoutPath)).toBe("");
      expect(markedProcesses(task.marker)).toEqual([]);
    } finally {
      task.cleanup();
    }
  });
});

for (const d of DRIVERS) {
  describe(`the shim, under ${d.name}`, () => {
    const tasks: TestTask[] = [];
    const handles: { driver: Driver; handle: TaskHandle }[] = [];

    async function start(config: Record<string, unknown>, driver: Driver = d.make(), user = ""): Promise<{ handle: TaskHandle; task: TestTask; driver: Driver }> {
      const task = testTask(config, { user });
      tasks.push(task);
      const handle = await driver.start(task.spec);
      handles.push({ driver, handle });
      return { handle, task, driver };
    }

    afterEach(async () => {
      for (const { driver, handle } of handles.splice(0)) {
        await driver.stop(handle, 1000).catch(() => undefined);
        await driver.destroy(handle);
      }
      const left = tasks.flatMap((t) => markedProcesses(t.marker));
      for (const pid of left) killPid(pid, SIGKILL);
      for (const t of tasks.splice(0)) t.cleanup();
      expect(left, "processes of the test's tasks alive after stop and destroy").toEqual([]);
    });

    // A non-interactive shell starts background jobs with SIGINT and SIGQUIT ignored: the
    // shim must not, or these would not end the task.
    for (const [name, n] of [["SIGINT", 2], ["SIGQUIT", 3], ["SIGHUP", 1], ["SIGTERM", 15], ["SIGUSR1", 10]] as const) {
      it(`${name} ends a task that does not handle it, recorded as signal ${n}, exit code ${128 + n}`, async () => {
        const { handle, driver } = await start({ command: "sleep", args: ["30"] });
        await driver.signal(handle, name);
        expect(await driver.wait(handle)).toEqual({ exitCode: 128 + n, signal: n, oomKilled: false });
      });
    }

    it("a stray signal to the shim does not keep it from recording how the task ends", async () => {
      const { handle, task, driver } = await start(sh("trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done"));
      await until("the task to be ready", () => readText(task.spec.stdoutPath).includes("ready"));
      const { shimPid } = shimStateOf(handle)!;
      for (const sig of ["SIGTERM", "SIGHUP", "SIGINT", "SIGUSR1"] as const) process.kill(shimPid, sig);
      // Delivered: none is pending any more, and the shim is still there to record the exit.
      await until("the signals to reach the shim", () => {
        const status = readText(`/proc/${shimPid}/status`);
        return /^SigPnd:\s*0+$/m.test(status) && /^ShdPnd:\s*0+$/m.test(status);
      });
      expect(readStat(shimPid)?.state, "the shim after the stray signals").toMatch(/^[RSD]$/);
      await driver.stop(handle, 5000);
      expect(await driver.wait(handle)).toEqual({ exitCode: 7, signal: 0, oomKilled: false });
    });

    it("the task's output is written by its log writers, not the agent: it grows while no agent runs", async () => {
      const task = testTask(sh(`trap 'exit 0' TERM; i=0; while :; do i=$((i + 1)); echo "tick $i"; sleep 0.1; done`));
      tasks.push(task);
      const handle = await startInDoomedAgent(d.module, task.spec);
      const ticks = (): number => readText(task.spec.stdoutPath).split("\n").filter((l) => l.startsWith("tick")).length;
      const before = ticks();
      await until("four more ticks in the task's stdout, its agent dead", () => ticks() >= before + 4);
      const restarted = d.make();
      expect(await restarted.recover(handle, task.spec)).toBe(true);
      handles.push({ driver: restarted, handle });
    });

    it("rotates the task's output by size as it is written: never more than max_files × max_file_size, nothing lost", async () => {
      const limits = { maxFiles: 2, maxFileBytes: 1024 * 1024 };
      // 64 MiB as fast as the task can write it, then a last line.
      const task = testTask(sh("yes 0123456789abcdef | head -c 67108864; echo done"), { logLimits: limits });
      tasks.push(task);
      const driver = d.make();
      const handle = await driver.start(task.spec);
      handles.push({ driver, handle });
      const logs = dirname(task.spec.stdoutPath);
      const exited = driver.wait(handle);
      let over = false;
      void exited.then(() => (over = true));
      let peak = 0;
      let samples = 0;
      while (!over) {
        peak = Math.max(peak, streamBytes(logs, "web.stdout."));
        samples++;
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(await exited).toMatchObject({ exitCode: 0 });
      expect(samples).toBeGreaterThan(10);
      expect(peak).toBeGreaterThan(limits.maxFileBytes);
      expect(peak).toBeLessThanOrEqual(limits.maxFiles * limits.maxFileBytes);
      // 64 files of 1 MiB (.0 to .63), then "done\n" in .64: the two newest are kept.
      expect(readdirSync(logs).filter((f) => f.startsWith("web.stdout.")).sort()).toEqual(["web.stdout.63", "web.stdout.64"]);
      expect(readText(join(logs, "web.stdout.63")).length).toBe(limits.maxFileBytes);
      expect(readText(join(logs, "web.stdout.64"))).toBe("done\n");
    });

    it("a command that cannot be found exits 127, and stderr says why", async () => {
      const { handle, task, driver } = await start({ command: "ruche-no-such-command" });
      expect(await driver.wait(handle)).toEqual({ exitCode: 127, signal: 0, oomKilled: false });
      expect(readText(task.spec.stderrPath)).toContain("ruche-no-such-command");
    });

    it("runs the task, and commands exec'd in it, as the task's user", async () => {
      const { handle, task, driver } = await start(sh("id -u; id -g; exec sleep 30"), d.make(), "nobody");
      await until("the task's ids", () => readText(task.spec.stdoutPath).split("\n").length > 2);
      expect(readText(task.spec.stdoutPath)).toBe("65534\n65534\n");
      const r = await driver.exec(handle, ["id", "-u"], { timeoutMs: 10_000 });
      expect(r.stdout.toString()).toBe("65534\n");
    });

    it("exec into a task that has ended is refused", async () => {
      const { handle, driver } = await start(sh("exit 0"));
      await driver.wait(handle);
      await expect(driver.exec(handle, ["true"], { timeoutMs: 1000 })).rejects.toThrow(/not running/);
    });

    it("refuses to start a task whose user does not exist, naming it", async () => {
      const task = testTask(sh("true"), { user: "ruche-no-such-user" });
      tasks.push(task);
      await expect(d.make().start(task.spec)).rejects.toThrow(/ruche-no-such-user/);
    });

    it("when the shim is killed, the task's exit status is reported lost, not made up", async () => {
      const { handle, driver } = await start(sh("trap 'exit 0' TERM; while :; do sleep 0.1; done"));
      const state = shimStateOf(handle)!;
      killPid(state.shimPid, SIGKILL);
      await until("the shim to die", () => readStat(state.shimPid)?.state === undefined || readStat(state.shimPid)?.state === "Z");
      await driver.stop(handle, 2000);
      const exit = await driver.wait(handle);
      expect(exit.exitCode).toBe(-1);
      expect(exit.err).toMatch(/shim/);
    });

    it("what a task leaves running in its group when it exits is killed by destroy", async () => {
      const { handle, task, driver } = await start(sh("sleep 300 & echo started"));
      expect(await driver.wait(handle)).toEqual({ exitCode: 0, signal: 0, oomKilled: false });
      if (d.name === "raw_exec") expect(markedProcesses(task.marker), "the orphaned sleep").not.toEqual([]);
      await driver.destroy(handle);
      handles.length = 0;
      await until("nothing left of the task", () => markedProcesses(task.marker).length === 0);
    });

    it("a handle whose pid now names another process is not recovered, and stop leaves that process alone", async () => {
      const { handle, task, driver } = await start(sh("exit 0"));
      await driver.wait(handle);
      const stranger = spawn("sleep", ["30"], { stdio: "ignore", detached: true });
      try {
        const pid = stranger.pid!;
        const startTime = (await until("the stranger's /proc entry", () => readStat(pid))).startTime;
        const reused: TaskHandle = { ...handle, state: { ...handle.state, pid, pgid: pid, startTime: startTime + 1, shimPid: pid, shimStartTime: startTime + 1 } };
        const restarted = d.make();
        await driver.destroy(handle);
        handles.length = 0;
        expect(await restarted.recover(reused, task.spec)).toBe(false);
        await restarted.stop(reused, 500);
        expect(readStat(pid)?.state).not.toBe("Z");
        expect(readStat(pid)?.startTime).toBe(startTime);
      } finally {
        stranger.kill("SIGKILL");
      }
    });

    it("stops watching when the agent shuts down: wait rejects, the task runs on", async () => {
      const ac = new AbortController();
      const { handle, task } = await start(sh("trap 'exit 0' TERM; while :; do sleep 0.1; done"), d.make(ac.signal));
      const waiting = d.make(ac.signal).wait(handle);
      ac.abort(new Error("agent shutting down"));
      await expect(waiting).rejects.toThrow("agent shutting down");
      expect(markedProcesses(task.marker)).not.toEqual([]);
      // The next agent takes it from there (the afterEach stops it through a fresh driver).
      handles.length = 0;
      const next = d.make();
      expect(await next.recover(handle, task.spec)).toBe(true);
      handles.push({ driver: next, handle });
    });
  });
}
