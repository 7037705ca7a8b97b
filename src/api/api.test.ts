import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, ApiError, httpTransport } from "../apiclient/index.js";
import { SimulatedNode } from "../client/sim.js";
import { parseJob } from "../jobspec/index.js";
import type { StateStore } from "../state/index.js";
import type { Job } from "../structs/index.js";
import type { RunningHttp } from "./index.js";
import { testApi, type TestApi } from "./testing.js";

/** Real HTTP on 127.0.0.1, port 0, over a server with two simulated nodes. */
let store: StateStore;
let http: RunningHttp;
let api: ApiClient;
let base: string;
const sims: SimulatedNode[] = [];

let t: TestApi;

beforeAll(async () => {
  t = await testApi();
  ({ store, http, base } = t);
  api = new ApiClient(http.address);
  for (let i = 0; i < 2; i++) {
    const s = new SimulatedNode(httpTransport(api), { name: `n${i}` });
    await s.start();
    sims.push(s);
  }
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.kill()));
  await t.stop();
});

async function demoJob(): Promise<Job> {
  const r = await parseJob('job "web" {\n  datacenters = ["dc1"]\n  group "g" {\n    count = 2\n    task "t" {\n      driver = "mock"\n    }\n  }\n}\n', { file: "web.hcl" });
  if (!r.ok) throw new Error("bad test job");
  return r.job;
}

async function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; headers: Headers }> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = body;
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, json: text === "" ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
}

