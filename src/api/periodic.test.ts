import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../apiclient/index.js";
import { parseJob } from "../jobspec/index.js";
import type { Job } from "../structs/index.js";
import type { RunningHttp } from "./index.js";
import { testApi, type TestApi } from "./testing.js";

/** Real HTTP on 127.0.0.1, port 0, over a leading server (no nodes: children's evaluations block). */
let http: RunningHttp;
let api: ApiClient;
let base: string;

let t: TestApi;

beforeAll(async () => {
  t = await testApi();
  ({ http, base } = t);
  api = new ApiClient(http.address);
});

afterAll(async () => {
  await t.stop();
});

async function job(name: string, periodic: string): Promise<Job> {
  const r = await parseJob(`job "${name}" {\n  type = "batch"\n  ${periodic}\n  group "g" {\n    task "t" {\n      driver = "mock"\n    }\n  }\n}\n`, { file: `${name}.hcl` });
  if (!r.ok) throw new Error(`bad test job: ${JSON.stringify(r.diagnostics)}`);
  return r.job;
}

async function put(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(base + path, { method: "PUT" });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("periodic jobs over the HTTP API", () => {
  it("registering answers no evaluation; force answers Nomad's PeriodicForceResponse and the child is listed under its parent", async () => {
    const reg = await api.register(await job("nightly", 'periodic {\n    cron      = "0 3 * * *"\n    time_zone = "America/New_York"\n  }'));
    expect(reg.body.EvalID).toBe("");
    const forced = await put("/v1/job/nightly/periodic/force");
    expect(forced.status).toBe(200);
    expect(Object.keys(forced.json).sort()).toEqual(["EvalCreateIndex", "EvalID", "Index"]);
    expect(forced.json.EvalID).toMatch(/^[0-9a-f-]{36}$/);
    expect(forced.json.Index).toBe(forced.json.EvalCreateIndex);

    const list = (await api.jobs()).body;
    const parent = list.find((j) => j.ID === "nightly");
    const child = list.find((j) => j.ParentID === "nightly");
    expect(parent).toMatchObject({ Periodic: true, ParameterizedJob: false, ParentID: "", Status: "running" });
    expect(child?.ID).toMatch(/^nightly\/periodic-\d+$/);
    expect(child).toMatchObject({ Periodic: false, Type: "batch" });
    const served = (await api.job(child?.ID ?? "")).body;
    expect(served).toMatchObject({ ParentID: "nightly", Periodic: null });
    expect((await api.jobEvaluations(child?.ID ?? "")).body.map((e) => e.ID)).toContain(forced.json.EvalID);
    expect((await api.jobEvaluations("nightly")).body).toEqual([]);
  });

  it("refuses to force a job that is not periodic, or that does not exist", async () => {
    await api.register(await job("plain", ""));
    const plain = await put("/v1/job/plain/periodic/force");
    expect(plain.status).toBe(400);
    expect(plain.json).toMatchObject({ error: { message: `can't force launch non-periodic job "plain"` } });
    expect((await put("/v1/job/ghost/periodic/force")).status).toBe(404);
  });
});
