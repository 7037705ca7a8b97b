/**
 * raw_exec is off unless the agent turns it on (`-dev`, `-raw-exec`, `plugin "raw_exec" {
 * config { enabled = true } }`), as Nomad ships it: a node without it says "disabled" and
 * how to turn it on, the scheduler places no raw_exec task there ("missing drivers"), and a
 * task that reached it anyway is refused. A real server in this process and the real driver.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { allDrivers, RawExecDriver } from "../drivers/index.js";
import { serverOnMemory, until } from "../server/testing.js";
import { describeFailure, mock } from "../structs/index.js";
import { Client } from "./client.js";
import { testClientConfig } from "./testing.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const DISABLED = 'disabled: tasks would run as the agent\'s user with no isolation; enable it with plugin "raw_exec" { config { enabled = true } } in the agent config (or -raw-exec)';

describe("raw_exec", () => {
  it("is off in an agent's drivers unless asked for", async () => {
    const offered = async (drivers: ReturnType<typeof allDrivers>): Promise<unknown> => (await drivers.find((d) => d.name === "raw_exec")?.fingerprint())?.description;
    expect(await offered(allDrivers())).toBe(DISABLED);
    expect(await offered(allDrivers({ rawExec: true }))).toMatch(/^Healthy/);
  });

  it("off: the node says so, no raw_exec task is placed on it, and one sent anyway is refused", async () => {
    const { store, server } = await serverOnMemory();
    const dataDir = await mkdtemp(join(tmpdir(), "ruche-raw-exec-off-"));
    const driver = new RawExecDriver({ enabled: false });
    const client = new Client(inProcessTransport(server), testClientConfig(dataDir, [driver]));
    await client.start();
    cleanup.push(async () => {
      await client.stop({ stopTasks: true });
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
    const node = await until("the node registered", () => store.node(client.nodeId) ?? undefined);
    expect(node.Drivers.raw_exec).toEqual({ Detected: false, Healthy: false, HealthDescription: DISABLED, Attributes: {} });
    expect(node.Attributes["driver.raw_exec"]).toBeUndefined();

    await server.registerJob(mock.job({ id: "shell", count: 1, cpu: 100, memory: 64, driver: "raw_exec" }));
    const refused = await until("the evaluation to fail placing the job", () => store.evalsByJob("default", "shell").find((e) => e.Status === "complete" && Object.keys(e.FailedTGAllocs).length > 0));
    const metric = Object.values(refused.FailedTGAllocs)[0];
    expect(metric === undefined ? "" : describeFailure(metric)).toBe("1 node missing drivers");
    expect(store.allocsByJob("default", "shell")).toEqual([]);

    const spec = { id: "t", name: "t", config: { command: "/bin/true" } } as unknown as Parameters<RawExecDriver["start"]>[0];
    await expect(driver.start(spec)).rejects.toThrow(`raw_exec is ${DISABLED}`);
  });
});
