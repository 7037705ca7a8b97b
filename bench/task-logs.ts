/**
 * Task output benchmark: a task writes as fast as it can (`yes | head -c N`) with the log
 * budget of the report that found the copy-truncate rotation wanting, `logs { max_files = 2,
 * max_file_size = 10 }` (20 MiB), through the raw_exec driver (its log writers) and the
 * docker driver (its log follower). The log dir's size is sampled every 2 ms while the task
 * writes; the peak must stay within 20 MiB. Prints JSON: MiB written by the task and MiB that
 * reached its files (docker: what the engine's own log rotated away before the follower read
 * it is lost), seconds, MiB/s, the peak and the bound.
 *
 *   npm run bench:logs                     1 GiB through raw_exec, 256 MiB through docker
 *   npm run bench:logs -- --mib 256        another size for raw_exec (docker gets a quarter)
 *
 * Docker needs the engine and image of scripts/test-deps.sh.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerDriver, RawExecDriver, type Driver, type TaskSpec } from "../src/drivers/index.js";

const mibArg = process.argv.indexOf("--mib");
const MIB = mibArg >= 0 ? Number(process.argv[mibArg + 1]) : 1024;
const LIMITS = { maxFiles: 2, maxFileBytes: 10 * 1024 * 1024 };

function spec(dir: string, config: Record<string, unknown>): TaskSpec {
  const allocId = randomUUID();
  for (const d of ["alloc/logs", "t/local", "t/secrets", "t/tmp"]) mkdirSync(join(dir, d), { recursive: true });
  return {
    id: `${allocId}/t`,
    allocId,
    taskName: "t",
    jobId: "bench-logs",
    jobName: "bench-logs",
    parentJobId: "",
    group: "g",
    namespace: "default",
    nodeId: "bench-node",
    nodeName: "bench",
    config,
    env: {},
    user: "",
    cpu: 100,
    memoryMB: 256,
    ports: [],
    allocDir: dir,
    taskDir: join(dir, "t"),
    stdoutPath: join(dir, "alloc/logs/t.stdout.0"),
    stderrPath: join(dir, "alloc/logs/t.stderr.0"),
    logLimits: LIMITS,
  };
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir)) {
    try {
      total += statSync(join(dir, f)).size;
    } catch {
      // Removed between the listing and the stat.
    }
  }
  return total;
}

async function run(name: string, driver: Driver, config: (script: string) => Record<string, unknown>, mib: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "ruche-bench-logs-"));
  try {
    const s = spec(dir, config(`yes 0123456789abcdef0123456789abcdef | head -c ${mib * 1024 * 1024}`));
    const logs = join(dir, "alloc/logs");
    const started = performance.now();
    const handle = await driver.start(s);
    let over = false;
    const exited = driver.wait(handle).finally(() => (over = true));
    let peak = 0;
    while (!over) {
      peak = Math.max(peak, dirBytes(logs));
      await new Promise((r) => setTimeout(r, 2));
    }
    const exit = await exited;
    const seconds = (performance.now() - started) / 1000;
    await driver.destroy(handle);
    const written = readdirSync(logs).filter((f) => f.startsWith("t.stdout.")).map((f) => Number(f.slice("t.stdout.".length)));
    const newest = Math.max(...written);
    // Every file before the newest was filled to max_file_size: what reached the files in all.
    const arrived = newest * LIMITS.maxFileBytes + statSync(join(logs, `t.stdout.${newest}`)).size;
    return {
      driver: name,
      exitCode: exit.exitCode,
      mibWritten: mib,
      mibArrived: Number((arrived / 1024 / 1024).toFixed(1)),
      seconds: Number(seconds.toFixed(2)),
      mibPerSecond: Number((mib / seconds).toFixed(1)),
      peakMiB: Number((peak / 1024 / 1024).toFixed(2)),
      boundMiB: (LIMITS.maxFiles * LIMITS.maxFileBytes) / 1024 / 1024,
      newestFile: `t.stdout.${newest}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [await run("raw_exec", new RawExecDriver(), (script) => ({ command: "/bin/sh", args: ["-c", script] }), MIB)];
const docker = new DockerDriver();
if ((await docker.fingerprint()).healthy) {
  results.push(await run("docker", docker, (script) => ({ image: "ruche-test/busybox:latest", command: "sh", args: ["-c", script] }), Math.max(1, Math.floor(MIB / 4))));
  await docker.close();
} else {
  results.push({ driver: "docker", skipped: "no Docker engine answers" });
}
console.log(JSON.stringify({ bench: "task-logs", logs: { max_files: LIMITS.maxFiles, max_file_size_mb: LIMITS.maxFileBytes / 1024 / 1024 }, results }, null, 2));
