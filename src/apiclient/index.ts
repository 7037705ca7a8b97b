import type { AllocFileInfo, AclPolicyInfo, AclPolicyStub, AclTokenInfo, AclTokenRequest, AclTokenStub, AllocStub, DispatchResponse, EtcdMember, HealthEntry, JobStub, RegisterResponse, ServerMembers, ServerStatus } from "./types.js";
import { answerFailure, BLOCKING_MARGIN_MS, DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_RETRY_BUDGET_MS, fetchFailure, mayRetry, roundBackoff, ServerList, waitMs, type AttemptFailure } from "./failover.js";
import { fetchOver, tlsDispatcher } from "./tls.js";
import { openWebSocket } from "./websocket.js";

/** A WebSocket to any of the API's upgrade routes (`alloc exec`, `job action`), Nomad's messages on it. */
export { openWebSocket };
import { ErrorCode, errorMessage, fromWireAlloc, fromWireDeployment, fromWireEval, fromWireNode, sleep, tlsFailure, type AllocationWire, type DeploymentWire, type EvaluationWire, type NodeWire, type DialTls, type WsConnection, type Allocation, type JoinToken, type JoinTokenStub, type AllocUpdate, type AllocCheckStatus, type Coordinate, type CoordinateSample, type AllocResourceUsage, type CatalogSnapshot, type Deployment, type Evaluation, type Job, type KVEntry, type HostVolume, type HostVolumeReport, type HostVolumeStub, type Namespace, type Node, type SchedulerConfiguration, type ServiceRegistration, type ServiceRegistrationListStub, type Variable, type VariableMetadata } from "../structs/index.js";

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

/** A variable written (null for a delete), or the one a check-and-set found in its way. */
export type VariableWrite = { ok: true; variable: Variable | null } | { ok: false; conflict: Variable };

/** An answer in Nomad's time types (`structs/nomad-wire.ts`), read back into Ruche's. */
async function fromWire<W, T>(answer: Promise<Indexed<W>>, read: (w: W) => T): Promise<Indexed<T>> {
  const a = await answer;
  return { body: read(a.body), index: a.index };
}

export type { AllocFileInfo, AclPolicyInfo, AclPolicyStub, AclTokenInfo, AclTokenRequest, AclTokenStub, AgentMember, AllocStub, DispatchResponse, EtcdMember, HealthEntry, JobStub, RegisterResponse, ServerMembers, ServerStatus } from "./types.js";
export { DEFAULT_ATTEMPT_TIMEOUT_MS, DEFAULT_RETRY_BUDGET_MS, ServerList } from "./failover.js";
export { fetchOver, tlsDispatcher } from "./tls.js";

/** How an API client is made; every field optional. */
export interface ApiClientOptions {
  token?: string;
  nodeSecret?: string;
  /** The agent's node key (`X-Ruche-Node-Key`): the agent's own nodes send it to their own server, which lets them register. */
  nodeKey?: string;
  /**
   * The fetch to send requests with (default: the global one). `ruche sim` passes undici's
   * over a pool of keep-alive connections, shared by thousands of simulated nodes.
   */
  fetch?: (url: URL, init: RequestInit) => Promise<Response>;
  /**
   * HTTPS: the CA the servers' certificates must chain to, and a client certificate for
   * mutual TLS. An address without a scheme (`host:port`) is then `https://`. Without
   * `fetch`, requests go through a dispatcher of these connections.
   */
  tls?: DialTls | (() => DialTls);
  /** How long one request may go on trying the next server (ms); see `DEFAULT_RETRY_BUDGET_MS`. */
  retryBudgetMs?: number;
  /** How long an attempt safe to repeat waits for an answer before the next server is tried (ms). */
  attemptTimeoutMs?: number;
  /** The position in the list of the server to start with (the others follow in order). */
  start?: number;
  /** Query parameters sent with every request, as Nomad's client sends `region` and `namespace` (a request's own query wins). */
  query?: Readonly<Record<string, string>>;
}

/** One request's own options, beside the query. */
interface SendOptions {
  /** Safe to send again after the connection broke with the request sent (GET and HEAD are). */
  idempotent?: boolean;
  /** The body is sent as it is (bytes), not as JSON. */
  raw?: boolean;
  /** Overrides the attempt timeout (0: none, for a stream whose head comes late). */
  attemptTimeoutMs?: number;
}

type Attempt = { ok: true; res: Response } | { ok: false; failure: AttemptFailure; error: ApiError };

/**
 * The typed client of Ruche's HTTP API: the CLI, the client agent and tests use it.
 *
 * It takes one server or several (`host:port` or URLs) and sends each request to its current
 * server. When that one cannot be reached, breaks the connection, does not answer in time,
 * or answers 503 RUCHE_NO_LEADER, the request goes to the next server, round after round
 * (with a pause of 100 ms, doubling up to 1 s, between rounds) for up to `retryBudgetMs`;
 * the client stays on the server that answered. A request that may have been applied (the
 * connection broke after it was sent, no answer in time, 503 RUCHE_UNAVAILABLE) goes
 * elsewhere only when it is safe to repeat: GETs (blocking queries too, which carry their
 * index to the next server) and the client agent's registration, heartbeats and
 * allocation updates. When no server accepts a connection at all, the request fails at once.
 */
