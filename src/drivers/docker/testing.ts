/**
 * Test support for the docker driver's tests against the real engine (not used by Ruche
 * itself): each test gets its own job id, its drivers are closed and its containers removed
 * after it (the test fails if one is still there), and when no engine answers (or the test
 * image is missing) every test fails saying so; nothing is skipped.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect } from "vitest";
import type { TaskSpec } from "../driver.js";
import { TEST_IMAGE } from "./contract.case.js";
import { DockerDriver, type DockerDriverOptions } from "./docker-driver.js";
import { findContainersByLabels } from "./find.js";
import { Label } from "./container.js";

export interface DockerTestBed {
  /** The engine, on its own socket (DOCKER_HOST or /var/run/docker.sock). */
  docker: DockerDriver["docker"];
  /** This test's job id, on every task of `spec` and so on their containers' labels. */
  jobId(): string;
  /** A driver closed after the test (as an agent stopping would). */
  driver(opts?: DockerDriverOptions): DockerDriver;
  /** A task of this test's job in fresh directories laid out as the client lays them out. */
  spec(taskName: string, config: Record<string, unknown>, over?: Partial<TaskSpec>): TaskSpec;
}

/** Registers the hooks of a docker test file; call at its top level. */
export function dockerTestBed(prefix: string): DockerTestBed {
  const probe = new DockerDriver();
  let jobId = "";
  let drivers: DockerDriver[] = [];
  let dirs: string[] = [];
  let engineReady: Promise<void> | undefined;
  const checkEngine = async (): Promise<void> => {
    const fp = await probe.fingerprint();
    if (!fp.healthy) throw new Error(`No Docker engine answers, so the docker driver cannot be tested: ${fp.description}. Start one with: sh scripts/test-deps.sh`);
    await probe.docker
      .getImage(TEST_IMAGE)
      .inspect()
      .catch(() => {
        throw new Error(`The test image ${TEST_IMAGE} is not on this engine; build it with: sh scripts/test-deps.sh`);
      });
  };

  beforeEach(async () => {
    jobId = `${prefix}-${randomBytes(4).toString("hex")}`;
    // Checked before every test rather than once in beforeAll, whose failure reads as "skipped".
    engineReady ??= checkEngine();
    await engineReady;
  });

  afterEach(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    drivers = [];
    try {
      // Without an engine the test failed saying so already: nothing to remove.
      if (await engineReady?.then(() => true, () => false)) {
        const mine = { [Label.JobId]: jobId };
        for (const c of await findContainersByLabels(probe.docker, mine)) await probe.docker.getContainer(c.id).remove({ force: true, v: true });
        expect(await findContainersByLabels(probe.docker, mine)).toEqual([]);
      }
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      dirs = [];
    }
  });

  return {
    docker: probe.docker,
    jobId: () => jobId,
    driver(opts = {}) {
      const d = new DockerDriver({ retryMs: 200, ...opts });
      drivers.push(d);
      return d;
    },
    spec(taskName, config, over = {}) {
      const allocId = randomUUID();
      const allocDir = mkdtempSync(join(tmpdir(), `${prefix}-`));
      dirs.push(allocDir);
      const taskDir = join(allocDir, taskName);
      for (const d of [join(allocDir, "alloc", "logs"), join(taskDir, "local"), join(taskDir, "secrets")]) mkdirSync(d, { recursive: true });
      return {
        id: `${allocId}/${taskName}`,
        allocId,
        taskName,
        jobId,
        jobName: jobId,
        parentJobId: "",
        group: "g",
        namespace: "default",
        nodeId: "node-docker-test",
        nodeName: "docker-test",
        config: { image: TEST_IMAGE, ...config },
        env: {},
        user: "",
        cpu: 100,
        memoryMB: 64,
        ports: [],
        allocDir,
        taskDir,
        stdoutPath: join(allocDir, "alloc", "logs", `${taskName}.stdout.0`),
        stderrPath: join(allocDir, "alloc", "logs", `${taskName}.stderr.0`),
        logLimits: { maxFiles: 10, maxFileBytes: 10 * 1024 * 1024 },
        ...over,
      };
    },
  };
}
