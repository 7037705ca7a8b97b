import type { AllocStub, HealthEntry, JobStub, RegisterResponse } from "./types.js";
import { ErrorCode, errorMessage, type Allocation, type AllocUpdate, type CatalogSnapshot, type Deployment, type Evaluation, type Job, type KVEntry, type Node } from "../structs/index.js";

/** An error the API answered with: its status, stable code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string,
    readonly details?: unknown,
    /** The X-Consul-Index the Consul-compatible endpoints answer with, errors too. */
    readonly index?: number,
  ) {
    super(message);
  }
}

export interface QueryOptions {
  /** Blocking query: return when the index passes this. */
  index?: number;
  wait?: string;
  signal?: AbortSignal;
}

export interface Indexed<T> {
  body: T;
  index: number;
}

export type { AllocStub, HealthEntry, JobStub, RegisterResponse } from "./types.js";

/** The typed client of Ruche's HTTP API: the CLI, the client agent and tests use it. */
export class ApiClient {
  readonly address: string;

  constructor(
    address: string,
    private readonly opts: { token?: string; nodeSecret?: string } = {},
  ) {
    this.address = /^https?:\/\//.test(address) ? address.replace(/\/$/, "") : `http://${address}`;
  }

  withNodeSecret(secret: string): ApiClient {
    return new ApiClient(this.address, { ...this.opts, nodeSecret: secret });
  }

  async request<T>(method: string, path: string, body?: unknown, q: QueryOptions & { query?: Record<string, string> } = {}): Promise<Indexed<T>> {
    const res = await this.send(method, path, body, q);
    const text = await res.text();
    return { body: parseBody(text) as T, index: Number(res.headers.get("x-ruche-index") ?? "0") };
  }

  /** Sends a request; an answer that is not 2xx becomes an ApiError. The body is left to read. */
  private async send(method: string, path: string, body?: unknown, q: QueryOptions & { query?: Record<string, string> } = {}): Promise<Response> {
    const url = new URL(this.address + path);
    if (q.index !== undefined) url.searchParams.set("index", String(q.index));
    if (q.wait !== undefined) url.searchParams.set("wait", q.wait);
    for (const [k, v] of Object.entries(q.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.opts.token !== undefined) headers["x-ruche-token"] = this.opts.token;
    if (this.opts.nodeSecret !== undefined) headers["x-ruche-node-secret"] = this.opts.nodeSecret;
    let res: Response;
    try {
      const init: RequestInit = { method, headers };
      if (body !== undefined) init.body = JSON.stringify(body);
      if (q.signal !== undefined) init.signal = q.signal;
      res = await fetch(url, init);
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new ApiError(0, ErrorCode.Unreachable, `cannot reach the Ruche API at ${this.address}: ${(err as { cause?: { code?: string } }).cause?.code ?? errorMessage(err)}`);
    }
    if (!res.ok) {
      const parsed = parseBody(await res.text());
      const e = (parsed as { error?: { code?: string; message?: string; path?: string; details?: unknown } } | undefined)?.error;
      // The Consul-compatible endpoints answer errors in plain text, as Consul does.
      const text = typeof parsed === "string" && parsed.trim() !== "" ? parsed.trim() : undefined;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? text ?? `${res.status} ${res.statusText}`, e?.path, e?.details, res.headers.has("x-consul-index") ? consulIndex(res) : undefined);
    }
    return res;
  }

  /** Every service of the catalog with its tags (Consul's /v1/catalog/services). */
  catalogServices(q: QueryOptions = {}): Promise<Indexed<Record<string, string[]>>> {
    return this.request("GET", "/v1/catalog/services", undefined, q);
  }

  /**
   * The whole health view at one index (Ruche's /v1/catalog/snapshot): every instance of
   * every service with its node and checks, whatever its health. With `index`, a blocking
   * query that answers once the catalog moves past it: one query follows the whole catalog.
   */
  catalogSnapshot(q: QueryOptions = {}): Promise<Indexed<CatalogSnapshot>> {
    return this.request("GET", "/v1/catalog/snapshot", undefined, q);
  }

  /** A service's instances with their node and checks (Consul's /v1/health/service/:name). */
  healthService(name: string, q: QueryOptions = {}): Promise<Indexed<HealthEntry[]>> {
    return this.request("GET", `/v1/health/service/${encodeURIComponent(name)}`, undefined, q);
  }

