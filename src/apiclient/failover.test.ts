/**
 * An API client given several servers moves between them: real HTTP servers on 127.0.0.1
 * (node:http, port 0) that are closed, answer 503 RUCHE_NO_LEADER, cut the connection,
 * never answer (as a paused process), or answer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../structs/index.js";
import { ApiClient, ApiError } from "./index.js";

const open: Server[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) {
    s.closeAllConnections();
    await new Promise((done) => s.close(done));
  }
});

interface Fake {
  address: string;
  /** The requests it received: method and URL. */
  seen: string[];
  server: Server;
}

/** A server on port 0 of 127.0.0.1 that records each request and handles it with `handle`. */
async function fake(handle: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<Fake> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method ?? ""} ${req.url ?? ""}`);
    req.resume();
    req.on("end", () => {
      handle(req, res, seen.length);
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  open.push(server);
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

function answer(res: ServerResponse, status: number, body: unknown, index = 7): void {
  res.writeHead(status, { "content-type": "application/json", "x-ruche-index": String(index) });
  res.end(JSON.stringify(body));
}

/** Answers lists where the client reads a list (in Nomad's time types), else a registration's answer. */
const good = (): Promise<Fake> => fake((req, res) => {
  answer(res, 200, req.method === "GET" && /^\/v1\/(nodes|jobs)(\?|$)/.test(req.url ?? "") ? [] : { HeartbeatTTL: 2000, EvalID: "e1", Index: 7 });
});
const noLeader = (): Promise<Fake> => fake((_req, res) => {
  answer(res, 503, { error: { code: ErrorCode.NoLeader, message: "no leader" } });
});
/** Reads the whole request, then closes the connection without a word: it may have been applied. */
const cutter = (): Promise<Fake> => fake((req) => {
  req.socket.destroy();
});
/** Takes the request and never answers, as a server whose process is paused. */
const silent = (): Promise<Fake> => fake(() => undefined);

/** An address where nothing listens: a port taken, then given back. */
async function closed(): Promise<string> {
  const s = createServer();
  await new Promise<void>((done) => s.listen(0, "127.0.0.1", done));
  const port = (s.address() as AddressInfo).port;
  await new Promise((done) => s.close(done));
  return `127.0.0.1:${port}`;
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe("an API client with several servers", () => {
  it("passes a closed server and one without a leader, answers from the next, and stays on it", async () => {
    const [dead, follower, leader] = [await closed(), await noLeader(), await good()];
    const api = new ApiClient([dead, follower.address, leader.address]);
    expect((await api.nodes()).index).toBe(7);
    expect(api.address).toBe(`http://${leader.address}`);
    await api.jobs();
    expect(follower.seen).toEqual(["GET /v1/nodes"]);
    expect(leader.seen).toEqual(["GET /v1/nodes", "GET /v1/jobs"]);
  });

  it("sends a write on after a refused connection and a 503 RUCHE_NO_LEADER, which applied nothing: once", async () => {
    const [dead, follower, leader] = [await closed(), await noLeader(), await good()];
    const api = new ApiClient([dead, follower.address, leader.address]);
    const r = await api.register({ ID: "web" } as Parameters<ApiClient["register"]>[0]);
    expect(r.body.EvalID).toBe("e1");
    expect(leader.seen).toEqual(["PUT /v1/jobs"]);
  });

  it("does not send a job again after a connection cut once it was sent; the client's own writes, safe to repeat, go on", async () => {
    const [cut, leader] = [await cutter(), await good()];
    const api = new ApiClient([cut.address, leader.address]);
    const err = await rejection(api.register({ ID: "web" } as Parameters<ApiClient["register"]>[0]));
    expect(err.code).toBe(ErrorCode.Unreachable);
    expect(leader.seen).toEqual([]);

    const again = new ApiClient([cut.address, leader.address]);
    await again.withNodeSecret("s").heartbeat("n1");
    await again.withNodeSecret("s").updateAllocations("n1", []);
    expect(leader.seen).toEqual(["PUT /v1/client/heartbeat/n1", "PUT /v1/client/allocations/n1"]);
    expect(cut.seen).toEqual(["PUT /v1/jobs", "PUT /v1/client/heartbeat/n1"]);
  });

  it("moves a blocking query whose server goes away to the next one, at the index it had", async () => {
    const [holding, next] = [await silent(), await good()];
    const api = new ApiClient([holding.address, next.address]);
    const q = api.withNodeSecret("s").nodeOwnAllocations("n1", { index: 42, wait: "30s" });
    await until(() => holding.seen.length === 1);
    holding.server.closeAllConnections();
    expect((await q).index).toBe(7);
    expect(next.seen).toEqual(["GET /v1/client/allocations/n1?index=42&wait=30s"]);
  });

  it("gives up on a server that takes a request and never answers, for a request safe to repeat", async () => {
    const [paused, leader] = [await silent(), await good()];
    const api = new ApiClient([paused.address, leader.address]);
    expect((await api.withNodeSecret("s").heartbeat("n1", 200)).body.HeartbeatTTL).toBe(2000);
    expect(paused.seen).toHaveLength(1);
    expect(api.address).toBe(`http://${leader.address}`);
  });

  it("waits out an election: 503 RUCHE_NO_LEADER, then an answer once a leader is there", async () => {
    const electing = await fake((_req, res, n) => {
      if (n <= 3) answer(res, 503, { error: { code: ErrorCode.NoLeader, message: "no leader" } });
      else answer(res, 200, { EvalID: "e2" });
    });
    const api = new ApiClient([electing.address]);
    expect((await api.register({ ID: "web" } as Parameters<ApiClient["register"]>[0])).body.EvalID).toBe("e2");
    expect(electing.seen).toHaveLength(4);
  });

  it("answers RUCHE_NO_LEADER when no leader comes within its budget", async () => {
    const [a, b] = [await noLeader(), await noLeader()];
    const api = new ApiClient([a.address, b.address], { retryBudgetMs: 500 });
    expect((await rejection(api.nodes())).code).toBe(ErrorCode.NoLeader);
    // Round after round, each server every time.
    expect(a.seen.length).toBeGreaterThanOrEqual(2);
    expect(b.seen.length).toBe(a.seen.length);
  });

  it("fails at once when no server takes a connection", async () => {
    const api = new ApiClient([await closed(), await closed(), await closed()], { retryBudgetMs: 60_000 });
    const err = await rejection(api.nodes());
    expect(err.code).toBe(ErrorCode.Unreachable);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it("stops when its caller aborts, and tries no other server", async () => {
    const [holding, next] = [await silent(), await good()];
    const api = new ApiClient([holding.address, next.address]);
    const stop = new AbortController();
    const q = api.nodeOwnAllocations("n1", { index: 3, wait: "30s", signal: stop.signal });
    await until(() => holding.seen.length === 1);
    stop.abort();
    await expect(q).rejects.toMatchObject({ name: "AbortError" });
    expect(next.seen).toEqual([]);
  });

  it("does not answer an error that is the caller's with another server", async () => {
    const [bad, leader] = [await fake((_req, res) => {
      answer(res, 404, { error: { code: ErrorCode.NotFound, message: "job not found" } });
    }), await good()];
    const api = new ApiClient([bad.address, leader.address]);
    expect((await rejection(api.job("x"))).code).toBe(ErrorCode.NotFound);
    expect(leader.seen).toEqual([]);
  });
});

async function until(f: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!f()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
