import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../catalog/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ERROR_STATUS, ErrorCode, RucheError, type Logger } from "../structs/index.js";
import { errorResponse } from "./errors.js";
import { startApi, startConsulApi, startNodeApi, type NodeLocal, type RunningHttp } from "./index.js";

/** A pino logger at debug level whose lines are kept, parsed, for the test to read. */
function capturedLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: "debug" }, sink), lines };
}

const ERROR = 50;
const DEBUG = 20;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function get(http: RunningHttp, path: string, method = "GET"): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${http.address}${path}`, { method });
  return { status: res.status, text: await res.text() };
}

async function api(log: Logger, routerOverview: () => unknown): Promise<RunningHttp> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  const http = await startApi(server, store, { host: "127.0.0.1", port: 0, log, routerOverview });
  closers.push(() => store.close(), () => server.stop(), () => http.close());
  return http;
}

describe("errors at the HTTP edge", () => {
  it("answers a route's unexpected error with 500 and logs it once at error level, with its stack", async () => {
    const { log, lines } = capturedLog();
    const http = await api(log, () => {
      throw new Error("the overview broke");
    });
    const res = await get(http, "/v1/router");
    expect(res.status).toBe(500);
    // The answer says no more than that: the details are for the log.
    expect(JSON.parse(res.text)).toEqual({ error: { code: ErrorCode.Internal, message: "internal error" } });
    const errors = lines.filter((l) => l.level === ERROR);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ method: "GET", route: "/v1/router", status: 500, err: { type: "Error", message: "the overview broke" } });
    const stack = (errors[0]?.err as { stack?: unknown }).stack;
    expect(stack).toEqual(expect.stringContaining("the overview broke"));
    expect(stack).toEqual(expect.stringContaining("errors.test.ts"));
    expect(lines.filter((l) => l.level !== ERROR)).toEqual([]);
  });

  it("logs a blocking query cut by the agent's shutdown at debug: its answer goes to no one", async () => {
    const { log, lines } = capturedLog();
    const store = await StateStore.open(memoryBackend());
    const server = new Server(store);
    const http = await startApi(server, store, { host: "127.0.0.1", port: 0, log, routerOverview: () => undefined });
    closers.push(() => server.stop());
    const waiting = fetch(`http://${http.address}/v1/jobs?index=${store.index}&wait=60s`).catch((err: unknown) => err);
    await expect.poll(() => store.blockingQueries(), { timeout: 10_000 }).toBe(1);
    // The agent's shutdown order: the API first, then the store under the query.
    await http.close();
    await store.close();
    expect(await waiting).toBeInstanceOf(Error);
    await expect.poll(() => lines.filter((l) => l.level === DEBUG && l.msg === "request failed after its client went away").length).toBe(1);
    expect(lines.filter((l) => l.level === ERROR)).toEqual([]);
  });

  it("logs a refused request (4xx) at debug, never at error", async () => {
    const { log, lines } = capturedLog();
    const http = await api(log, () => undefined);
    const res = await get(http, "/v1/job/nope");
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toEqual({ error: { code: ErrorCode.JobNotFound, message: 'job "nope" not found' } });
    expect(lines.filter((l) => l.level === ERROR)).toEqual([]);
    expect(lines.filter((l) => l.level === DEBUG)).toEqual([expect.objectContaining({ method: "GET", route: "/v1/job/nope", status: 404, code: ErrorCode.JobNotFound })]);
  });

  it("logs the Consul-compatible port's 5xx answers once, with the error behind them when there is one", async () => {
    const { log, lines } = capturedLog();
    const store = await StateStore.open(memoryBackend());
    const kv = new KVService(store, { now: Date.now, delays: new LockDelays() });
    const consul = { catalog: new StoreCatalog(store, "dc1"), localNode: () => "n1", version: "1.17.0", registry: new ServiceRegistry(store, Date.now), allowScriptChecks: false, kv };
    const http = await startConsulApi({
      host: "127.0.0.1",
      port: 0,
      log,
      consul,
      reload: () => Promise.reject(new Error("services.json: line 3: not JSON")),
    });
    closers.push(() => store.close(), () => http.close());

    const dc = await get(http, "/v1/catalog/services?dc=elsewhere");
    expect(dc).toEqual({ status: 500, text: "No path to datacenter" });
    const reload = await get(http, "/v1/agent/reload", "PUT");
    expect(reload).toEqual({ status: 500, text: "Failed reloading the agent's config: services.json: line 3: not JSON" });
    const errors = lines.filter((l) => l.level === ERROR);
    expect(errors).toEqual([
      expect.objectContaining({ route: "/v1/catalog/services", status: 500 }),
      expect.objectContaining({ route: "/v1/agent/reload", status: 500, err: expect.objectContaining({ message: "services.json: line 3: not JSON", stack: expect.stringContaining("errors.test.ts") as unknown }) as unknown }),
    ]);

    // An unknown check is the registry's 404, not a 500 and not a failure of ours.
    const check = await get(http, "/v1/agent/check/pass/nope", "PUT");
    expect(check.status).toBe(404);
    expect(JSON.parse(check.text)).toMatchObject({ error: { code: ErrorCode.NotFound } });
    expect(lines.filter((l) => l.level === ERROR)).toHaveLength(2);
  });

  it("answers an exec the runner or driver refuses with the refusal's own code, and an unexpected failure with a logged 500", async () => {
    const { log, lines } = capturedLog();
    let failure = new Error("set by each step below");
    // The agent's node-local side, stood in for: what it throws is what is under test.
    const local: NodeLocal = {
      has: () => true,
      tasks: () => ["web"],
      logs: () => {
        throw new Error("no logs here");
      },
      exec: () => Promise.reject(failure),
    };
    const http = await startNodeApi({ host: "127.0.0.1", port: 0, log, local, ids: () => ["a1"] });
    closers.push(() => http.close());
    const exec = async (): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(`http://${http.address}/v1/client/allocation/a1/exec`, { method: "PUT", body: JSON.stringify({ Cmd: ["true"] }) });
      return { status: res.status, body: await res.json() };
    };

    failure = new RucheError(ErrorCode.Conflict, 'task "web" is not running');
    expect(await exec()).toEqual({ status: 409, body: { error: { code: ErrorCode.Conflict, message: 'task "web" is not running' } } });
    failure = new RucheError(ErrorCode.DockerBadConfig, "exec needs a command");
    expect(await exec()).toEqual({ status: 400, body: { error: { code: ErrorCode.DockerBadConfig, message: "exec needs a command" } } });
    failure = new RucheError(ErrorCode.DockerNotRunning, "cannot exec in container 0123456789ab: it is not running");
    expect((await exec()).status).toBe(409);
    expect(lines.filter((l) => l.level === ERROR)).toEqual([]);

    failure = new TypeError("cannot read properties of undefined");
    expect(await exec()).toEqual({ status: 500, body: { error: { code: ErrorCode.Internal, message: "internal error" } } });
    expect(lines.filter((l) => l.level === ERROR)).toEqual([expect.objectContaining({ route: "/v1/client/allocation/a1/exec", err: expect.objectContaining({ type: "TypeError" }) as unknown })]);
  });
});

describe("errorResponse", () => {
  it("answers every code with its status from the one table, and path and details when given", () => {
    for (const code of Object.values(ErrorCode)) expect(errorResponse(new RucheError(code, "m")).status).toBe(ERROR_STATUS[code]);
    expect(errorResponse(new RucheError(ErrorCode.InvalidJob, "the job is not valid: 1 error", { path: "Job", details: ["web.hcl:3:5: count must be >= 0"] }))).toEqual({
      status: 400,
      body: { error: { code: "RUCHE_INVALID_JOB", message: "the job is not valid: 1 error", path: "Job", details: ["web.hcl:3:5: count must be >= 0"] } },
    });
  });

  it("says nothing of an error that is not ours but that it is internal", () => {
    expect(errorResponse(new Error("secret detail"))).toEqual({ status: 500, body: { error: { code: "RUCHE_INTERNAL", message: "internal error" } } });
    expect(errorResponse("a string")).toEqual({ status: 500, body: { error: { code: "RUCHE_INTERNAL", message: "internal error" } } });
  });
});
