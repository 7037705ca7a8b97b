/**
 * The penetration suite (issue 16): a cluster as it runs outside -dev, attacked from
 * 127.0.0.1 over real HTTPS. One server (a data dir, ACLs on, TLS from the cluster's own PKI,
 * the router on) and two clients joined with join tokens, each a process of the built
 * `dist/cli/main.js`. What it tries: every route of `/v1/openapi.json` and every Consul write
 * without a token; writes with a read-only token; a Consul-style `key_prefix "app/"` token on
 * `secret/`; joins with a token for another CA, a revoked token, none, and an expired node
 * certificate; plain HTTP to the TLS ports; what the event stream, `/v1/agent/self` and the
 * agents' own output let out; Ruche's own ports as the router's backends.
 *
 * Flags are given explicitly (-acl-enabled, -tls-http, -join-token), so the test holds whether
 * or not they are the defaults.
 *
 * node identity: see src/api/node-identity.test.ts (node A's certificate cannot read or update
 * node B's allocations).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { request, type Dispatcher } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tlsDispatcher } from "../../src/apiclient/index.js";
import { caFromPem, ClusterCa, createKeyAndCsr, NodeRole, signCsr, type Ca } from "../../src/pki/index.js";
import { testCa } from "../tls-certs.js";
import { getThrough, root, until } from "./harness.js";

const BIN = join(root, "dist", "cli", "main.js");
const run = promisify(execFile);

/** A `ruche` process of the built binary; stdout and stderr together, as an operator's terminal shows them. */
interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function spawnRuche(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => { resolve(code); }));
  return {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(kill);
    },
  };
}

let dir = "";
const procs: Proc[] = [];
let server: Proc | undefined;
let api = "";
let consul = "";
let routerAddr = "";
let routerDashboard = "";
let caPem = "";
let mgmt = { AccessorID: "", SecretID: "" };
/** Trusts the cluster's CA, shows no certificate: anyone on 127.0.0.1. */
let anyone: Dispatcher | undefined;
/** The two joined clients: name, node ID, their node API's address. */
const nodes: { name: string; id: string; api: string }[] = [];
/** Every secret the cluster holds that the test knows of: none may appear in an answer, an event, or an agent's output. */
const secrets = new Map<string, string>();
/** What a management token's event stream carried, from just after the bootstrap to the end. */
let mgmtStream: EventStream | undefined;
/** What the node-only token's stream carried. */
let limitedEvents = "";

/** `until`, failing at once, with what it printed, when `p` exits first. */
async function whileRunning<T>(p: Proc, what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const exited = p.exited.then((code) => {
    throw new Error(`ruche exited (${String(code)}) while waiting for ${what}:\n${p.output()}`);
  });
  return Promise.race([until(what, check), exited]);
}

function trusting(): Dispatcher {
  if (anyone === undefined) throw new Error("the server's CA is not read yet");
  return anyone;
}

const printed = (p: Proc, re: RegExp): string => re.exec(p.output())?.[1] ?? "";

interface Answer {
  status: number;
  text: string;
}

