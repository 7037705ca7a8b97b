import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ErrorCode, silentLogger } from "../structs/index.js";
import { startApi, type RunningHttp } from "./index.js";

let store: StateStore;
let server: Server;
let http: RunningHttp;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store);
  server.start();
  http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
});

afterAll(async () => {
  await http.close();
  await server.stop();
});

describe("job size at the API", () => {
  it("refuses a job with 100,000 datacenters with 400, naming the field, and stores nothing", async () => {
    const Job = { ID: "wide", Datacenters: Array.from({ length: 100_000 }, (_, i) => `dc${i}`), TaskGroups: [{ Name: "g", Tasks: [{ Name: "t", Driver: "mock" }] }] };
    const res = await fetch(`http://${http.address}/v1/jobs`, { method: "PUT", body: JSON.stringify({ Job }), headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: string[] } };
    expect(body.error.code).toBe(ErrorCode.InvalidJob);
    expect(body.error.details).toEqual(["request: Job.Datacenters: too many datacenters (100,000); the limit is 1,000"]);
    expect(store.job("default", "wide")).toBeNull();
    expect(store.evals()).toEqual([]);
  });
});