describe("the HTTP API", () => {
  it("registers a job and serves it, its allocations and its evaluation, with X-Ruche-Index", async () => {
    const job = await demoJob();
    const reg = await api.register(job);
    expect(reg.body.EvalID).toMatch(/^[0-9a-f-]{36}$/);
    for (let i = 0; i < 100; i++) {
      const allocs = await api.jobAllocations("web");
      if (allocs.body.filter((a) => a.ClientStatus === "running").length === 2) break;
      await new Promise((r) => setTimeout(r, 30));
    }
    const allocs = await api.jobAllocations("web");
    expect(allocs.body.map((a) => a.ClientStatus)).toEqual(["running", "running"]);
    expect(allocs.index).toBeGreaterThan(0);
    expect((await api.job("web")).body.ID).toBe("web");
    expect((await api.evaluation(reg.body.EvalID)).body.Status).toBe("complete");
  });

  it("answers blocking queries when the state moves, or when the wait ends", async () => {
    const first = await api.jobs();
    const t0 = Date.now();
    const timedOut = await api.jobs({ index: first.index, wait: "200ms" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(timedOut.index).toBe(first.index);
    const waiting = api.jobs({ index: first.index, wait: "10s" });
    await expect.poll(() => store.blockingQueries("jobs")).toBe(1);
    expect(await (await fetch(`${base}/v1/metrics`)).text()).toMatch(/^ruche_blocking_queries\{table="jobs"\} 1$/m);
    await api.register({ ...(await demoJob()), ID: "other", Name: "other" });
    expect((await waiting).index).toBeGreaterThan(first.index);
  });

  it("refuses bad requests with a clear error and leaves nothing behind", async () => {
    const jobsBefore = store.jobs().length;
    expect(await raw("PUT", "/v1/jobs", "{not json")).toMatchObject({ status: 400, json: { error: { code: "RUCHE_BAD_JSON" } } });
    const big = await raw("PUT", "/v1/jobs", JSON.stringify({ Job: { ID: "x", Meta: { k: "v".repeat(5 * 1024 * 1024) } } }));
    expect(big.status).toBe(413);
    const invalid = await raw("PUT", "/v1/jobs", JSON.stringify({ Job: { ID: "bad job", TaskGroups: [{ Name: "g", Count: -1, Tasks: [] }] } }));
    expect(invalid.status).toBe(400);
    expect(invalid.json).toMatchObject({ error: { code: "RUCHE_INVALID_JOB", message: "the job is not valid: 3 errors" } });
    expect((invalid.json as { error: { details: string[] } }).error.details).toEqual([
      'request: Job.ID: the job ID "bad job" may hold only letters, digits, ".", "_" and "-", start with a letter or digit, and not contain ".." (it is used in file paths)',
      "request: Job.TaskGroups[0].Count: count must be zero or more, got -1",
      'request: Job.TaskGroups[0].Tasks: group "g" has no task; add task "name" { driver = ... }',
    ]);
    expect(await raw("GET", "/v1/job/nope")).toMatchObject({ status: 404, json: { error: { code: "RUCHE_JOB_NOT_FOUND", message: 'job "nope" not found' } } });
    expect((await raw("GET", "/v1/nowhere")).status).toBe(404);
    expect((await raw("DELETE", "/v1/jobs")).status).toBe(405);
    expect(await raw("GET", "/v1/job/%zz")).toMatchObject({ status: 400, json: { error: { code: "RUCHE_BAD_REQUEST", message: 'the path segment "%zz" is not valid percent-encoding' } } });
    expect(store.jobs()).toHaveLength(jobsBefore);
  });

  it("refuses a stale check-index with 409", async () => {
    const job = (await api.job("web")).body;
    const err = await api.register({ ...job, Meta: { changed: "yes" } }, job.JobModifyIndex - 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: "RUCHE_INDEX_CONFLICT" });
    await api.register({ ...job, Meta: { changed: "yes" } }, job.JobModifyIndex);
  });

  it("lets a node read and change only its own allocations, with its secret", async () => {
    let a = (await api.jobAllocations("web")).body.find((x) => x.ClientStatus === "running");
    for (let i = 0; a === undefined && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 30));
      a = (await api.jobAllocations("web")).body.find((x) => x.ClientStatus === "running");
    }
    if (a === undefined) throw new Error("no running allocation");
    const owner = sims.find((s) => s.node.ID === a.NodeID)!;
    const other = sims.find((s) => s.node.ID !== a.NodeID)!;
    expect(await raw("GET", `/v1/client/allocations/${owner.node.ID}`)).toMatchObject({ status: 401 });
    expect(await raw("GET", `/v1/client/allocations/${owner.node.ID}`, undefined, { "x-ruche-node-secret": other.node.SecretID })).toMatchObject({ status: 403 });
    const steal = await raw("PUT", `/v1/client/allocations/${other.node.ID}`, JSON.stringify({ Allocs: [{ ID: a.ID, ClientStatus: "failed" }] }), { "x-ruche-node-secret": other.node.SecretID });
    expect(steal).toMatchObject({ status: 403, json: { error: { code: "RUCHE_FORBIDDEN" } } });
    expect((await api.allocation(a.ID)).body.ClientStatus).not.toBe("failed");
    const nodes = (await api.nodes()).body;
    expect(nodes.every((n) => !("SecretID" in n))).toBe(true);
  });

  it("streams state changes as server-sent events, filtered by topic", async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/event/stream?topic=Job`, { signal: ac.signal, headers: { accept: "text/event-stream" } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    await api.register({ ...(await demoJob()), ID: "streamed", Name: "streamed" });
    let text = "";
    while (!text.includes('"Key":"default/streamed"')) {
      const chunk = (await reader.read()) as { value: Uint8Array | undefined };
      text += new TextDecoder().decode(chunk.value);
    }
    expect(text).toContain('"Topic":"Job","Type":"JobUpdated"');
    expect(text).not.toContain('"Topic":"Allocation"');
    ac.abort();
  });

  it("serves leader, Prometheus metrics and its OpenAPI description", async () => {
    expect((await api.leader()).body).toBe(http.address);
    const metrics = await (await fetch(`${base}/v1/metrics`)).text();
    expect(metrics).toMatch(/^ruche_state_index \d+$/m);
    expect(metrics).toMatch(/ruche_nodes\{status="ready"\} 2/);
    const spec = (await (await fetch(`${base}/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toContain("/v1/job/{id}/plan");
    expect(Object.keys(spec.paths).filter((p) => !p.startsWith("/v1/"))).toEqual([]);
  });

  it("plans with a diff and the scheduler's annotations", async () => {
    const job = (await api.job("web")).body;
    const next: Job = { ...job, TaskGroups: job.TaskGroups.map((g) => ({ ...g, Tasks: g.Tasks.map((t) => ({ ...t, Resources: { ...t.Resources, CPU: 300 } })) })) };
    const plan = await api.plan(next);
    expect(plan.body.Annotations?.DesiredTGUpdates.g).toMatchObject({ DestructiveUpdate: 1, Ignore: 1 });
    expect(plan.body.JobModifyIndex).toBe(job.JobModifyIndex);
  });

  it("a request target that is no URL gets 400, and the server goes on", async () => {
    const { hostname, port } = new URL(base);
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(port), hostname);
      let got = "";
      sock.on("data", (d: Buffer) => (got += d.toString("latin1")));
      sock.on("end", () => {
        resolve(got);
      });
      sock.on("error", reject);
      sock.end("GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('the request target \\"http://[\\" is not a valid URL');
    expect((await raw("GET", "/v1/jobs")).status).toBe(200);
  });
});
