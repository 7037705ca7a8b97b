/**
 * `ruche sim` against a real server in this process (memory store, the HTTP API on port 0
 * of 127.0.0.1), with a second server address where nothing listens: the nodes register,
 * run a job's allocations, print their status, and stop when told.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { serverOnMemory, until } from "../server/testing.js";
import { mock, silentLogger } from "../structs/index.js";
import type { Server } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import { runSim } from "./commands/sim.js";
import { runCli, type IO } from "./index.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;
let dead = "";

beforeAll(async () => {
  ({ store, server } = await serverOnMemory());
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
  const s = createServer();
  await new Promise<void>((done) => s.listen(0, "127.0.0.1", done));
  dead = `127.0.0.1:${(s.address() as AddressInfo).port}`;
  await new Promise((done) => s.close(done));
});

afterAll(async () => {
  await http.close();
  await server.stop();
});

function io(): IO & { text: () => string } {
  let out = "";
  return {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      out += t;
    },
    env: {},
    cwd: process.cwd(),
    text: () => out,
  };
}

describe("ruche sim", () => {
  it("runs nodes that register, run a job's allocations, report their status, and stop on a signal", async () => {
    const o = io();
    const stop = new AbortController();
    const running = runSim({ servers: [dead, http.address], nodes: 20, datacenter: "dc1", namePrefix: "fleet", connections: 4 }, o, stop.signal, 200);
    await until("20 nodes ready", () => store.nodes().filter((n) => n.Name.startsWith("fleet-") && n.Status === "ready").length === 20, 20_000);
    await server.registerJob(mock.job({ id: "many", count: 40, cpu: 100, memory: 64 }));
    await until("40 allocations running", () => store.allocsByJob("default", "many").filter((a) => a.ClientStatus === "running").length === 40, 20_000);
    await until("the status line", () => o.text().includes("20 nodes registered, 20 ready, 40 allocations running"), 20_000);
    stop.abort();
    await running;
    expect(o.text()).toContain("Caught signal: stopping the simulated nodes");
    expect(new Set(store.allocsByJob("default", "many").map((a) => a.NodeID)).size).toBeGreaterThan(1);
  });

  it("refuses a fleet over the open files limit, saying what to raise", async () => {
    const o = io();
    await expect(runSim({ servers: [http.address], nodes: 50_000_000, datacenter: "dc1", namePrefix: "x", connections: 64 }, o, new AbortController().signal)).rejects.toThrow(/open files.*(ulimit -n|hard limit)/);
  });

  it("checks its flags", async () => {
    const o = io();
    expect(await runCli(["sim"], o)).toBe(1);
    expect(o.text()).toContain("-nodes N is required");
    expect(await runCli(["sim", "-nodes", "0"], o)).toBe(1);
    expect(o.text()).toContain("-nodes must be at least 1");
    expect(await runCli(["sim", "-nodes", "3", "-servers", "nohost"], o)).toBe(1);
    expect(o.text()).toContain('-servers takes host:port, got "nohost"');
  });
});
