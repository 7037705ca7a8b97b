/**
 * A node agent cut off from the servers (a network partition, or a process paused with
 * SIGSTOP) long enough for its node to be disconnected: its allocations are `unknown` on
 * the servers although nothing changed here. Once it can reach them again it reports their
 * real state, and they run on without a restart. A real server in this process, the mock
 * driver (the client's logic is under test).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { MockDriver } from "../drivers/mock/mock-driver.js";
import { serverOnMemory, until } from "../server/testing.js";
import { mock, RucheError, ErrorCode } from "../structs/index.js";
import { Client } from "./client.js";
import { testClientConfig } from "./testing.js";
import type { ClientTransport } from "./transport.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The in-process transport behind a switch: while cut, every call fails as an unreachable server does. */
function partitionable(inner: ClientTransport): { transport: ClientTransport; cut: { on: boolean } } {
  const cut = { on: false };
  const gate = <T>(f: () => Promise<T>): Promise<T> => (cut.on ? Promise.reject(new RucheError(ErrorCode.Unavailable, "connect ECONNREFUSED (partitioned)")) : f());
  return {
    cut,
    transport: {
      register: (n) => gate(() => inner.register(n)),
      heartbeat: (id, s) => gate(() => inner.heartbeat(id, s)),
      allocations: (id, s, i, w, sig) => gate(() => inner.allocations(id, s, i, w, sig)),
      updateAllocs: (id, s, u) => gate(() => inner.updateAllocs(id, s, u)),
    },
  };
}

describe("a client cut off from the servers past its heartbeats", () => {
  it("reports its allocations' real state when it reaches them again, though nothing changed here; the task is not restarted", async () => {
    const { store, server } = await serverOnMemory({ heartbeat: { minTTL: 300, grace: 200 } });
    const dataDir = await mkdtemp(join(tmpdir(), "ruche-reconnect-"));
    const driver = new MockDriver();
    const { transport, cut } = partitionable(inProcessTransport(server));
    const client = new Client(transport, testClientConfig(dataDir, [driver]));
    await client.start();
    cleanup.push(async () => {
      cut.on = false;
      await client.stop({ stopTasks: true });
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    await server.registerJob(mock.job({ id: "app", count: 1, cpu: 100, memory: 64 }));
    const a = await until("the allocation running", () => store.allocsByJob("default", "app").find((x) => x.ClientStatus === "running"));

    cut.on = true;
    await until("the node disconnected and the allocation unknown", () => store.node(client.nodeId)?.Status === "disconnected" && store.alloc(a.ID)?.ClientStatus === "unknown");
    cut.on = false;

    const back = await until("the allocation running again", () => {
      const x = store.alloc(a.ID);
      return x?.ClientStatus === "running" && x.AllocStates?.at(-1)?.Value === "running" ? x : undefined;
    });
    expect(back.DesiredStatus).toBe("run");
    expect(back.AllocStates?.map((s) => s.Value)).toEqual(["unknown", "running"]);
    expect(store.node(client.nodeId)?.Status).toBe("ready");
    expect(back.TaskStates.web).toMatchObject({ State: "running", Restarts: 0 });
    expect(back.TaskStates.web?.Events.filter((e) => e.Type === "Started")).toHaveLength(1);
  });
});
