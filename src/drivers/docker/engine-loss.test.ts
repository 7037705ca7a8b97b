/**
 * The docker driver while its engine is away, against the real engine behind a socket proxy
 * (`EngineProxy`) that the test stops (the engine is gone: connections cut, new ones refused)
 * or freezes (the engine hangs: connections stay open and silent). The driver's health
 * follows the engine at each fingerprint; when the engine answers again, a container that
 * died meanwhile is reported exited, and one that lives on is still waited for.
 *
 * Each test runs under its own job id; its containers are removed afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sleep } from "../../structs/index.js";
import type { ExitResult, TaskHandle, TaskSpec } from "../driver.js";
import { EngineProxy } from "./engine-proxy.js";
import { DockerDriver } from "./index.js";
import { dockerTestBed } from "./testing.js";

const bed = dockerTestBed("ruche-engine-loss");

let dir = "";
let proxy: EngineProxy | undefined;
let driver: DockerDriver;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-engine-loss-"));
  const p = new EngineProxy(join(dir, "docker.sock"));
  proxy = p;
  await p.start();
  driver = bed.driver({ endpoint: { kind: "unix", socketPath: p.socketPath }, retryMs: 100, fingerprintTimeoutMs: 1000 });
});

afterEach(async () => {
  try {
    await proxy?.close();
  } finally {
    proxy = undefined;
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  }
});

function theProxy(): EngineProxy {
  if (proxy === undefined) throw new Error("no proxy: beforeEach failed");
  return proxy;
}

function taskSpec(taskName: string): TaskSpec {
  return bed.spec(taskName, { command: "sleep", args: ["3600"] }, { memoryMB: 32, logLimits: { maxFiles: 2, maxFileBytes: 1024 * 1024 } });
}

/** A wait in flight, whose outcome can be read without awaiting it. */
function watch(h: TaskHandle): { result: ExitResult | undefined; done: Promise<ExitResult> } {
  const w: { result: ExitResult | undefined; done: Promise<ExitResult> } = { result: undefined, done: driver.wait(h) };
  w.done.then((r) => (w.result = r), () => undefined);
  return w;
}

async function eventually<T>(what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(50);
  }
}

function containerId(h: TaskHandle): string {
  return String(h.state.containerId);
}

/**
 * Two containers run; the engine goes away (`outage`); one container dies meanwhile (killed
 * through the real socket); the engine comes back. The dead one's wait reports its exit,
 * the live one's goes on and reports its exit later.
 */
async function outageScenario(outage: () => Promise<void>): Promise<void> {
  const dies = await driver.start(taskSpec("dies"));
  const lives = await driver.start(taskSpec("lives"));
  const dead = watch(dies);
  const alive = watch(lives);
  expect(await driver.fingerprint()).toMatchObject({ detected: true, healthy: true });

  await outage();
  const down = await driver.fingerprint();
  expect(down).toMatchObject({ detected: true, healthy: false, attributes: {} });
  expect(down.description).toContain(`unix://${theProxy().socketPath}`);

  await bed.docker.getContainer(containerId(dies)).kill({ signal: "SIGKILL" });
  await theProxy().start();
  expect(await driver.fingerprint()).toMatchObject({ detected: true, healthy: true });

  const exit = await eventually("the dead container's exit to be reported", () => dead.result);
  expect(exit.exitCode).toBe(137);
  expect(exit.err).toBeUndefined();
  // Seen when the dead one's exit was: the live one is still waited for, and runs.
  expect(alive.result).toBeUndefined();
  expect((await bed.docker.getContainer(containerId(lives)).inspect()).State.Running).toBe(true);

  // Its wait still works: an exit now is reported.
  await bed.docker.getContainer(containerId(lives)).kill({ signal: "SIGKILL" });
  expect((await eventually("the live container's exit, later", () => alive.result)).exitCode).toBe(137);
}

describe("the engine goes away", () => {
  it("cut connections: unhealthy while away; back, a container that died is reported exited, a live one waited for", async () => {
    await outageScenario(() => theProxy().stop());
  }, 60_000);

  it("hung connections: the same, once a fingerprint finds the engine back", async () => {
    await outageScenario(() => theProxy().freeze());
  }, 60_000);

  it("an engine never seen is undetected, not unhealthy", async () => {
    await theProxy().stop();
    const fresh = new DockerDriver({ endpoint: { kind: "unix", socketPath: theProxy().socketPath }, fingerprintTimeoutMs: 1000 });
    expect(await fresh.fingerprint()).toMatchObject({ detected: false, healthy: false });
    await fresh.close();
  });
});