export class ApiClient {
  private readonly servers: ServerList;
  private readonly opts: ApiClientOptions;

  constructor(address: string | readonly string[] | ServerList, opts: ApiClientOptions = {}) {
    this.servers = address instanceof ServerList ? address : new ServerList(typeof address === "string" ? [address] : address, opts.start ?? 0, opts.tls === undefined ? "http" : "https");
    // One dispatcher for the clients derived from this one (`withNodeSecret`): they share its connections.
    this.opts = opts.tls !== undefined && opts.fetch === undefined ? { ...opts, fetch: fetchOver(tlsDispatcher(opts.tls)) } : opts;
  }

  /** The base URL of the server requests go to now. */
  get address(): string {
    return this.servers.address;
  }

  /** The region every request asks for (`?region=`), when one is set. */
  get region(): string | undefined {
    return this.opts.query?.region;
  }

  /** The base URLs of every server, in order. */
  get addresses(): readonly string[] {
    return this.servers.addresses;
  }

  /** The same client (the same servers, moving together) sending a node's secret. */
  withNodeSecret(secret: string): ApiClient {
    return new ApiClient(this.servers, { ...this.opts, nodeSecret: secret });
  }

  async request<T>(method: string, path: string, body?: unknown, q: QueryOptions & { query?: Record<string, string> } = {}, o: SendOptions = {}): Promise<Indexed<T>> {
    const res = await this.send(method, path, body, q, o);
    const text = await res.text();
    return { body: parseBody(text) as T, index: Number(res.headers.get("x-ruche-index") ?? "0") };
  }

  /**
   * Sends a request to the current server, moving to the next ones as the class comment
   * says; an answer that is not 2xx becomes an ApiError. The body is left to read.
   */
  private async send(method: string, path: string, body?: unknown, q: QueryOptions & { query?: Record<string, string> } = {}, o: SendOptions = {}): Promise<Response> {
    const idempotent = o.idempotent ?? (method === "GET" || method === "HEAD");
    const budget = this.opts.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
    const n = this.servers.addresses.length;
    const started = Date.now();
    let round = 0;
    let inRound = 0;
    let allUnsent = true;
    for (;;) {
      const i = this.servers.current;
      const r = await this.attempt(this.servers.addresses[i] ?? "", method, path, body, q, o, idempotent);
      if (r.ok) return r.res;
      if (!mayRetry(r.failure, idempotent)) throw r.error;
      this.servers.failed(i);
      if (r.failure !== "unsent") allUnsent = false;
      if (++inRound < n) continue;
      // A whole round failed: when no server took a connection nothing listens, else pause and go round again.
      round++;
      const pause = roundBackoff(round);
      if (allUnsent || Date.now() - started + pause > budget) throw r.error;
      await sleep(pause, q.signal);
      if (q.signal?.aborted === true) throw q.signal.reason;
      inRound = 0;
      allUnsent = true;
    }
  }

