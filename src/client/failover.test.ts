/**
 * A client given three servers: one never answers (nothing listens), the one it talks to
 * goes away, then the last one too. Its heartbeats and its allocation watch move to the
 * server still there, so its node stays ready; with no server left its task runs on, and
 * when a server is back it reports the task running, never restarted. Real HTTP on
 * 127.0.0.1: two API listeners over one in-process server stand for two servers sharing
 * their state (as servers on etcd do), the mock driver runs the task (the client's logic
 * is under test).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { MockDriver } from "../drivers/mock/mock-driver.js";
import { serverOnMemory, until } from "../server/testing.js";
import { mock, silentLogger } from "../structs/index.js";
import { Client } from "./client.js";
import { testClientConfig } from "./testing.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** An address where nothing listens: a port taken, then given back. */
async function closedAddress(): Promise<string> {
  const s = createServer();
  await new Promise<void>((done) => s.listen(0, "127.0.0.1", done));
  const port = (s.address() as AddressInfo).port;
  await new Promise((done) => s.close(done));
  return `127.0.0.1:${port}`;
}

describe("a client with three servers", () => {
  it("follows the server still there, keeps its task running while none answers, and reports it once one is back", async () => {
    const { store, server } = await serverOnMemory({ heartbeat: { minTTL: 1000, grace: 1000 } });
    const beats = { n: 0 };
    const heartbeat = server.heartbeat.bind(server);
    server.heartbeat = (id, secret) => {
      beats.n++;
      return heartbeat(id, secret);
    };
    const listen = (port = 0): Promise<RunningHttp> => startApi(server, store, { host: "127.0.0.1", port, log: silentLogger });
    const apis = new Set<RunningHttp>();
    const first = await listen();
    const second = await listen();
    apis.add(first).add(second);
    const dead = await closedAddress();
    const api = new ApiClient([dead, first.address, second.address]);
    const dataDir = await mkdtemp(join(tmpdir(), "ruche-failover-"));
    const client = new Client(httpTransport(api), testClientConfig(dataDir, [new MockDriver()]));
    await client.start();
    cleanup.push(async () => {
      await client.stop({ stopTasks: true });
      for (const a of apis) await a.close();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    await server.registerJob(mock.job({ id: "app", count: 1, cpu: 100, memory: 64 }));
    const a = await until("the allocation running", () => store.allocsByJob("default", "app").find((x) => x.ClientStatus === "running"));
    expect(api.address).toBe(`http://${first.address}`);

    // The server it talks to goes away: heartbeats go on through the other one.
    await first.close();
    apis.delete(first);
    await until("the client on the second server", () => api.address === `http://${second.address}`);
    const b0 = beats.n;
    await until("three heartbeats through the second server", () => beats.n >= b0 + 3);
    expect(store.node(client.nodeId)?.Status).toBe("ready");
    expect(store.alloc(a.ID)?.AllocStates?.map((s) => s.Value) ?? []).not.toContain("unknown");

    // No server answers: the servers call the node disconnected, the task runs on here.
    await second.close();
    apis.delete(second);
    await until("the node disconnected and the allocation unknown", () => store.node(client.nodeId)?.Status === "disconnected" && store.alloc(a.ID)?.ClientStatus === "unknown");

    // The first server is back on its address.
    apis.add(await listen(Number(first.address.split(":")[1])));
    const back = await until("the allocation running again", () => {
      const x = store.alloc(a.ID);
      return x?.ClientStatus === "running" && x.AllocStates?.at(-1)?.Value === "running" ? x : undefined;
    });
    expect(store.node(client.nodeId)?.Status).toBe("ready");
    expect(back.TaskStates.web).toMatchObject({ State: "running", Restarts: 0 });
    expect(back.TaskStates.web?.Events.filter((e) => e.Type === "Started")).toHaveLength(1);
  });
});
