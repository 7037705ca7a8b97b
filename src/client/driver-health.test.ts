/**
 * A driver's health followed while the agent runs: the client fingerprints a driver again
 * every `fingerprintPeriodMs` and sends the servers its node when the driver's health
 * changed, so that the scheduler stops placing the driver's tasks there, saying why, and
 * places them again once the driver is healthy. A real server in this process; the driver
 * is the mock driver with a health the test turns off and on (what the Docker engine going
 * away does to the docker driver is tested with the real engine in
 * drivers/docker/engine-loss.test.ts and test/e2e/docker-engine-loss.test.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import type { DriverFingerprint } from "../drivers/index.js";
import { MockDriver } from "../drivers/mock/mock-driver.js";
import { serverOnMemory, until } from "../server/testing.js";
import { describeFailure, mock, type Allocation } from "../structs/index.js";
import { Client } from "./client.js";
import { testClientConfig } from "./testing.js";

/** The mock driver, with a health the test sets; the client asks for it every 50 ms. */
class FlakyDriver extends MockDriver {
  readonly fingerprintPeriodMs = 50;
  down = "";
  override async fingerprint(): Promise<DriverFingerprint> {
    const f = await super.fingerprint();
    return this.down === "" ? f : { detected: true, healthy: false, description: this.down, attributes: {} };
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("a driver's health while the agent runs", () => {
  it("unhealthy: the node says so, nothing more is placed there (missing drivers), running work stays; healthy again: placed", async () => {
    const { store, server } = await serverOnMemory();
    const dataDir = await mkdtemp(join(tmpdir(), "ruche-driver-health-"));
    const driver = new FlakyDriver();
    const client = new Client(inProcessTransport(server), testClientConfig(dataDir, [driver]));
    await client.start();
    cleanup.push(async () => {
      await client.stop({ stopTasks: true });
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
    const running = (id: string): Allocation | undefined => store.allocsByJob("default", id).find((a) => a.ClientStatus === "running");

    await server.registerJob(mock.job({ id: "before", count: 1, cpu: 100, memory: 64 }));
    const before = await until("the first job running", () => running("before"));

    driver.down = "the engine does not answer";
    const sick = await until("the node's driver unhealthy at the servers", () => {
      const n = store.node(client.nodeId);
      return n?.Drivers.mock?.Healthy === false ? n : undefined;
    });
    expect(sick.Drivers.mock).toEqual({ Detected: true, Healthy: false, HealthDescription: "the engine does not answer", Attributes: {} });
    // Detected, not healthy: Nomad keeps the driver's attribute; the health is in Drivers.
    expect(sick.Attributes["driver.mock"]).toBe("1");
    expect(sick.Status).toBe("ready");

    await server.registerJob(mock.job({ id: "during", count: 1, cpu: 100, memory: 64 }));
    const refused = await until("the evaluation of the new job to fail placing it", () => store.evalsByJob("default", "during").find((e) => e.Status === "complete" && Object.keys(e.FailedTGAllocs).length > 0));
    const metric = Object.values(refused.FailedTGAllocs)[0];
    expect(metric === undefined ? "" : describeFailure(metric)).toBe("1 node missing drivers");
    expect(store.allocsByJob("default", "during")).toEqual([]);
    // What ran stays: the same allocation, still running.
    expect(store.allocsByJob("default", "before").map((a) => [a.ID, a.ClientStatus, a.DesiredStatus])).toEqual([[before.ID, "running", "run"]]);

    driver.down = "";
    await until("the node's driver healthy again at the servers", () => store.node(client.nodeId)?.Drivers.mock?.Healthy === true);
    await until("the blocked job placed and running", () => running("during"));
  });
});
