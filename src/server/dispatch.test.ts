import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { SimulatedNode } from "../client/sim.js";
import { mock, type DispatchRequest, type Job } from "../structs/index.js";
import type { Server } from "./index.js";
import { serverOnMemory, until } from "./testing.js";

const running: { server: Server; sims: SimulatedNode[] }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await Promise.all(r.sims.map((s) => s.kill()));
    await r.server.stop();
  }
});

/** A server on the memory backend with simulated nodes (the mock driver "runs" tasks at once). */
async function cluster(nodes: number) {
  const { store, server } = await serverOnMemory();
  const transport = inProcessTransport(server);
  const sims = Array.from({ length: nodes }, (_, i) => new SimulatedNode(transport, { name: `node-${i}`, cpu: 4000, memory: 8192 }, {}));
  await Promise.all(sims.map((s) => s.start()));
  running.push({ server, sims });
  return { store, server, sims };
}

function template(type: "batch" | "sysbatch" = "batch"): Job {
  return { ...mock.job({ id: "report", type }), Meta: { owner: "ops" }, ParameterizedJob: { Payload: "optional", MetaRequired: ["size"], MetaOptional: ["color"] } };
}

function req(o: Partial<DispatchRequest> = {}): DispatchRequest {
  return { payload: new Uint8Array(), meta: { size: "3" }, idPrefixTemplate: "", priority: 0, ...o };
}

describe("dispatching a parameterized job", () => {
  it("registers the template without an evaluation; each dispatch is a child job that runs", async () => {
    const { store, server } = await cluster(1);
    const reg = await server.registerJob(template());
    expect(reg.EvalID).toBe("");
    expect(store.evalsByJob("default", "report")).toEqual([]);

    const a = await server.dispatchJob("default", "report", req({ meta: { size: "3", color: "red" }, payload: new TextEncoder().encode("hi") }));
    const b = await server.dispatchJob("default", "report", req());
    expect(a.DispatchedJobID).toMatch(/^report\/dispatch-\d+-[0-9a-f]{8}$/);
    expect(b.DispatchedJobID).not.toBe(a.DispatchedJobID);
    expect(a).toMatchObject({ JobCreateIndex: a.Index, EvalCreateIndex: a.Index });
    expect(store.eval(a.EvalID)?.JobID).toBe(a.DispatchedJobID);

    const child = store.job("default", a.DispatchedJobID);
    expect(child).toMatchObject({ ParentID: "report", Dispatched: true, Meta: { owner: "ops", size: "3", color: "red" }, Payload: Buffer.from("hi").toString("base64"), Version: 0 });
    for (const id of [a.DispatchedJobID, b.DispatchedJobID]) {
      await until(`${id} to run`, () => store.allocsByJob("default", id).some((x) => x.ClientStatus === "running"));
    }
    expect(store.allocsByJob("default", "report")).toEqual([]);
  });

  it("refuses what the template does not allow, with Nomad's message, and an unknown job", async () => {
    const { store, server } = await cluster(0);
    await server.registerJob(template());
    await expect(server.dispatchJob("default", "report", req({ meta: {} }))).rejects.toThrow("Dispatch did not provide required meta keys: [size]");
    await expect(server.dispatchJob("default", "report", req({ meta: { size: "1", shape: "x" } }))).rejects.toThrow("Dispatch request included unpermitted metadata keys: [shape]");
    await expect(server.dispatchJob("default", "report", req({ priority: 101 }))).rejects.toThrow("dispatch job priority must be between [1, 100]");
    await expect(server.dispatchJob("default", "nope", req())).rejects.toThrow('job "nope" not found');
    await server.registerJob(mock.job({ id: "web" }));
    await expect(server.dispatchJob("default", "web", req())).rejects.toThrow('Specified job "web" is not a parameterized job');
    expect(store.jobs().map((j) => j.ID).sort()).toEqual(["report", "web"]);
  });
});

describe("a sysbatch job", () => {
  it("runs once on every node, is not run again where it completed, and runs on a node that joins later", async () => {
    const { store, server, sims } = await cluster(2);
    await server.registerJob(mock.job({ id: "sweep", type: "sysbatch" }));
    const runningAllocs = await until("an allocation running on each node", () => {
      const c = store.allocsByJob("default", "sweep").filter((a) => a.ClientStatus === "running");
      return c.length === 2 ? c : undefined;
    });
    expect(new Set(runningAllocs.map((a) => a.NodeID)).size).toBe(2);
    // The simulated nodes' tasks never end: each node reports its task done, as a real agent does.
    for (const sim of sims) {
      const mine = runningAllocs.filter((a) => a.NodeID === sim.node.ID);
      await server.updateAllocs(sim.node.ID, sim.node.SecretID, mine.map((a) => ({ ID: a.ID, ClientStatus: "complete" as const })));
    }
    const joined = new SimulatedNode(inProcessTransport(server), { name: "node-late", cpu: 4000, memory: 8192 }, {});
    await joined.start();
    sims.push(joined);
    await until("the new node's allocation running", () => store.allocsByJob("default", "sweep").some((a) => a.NodeID === joined.node.ID && a.ClientStatus === "running"));
    // Every evaluation the new node called for is done: none placed again where the job completed.
    await until("no evaluation pending", () => store.evalsByJob("default", "sweep").every((e) => e.Status === "complete"));
    const all = store.allocsByJob("default", "sweep");
    expect(all).toHaveLength(3);
    expect(all.filter((a) => a.ClientStatus === "complete").map((a) => a.ID).sort()).toEqual(runningAllocs.map((a) => a.ID).sort());
  });
});