  /** One attempt on one server. */
  private async attempt(base: string, method: string, path: string, body: unknown, q: QueryOptions & { query?: Record<string, string> }, o: SendOptions, idempotent: boolean): Promise<Attempt> {
    const url = new URL(base + path);
    if (q.index !== undefined) url.searchParams.set("index", String(q.index));
    if (q.wait !== undefined) url.searchParams.set("wait", q.wait);
    for (const [k, v] of Object.entries({ ...this.opts.query, ...q.query })) url.searchParams.set(k, v);
    const headers: Record<string, string> = {};
    if (body !== undefined && o.raw !== true) headers["content-type"] = "application/json";
    if (this.opts.token !== undefined && this.opts.token !== "") headers["x-nomad-token"] = this.opts.token;
    if (this.opts.nodeSecret !== undefined) headers["x-ruche-node-secret"] = this.opts.nodeSecret;
    if (this.opts.nodeKey !== undefined) headers["x-ruche-node-key"] = this.opts.nodeKey;
    // A blocking query answers within its wait; another request safe to repeat within the attempt timeout.
    const timeoutMs = q.index !== undefined ? waitMs(q.wait) + BLOCKING_MARGIN_MS : (o.attemptTimeoutMs ?? (idempotent ? (this.opts.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS) : 0));
    const late = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => {
      late.abort();
    }, timeoutMs) : undefined;
    let res: Response;
    try {
      const init: RequestInit = { method, headers, signal: q.signal === undefined ? late.signal : AbortSignal.any([q.signal, late.signal]) };
      if (body !== undefined) init.body = o.raw === true ? (body as Buffer) : JSON.stringify(body);
      res = await (this.opts.fetch ?? fetch)(url, init);
    } catch (err) {
      if (q.signal?.aborted === true) throw err;
      const why = late.signal.aborted ? `no answer in ${timeoutMs} ms` : (tlsFailure(err) ?? (err as { cause?: { code?: string } }).cause?.code ?? errorMessage(err));
      return { ok: false, failure: late.signal.aborted ? "cut" : fetchFailure(err), error: new ApiError(0, ErrorCode.Unreachable, `cannot reach the Ruche API at ${base}: ${why}`) };
    } finally {
      clearTimeout(timer);
    }
    if (res.ok) return { ok: true, res };
    const parsed = parseBody(await res.text().catch(() => ""));
    const e = (parsed as { error?: { code?: string; message?: string; path?: string; details?: unknown } } | undefined)?.error;
    // The Consul-compatible endpoints answer errors in plain text, as Consul does.
    const text = typeof parsed === "string" && parsed.trim() !== "" ? parsed.trim() : undefined;
    // A check-and-set conflict of Nomad's variables answers 409 with the variable in the way as its body: kept as the error's details.
    const details = e === undefined && res.status === 409 && typeof parsed === "object" ? parsed : e?.details;
    const error = new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? text ?? `${res.status} ${res.statusText}`, e?.path, details, res.headers.has("x-consul-index") ? consulIndex(res) : undefined);
    return { ok: false, failure: answerFailure(res.status, error.code), error };
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

  /**
   * A read of any route with the index its answer carries (X-Consul-Index, X-Nomad-Index),
   * and a 404 as `found: false` with that index: a template's blocking queries on Consul's
   * and Nomad's routes alike.
   */
  async readIndexed(path: string, q: QueryOptions & { query?: Record<string, string> } = {}): Promise<{ found: boolean; body: unknown; index: number }> {
    try {
      const res = await this.send("GET", path, undefined, q);
      const index = Number(res.headers.get("x-consul-index") ?? res.headers.get("x-nomad-index") ?? res.headers.get("x-ruche-index") ?? "0");
      return { found: true, body: parseBody(await res.text()), index };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return { found: false, body: undefined, index: err.index ?? 0 };
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
    const text = await (await this.send("PUT", `/v1/kv/${encodeKey(key)}`, value, { query }, { raw: true })).text();
    return text.trim() === "true";
  }

  /** Deletes a key, or with `recurse` every key under it. */
  async kvDelete(key: string, recurse = false): Promise<boolean> {
    return (await this.request<boolean>("DELETE", `/v1/kv/${encodeKey(key)}`, undefined, recurse ? { query: { recurse: "" } } : {})).body;
  }

  /** Nomad's variables under a prefix (`GET /v1/vars`): their metadata, no items. */
  async varList(prefix = "", q: QueryOptions = {}): Promise<Indexed<VariableMetadata[]>> {
    return this.request("GET", "/v1/vars", undefined, { ...q, query: { prefix } });
  }

  /** A Nomad variable with its items, or null when there is none at the path. */
  async varGet(path: string): Promise<Variable | null> {
    try {
      return (await this.request<Variable>("GET", `/v1/var/${encodeKey(path)}`)).body;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Writes a Nomad variable whole; with `cas`, only if its ModifyIndex is that (0: only if
   * there is none). A check-and-set that fails answers the variable in the way.
   */
  async varPut(path: string, items: Record<string, string>, cas?: number): Promise<VariableWrite> {
    return this.varWrite("PUT", path, { Path: path, Items: items }, cas);
  }

  /** Deletes a Nomad variable; with `cas`, only at that ModifyIndex. */
  async varDelete(path: string, cas?: number): Promise<VariableWrite> {
    return this.varWrite("DELETE", path, undefined, cas);
  }

  private async varWrite(method: string, path: string, body: unknown, cas: number | undefined): Promise<VariableWrite> {
    try {
      const r = await this.request<Variable | undefined>(method, `/v1/var/${encodeKey(path)}`, body, cas === undefined ? {} : { query: { cas: String(cas) } });
      return { ok: true, variable: r.body ?? null };
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && typeof err.details === "object" && err.details !== null) return { ok: false, conflict: err.details as Variable };
      throw err;
    }
  }

  /** Nomad's services, per namespace (`GET /v1/services`). */
  nomadServices(q: QueryOptions = {}): Promise<Indexed<ServiceRegistrationListStub[]>> {
    return this.request("GET", "/v1/services", undefined, q);
  }

  /** A service's instances in Nomad's shape (`GET /v1/service/:name`). */
  nomadService(name: string, q: QueryOptions = {}): Promise<Indexed<ServiceRegistration[]>> {
    return this.request("GET", `/v1/service/${encodeURIComponent(name)}`, undefined, q);
  }

  /** Deletes one instance of a service (`DELETE /v1/service/:name/:id`). */
  async nomadServiceDelete(name: string, id: string): Promise<void> {
    await this.request("DELETE", `/v1/service/${encodeURIComponent(name)}/${encodeURIComponent(id)}`);
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
    const res = await this.send("GET", `/v1/client/fs/logs/${encodeURIComponent(allocId)}`, undefined, q, { attemptTimeoutMs: 0 });
    return res.body ?? (async function* () {})();
  }

  /** A file or directory of an allocation's directory (Nomad's `AllocFS().Stat`); `path` relative to it. */
  async allocFsStat(allocId: string, path: string): Promise<AllocFileInfo> {
    return (await this.request<AllocFileInfo>("GET", `/v1/client/fs/stat/${encodeURIComponent(allocId)}`, undefined, { query: { path } })).body;
  }

  /** The entries of a directory of an allocation (Nomad's `AllocFS().List`). */
  async allocFsList(allocId: string, path: string): Promise<AllocFileInfo[]> {
    return (await this.request<AllocFileInfo[]>("GET", `/v1/client/fs/ls/${encodeURIComponent(allocId)}`, undefined, { query: { path } })).body;
  }

  /** A file's bytes from `offset`, `limit` of them (all when absent): `/v1/client/fs/readat` (`/cat` for the whole file). */
  async allocFsRead(allocId: string, path: string, o: { offset?: number; limit?: number } = {}): Promise<AsyncIterable<Uint8Array>> {
    const whole = o.offset === undefined && o.limit === undefined;
    const query: Record<string, string> = { path };
    if (!whole) {
      query.offset = String(o.offset ?? 0);
      query.limit = String(o.limit ?? -1);
    }
    const res = await this.send("GET", `/v1/client/fs/${whole ? "cat" : "readat"}/${encodeURIComponent(allocId)}`, undefined, { query }, { attemptTimeoutMs: 0 });
    return res.body ?? (async function* () {})();
  }

  /** A file's bytes as they are written, from `offset` bytes after its start or before its end (`/v1/client/fs/stream`, plain), until the signal aborts. */
  async allocFsStream(allocId: string, path: string, o: { origin: "start" | "end"; offset: number; signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>> {
    const q: QueryOptions & { query: Record<string, string> } = { query: { path, origin: o.origin, offset: String(o.offset), plain: "true" } };
    if (o.signal !== undefined) q.signal = o.signal;
    const res = await this.send("GET", `/v1/client/fs/stream/${encodeURIComponent(allocId)}`, undefined, q, { attemptTimeoutMs: 0 });
    return res.body ?? (async function* () {})();
  }

  /** Runs a command inside a task and returns its exit code and output. */
  allocExec(allocId: string, b: { Task?: string; Cmd: string[]; Stdin?: string; TimeoutMs?: number }): Promise<Indexed<{ ExitCode: number; Stdout: string; Stderr: string; TimedOut: boolean }>> {
    return this.request("PUT", `/v1/client/allocation/${encodeURIComponent(allocId)}/exec`, b);
  }

  /**
   * Nomad's streaming `alloc exec`: a WebSocket to the current server, which runs `command` in
   * the task (with a terminal when `tty`) and speaks `api.ExecStreamingInput`/`Output` on it.
   */
  allocExecSession(allocId: string, o: { task: string; command: readonly string[]; tty: boolean }): Promise<WsConnection> {
    const url = new URL(`${this.servers.address}/v1/client/allocation/${encodeURIComponent(allocId)}/exec`);
    for (const [k, v] of Object.entries(this.opts.query ?? {})) url.searchParams.set(k, v);
    url.searchParams.set("task", o.task);
    url.searchParams.set("command", JSON.stringify(o.command));
    url.searchParams.set("tty", String(o.tty));
    const headers: Record<string, string> = {};
    if (this.opts.token !== undefined && this.opts.token !== "") headers["x-nomad-token"] = this.opts.token;
    const tls = typeof this.opts.tls === "function" ? this.opts.tls() : this.opts.tls;
    return openWebSocket(url, headers, tls);
  }

  // ACLs (Nomad's /v1/acl routes)
  /** Bootstraps the ACL system: the management token, its SecretID included; `secret` (a UUID) chooses that SecretID. */
  aclBootstrap(secret?: string): Promise<Indexed<AclTokenInfo>> {
    return this.request("POST", "/v1/acl/bootstrap", secret === undefined ? {} : { BootstrapSecret: secret });
  }
  aclPolicies(q: QueryOptions = {}): Promise<Indexed<AclPolicyStub[]>> {
    return this.request("GET", "/v1/acl/policies", undefined, q);
  }
  aclPolicy(name: string, q: QueryOptions = {}): Promise<Indexed<AclPolicyInfo>> {
    return this.request("GET", `/v1/acl/policy/${encodeURIComponent(name)}`, undefined, q);
  }
  /** Creates or replaces a policy; rules that are not valid are refused (400) with their file:line:col. */
  aclPolicyApply(name: string, p: { Description?: string; Rules: string }): Promise<Indexed<null>> {
    return this.request("POST", `/v1/acl/policy/${encodeURIComponent(name)}`, { Name: name, Description: p.Description ?? "", Rules: p.Rules });
  }
  aclPolicyDelete(name: string): Promise<Indexed<null>> {
    return this.request("DELETE", `/v1/acl/policy/${encodeURIComponent(name)}`);
  }
  aclTokens(q: QueryOptions & { prefix?: string } = {}): Promise<Indexed<AclTokenStub[]>> {
    const { prefix, ...rest } = q;
    return this.request("GET", "/v1/acl/tokens", undefined, prefix === undefined ? rest : { ...rest, query: { prefix } });
  }
  /** Creates a token (its SecretID is in the answer, and only there). `ExpirationTTL`: a duration such as "1h". */
  aclTokenCreate(t: AclTokenRequest): Promise<Indexed<AclTokenInfo>> {
    return this.request("POST", "/v1/acl/token", t);
  }
  aclToken(accessor: string, q: QueryOptions = {}): Promise<Indexed<AclTokenInfo>> {
    return this.request("GET", `/v1/acl/token/${encodeURIComponent(accessor)}`, undefined, q);
  }
  /** The token this client sends. */
  aclTokenSelf(q: QueryOptions = {}): Promise<Indexed<AclTokenInfo>> {
    return this.request("GET", "/v1/acl/token/self", undefined, q);
  }
  aclTokenUpdate(accessor: string, t: AclTokenRequest): Promise<Indexed<AclTokenInfo>> {
    return this.request("POST", `/v1/acl/token/${encodeURIComponent(accessor)}`, { ...t, AccessorID: accessor });
  }
  aclTokenDelete(accessor: string): Promise<Indexed<null>> {
    return this.request("DELETE", `/v1/acl/token/${encodeURIComponent(accessor)}`);
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
  /** `global`: a multiregion job stopped in every region it runs in (Nomad's `?global=true`). */
  stop(id: string, purge = false, global = false): Promise<Indexed<RegisterResponse>> {
    const query: Record<string, string> = { ...(purge ? { purge: "true" } : {}), ...(global ? { global: "true" } : {}) };
    return this.request("DELETE", `/v1/job/${encodeURIComponent(id)}`, undefined, Object.keys(query).length === 0 ? {} : { query });
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
  /** Dispatches a parameterized job: `payload` as bytes (sent base64), `meta` merged into the child's. */
  dispatch(id: string, req: { payload?: Uint8Array; meta?: Record<string, string>; idPrefixTemplate?: string } = {}): Promise<Indexed<DispatchResponse>> {
    const payload = req.payload === undefined || req.payload.length === 0 ? null : Buffer.from(req.payload).toString("base64");
    return this.request("PUT", `/v1/job/${encodeURIComponent(id)}/dispatch`, { JobID: id, Payload: payload, Meta: req.meta ?? {}, IdPrefixTemplate: req.idPrefixTemplate ?? "" });
  }
  /** Launches a child of a periodic job now (`job periodic force`). */
  periodicForce(id: string): Promise<Indexed<{ EvalID: string; EvalCreateIndex: number; Index: number }>> {
    return this.request("PUT", `/v1/job/${encodeURIComponent(id)}/periodic/force`);
  }
  jobAllocations(id: string, q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return fromWire(this.request<AllocationWire<AllocStub>[]>("GET", `/v1/job/${encodeURIComponent(id)}/allocations`, undefined, q), (l) => l.map(fromWireAlloc));
  }
  jobEvaluations(id: string, q: QueryOptions = {}): Promise<Indexed<Evaluation[]>> {
    return fromWire(this.request<EvaluationWire[]>("GET", `/v1/job/${encodeURIComponent(id)}/evaluations`, undefined, q), (l) => l.map(fromWireEval));
  }
  jobDeployments(id: string, q: QueryOptions = {}): Promise<Indexed<Deployment[]>> {
    return fromWire(this.request<DeploymentWire[]>("GET", `/v1/job/${encodeURIComponent(id)}/deployments`, undefined, q), (l) => l.map(fromWireDeployment));
  }
  latestDeployment(id: string, q: QueryOptions = {}): Promise<Indexed<Deployment | null>> {
    return fromWire(this.request<DeploymentWire | null>("GET", `/v1/job/${encodeURIComponent(id)}/deployment`, undefined, q), (d) => (d === null ? null : fromWireDeployment(d)));
  }
  jobSummary(id: string, q: QueryOptions = {}): Promise<Indexed<{ Summary: Record<string, Record<string, number>> }>> {
    return this.request("GET", `/v1/job/${encodeURIComponent(id)}/summary`, undefined, q);
  }

  // Namespaces (Nomad's `api.Namespaces`)
  namespaces(q: QueryOptions & { prefix?: string } = {}): Promise<Indexed<Namespace[]>> {
    const { prefix, ...rest } = q;
    return this.request("GET", "/v1/namespaces", undefined, { ...rest, ...(prefix === undefined ? {} : { query: { prefix } }) });
  }
  namespace(name: string, q: QueryOptions = {}): Promise<Indexed<Namespace>> {
    return this.request("GET", `/v1/namespace/${encodeURIComponent(name)}`, undefined, q);
  }
  namespaceApply(ns: Partial<Namespace> & { Name: string }): Promise<Indexed<null>> {
    return this.request("PUT", "/v1/namespace", ns);
  }
  namespaceDelete(name: string): Promise<Indexed<null>> {
    return this.request("DELETE", `/v1/namespace/${encodeURIComponent(name)}`);
  }

  // Dynamic host volumes (Nomad's `api.HostVolumes`)
  hostVolumeCreate(vol: HostVolume): Promise<Indexed<{ Volume: HostVolume; Warnings: string }>> {
    return this.request("PUT", "/v1/volume/host/create", { Volume: vol, PolicyOverride: false });
  }
  hostVolumeRegister(vol: HostVolume): Promise<Indexed<{ Volume: HostVolume; Warnings: string }>> {
    return this.request("PUT", "/v1/volume/host/register", { Volume: vol, PolicyOverride: false });
  }
  hostVolumes(q: QueryOptions & { nodeId?: string; nodePool?: string; prefix?: string } = {}): Promise<Indexed<HostVolumeStub[]>> {
    const { nodeId, nodePool, prefix, ...rest } = q;
    return this.request("GET", "/v1/volumes", undefined, { ...rest, query: { type: "host", ...(nodeId === undefined ? {} : { node_id: nodeId }), ...(nodePool === undefined ? {} : { node_pool: nodePool }), ...(prefix === undefined ? {} : { prefix }) } });
  }
  hostVolume(id: string, q: QueryOptions = {}): Promise<Indexed<HostVolume & { Allocations?: { ID: string; JobID: string; TaskGroup: string; ClientStatus: string; DesiredStatus: string }[] }>> {
    return this.request("GET", `/v1/volume/host/${encodeURIComponent(id)}`, undefined, q);
  }
  hostVolumeDelete(id: string): Promise<Indexed<null>> {
    return this.request("DELETE", `/v1/volume/host/${encodeURIComponent(id)}`);
  }

  // Deployments
  deployments(q: QueryOptions = {}): Promise<Indexed<Deployment[]>> {
    return fromWire(this.request<DeploymentWire[]>("GET", "/v1/deployments", undefined, q), (l) => l.map(fromWireDeployment));
  }
  deployment(id: string, q: QueryOptions = {}): Promise<Indexed<Deployment>> {
    return fromWire(this.request<DeploymentWire>("GET", `/v1/deployment/${encodeURIComponent(id)}`, undefined, q), fromWireDeployment);
  }
  promote(id: string, groups?: string[]): Promise<Indexed<{ EvalID: string }>> {
    return this.request("PUT", `/v1/deployment/promote/${encodeURIComponent(id)}`, groups === undefined ? { All: true } : { Groups: groups });
  }
  failDeployment(id: string): Promise<Indexed<{ EvalID: string }>> {
    return this.request("PUT", `/v1/deployment/fail/${encodeURIComponent(id)}`, {});
  }
  /** Nomad's `deployment unblock`: a blocked multiregion deployment ended successful. */
  unblockDeployment(id: string): Promise<Indexed<{ EvalID: string; DeploymentModifyIndex: number; Index: number }>> {
    return this.request("PUT", `/v1/deployment/unblock/${encodeURIComponent(id)}`, { DeploymentID: id });
  }
  /** Nomad's `deployment pause|resume`: the evaluation that takes the rollout up again on resume ("" on pause). */
  pauseDeployment(id: string, pause: boolean): Promise<Indexed<{ EvalID: string; EvalCreateIndex: number; DeploymentModifyIndex: number; Index: number }>> {
    return this.request("PUT", `/v1/deployment/pause/${encodeURIComponent(id)}`, { DeploymentID: id, Pause: pause });
  }

  // Evaluations and allocations
  evaluations(q: QueryOptions = {}): Promise<Indexed<Evaluation[]>> {
    return fromWire(this.request<EvaluationWire[]>("GET", "/v1/evaluations", undefined, q), (l) => l.map(fromWireEval));
  }
  evaluation(id: string, q: QueryOptions = {}): Promise<Indexed<Evaluation>> {
    return fromWire(this.request<EvaluationWire>("GET", `/v1/evaluation/${encodeURIComponent(id)}`, undefined, q), fromWireEval);
  }
  evaluationAllocations(id: string, q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return fromWire(this.request<AllocationWire<AllocStub>[]>("GET", `/v1/evaluation/${encodeURIComponent(id)}/allocations`, undefined, q), (l) => l.map(fromWireAlloc));
  }
  allocations(q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return fromWire(this.request<AllocationWire<AllocStub>[]>("GET", "/v1/allocations", undefined, q), (l) => l.map(fromWireAlloc));
  }
  allocation(id: string, q: QueryOptions = {}): Promise<Indexed<Allocation>> {
    return fromWire(this.request<AllocationWire>("GET", `/v1/allocation/${encodeURIComponent(id)}`, undefined, q), fromWireAlloc);
  }
  /** Nomad's `alloc stop`: the allocation is migrated away (stopped, and replaced as the scheduler can); the evaluation that does it. */
  allocStop(id: string): Promise<Indexed<{ EvalID: string; Index: number }>> {
    return this.request("PUT", `/v1/allocation/${encodeURIComponent(id)}/stop`, {});
  }
  /** Nomad's `alloc signal`: a signal to the allocation's task (or every task when none is named), where it runs. */
  allocSignal(id: string, b: { Signal: string; Task?: string }): Promise<Indexed<unknown>> {
    return this.request("PUT", `/v1/client/allocation/${encodeURIComponent(id)}/signal`, b);
  }
  /** Nomad's `alloc restart`: the allocation's task (or every running task when none is named) restarted in place. */
  allocRestart(id: string, b: { TaskName?: string; AllTasks?: boolean }): Promise<Indexed<unknown>> {
    return this.request("PUT", `/v1/client/allocation/${encodeURIComponent(id)}/restart`, b);
  }
  /** Nomad's `alloc checks`: each service check's latest result on the allocation's node, by check ID. */
  allocChecks(id: string): Promise<Indexed<Record<string, AllocCheckStatus>>> {
    return this.request("GET", `/v1/client/allocation/${encodeURIComponent(id)}/checks`);
  }
  /** Nomad's allocation stats: what the allocation's running tasks use of the node now (`api.AllocResourceUsage`). */
  allocStats(id: string, o: { task?: string } = {}): Promise<Indexed<AllocResourceUsage>> {
    return this.request("GET", `/v1/client/allocation/${encodeURIComponent(id)}/stats`, undefined, o.task === undefined ? {} : { query: { task: o.task } });
  }

  // The agent and the system
  /** Nomad's `/v1/agent/self`: what the CLI reads of it (`stats.client.node_id`, the node of a client agent). */
  agentSelf(): Promise<Indexed<{ config?: { Region?: string }; stats?: { client?: { node_id?: string } } }>> {
    return this.request("GET", "/v1/agent/self");
  }
  /** Nomad's `system gc`: old terminal evaluations, allocations, deployments and jobs collected now. */
  systemGc(): Promise<Indexed<unknown>> {
    return this.request("PUT", "/v1/system/gc", {});
  }
  /** Nomad's `system reconcile summaries`. */
  reconcileSummaries(): Promise<Indexed<unknown>> {
    return this.request("PUT", "/v1/system/reconcile/summaries", {});
  }

  // Nodes
  nodes(q: QueryOptions = {}): Promise<Indexed<Omit<Node, "SecretID">[]>> {
    return fromWire(this.request<NodeWire<Omit<Node, "SecretID">>[]>("GET", "/v1/nodes", undefined, q), (l) => l.map(fromWireNode));
  }
  node(id: string, q: QueryOptions = {}): Promise<Indexed<Omit<Node, "SecretID">>> {
    return fromWire(this.request<NodeWire<Omit<Node, "SecretID">>>("GET", `/v1/node/${encodeURIComponent(id)}`, undefined, q), fromWireNode);
  }
  nodeAllocations(id: string, q: QueryOptions = {}): Promise<Indexed<AllocStub[]>> {
    return fromWire(this.request<AllocationWire<AllocStub>[]>("GET", `/v1/node/${encodeURIComponent(id)}/allocations`, undefined, q), (l) => l.map(fromWireAlloc));
  }
  drain(id: string, spec: { Deadline: number; IgnoreSystemJobs: boolean } | null, markEligible = false): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/node/${encodeURIComponent(id)}/drain`, { DrainSpec: spec, MarkEligible: markEligible });
  }
  eligibility(id: string, eligible: boolean): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/node/${encodeURIComponent(id)}/eligibility`, { Eligibility: eligible ? "eligible" : "ineligible" });
  }

  // The client agent's endpoints
  // The client agent's writes are safe to repeat: a registration of the same node, a
  // heartbeat, and allocation updates that say a state (not a change) are each the same
  // when applied twice.
  registerNode(node: Node): Promise<Indexed<{ HeartbeatTTL: number }>> {
    return this.request("PUT", "/v1/client/register", { Node: node }, {}, { idempotent: true });
  }
  /** A heartbeat; `timeoutMs` bounds each attempt (a beat that comes too late is no beat). */
  heartbeat(nodeId: string, timeoutMs?: number, sample?: CoordinateSample): Promise<Indexed<{ HeartbeatTTL: number; Coord?: Coordinate }>> {
    return this.request("PUT", `/v1/client/heartbeat/${encodeURIComponent(nodeId)}`, sample ?? {}, {}, timeoutMs === undefined ? { idempotent: true } : { idempotent: true, attemptTimeoutMs: timeoutMs });
  }
  nodeOwnAllocations(nodeId: string, q: QueryOptions = {}): Promise<Indexed<Allocation[]>> {
    return this.request("GET", `/v1/client/allocations/${encodeURIComponent(nodeId)}`, undefined, q);
  }
  updateAllocations(nodeId: string, updates: AllocUpdate[]): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/client/allocations/${encodeURIComponent(nodeId)}`, { Allocs: updates }, {}, { idempotent: true });
  }
  /** Statuses of checks of services registered directly on the node, as its agent probed them (a state, not a change: safe to repeat). */
  updateChecks(nodeId: string, updates: { CheckID: string; Status: string; Output: string }[]): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/client/checks/${encodeURIComponent(nodeId)}`, { Checks: updates }, {}, { idempotent: true });
  }

  /** The node's dynamic host volumes, a blocking query (those `pending` are for its agent to make, those `deleted` to remove). */
  nodeOwnHostVolumes(nodeId: string, q: QueryOptions = {}): Promise<Indexed<HostVolume[]>> {
    return this.request("GET", `/v1/client/host-volumes/${encodeURIComponent(nodeId)}`, undefined, q);
  }
  /** What the node's agent made or removed of its volumes (a state, not a change: safe to repeat). */
  reportHostVolumes(nodeId: string, reports: HostVolumeReport[]): Promise<Indexed<{ Index: number }>> {
    return this.request("PUT", `/v1/client/host-volumes/${encodeURIComponent(nodeId)}`, { Volumes: reports }, {}, { idempotent: true });
  }

  // The servers
  /** The leader's HTTP address, "" while there is none. */
  leader(): Promise<Indexed<string>> {
    return this.request("GET", "/v1/status/leader");
  }
  /** Every alive server's HTTP address. */
  peers(): Promise<Indexed<string[]>> {
    return this.request("GET", "/v1/status/peers");
  }
  members(): Promise<Indexed<ServerMembers>> {
    return this.request("GET", "/v1/agent/members");
  }
  /** The leader of `region`'s servers (Nomad's `Status().RegionLeader`): the request goes there through the server asked. */
  regionLeader(region: string): Promise<Indexed<string>> {
    return this.request("GET", "/v1/status/leader", undefined, { query: { region } });
  }
  /** Joins other regions' servers at their HTTP API addresses (Nomad's `Agent().Join`): how many answered, and what went wrong with the others. */
  serverJoin(addresses: readonly string[]): Promise<Indexed<{ num_joined: number; error: string; warning?: string }>> {
    return this.request("PUT", `/v1/agent/join?${addresses.map((a) => `address=${encodeURIComponent(a)}`).join("&")}`);
  }
  /** Marks a server left (by its name, or `name.region`); its etcd member, if any, is removed. */
  forceLeave(node: string): Promise<Indexed<null>> {
    return this.request("PUT", "/v1/agent/force-leave", undefined, { query: { node } });
  }
  /** Every server with its lag, each asked by the server that answers. */
  serverStatuses(): Promise<Indexed<{ Servers: ServerStatus[] }>> {
    return this.request("GET", "/v1/operator/servers");
  }
  schedulerConfig(): Promise<Indexed<{ SchedulerConfig: SchedulerConfiguration }>> {
    return this.request("GET", "/v1/operator/scheduler/configuration");
  }
  /** With `cas`, only over the configuration of that ModifyIndex (`Updated` says whether it was). */
  setSchedulerConfig(cfg: SchedulerConfiguration, cas?: number): Promise<Indexed<{ Updated: boolean; Index: number }>> {
    return this.request("PUT", `/v1/operator/scheduler/configuration${cas === undefined ? "" : `?cas=${cas}`}`, cfg);
  }
  etcdMembers(): Promise<Indexed<{ Members: EtcdMember[] }>> {
    return this.request("GET", "/v1/operator/etcd/members");
  }
  etcdRemove(nameOrId: string): Promise<Indexed<null>> {
    return this.request("DELETE", `/v1/operator/etcd/member/${encodeURIComponent(nameOrId)}`);
  }
  /** A new join token for `role`, the token itself shown this once (`rotate`: the role's other tokens revoked). */
  joinTokenCreate(role: JoinToken["Role"], rotate = false): Promise<Indexed<JoinTokenStub & { Token: string }>> {
    return this.request("POST", rotate ? "/v1/operator/join-token/rotate" : "/v1/operator/join-token", { Role: role });
  }
  /** Every join token, revoked ones included, without their secrets. */
  joinTokens(): Promise<Indexed<JoinTokenStub[]>> {
    return this.request("GET", "/v1/operator/join-tokens");
  }
  joinTokenRevoke(id: string): Promise<Indexed<JoinTokenStub>> {
    return this.request("DELETE", `/v1/operator/join-token/${encodeURIComponent(id)}`);
  }
  /** The cluster CA: its digest, the roots trusted, whether a rotation is under way; `rotate` rolls it, `finish` ends a rotation. */
  clusterCa(action?: "rotate" | "finish"): Promise<Indexed<{ CADigest: string; Trusted: string[]; Rotating: boolean }>> {
    return action === undefined ? this.request("GET", "/v1/operator/tls/ca") : this.request("POST", `/v1/operator/tls/ca/${action}`);
  }
}

/**
 * A client transport for the simulated and real client agents, over HTTP (one server or
 * several: see `ApiClient`). A heartbeat attempt waits at most a third of the last TTL the
 * servers gave (1 to 5 s) before the next server is tried, so that a server that stopped
 * answering (a paused process) does not let the node's TTL run out.
 */
export function httpTransport(api: ApiClient): {
  register(node: Node): Promise<{ HeartbeatTTL: number }>;
  heartbeat(nodeId: string, secret: string, sample?: CoordinateSample): Promise<{ HeartbeatTTL: number; Coord?: Coordinate }>;
  allocations(nodeId: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal): Promise<{ index: number; allocs: readonly Allocation[] }>;
  updateAllocs(nodeId: string, secret: string, updates: AllocUpdate[]): Promise<unknown>;
  updateChecks(nodeId: string, secret: string, updates: { CheckID: string; Status: string; Output: string }[]): Promise<unknown>;
  hostVolumes(nodeId: string, secret: string, minIndex: number, waitMs: number, signal: AbortSignal): Promise<{ index: number; volumes: readonly HostVolume[] }>;
  reportHostVolumes(nodeId: string, secret: string, reports: HostVolumeReport[]): Promise<unknown>;
} {
  let ttl = 0;
  const beatTimeout = (): number => Math.min(5000, Math.max(1000, Math.round(ttl / 3)));
  return {
    register: async (node) => {
      const r = (await api.registerNode(node)).body;
      ttl = r.HeartbeatTTL;
      return r;
    },
    heartbeat: async (id, secret, sample) => {
      const r = (await api.withNodeSecret(secret).heartbeat(id, beatTimeout(), sample)).body;
      ttl = r.HeartbeatTTL;
      return r;
    },
    allocations: async (id, secret, minIndex, waitMs, signal) => {
      const r = await api.withNodeSecret(secret).nodeOwnAllocations(id, { index: minIndex, wait: `${Math.round(waitMs)}ms`, signal });
      return { index: r.index, allocs: r.body };
    },
    updateAllocs: async (id, secret, updates) => (await api.withNodeSecret(secret).updateAllocations(id, updates)).body,
    updateChecks: async (id, secret, updates) => (await api.withNodeSecret(secret).updateChecks(id, updates)).body,
    hostVolumes: async (id, secret, minIndex, waitMs, signal) => {
      const r = await api.withNodeSecret(secret).nodeOwnHostVolumes(id, { index: minIndex, wait: `${Math.round(waitMs)}ms`, signal });
      return { index: r.index, volumes: r.body };
    },
    reportHostVolumes: async (id, secret, reports) => (await api.withNodeSecret(secret).reportHostVolumes(id, reports)).body,
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
