/**
 * A node agent's allocation reports go one at a time. When a report is held up at a server
 * that then fails (a leader killed while it forwarded the write), the report is sent again;
 * a newer one made meanwhile must not have gone beside it and landed first, or the older
 * status, sent again, would put the allocation back (a running allocation seen pending
 * after a leader's failover). A real server in this process, the mock driver.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { MockDriver } from "../drivers/mock/mock-driver.js";
import { serverOnMemory, until } from "../server/testing.js";
import { ErrorCode, mock, RucheError } from "../structs/index.js";
import { Client } from "./client.js";
import { testClientConfig } from "./testing.js";
import type { ClientTransport } from "./transport.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe("a client's allocation reports", () => {
  it("go one at a time: a report held up and sent again never lands after a newer one", async () => {
    const { store, server } = await serverOnMemory();
    const dataDir = await mkdtemp(join(tmpdir(), "ruche-report-order-"));
    const inner = inProcessTransport(server);
    // The first report is held until released, then fails as a forward to a leader that died
    // does (it may have been made); the others reach the server, their statuses recorded in order.
    let release: (() => void) | undefined;
    const held = new Promise<void>((r) => (release = r));
    let first = true;
    let failed = false;
    const received: string[] = [];
    const transport: ClientTransport = {
      ...inner,
      updateAllocs: async (id, secret, updates) => {
        if (first) {
          first = false;
          await held;
          failed = true;
          throw new RucheError(ErrorCode.Unavailable, "the leader did not answer: the write may have been made");
        }
        received.push(...updates.map((u) => u.ClientStatus));
        return inner.updateAllocs(id, secret, updates);
      },
    };
    const client = new Client(transport, testClientConfig(dataDir, [new MockDriver()]));
    await client.start();
    let stopped = false;
    cleanup.push(async () => {
      release?.();
      if (!stopped) await client.stop({ stopTasks: true });
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    const job = mock.job({ id: "batch", type: "batch" });
    const task = job.TaskGroups[0]?.Tasks[0];
    if (task === undefined) throw new Error("the mock job has no task");
    task.Config = { run_for: "300ms" };
    await server.registerJob(job);
    const alloc = await until("the allocation placed", () => store.allocsByJob("default", "batch")[0]);
    // Its task has run and ended here while the first report (running) is held.
    await until("the task to end on the node", () => client.runner(alloc.ID)?.clientStatus === "complete");
    // Time for the report of the new status to leave, were reports sent side by side (the
    // outcome asserted below holds however long this is; it gives the fault a chance).
    await new Promise((r) => setTimeout(r, 200));
    release?.();
    await until("the held report to fail", () => (failed ? true : undefined));
    // Stopping sends what is left to send, after the reports under way.
    await client.stop({ stopTasks: false });
    stopped = true;

    expect(received.at(-1), `the statuses the server took, in order: ${received.join(", ")}`).toBe("complete");
    expect(store.alloc(alloc.ID)?.ClientStatus).toBe("complete");
  });
});