/** One request over HTTPS, trusting the cluster's CA; `token` in X-Nomad-Token (or `header`). */
async function call(method: string, url: string, o: { token?: string; header?: string; body?: unknown; dispatcher?: Dispatcher } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers[o.header ?? "x-nomad-token"] = o.token;
  const body = o.body === undefined ? undefined : typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  const res = await request(url, { method, headers, ...(body === undefined ? {} : { body }), dispatcher: o.dispatcher ?? trusting(), headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

const asMgmt = (method: string, url: string, body?: unknown): Promise<Answer> => call(method, url, { token: mgmt.SecretID, ...(body === undefined ? {} : { body }) });

interface EventStream {
  status: number;
  /** What it carried so far (the refusal's body when not 200). */
  text(): string;
  close(): void;
}

/** Opens the event stream at `path` with `token` (none: anonymous) and reads it in the background until closed. */
async function openStream(path: string, token: string | undefined): Promise<EventStream> {
  const ctl = new AbortController();
  // The stream as server-sent events (the dashboard's form), which `events` reads.
  const res = await request(`https://${api}${path}`, { headers: { accept: "text/event-stream", ...(token === undefined ? {} : { "x-nomad-token": token }) }, dispatcher: trusting(), signal: ctl.signal, headersTimeout: 10_000 });
  let text = "";
  if (res.statusCode !== 200) text = await res.body.text();
  else {
    void (async () => {
      try {
        for await (const chunk of res.body) text += (chunk as Buffer).toString("utf8");
      } catch {
        // Closed by close().
      }
    })();
  }
  return { status: res.statusCode, text: () => text, close: () => { ctl.abort(); } };
}

interface StreamEvent {
  Topic: string;
  Type: string;
  Key: string;
  Index: number;
  Payload: Record<string, unknown>;
}

/** The events of a stream's text. */
function events(text: string): StreamEvent[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .flatMap((l) => (JSON.parse(l.slice(6)) as { Events: StreamEvent[] }).Events);
}

/** Runs the built `ruche` CLI against the server with `token`: exit code and output. */
async function cli(token: string, ...argv: string[]): Promise<{ code: number; out: string }> {
  const env = { ...process.env, RUCHE_ADDR: `https://${api}`, RUCHE_CACERT: join(dir, "server", "tls", "ca.pem"), RUCHE_TOKEN: token };
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...argv], { cwd: dir, env });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

async function joinToken(): Promise<{ ID: string; Token: string }> {
  const r = await asMgmt("PUT", `https://${api}/v1/operator/join-token`, { Role: "client" });
  expect(r.status, r.text).toBe(200);
  const t = JSON.parse(r.text) as { ID: string; Token: string };
  secrets.set(`join token ${t.ID}`, t.Token);
  secrets.set(`join token ${t.ID}'s secret`, t.Token.split("-").at(-1) ?? "");
  return t;
}

const COMMON = ["-bind", "127.0.0.1", "-http-port", "0", "-dns-port", "-1", "-acl-enabled", "-tls-http"];

/** A client-only agent joining with `token` (none: `-join-token` left out), on a data dir of its own. */
function clientArgs(name: string, token: string | undefined, servers = api): string[] {
  return ["agent", "-client", "-servers", servers, "-data-dir", join(dir, name), "-node", name, ...COMMON, "-consul-port", "-1", ...(token === undefined ? [] : ["-join-token", token])];
}

/** A client that must not start: it exits non-zero within `ms`; its output. */
async function refusedClient(name: string, args: string[], ms = 30_000): Promise<string> {
  const p = spawnRuche(args);
  procs.push(p);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([p.exited, new Promise<"running">((r) => (timer = setTimeout(() => { r("running"); }, ms)))]);
  clearTimeout(timer);
  if (code === "running") throw new Error(`the client ${name} was still running after ${ms} ms:\n${p.output()}`);
  expect(code, p.output()).not.toBe(0);
  return p.output();
}

beforeAll(async () => {
  expect(existsSync(BIN), `${BIN} is missing: run npx tsc -p tsconfig.build.json`).toBe(true);
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-pen-"));
  server = spawnRuche(["agent", "-server", "-data-dir", join(dir, "server"), ...COMMON, "-consul-port", "0", "-router", "-router-port", "0", "-router-dashboard-port", "0"]);
  procs.push(server);
  const s = server;
  await whileRunning(s, "the server's addresses", () => printed(s, /^ {4}Router dashboard: +http:\/\/(\S+)/m) || undefined);
  api = printed(s, /^ {4}API: +https:\/\/(\S+)$/m);
  consul = printed(s, /^ {4}Consul: +https:\/\/(\S+)/m);
  routerAddr = printed(s, /^ {4}Router: +http:\/\/([^\s,]+)/m);
  routerDashboard = printed(s, /^ {4}Router dashboard: +http:\/\/(\S+)/m);
  expect([api, consul, routerAddr], s.output()).not.toContain("");
  caPem = readFileSync(join(dir, "server", "tls", "ca.pem"), "utf8");
  const clusterKey = join(dir, "server", "tls", "cluster.key");
  if (existsSync(clusterKey)) secrets.set("the cluster key", readFileSync(clusterKey, "utf8").trim());
  anyone = tlsDispatcher({ ca: caPem });
  await until("a leader", async () => ((await call("GET", `https://${api}/v1/status/leader`)).text.length > 2 ? true : undefined));

  const boot = await call("PUT", `https://${api}/v1/acl/bootstrap`);
  expect(boot.status, boot.text).toBe(200);
  mgmt = JSON.parse(boot.text) as typeof mgmt;
  secrets.set("the management token", mgmt.SecretID);

  // Everything the cluster does from here is in a management token's stream, to look for secrets in.
  mgmtStream = await openStream("/v1/event/stream", mgmt.SecretID);
  expect(mgmtStream.status, mgmtStream.text()).toBe(200);

  for (const name of ["pen-a", "pen-b"]) {
    const t = await joinToken();
    const p = spawnRuche(clientArgs(name, t.Token));
    procs.push(p);
    const addr = await whileRunning(p, `${name}'s API`, () => printed(p, /^ {4}API: +https:\/\/(\S+)$/m) || undefined);
    const id = await whileRunning(p, `${name} ready`, async () => {
      const list = JSON.parse((await asMgmt("GET", `https://${api}/v1/nodes`)).text) as { ID: string; Name: string; Status: string }[];
      return list.find((n) => n.Name === name && n.Status === "ready")?.ID;
    });
    const secret = (JSON.parse(readFileSync(join(dir, name, "client", "node.json"), "utf8")) as { SecretID: string }).SecretID;
    secrets.set(`${name}'s node secret`, secret);
    nodes.push({ name, id, api: addr });
  }

  // Policies and tokens: a read-only one (namespace read), a Consul-style KV one, a node-only one.
  const policies: Record<string, string> = {
    readonly: 'namespace "default" {\n  policy = "read"\n}\nnode {\n  policy = "read"\n}\n',
    "app-kv": 'key_prefix "app/" {\n  policy = "read"\n}\n',
    "nodes-only": 'node {\n  policy = "read"\n}\n',
  };
  for (const [name, rules] of Object.entries(policies)) {
    const r = await asMgmt("PUT", `https://${api}/v1/acl/policy/${name}`, { Name: name, Rules: rules });
    expect(r.status, r.text).toBe(200);
    const t = await asMgmt("PUT", `https://${api}/v1/acl/token`, { Name: name, Type: "client", Policies: [name] });
    expect(t.status, t.text).toBe(200);
    const made = JSON.parse(t.text) as { SecretID: string };
    secrets.set(`the ${name} token`, made.SecretID);
  }

  // A job that cannot be placed (no node runs plan9): a job and its evaluation in the state, no task to clean up.
  writeFileSync(
    join(dir, "pen-web.hcl"),
    `job "pen-web" {\n  datacenters = ["dc1"]\n  constraint {\n    attribute = "\${attr.kernel.name}"\n    value     = "plan9"\n  }\n  group "web" {\n    task "web" {\n      driver = "docker"\n      config {\n        image = "ruche-test/busybox:latest"\n      }\n    }\n  }\n}\n`,
  );
  const job = await cli(mgmt.SecretID, "job", "run", "-detach", "pen-web.hcl");
  expect(job.code, job.out).toBe(0);
  for (const [key, value] of [["app/config", "listen=8080"], ["app/db", "host=db"], ["secret/password", "hunter2"]] as const) {
    const r = await call("PUT", `https://${consul}/v1/kv/${key}`, { token: mgmt.SecretID, header: "x-consul-token", body: value });
    expect(r.status, r.text).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  mgmtStream?.close();
  for (const p of procs.slice().reverse()) await p.stop();
  await anyone?.close();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The cluster CA with its key, as the server keeps it in its data dir (its key file, or sealed under the cluster key). */
async function clusterCa(): Promise<Ca> {
  const dataDir = join(dir, "server");
  const keyFile = join(dataDir, "tls", "ca-key.pem");
  if (existsSync(keyFile)) return caFromPem(caPem, readFileSync(keyFile, "utf8"));
  return (await ClusterCa.open(dataDir, "global")).ca.ca();
}

const secretToken = (name: string): string => secrets.get(`the ${name} token`) ?? "";
const UUID = "5b1f6f2e-6a53-4c1a-9c1e-2f0f3d3a7b11";

/** A plausible value for each path parameter of a route, so that a route's own 404 cannot hide a door left open. */
function fill(path: string): string {
  const node = nodes[0];
  return path
    .replace("{accessor}", mgmt.AccessorID)
    .replace(/^\/v1\/job\/\{id\}/, "/v1/job/pen-web")
    .replace(/^\/v1\/(node|client\/heartbeat|client\/allocations)\/\{id\}/, `/v1/$1/${node?.id ?? ""}`)
    .replace(/^\/v1\/agent\/service\/deregister\/\{id\}/, "/v1/agent/service/deregister/web")
    .replace(/^\/v1\/agent\/check\/(\w+)\/\{id\}/, "/v1/agent/check/$1/service:web")
    .replace("/v1/acl/policy/{name}", "/v1/acl/policy/readonly")
    .replace("{name}", "web")
    .replace("{node}", node?.name ?? "")
    .replace("{state}", "passing")
    .replace("*key", "secret/password")
    .replace(/\{\w+\}/g, UUID);
}

/** The body a client of the route would send: what the route's checks may read (a service's name, a node's registration). */
function bodyFor(method: string, path: string, nodeReg: unknown): unknown {
  if (method === "GET" || method === "DELETE") return undefined;
  if (path === "/v1/client/register") return nodeReg;
  if (path.startsWith("/v1/client/allocations/")) return { Allocs: [] };
  if (path === "/v1/txn") return [{ KV: { Verb: "set", Key: "secret/password", Value: Buffer.from("owned").toString("base64") } }];
  if (path === "/v1/agent/service/register") return { Name: "web", Address: "127.0.0.1", Port: 9 };
  if (path.startsWith("/v1/kv/")) return "owned";
  if (path === "/v1/agent/join") return { Token: `RUCHE-1-${"0".repeat(50)}-${"0".repeat(25)}`, CSR: "", Name: "intruder" };
  if (path === "/v1/acl/policy/{name}") return { Name: "readonly", Rules: 'namespace "*" { policy = "write" }' };
  if (path.startsWith("/v1/acl/token")) return { Name: "mine", Type: "management" };
  if (path === "/v1/jobs" || path === "/v1/job/{id}") return { Job: { ID: "pen-web", Name: "pen-web" } };
  return {};
}

/** What a request without a token gets that is not a refusal, on purpose, and why. Keyed `METHOD /path` (POST as PUT). */
const OPEN_ON_PURPOSE: Readonly<Record<string, { why: string; holds: (a: Answer) => boolean }>> = {
  "GET /v1/status/leader": { why: "Nomad's and Consul's status routes need no ACL: clients find the leader with them", holds: (a) => a.status === 200 },
  "GET /v1/status/peers": { why: "as /v1/status/leader", holds: (a) => a.status === 200 },
  "GET /v1/agent/ca": { why: "the CA's certificate is public: a joining node checks it against its token's digest before it sends the token", holds: (a) => a.status === 200 && a.text.includes("BEGIN CERTIFICATE") && !a.text.includes("PRIVATE KEY") },
  "PUT /v1/agent/join": { why: "a join is paid for with a join token, which the route checks: a made-up one is refused", holds: (a) => a.status === 400 || a.status === 403 },
  "PUT /v1/agent/renew": { why: "a renewal is paid for with the node's current certificate over mutual TLS: without one, 401", holds: (a) => a.status === 401 },
  "PUT /v1/acl/bootstrap": { why: "Nomad's bootstrap is open once, and refuses itself after (400)", holds: (a) => a.status === 400 && a.text.includes("already done") },
  "GET /v1/acl/token/self": { why: "a token reads itself; no token is the anonymous token, which has no policy", holds: (a) => a.status === 200 && (JSON.parse(a.text) as { AccessorID: string }).AccessorID === "anonymous" },
  "GET /v1/metrics": { why: "Nomad's /v1/metrics needs no ACL (\"ACL Required: none\"): counters, no data", holds: (a) => a.status === 200 },
  "GET /v1/openapi.json": { why: "the API's own description, the same for everyone", holds: (a) => a.status === 200 },
  "GET /v1/regions": { why: "Nomad's region list needs no ACL (\"ACL Required: none\"): the CLI's -region completion asks it first", holds: (a) => a.status === 200 && Array.isArray(JSON.parse(a.text)) },
  "GET /v1/catalog/datacenters": { why: "Consul's datacenter list needs no ACL: names only", holds: (a) => a.status === 200 && Array.isArray(JSON.parse(a.text)) },
  "GET /v1/coordinate/datacenters": { why: "Consul's WAN coordinates need no ACL: names and round trips", holds: (a) => a.status === 200 && Array.isArray(JSON.parse(a.text)) },
  "PUT /v1/query": { why: "Consul lets any token make a prepared query without a name (a named one needs query write): it must be bound to a session, so an empty one is refused", holds: (a) => a.status === 400 && a.text.includes("Must be bound to a session") },
  "GET /v1/query/{id}": { why: "an unnamed prepared query is read by whoever has its ID, as in Consul: an unknown ID is not found", holds: (a) => a.status === 404 && a.text === "Query not found" },
  "PUT /v1/query/{id}": { why: "as GET /v1/query/{id}: the route checks the query's name's query write once it finds the query", holds: (a) => a.status === 404 },
  "DELETE /v1/query/{id}": { why: "as PUT /v1/query/{id}", holds: (a) => a.status === 404 },
  "GET /v1/query/{id}/execute": { why: "any token executes a query, as in Consul, seeing the instances it may read: an unknown one is not found", holds: (a) => a.status === 404 && a.text === "Query not found" },
  "GET /v1/query/{id}/explain": { why: "as execute; a query found is shown only with query read on its name", holds: (a) => a.status === 404 && a.text === "Query not found" },
  "PUT /v1/internal/federation": { why: "the servers' exchange across regions: the route asks for another region's server's certificate (mutual TLS), not a token; without one it is refused", holds: (a) => a.status === 403 && a.text.includes("server's certificate") },
  "PUT /v1/acl/create": { why: "Consul 1.11 removed the legacy ACL API: 410 Gone to anyone, nothing touched", holds: (a) => a.status === 410 && a.text.includes("legacy ACL system was removed") },
  "PUT /v1/acl/update": { why: "Consul 1.11 removed the legacy ACL API: 410 Gone to anyone, nothing touched", holds: (a) => a.status === 410 && a.text.includes("legacy ACL system was removed") },
  "PUT /v1/acl/destroy/{id}": { why: "Consul 1.11 removed the legacy ACL API: 410 Gone to anyone, nothing touched", holds: (a) => a.status === 410 && a.text.includes("legacy ACL system was removed") },
  "PUT /v1/acl/clone/{id}": { why: "Consul 1.11 removed the legacy ACL API: 410 Gone to anyone, nothing touched", holds: (a) => a.status === 410 && a.text.includes("legacy ACL system was removed") },
  "GET /v1/acl/info/{id}": { why: "Consul 1.11 removed the legacy ACL API: 410 Gone to anyone, nothing touched", holds: (a) => a.status === 410 && a.text.includes("legacy ACL system was removed") },
  "GET /v1/acl/list": { why: "Consul 1.11 removed the legacy ACL API: 410 Gone to anyone, nothing touched", holds: (a) => a.status === 410 && a.text.includes("legacy ACL system was removed") },
  "PUT /v1/internal/query/execute": { why: "another datacenter's failover runs a query's definition here, its instances filtered by the token it sends: an empty definition is refused", holds: (a) => a.status === 400 && a.text.includes("Invalid remote execution") },
};

/** Routes that answer any token and leave out what it may not read, as Consul does: no token, nothing in them. */
const FILTERED_FOR_ANONYMOUS: Readonly<Record<string, { why: string; holds: (a: Answer) => boolean }>> = {
  "GET /v1/catalog/services": { why: "Consul's catalog lists are filtered, not refused", holds: (a) => a.status === 200 && a.text === "{}" },
  "GET /v1/catalog/nodes": { why: "as /v1/catalog/services", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/health/state/{state}": { why: "Consul's health lists are filtered, not refused", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/agent/services": { why: "Consul's agent lists are filtered, not refused", holds: (a) => a.status === 200 && a.text === "{}" },
  "GET /v1/agent/checks": { why: "as /v1/agent/services", holds: (a) => a.status === 200 && a.text === "{}" },
  "GET /v1/session/list": { why: "Consul's session list is filtered, not refused", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/session/node/{node}": { why: "as /v1/session/list (Consul's NodeSessions filters by session read on the node)", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/event/list": { why: "Consul's event list is filtered by event read, not refused", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/coordinate/nodes": { why: "Consul's coordinate list is filtered by node read, not refused", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/query": { why: "Consul's prepared query list is filtered: named queries the token has query read on", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/vars": { why: "Nomad's variable list leaves out the paths the token may not list", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/services": { why: "Nomad's service list leaves out the namespaces and services the token may not read", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/service/{name}": { why: "as /v1/services", holds: (a) => a.status === 200 && a.text === "[]" },
  "GET /v1/namespaces": { why: "Nomad's namespace list leaves out the namespaces the token has no capability in", holds: (a) => a.status === 200 && a.text === "[]" },
  "PUT /v1/txn": { why: "Consul checks each operation of a transaction: one refused fails it all (409, Permission denied)", holds: (a) => (a.status === 409 || a.status === 403) && a.text.includes("Permission denied") },
};

/** The node agent's endpoints: the node proves who it is (its certificate, its secret), not an ACL token; nobody else gets in. */
const NODE_IDENTITY = new Set(["PUT /v1/client/register", "PUT /v1/client/heartbeat/{id}", "GET /v1/client/allocations/{id}", "PUT /v1/client/allocations/{id}", "PUT /v1/client/checks/{id}", "GET /v1/client/host-volumes/{id}", "PUT /v1/client/host-volumes/{id}"]);

describe("a non-dev cluster, attacked from 127.0.0.1", () => {
  it("refuses every route of /v1/openapi.json without a token, but those open on purpose, each for its reason", async () => {
    const spec = JSON.parse((await call("GET", `https://${api}/v1/openapi.json`)).text) as { paths: Record<string, Record<string, unknown>> };
    const node = JSON.parse((await asMgmt("GET", `https://${api}/v1/node/${nodes[0]?.id ?? ""}`)).text) as Record<string, unknown>;
    const nodeReg = { Node: { ...node, ID: UUID, Name: "intruder", SecretID: "0e0e0e0e-1111-4222-8333-444444444444", HTTPAddr: "127.0.0.1:9" } };
    const failures: string[] = [];
    let walked = 0;
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const m of Object.keys(methods)) {
        const method = m.toUpperCase();
        const key = `${method === "POST" ? "PUT" : method} ${path}`;
        const url = `https://${api}${fill(path)}`;
        walked++;
        if (path === "/v1/event/stream") {
          const r = await openStream("/v1/event/stream", undefined);
          r.close();
          if (r.status !== 403) failures.push(`${method} ${path} → ${r.status} ${r.text().slice(0, 160)}, not 403`);
          continue;
        }
        // Consul creates a prepared query with POST alone (PUT is refused there, 405): sent as Consul's clients send it.
        const send = key === "PUT /v1/query" ? "POST" : method;
        const a = await call(send, url, { body: bodyFor(method, path, nodeReg) });
        const open = OPEN_ON_PURPOSE[key] ?? FILTERED_FOR_ANONYMOUS[key];
        if (open !== undefined) {
          if (!open.holds(a)) failures.push(`${method} ${fill(path)} → ${a.status} ${a.text.slice(0, 160)} (open on purpose: ${open.why}; but not as it should be)`);
        } else if (NODE_IDENTITY.has(key)) {
          if (a.status !== 401 && a.status !== 403) failures.push(`${method} ${fill(path)} → ${a.status} ${a.text.slice(0, 160)} (a node's endpoint, without the node's identity)`);
        } else if (a.status !== 403 || !a.text.includes("Permission denied")) {
          failures.push(`${method} ${fill(path)} → ${a.status} ${a.text.slice(0, 160)}`);
        }
      }
    }
    expect(walked).toBeGreaterThan(100);
    expect(failures).toEqual([]);
  }, 60_000);

  it("refuses a node's own API (task logs, exec) to anyone without a server's certificate, token or not", async () => {
    // A node's certificate names the node, not 127.0.0.1: the chain is checked, not the name.
    const toNode = tlsDispatcher({ ca: caPem, verifyHostname: false });
    try {
      const failures: string[] = [];
      for (const n of nodes) {
        for (const token of [undefined, secretToken("readonly")]) {
          for (const [method, path, body] of [["GET", `/v1/client/fs/logs/${UUID}?task=web&type=stdout`, undefined], ["PUT", `/v1/client/allocation/${UUID}/exec`, { Task: "web", Cmd: ["/bin/sh", "-c", "id"] }]] as const) {
            const a = await call(method, `https://${n.api}${path}`, { dispatcher: toNode, ...(token === undefined ? {} : { token }), ...(body === undefined ? {} : { body }) });
            if (a.status !== 401 && a.status !== 403) failures.push(`${method} ${n.name} ${path} (${token === undefined ? "no token" : "read-only token"}) → ${a.status} ${a.text.slice(0, 160)}`);
          }
        }
      }
      expect(failures).toEqual([]);
    } finally {
      await toNode.close();
    }
  });

  it("refuses every Consul write without a token on the Consul port, with Consul's 403 Permission denied", async () => {
    const writes: [string, string, unknown][] = [
      ["PUT", "/v1/agent/service/register", { Name: "web", Address: "127.0.0.1", Port: 9 }],
      ["PUT", "/v1/agent/service/deregister/web", undefined],
      ["PUT", "/v1/agent/check/pass/service:web", undefined],
      ["PUT", "/v1/agent/check/warn/service:web", undefined],
      ["PUT", "/v1/agent/check/fail/service:web", undefined],
      ["PUT", "/v1/agent/check/update/service:web", { Status: "passing" }],
      ["PUT", "/v1/agent/reload", undefined],
      ["PUT", "/v1/agent/force-leave/pen-a", undefined],
      ["PUT", "/v1/kv/app/config", "owned"],
      ["PUT", "/v1/kv/secret/password?cas=0", "owned"],
      ["DELETE", "/v1/kv/app/config", undefined],
      ["DELETE", "/v1/kv/app?recurse", undefined],
      ["PUT", "/v1/session/create", { Name: "lock" }],
      ["PUT", `/v1/session/destroy/${UUID}`, undefined],
      ["PUT", `/v1/session/renew/${UUID}`, undefined],
    ];
    const failures: string[] = [];
    for (const [method, path, body] of writes) {
      for (const m of method === "PUT" ? ["PUT", "POST"] : [method]) {
        const a = await call(m, `https://${consul}${path}`, { body });
        if (a.status !== 403 || a.text.trim() !== "Permission denied") failures.push(`${m} ${path} → ${a.status} ${a.text.slice(0, 160)}`);
      }
    }
    const txn = await call("PUT", `https://${consul}/v1/txn`, { body: [{ KV: { Verb: "set", Key: "app/config", Value: Buffer.from("owned").toString("base64") } }] });
    if (!((txn.status === 409 || txn.status === 403) && txn.text.includes("Permission denied"))) failures.push(`PUT /v1/txn → ${txn.status} ${txn.text.slice(0, 160)}`);
    expect(failures).toEqual([]);
    // Nothing was written: the values are the ones put at the start.
    const value = await call("GET", `https://${consul}/v1/kv/app/config?raw`, { token: mgmt.SecretID, header: "x-consul-token" });
    expect(value).toEqual({ status: 200, text: "listen=8080" });
  }, 30_000);

  it("lets a read-only token (namespace read) read, and refuses it a job's registration, a KV put and a node drain", async () => {
    const ro = secretToken("readonly");
    expect((await call("GET", `https://${api}/v1/jobs`, { token: ro })).status).toBe(200);
    const run = await cli(ro, "job", "run", "-detach", "pen-web.hcl");
    expect(run.code, run.out).not.toBe(0);
    expect(run.out).toContain("Permission denied");
    const put = await call("PUT", `https://${api}/v1/jobs`, { token: ro, body: { Job: { ID: "ro-job", Name: "ro-job" } } });
    expect(put.status, put.text).toBe(403);
    const kv = await call("PUT", `https://${consul}/v1/kv/app/config`, { token: ro, header: "x-consul-token", body: "owned" });
    expect(kv).toEqual({ status: 403, text: "Permission denied" });
    const drain = await call("PUT", `https://${api}/v1/node/${nodes[0]?.id ?? ""}/drain`, { token: ro, body: { DrainSpec: { Deadline: 0 } } });
    expect(drain.status, drain.text).toBe(403);
    const cliDrain = await cli(ro, "node", "drain", "-enable", "-yes", nodes[0]?.id ?? "");
    expect(cliDrain.code, cliDrain.out).not.toBe(0);
    expect(cliDrain.out).toContain("Permission denied");
    const nodeNow = JSON.parse((await asMgmt("GET", `https://${api}/v1/node/${nodes[0]?.id ?? ""}`)).text) as { DrainStrategy: unknown; SchedulingEligibility: string };
    expect(nodeNow.DrainStrategy).toBeNull();
    expect(nodeNow.SchedulingEligibility).toBe("eligible");
  }, 30_000);

  it("gives a key_prefix \"app/\" read token app/ only: secret/ left out of lists, 403 on a direct read, no write on app/", async () => {
    const kv = secretToken("app-kv");
    const as = (method: string, path: string, body?: unknown): Promise<Answer> => call(method, `https://${consul}${path}`, { token: kv, header: "x-consul-token", ...(body === undefined ? {} : { body }) });
    const tree = await as("GET", "/v1/kv/?recurse");
    expect(tree.status, tree.text).toBe(200);
    expect((JSON.parse(tree.text) as { Key: string }[]).map((e) => e.Key).sort()).toEqual(["app/config", "app/db"]);
    expect(tree.text).not.toContain(Buffer.from("hunter2").toString("base64"));
    const keys = await as("GET", "/v1/kv/?keys");
    expect(JSON.parse(keys.text)).toEqual(["app/config", "app/db"]);
    expect(await as("GET", "/v1/kv/secret/?recurse")).toEqual({ status: 404, text: "" });
    expect(await as("GET", "/v1/kv/secret/password")).toEqual({ status: 403, text: "Permission denied" });
    expect(await as("GET", "/v1/kv/app/config?raw")).toEqual({ status: 200, text: "listen=8080" });
    expect(await as("PUT", "/v1/kv/app/config", "owned")).toEqual({ status: 403, text: "Permission denied" });
    expect(await as("DELETE", "/v1/kv/app/config")).toEqual({ status: 403, text: "Permission denied" });
    const txn = await as("PUT", "/v1/txn", [{ KV: { Verb: "get", Key: "secret/password" } }]);
    expect(txn.status, txn.text).toBe(409);
    expect(txn.text).not.toContain(Buffer.from("hunter2").toString("base64"));
  }, 30_000);

  it("answers plain HTTP to the TLS ports (the API and the Consul port) with 400 and a message, and nothing else", async () => {
    for (const addr of [api, consul]) {
      const [host, port] = addr.split(":") as [string, string];
      const answer = await new Promise<Answer>((resolve, reject) => {
        const req = httpRequest({ host, port: Number(port), path: "/v1/kv/secret/password", method: "GET" }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (c: string) => (text += c));
          res.on("end", () => { resolve({ status: res.statusCode ?? 0, text }); });
        });
        req.setTimeout(5000, () => req.destroy(new Error("no answer within 5s")));
        req.on("error", reject);
        req.end();
      });
      expect(answer.status, addr).toBe(400);
      expect(answer.text).toContain("Client sent an HTTP request to an HTTPS server.");
    }
  });

  it("refuses a join to a server whose CA is not the token's before the token's secret is sent, saying so", async () => {
    // A server that is not the cluster's, with a certificate of another CA, noting every request it is sent.
    const other = await testCa();
    const cert = await other.issue("server.global.ruche", ["server.global.ruche", "localhost", "127.0.0.1"]);
    const seen: string[] = [];
    const impostor = createHttpsServer({ cert: cert.cert + other.cert, key: cert.key }, (req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (c: string) => (body += c));
      req.on("end", () => {
        seen.push(`${req.method ?? ""} ${req.url ?? ""} ${JSON.stringify(req.headers)} ${body}`);
        if (req.url === "/v1/agent/ca") res.end(other.cert);
        else res.end("{}");
      });
    });
    await new Promise<void>((r) => impostor.listen(0, "127.0.0.1", r));
    try {
      const t = await joinToken();
      const out = await refusedClient("pen-forged", clientArgs("pen-forged", t.Token, `127.0.0.1:${(impostor.address() as AddressInfo).port}`));
      expect(out).toMatch(/does not match the join token's .*not sending the token's secret/);
      const secret = t.Token.split("-").at(-1) ?? "";
      expect(seen.filter((s) => s.includes(secret))).toEqual([]);
      expect(seen.every((s) => s.startsWith("GET /v1/agent/ca "))).toBe(true);
      expect(existsSync(join(dir, "pen-forged", "tls", "node.pem"))).toBe(false);
    } finally {
      await new Promise<void>((r) => impostor.close(() => { r(); }));
    }
  }, 40_000);

  it("refuses a join token whose digest names another CA than the server's, saying so, and writes no certificate", async () => {
    const t = await joinToken();
    const parts = t.Token.split("-");
    const digest = parts[2] ?? "";
    parts[2] = digest.slice(0, -1) + (digest.endsWith("0") ? "1" : "0");
    const out = await refusedClient("pen-digest", clientArgs("pen-digest", parts.join("-")));
    expect(out).toMatch(/does not match the join token's .*not sending the token's secret/);
    expect(existsSync(join(dir, "pen-digest", "tls", "node.pem"))).toBe(false);
  }, 40_000);

  it("refuses a join with a revoked token, naming the token as revoked", async () => {
    const t = await joinToken();
    const revoke = await asMgmt("DELETE", `https://${api}/v1/operator/join-token/${t.ID}`);
    expect(revoke.status, revoke.text).toBe(200);
    const out = await refusedClient("pen-revoked", clientArgs("pen-revoked", t.Token));
    expect(out).toMatch(new RegExp(`join token ${t.ID} was revoked`));
    expect(existsSync(join(dir, "pen-revoked", "tls", "node.pem"))).toBe(false);
  }, 40_000);

  it("refuses a client with no join token and no certificate, saying it needs a join token", async () => {
    const out = await refusedClient("pen-none", clientArgs("pen-none", undefined));
    expect(out).toMatch(/join the cluster with -join-token TOKEN/);
    const list = JSON.parse((await asMgmt("GET", `https://${api}/v1/nodes`)).text) as { Name: string }[];
    expect(list.map((n) => n.Name)).not.toContain("pen-none");
  }, 40_000);

  it("refuses an expired node certificate of the cluster's own CA, saying it expired", async () => {
    const ca = await clusterCa();
    const id = { region: "global", role: NodeRole.Client, name: "pen-stale" };
    const { keyPem, csrPem } = await createKeyAndCsr(id);
    const certPem = await signCsr(ca, csrPem, id, { now: new Date(Date.now() - 48 * 3600_000), ttlMs: 3600_000 });
    const stale = tlsDispatcher({ ca: caPem, cert: certPem, key: keyPem });
    try {
      const renew = await call("PUT", `https://${api}/v1/agent/renew`, { dispatcher: stale, body: {} });
      expect(renew.status, renew.text).toBe(403);
      expect(renew.text).toMatch(/expired/i);
      const register = await call("PUT", `https://${api}/v1/client/register`, { dispatcher: stale, body: { Node: { Name: "pen-stale" } } });
      expect(register.status, register.text).toBe(403);
    } finally {
      await stale.close();
    }
    // A client agent given it as its kept certificate does not get in with it either.
    mkdirSync(join(dir, "pen-stale", "tls"), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "pen-stale", "tls", "ca.pem"), caPem);
    writeFileSync(join(dir, "pen-stale", "tls", "node.pem"), certPem);
    writeFileSync(join(dir, "pen-stale", "tls", "node-key.pem"), keyPem, { mode: 0o600 });
    const agent = spawnRuche(clientArgs("pen-stale", undefined));
    procs.push(agent);
    // Refused on every call (registration, renewal): it says so, whether it then stops or keeps asking.
    await until("the stale client refused for its expired certificate", () => (/CERT_HAS_EXPIRED|certificate expired/.test(agent.output()) ? true : undefined), 20_000);
    const list = JSON.parse((await asMgmt("GET", `https://${api}/v1/nodes`)).text) as { Name: string }[];
    expect(list.map((n) => n.Name)).not.toContain("pen-stale");
    await agent.stop();
  }, 40_000);

  it("carries on the event stream only what a token may read: a node-only token gets Node events, no job's", async () => {
    const token = secretToken("nodes-only");
    const byTopic = await openStream("/v1/event/stream?topic=Job", token);
    byTopic.close();
    expect(byTopic.status).toBe(403);
    const node = nodes[1]?.id ?? "";
    const stream = await openStream("/v1/event/stream", token);
    try {
      expect(stream.status, stream.text()).toBe(200);
      // While it is open: a new job (its events are not the token's), then a node made ineligible (they are).
      writeFileSync(join(dir, "pen-other.hcl"), readFileSync(join(dir, "pen-web.hcl"), "utf8").replaceAll("pen-web", "pen-other"));
      const job = await cli(mgmt.SecretID, "job", "run", "-detach", "pen-other.hcl");
      expect(job.code, job.out).toBe(0);
      const elig = await asMgmt("PUT", `https://${api}/v1/node/${node}/eligibility`, { Eligibility: "ineligible" });
      expect(elig.status, elig.text).toBe(200);
      await until("the node's event on the stream", () => (events(stream.text()).some((e) => e.Topic === "Node" && e.Key === node && e.Payload.SchedulingEligibility === "ineligible") ? true : undefined), 15_000);
      // The management token's stream carried the job's events, which came first.
      await until("the job's events on the management stream", () => (events(mgmtStream?.text() ?? "").some((e) => e.Topic === "Job" && e.Key.includes("pen-other")) ? true : undefined), 15_000);
      expect(events(stream.text()).map((e) => e.Topic).filter((t) => t !== "Node")).toEqual([]);
      expect(stream.text()).not.toContain("pen-other");
      limitedEvents = stream.text();
    } finally {
      stream.close();
    }
    expect((await asMgmt("PUT", `https://${api}/v1/node/${node}/eligibility`, { Eligibility: "eligible" })).status).toBe(200);
  }, 40_000);

  it("lets no secret out: not in any event, not in /v1/agent/self, not in the agents' output", async () => {
    // The management stream saw the job's and the nodes' events: make sure it has some.
    const mgmtEvents = mgmtStream?.text() ?? "";
    expect(events(mgmtEvents).some((e) => e.Topic === "Job")).toBe(true);
    const places: [string, string][] = [
      ["the management token's event stream", mgmtEvents],
      ["the node-only token's event stream", limitedEvents],
    ];
    for (const addr of [api, consul]) {
      const self = await call("GET", `https://${addr}/v1/agent/self`, { token: mgmt.SecretID, header: "x-consul-token" });
      expect(self.status, self.text).toBe(200);
      places.push([`/v1/agent/self on ${addr}`, self.text]);
    }
    for (const p of procs) places.push([`the output of ruche ${p.child.spawnargs.slice(2, 4).join(" ")}`, p.output()]);
    const leaks: string[] = [];
    for (const [where, text] of places) {
      if (text.includes("PRIVATE KEY")) leaks.push(`a private key in ${where}`);
      for (const [what, value] of secrets) if (value !== "" && text.includes(value)) leaks.push(`${what} in ${where}`);
    }
    expect(secrets.size).toBeGreaterThanOrEqual(8);
    expect(leaks).toEqual([]);
  }, 30_000);

  it("never routes to Ruche's own ports (API, Consul, a node's API, the router's), however the address is written", async () => {
    const backend: Server = createHttpServer((_req, res) => res.end("legit backend\n"));
    await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
    try {
      const port = (p: string): number => Number(p.slice(p.lastIndexOf(":") + 1));
      const services: [string, string, number][] = [
        ["legit", "127.0.0.1", (backend.address() as AddressInfo).port],
        ["sneaky-api", "127.0.0.1", port(api)],
        ["sneaky-api-spelled", "127.1", port(api)],
        ["sneaky-api-mapped", "::ffff:127.0.0.1", port(api)],
        ["sneaky-consul", "127.0.0.1", port(consul)],
        ["sneaky-node", "127.0.0.1", port(nodes[0]?.api ?? "")],
        ["sneaky-router", "127.0.0.1", port(routerAddr)],
        ["sneaky-dashboard", "127.0.0.1", port(routerDashboard)],
      ];
      for (const [name, address, p] of services) {
        const r = await call("PUT", `https://${consul}/v1/agent/service/register`, { token: mgmt.SecretID, header: "x-consul-token", body: { Name: name, Address: address, Port: p, Tags: [`traefik.http.routers.${name}.rule=Host(\`${name}.pen.test\`)`] } });
        expect(r.status, `${name}: ${r.text}`).toBe(200);
      }
      // The router works: the legitimate backend is reached.
      await until("the legit route", async () => ((await getThrough(routerAddr, "legit.pen.test")).status === 200 ? true : undefined), 15_000);
      expect(await getThrough(routerAddr, "legit.pen.test")).toEqual({ status: 200, body: "legit backend" });
      interface Overview {
        routes: { service: string; backends: { origin: string }[] }[];
        skipped: { service: string; reason: string; refused?: boolean }[];
      }
      const sneaky = services.slice(1).map(([n]) => n);
      const overview = await until("the router's table with every service judged", async () => {
        const o = (await (await fetch(`http://${routerDashboard}/api/overview`)).json()) as Overview;
        const judged = (n: string): boolean => o.skipped.some((x) => x.service === n) || o.routes.some((r) => r.service === n && r.backends.length > 0);
        return sneaky.every(judged) ? o : undefined;
      }, 15_000);
      const routed = overview.routes.filter((r) => sneaky.includes(r.service) && r.backends.length > 0).map((r) => `${r.service} → ${r.backends.map((x) => x.origin).join(", ")}`);
      expect(routed).toEqual([]);
      for (const name of sneaky) {
        expect(overview.skipped.find((x) => x.service === name), name).toMatchObject({ refused: true });
        // Nothing behind it: no route (404), or a route left with no backend (503).
        const through = await getThrough(routerAddr, `${name}.pen.test`);
        expect([404, 503], `${name}: ${through.status} ${through.body}`).toContain(through.status);
      }
    } finally {
      await new Promise<void>((r) => backend.close(() => { r(); }));
    }
  }, 40_000);
});
