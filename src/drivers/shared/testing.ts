/**
 * Test support for the drivers (not used by Ruche itself): the shape of a contract case,
 * throwaway task dirs, a stand-in agent to kill -9, and a way to find every process a
 * test task left behind.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Driver, TaskHandle, TaskSpec } from "../driver.js";

/** One driver's entry in `driver.contract.test.ts`, exported by its `contract.case.ts` as `contractCase`. */
export interface DriverContractCase {
  name: string;
  make(): Driver;
  /** The task config that runs `cmd` (an argv) with this driver. */
  config(cmd: string[]): Record<string, unknown>;
  /** What the driver needs on the node to be healthy, said when it is not. */
  needs?: string;
  /** Puts in the task's dirs what `config` names there (java: the jar), before the task starts. */
  prepare?(spec: TaskSpec): void;
}

/** The variable that marks every process of a test task, so that what is left of it can be found. */
export const MARKER_VAR = "RUCHE_TEST_TASK";

export interface TestTask {
  spec: TaskSpec;
  /** This task's value of MARKER_VAR. */
  marker: string;
  /** The allocation dir (holds `alloc/`, and the task dir `web/`); removed by `cleanup`. */
  dir: string;
  cleanup(): void;
}

/**
 * A task spec over a fresh allocation dir laid out as the client lays it out: `alloc/`
 * (with `logs/`), and the task dir `web/` with `local/`, `secrets/` and `tmp/`.
 */
export function testTask(config: Record<string, unknown>, overrides: Partial<TaskSpec> = {}): TestTask {
  const dir = mkdtempSync(join(tmpdir(), "ruche-driver-"));
  const allocId = randomUUID();
  const taskDir = join(dir, "web");
  for (const d of ["alloc/logs", "alloc/data", "alloc/tmp", "web/local", "web/secrets", "web/tmp"]) mkdirSync(join(dir, d), { recursive: true });
  const marker = randomUUID();
  const spec: TaskSpec = {
    id: `${allocId}/web`,
    allocId,
    taskName: "web",
    jobId: "contract",
    jobName: "contract",
    parentJobId: "",
    group: "web",
    namespace: "default",
    nodeId: "node-contract",
    nodeName: "contract-node",
    config,
    env: { GREETING: "bonjour", [MARKER_VAR]: marker },
    user: "",
    cpu: 100,
    memoryMB: 64,
    ports: [],
    allocDir: dir,
    taskDir,
    stdoutPath: join(dir, "alloc/logs/web.stdout.0"),
    stderrPath: join(dir, "alloc/logs/web.stderr.0"),
    logLimits: { maxFiles: 10, maxFileBytes: 10 * 1024 * 1024 },
    ...overrides,
  };
  return {
    spec,
    marker,
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The live processes whose environment holds MARKER_VAR=marker: a task's, whatever driver ran it. */
export function markedProcesses(marker: string): number[] {
  const needle = `${MARKER_VAR}=${marker}`;
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, "latin1").split("\0").includes(needle)) pids.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** A file's text, or "" while it does not exist. */
export function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Polls `fn` until it returns something other than undefined or false; fails after `timeoutMs` saying what it waited for. */
export async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    // A promise is always "something": an async check would pass at once, its failure unseen.
    if (v instanceof Promise) throw new Error(`until(${JSON.stringify(what)}): the check returned a promise; it must answer synchronously`);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const RUNNER = fileURLToPath(new URL("./agent.runner.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/**
 * Starts a task from another agent process (agent.runner.ts, with the driver of the contract
 * case at `caseModule`), then kills that process with SIGKILL, as an agent dies. Resolves
 * with the handle it printed, once it is dead.
 */
export function startInDoomedAgent(caseModule: URL, spec: TaskSpec): Promise<TaskHandle> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", RUNNER, caseModule.href, JSON.stringify(spec)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let handle: TaskHandle | undefined;
    const giveUp = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (handle === undefined && out.includes("\n")) {
        handle = JSON.parse(out.slice(0, out.indexOf("\n"))) as TaskHandle;
        child.kill("SIGKILL");
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      clearTimeout(giveUp);
      if (handle !== undefined && signal === "SIGKILL") resolve(handle);
      else reject(new Error(`the stand-in agent ended (${signal ?? "no signal"}) without a handle: ${err.trim()}`));
    });
  });
}