  /** A KV entry, or null when the key is absent. */
  async kvGet(key: string): Promise<KVEntry | null> {
    return (await this.kvRead(key)).entries[0] ?? null;
  }

  /** The keys under a prefix (up to `separator` when given). */
  async kvKeys(prefix: string, separator?: string): Promise<string[]> {
    const query: Record<string, string> = { keys: "" };
    if (separator !== undefined) query.separator = separator;
    try {
      return (await this.request<string[]>("GET", `/v1/kv/${encodeKey(prefix)}`, undefined, { query })).body;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return [];
      throw err;
    }
  }

  /**
   * The entries at a key (with `recurse`, under a prefix; none when absent) and the KV's
   * index; with `index`, a blocking query that answers once the index passes it.
   */
  async kvRead(key: string, o: { recurse?: boolean; index?: number; wait?: string; signal?: AbortSignal } = {}): Promise<{ entries: KVEntry[]; index: number }> {
    const q: QueryOptions & { query: Record<string, string> } = { query: o.recurse === true ? { recurse: "" } : {} };
    if (o.index !== undefined) q.index = o.index;
    if (o.wait !== undefined) q.wait = o.wait;
    if (o.signal !== undefined) q.signal = o.signal;
    try {
      const res = await this.send("GET", `/v1/kv/${encodeKey(key)}`, undefined, q);
      return { entries: parseBody(await res.text()) as KVEntry[], index: consulIndex(res) };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.index !== undefined) return { entries: [], index: err.index };
      throw err;
    }
  }

  /** Creates a session (Consul's /v1/session/create) and returns its ID. */
  async sessionCreate(b: { Name?: string; TTL?: string; Behavior?: "release" | "delete"; LockDelay?: string }): Promise<string> {
    return (await this.request<{ ID: string }>("PUT", "/v1/session/create", b)).body.ID;
  }

  /** Renews a session's TTL; false when the session is gone. */
  async sessionRenew(id: string): Promise<boolean> {
    try {
      await this.request("PUT", `/v1/session/renew/${encodeURIComponent(id)}`);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return false;
      throw err;
    }
  }

  /** Ends a session, releasing (or deleting) the keys it holds. */
  async sessionDestroy(id: string): Promise<void> {
    await this.request("PUT", `/v1/session/destroy/${encodeURIComponent(id)}`);
  }

  /** Asks Ruche's agent to read its config dir again (service definitions). */
  async agentReload(): Promise<void> {
    await this.request("PUT", "/v1/agent/reload");
  }

  /**
   * Writes a value (with `cas`, only if the entry's ModifyIndex is that; 0: only if absent;
   * with `acquire`, only if no other session holds the key; with `release`, only if this
   * session does, freeing it). True when written.
   */
  async kvPut(key: string, value: Buffer, o: { cas?: number; flags?: number; acquire?: string; release?: string } = {}): Promise<boolean> {
    const query: Record<string, string> = {};
    if (o.cas !== undefined) query.cas = String(o.cas);
    if (o.flags !== undefined) query.flags = String(o.flags);
    if (o.acquire !== undefined) query.acquire = o.acquire;
    if (o.release !== undefined) query.release = o.release;
    const url = new URL(`${this.address}/v1/kv/${encodeKey(key)}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const res = await fetch(url, { method: "PUT", body: value }).catch((err: unknown) => {
      throw new ApiError(0, ErrorCode.Unreachable, `cannot reach the Ruche API at ${this.address}: ${(err as { cause?: { code?: string } }).cause?.code ?? errorMessage(err)}`);
    });
    const text = await res.text();
    if (!res.ok) {
      const e = (parseBody(text) as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? text);
    }
    return text.trim() === "true";
  }

  /** Deletes a key, or with `recurse` every key under it. */
  async kvDelete(key: string, recurse = false): Promise<boolean> {
    return (await this.request<boolean>("DELETE", `/v1/kv/${encodeKey(key)}`, undefined, recurse ? { query: { recurse: "" } } : {})).body;
  }

  /** A task's output, as it arrives (with `follow`, until the signal aborts). */
  async allocLogs(allocId: string, o: { task?: string; stderr?: boolean; follow?: boolean; tailBytes?: number; signal?: AbortSignal } = {}): Promise<AsyncIterable<Uint8Array>> {
    const query: Record<string, string> = { type: o.stderr === true ? "stderr" : "stdout", plain: "true" };
    if (o.task !== undefined) query.task = o.task;
    if (o.follow === true) query.follow = "true";
    if (o.tailBytes !== undefined) {
      query.origin = "end";
      query.offset = String(o.tailBytes);
    }
    const q: QueryOptions & { query: Record<string, string> } = { query };
    if (o.signal !== undefined) q.signal = o.signal;
    const res = await this.send("GET", `/v1/client/fs/logs/${encodeURIComponent(allocId)}`, undefined, q);
    return res.body ?? (async function* () {})();
  }

  /** Runs a command inside a task and returns its exit code and output. */
  allocExec(allocId: string, b: { Task?: string; Cmd: string[]; Stdin?: string; TimeoutMs?: number }): Promise<Indexed<{ ExitCode: number; Stdout: string; Stderr: string; TimedOut: boolean }>> {
    return this.request("PUT", `/v1/client/allocation/${encodeURIComponent(allocId)}/exec`, b);
  }

  // Jobs
  jobs(q: QueryOptions = {}): Promise<Indexed<JobStub[]>> {
    return this.request("GET", "/v1/jobs", undefined, q);
  }
  job(id: string, q: QueryOptions = {}): Promise<Indexed<Job>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}`, undefined, q);
  }
  register(job: Job, checkIndex?: number): Promise<Indexed<RegisterResponse>> {
    return this.request("PUT", "/v1/jobs", checkIndex === undefined ? { Job: job } : { Job: job, EnforceIndex: true, JobModifyIndex: checkIndex });
  }
  plan(job: Job): Promise<Indexed<{ Diff: unknown; Annotations: { DesiredTGUpdates: Record<string, unknown> } | null; FailedTGAllocs: Record<string, unknown>; Failures: { Group: string; Reason: string }[]; JobModifyIndex: number }>> {
    return this.request("PUT", `/v1/job/${encodeURIComponent(job.ID)}/plan`, { Job: job, Diff: true });
  }
  stop(id: string, purge = false): Promise<Indexed<RegisterResponse>> {
    return this.request("DELETE", `/v1/job/${encodeURIComponent(id)}`, undefined, purge ? { query: { purge: "true" } } : {});
  }
  versions(id: string): Promise<Indexed<{ Versions: Job[] }>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}/versions`);
  }
  revert(id: string, version: number): Promise<Indexed<RegisterResponse>> {
    return this.request("PUT", `/v1/job/${encodeURIComponent(id)}/revert`, { JobVersion: version });
  }
  scale(id: string, group: string, count: number): Promise<Indexed<RegisterResponse>> {
    return this.request("PUT", `/v1/job/${encodeURIComponent(id)}/scale`, { Count: count, Target: { Group: group } });
  }
  jobAllocations(id: string, q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}/allocations`, undefined, q);
  }
  jobEvaluations(id: string, q: QueryOptions = {}): Promise<Indexed<Evaluation[]>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}/evaluations`, undefined, q);
  }
  jobDeployments(id: string, q: QueryOptions = {}): Promise<Indexed<Deployment[]>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}/deployments`, undefined, q);
  }
  latestDeployment(id: string, q: QueryOptions = {}): Promise<Indexed<Deployment | null>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}/deployment`, undefined, q);
  }
  jobSummary(id: string, q: QueryOptions = {}): Promise<Indexed<{ Summary: Record<string, Record<string, number>> }>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}/summary`, undefined, q);
  }

  // Deployments
  deployments(q: QueryOptions = {}): Promise<Indexed<Deployment[]>> {
    return this.request("GET", "/v1/deployments", undefined, q);
  }
  deployment(id: string, q: QueryOptions = {}): Promise<Indexed<Deployment>> {
    return this.request("GET", `/v1/deployment/${encodeURIComponent(id)}`, undefined, q);
  }
  promote(id: string, groups?: string[]): Promise<Indexed<{ EvalID: string }>> {
    return this.request("PUT", `/v1/deployment/promote/${encodeURIComponent(id)}`, groups === undefined ? { All: true } : { Groups: groups });
  }
  failDeployment(id: string): Promise<Indexed<{ EvalID: string }>> {
    return this.request("PUT", `/v1/deployment/fail/${encodeURIComponent(id)}`, {});
  }

  // Evaluations and allocations
  evaluations(q: QueryOptions = {}): Promise<Indexed<Evaluation[]>> {
    return this.request("GET", "/v1/evaluations", undefined, q);
  }
  evaluation(id: string, q: QueryOptions = {}): Promise<Indexed<Evaluation>> {
    return this.request("GET", `/v1/evaluation/${encodeURIComponent(id)}`, undefined, q);
  }
  evaluationAllocations(id: string, q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return this.request("GET", `/v1/evaluation/${encodeURIComponent(id)}/allocations`, undefined, q);
  }
  allocations(q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return this.request("GET", "/v1/allocations", undefined, q);
  }
  allocation(id: string, q: QueryOptions = {}): Promise<Indexed<Allocation>> {
    return this.request("GET", `/v1/allocation/${encodeURIComponent(id)}`, undefined, q);
  }

  // Nodes
  nodes(q: QueryOptions = {}): Promise<Indexed<Omit<Node, "SecretID">[]>> {
    return this.request("GET", "/v1/nodes", undefined, q);
  }
  node(id: string, q: QueryOptions = {}): Promise<Indexed<Omit<Node, "SecretID">>> {
    return this.request("GET", `/v1/node/${encodeURIComponent(id)}`, undefined, q);
  }
  nodeAllocations(id: string, q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return this.request("GET", `/v1/node/${encodeURIComponent(id)}/allocations`, undefined, q);
  }
  drain(id: string, spec: { Deadline: number; IgnoreSystemJobs: boolean } | null, markEligible = false): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/node/${encodeURIComponent(id)}/drain`, { DrainSpec: spec, MarkEligible: markEligible });
  }
  eligibility(id: string, eligible: boolean): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/node/${encodeURIComponent(id)}/eligibility`, { Eligibility: eligible ? "eligible" : "ineligible" });
  }

  // The client agent's endpoints
  registerNode(node: Node): Promise<Indexed<{ HeartbeatTTL: number }>> {
    return this.request("PUT", "/v1/client/register", { Node: node });
  }
  heartbeat(nodeId: string): Promise<Indexed<{ HeartbeatTTL: number }>> {
    return this.request("PUT", `/v1/client/heartbeat/${encodeURIComponent(nodeId)}`, {});
  }
  nodeOwnAllocations(nodeId: string, q: QueryOptions = {}): Promise<Indexed<Allocation[]>> {
    return this.request("GET", `/v1/client/allocations/${encodeURIComponent(nodeId)}`, undefined, q);
  }
  updateAllocations(nodeId: string, updates: AllocUpdate[]): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/client/allocations/${encodeURIComponent(nodeId)}`, { Allocs: updates });
  }

  leader(): Promise<Indexed<string>> {
    return this.request("GET", "/v1/status/leader");
  }
}

/** A client transport for the simulated and real client agents, over HTTP. */
export function httpTransport(api: ApiClient): {
  register(node: Node): Promise<{ HeartbeatTTL: number }>;
  heartbeat(nodeId: string, secret: string): Promise<{ HeartbeatTTL: number }>;
  allocations(nodeId: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal): Promise<{ index: number; allocs: readonly Allocation[] }>;
  updateAllocs(nodeId: string, secret: string, updates: AllocUpdate[]): Promise<unknown>;
} {
  return {
    register: async (node) => (await api.registerNode(node)).body,
    heartbeat: async (id, secret) => (await api.withNodeSecret(secret).heartbeat(id)).body,
    allocations: async (id, secret, minIndex, waitMs, signal) => {
      const r = await api.withNodeSecret(secret).nodeOwnAllocations(id, { index: minIndex, wait: `${Math.round(waitMs)}ms`, signal });
      return { index: r.index, allocs: r.body };
    },
    updateAllocs: async (id, secret, updates) => (await api.withNodeSecret(secret).updateAllocations(id, updates)).body,
  };
}

/** A KV key in a URL path: each segment escaped, the slashes kept. */
function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

function consulIndex(res: Response): number {
  return Number(res.headers.get("x-consul-index") ?? "0");
}

function parseBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
