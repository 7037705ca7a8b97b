import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, httpTransport } from "../apiclient/index.js";
import { SimulatedNode } from "../client/sim.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger, sleep, type AclToken } from "../structs/index.js";
import { startApi, type RunningHttp } from "./index.js";

/**
 * Namespaces through real HTTP (127.0.0.1, port 0) on a server with ACLs on, a simulated node
 * running the jobs: Nomad's `/v1/namespaces` and `/v1/namespace/:name` in the shape of its Go
 * client's `api.Namespace` (hashicorp/nomad api/namespace.go), jobs kept apart by namespace on
 * every route, and namespace rules of ACL policies applied to the namespace a request acts in.
 */

/** api.Namespace's fields, as Go's encoding/json reads them (`?`: a pointer or map, null is nil). */
const NAMESPACE: Record<string, string> = {
  Name: "string",
  Description: "string",
  Quota: "string",
  Capabilities: "object?",
  NodePoolConfiguration: "object?",
  VaultConfiguration: "object?",
  ConsulConfiguration: "object?",
  Meta: "object?",
  CreateIndex: "number",
  ModifyIndex: "number",
};

function shapeProblems(obj: unknown): string[] {
  if (typeof obj !== "object" || obj === null) return ["not an object"];
  const o = obj as Record<string, unknown>;
  const out: string[] = [];
  for (const [f, spec] of Object.entries(NAMESPACE)) {
    if (!Object.hasOwn(o, f)) {
      out.push(`missing:${f}`);
      continue;
    }
    const v = o[f];
    const t = spec.replace("?", "");
    if (v === null ? !spec.endsWith("?") : t === "object" ? typeof v !== "object" || Array.isArray(v) : typeof v !== t) out.push(`type:${f}`);
  }
  return out;
}

let store: StateStore;
let server: Server;
let api: RunningHttp;
let sim: SimulatedNode;
let management: string;

async function policyToken(rules: string): Promise<string> {
  const name = `p-${randomUUID().slice(0, 8)}`;
  await store.write((tx) => {
    tx.put("aclPolicies", { Name: name, Description: "", Rules: rules, CreateIndex: 0, ModifyIndex: 0 });
  });
  const t: AclToken = { AccessorID: randomUUID(), SecretID: randomUUID(), Name: "t", Type: "client", Policies: [name], Global: false, CreateTime: new Date().toISOString(), CreateIndex: 0, ModifyIndex: 0 };
  await store.write((tx) => {
    tx.put("aclTokens", t);
  });
  return t.SecretID;
}

/** A request as Nomad's Go client sends it; the answer's status, JSON and headers. */
async function call(method: string, path: string, o: { body?: unknown; token?: string } = {}): Promise<{ status: number; json: unknown; text: string; headers: Headers }> {
  const res = await fetch(`http://${api.address}${path}`, {
    method,
    headers: { "x-nomad-token": o.token ?? management },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : (JSON.parse(text) as unknown);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

function job(id: string, namespace: string | null): Record<string, unknown> {
  return { ID: id, Name: id, Namespace: namespace, Type: "service", Datacenters: ["dc1"], TaskGroups: [{ Name: "g", Count: 1, Tasks: [{ Name: "t", Driver: "mock", Config: {} }] }] };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger });
  server.start();
  api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, acl: { enabled: true } });
  const t: AclToken = { AccessorID: randomUUID(), SecretID: randomUUID(), Name: "m", Type: "management", Policies: [], Global: false, CreateTime: new Date().toISOString(), CreateIndex: 0, ModifyIndex: 0 };
  await store.write((tx) => {
    tx.put("aclTokens", t);
  });
  management = t.SecretID;
  sim = new SimulatedNode(httpTransport(new ApiClient(api.address, { token: management })), { name: "n0" });
  await sim.start();
});

afterAll(async () => {
  await sim.kill();
  await api.close();
  await server.stop();
});

describe("/v1/namespaces and /v1/namespace/:name, as api.Namespaces calls them", () => {
  it("lists the default namespace, always there, in api.Namespace's shape, with X-Nomad-Index", async () => {
    const r = await call("GET", "/v1/namespaces");
    expect(r.status).toBe(200);
    expect(Number(r.headers.get("x-nomad-index"))).toBeGreaterThan(0);
    const list = r.json as Record<string, unknown>[];
    expect(list.map((n) => n.Name)).toEqual(["default"]);
    expect(shapeProblems(list[0])).toEqual([]);
    expect(list[0]).toMatchObject({ Name: "default", Description: "Default shared namespace", Quota: "" });
  });

  it("creates with api.Namespaces.Register (PUT /v1/namespace), reads back field for field, and an update keeps CreateIndex", async () => {
    // What the Go client marshals for &api.Namespace{Name: "prod", Description: "..."}: every field, nil as null.
    const body = { Name: "prod", Description: "production", Quota: "", Capabilities: null, NodePoolConfiguration: null, VaultConfiguration: null, ConsulConfiguration: null, Meta: { team: "web" }, CreateIndex: 0, ModifyIndex: 0 };
    const put = await call("PUT", "/v1/namespace", { body });
    expect(put.status, put.text).toBe(200);
    const got = await call("GET", "/v1/namespace/prod");
    expect(got.status).toBe(200);
    expect(shapeProblems(got.json)).toEqual([]);
    const first = got.json as { CreateIndex: number; ModifyIndex: number };
    expect(got.json).toMatchObject({ Name: "prod", Description: "production", Meta: { team: "web" }, Capabilities: null });
    // POST to the name, as `nomad namespace apply` does on an update.
    expect((await call("POST", "/v1/namespace/prod", { body: { ...body, Description: "prod, v2", Capabilities: { EnabledTaskDrivers: ["docker"] } } })).status).toBe(200);
    const again = (await call("GET", "/v1/namespace/prod")).json as { CreateIndex: number; ModifyIndex: number; Description: string; Capabilities: unknown };
    expect(again.CreateIndex).toBe(first.CreateIndex);
    expect(again.ModifyIndex).toBeGreaterThan(first.ModifyIndex);
    expect(again.Description).toBe("prod, v2");
    expect(again.Capabilities).toEqual({ EnabledTaskDrivers: ["docker"], DisabledTaskDrivers: [], EnabledNetworkModes: [], DisabledNetworkModes: [] });
    expect(((await call("GET", "/v1/namespaces")).json as { Name: string }[]).map((n) => n.Name)).toEqual(["default", "prod"]);
    expect(((await call("GET", "/v1/namespaces?prefix=pr")).json as { Name: string }[]).map((n) => n.Name)).toEqual(["prod"]);
  });

  it("refuses what Nomad refuses, saying where", async () => {
    const mismatch = await call("PUT", "/v1/namespace/prod", { body: { Name: "other" } });
    expect([mismatch.status, mismatch.text]).toEqual([400, expect.stringContaining("Namespace name does not match request path")]);
    const bad = await call("PUT", "/v1/namespace", { body: { Name: "no spaces" } });
    expect([bad.status, bad.text]).toEqual([400, expect.stringContaining("invalid name")]);
    const quota = await call("PUT", "/v1/namespace", { body: { Name: "q", Quota: "small" } });
    expect([quota.status, quota.text]).toEqual([400, expect.stringContaining("Enterprise")]);
    const vault = await call("PUT", "/v1/namespace", { body: { Name: "v", VaultConfiguration: { Default: "x" } } });
    expect([vault.status, vault.text]).toEqual([400, expect.stringContaining("VaultConfiguration")]);
    expect((await call("GET", "/v1/namespace/nosuch")).status).toBe(404);
    const del = await call("DELETE", "/v1/namespace/default");
    expect([del.status, del.text]).toEqual([400, expect.stringContaining("default namespace can not be deleted")]);
  });
});

describe("jobs in namespaces", () => {
  it("refuses a job in a namespace that does not exist, in Nomad's words", async () => {
    const r = await call("PUT", "/v1/jobs", { body: { Job: job("web", "staging") } });
    expect(r.status).toBe(404);
    expect(r.text).toContain('job \\"web\\" is in nonexistent namespace \\"staging\\"');
  });

  it("registers into the job's namespace (or the query's), and every job route acts in ?namespace=", async () => {
    expect((await call("PUT", "/v1/jobs", { body: { Job: job("web", "prod") } })).status).toBe(200);
    // The query's namespace wins over the job's, as Nomad's namespaceForJob has it.
    expect((await call("PUT", "/v1/jobs?namespace=default", { body: { Job: job("api", "prod") } })).status).toBe(200);
    await until("both jobs running", () => sim.running() === 2);
    expect((await call("GET", "/v1/job/web")).status).toBe(404);
    expect((await call("GET", "/v1/job/web?namespace=prod")).json).toMatchObject({ ID: "web", Namespace: "prod" });
    expect((await call("GET", "/v1/job/api")).json).toMatchObject({ ID: "api", Namespace: "default" });
    const ids = async (path: string): Promise<string[]> => ((await call("GET", path)).json as { ID: string; Namespace: string }[]).map((x) => `${x.Namespace}/${"JobID" in x ? String(x.JobID) : x.ID}`).sort();
    expect(await ids("/v1/jobs")).toEqual(["default/api"]);
    expect(await ids("/v1/jobs?namespace=prod")).toEqual(["prod/web"]);
    expect(await ids("/v1/jobs?namespace=*")).toEqual(["default/api", "prod/web"]);
    expect(await ids("/v1/allocations?namespace=prod")).toEqual(["prod/web"]);
    expect(await ids("/v1/allocations?namespace=*")).toEqual(["default/api", "prod/web"]);
    expect(await ids("/v1/evaluations?namespace=prod")).toEqual(["prod/web"]);
    expect(await ids("/v1/evaluations")).toEqual(["default/api"]);
    expect(((await call("GET", "/v1/job/web/allocations?namespace=prod")).json as unknown[]).length).toBe(1);
    // namespace=* finds a job by its ID in whichever namespace holds it.
    expect((await call("GET", "/v1/job/web?namespace=*")).json).toMatchObject({ Namespace: "prod" });
  });

  it("refuses to delete a namespace while a job in it is not dead; once the job is purged, deletes it", async () => {
    const refused = await call("DELETE", "/v1/namespace/prod");
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('namespace \\"prod\\" contains at least one non-terminal job \\"web\\"');
    expect((await call("DELETE", "/v1/job/web?namespace=prod&purge=true")).status).toBe(200);
    await until("the job's allocation stopped", () => sim.running() === 1);
    expect((await call("DELETE", "/v1/namespace/prod")).status).toBe(200);
    expect((await call("GET", "/v1/namespace/prod")).status).toBe(404);
    expect(((await call("GET", "/v1/namespaces")).json as { Name: string }[]).map((n) => n.Name)).toEqual(["default"]);
  });
});

describe("ACL namespace rules apply to the namespace of the request", () => {
  it('a token with namespace "dev" { policy = "read" } reads dev only, submits nowhere, and sees only dev', async () => {
    expect((await call("PUT", "/v1/namespace", { body: { Name: "dev" } })).status).toBe(200);
    expect((await call("PUT", "/v1/jobs", { body: { Job: job("tool", "dev") } })).status).toBe(200);
    await until("the dev job running", () => sim.running() === 2);
    const dev = await policyToken('namespace "dev" { policy = "read" }');
    expect((await call("GET", "/v1/job/tool?namespace=dev", { token: dev })).status).toBe(200);
    expect((await call("GET", "/v1/job/api", { token: dev })).status).toBe(403);
    expect((await call("GET", "/v1/jobs?namespace=dev", { token: dev })).status).toBe(200);
    expect((await call("GET", "/v1/jobs", { token: dev })).status).toBe(403);
    // `*`: every namespace the token may read, and only those.
    expect(((await call("GET", "/v1/jobs?namespace=*", { token: dev })).json as { ID: string }[]).map((j) => j.ID)).toEqual(["tool"]);
    expect(((await call("GET", "/v1/allocations?namespace=*", { token: dev })).json as { JobID: string }[]).map((a) => a.JobID)).toEqual(["tool"]);
    expect(((await call("GET", "/v1/namespaces", { token: dev })).json as { Name: string }[]).map((n) => n.Name)).toEqual(["dev"]);
    expect((await call("GET", "/v1/namespace/default", { token: dev })).status).toBe(403);
    // Read is not submit; the namespace checked for a registration is the job's.
    expect((await call("PUT", "/v1/jobs", { body: { Job: job("tool", "dev") }, token: dev })).status).toBe(403);
    // An allocation named by its ID is checked in its own namespace, whatever the query says.
    const apiAlloc = ((await call("GET", "/v1/job/api/allocations")).json as { ID: string }[])[0]?.ID ?? "";
    expect((await call("GET", `/v1/allocation/${apiAlloc}?namespace=dev`, { token: dev })).status).toBe(403);
    const devAlloc = ((await call("GET", "/v1/job/tool/allocations?namespace=dev")).json as { ID: string }[])[0]?.ID ?? "";
    expect((await call("GET", `/v1/allocation/${devAlloc}`, { token: dev })).status).toBe(200);
    // No token (the anonymous one, without a policy): an empty list, as the penetration test expects.
    const anonymous = await fetch(`http://${api.address}/v1/namespaces`);
    expect([anonymous.status, await anonymous.text()]).toEqual([200, "[]"]);
    // Namespaces are written by management tokens only.
    expect((await call("PUT", "/v1/namespace", { body: { Name: "x" }, token: dev })).status).toBe(403);
    expect((await call("DELETE", "/v1/namespace/dev", { token: dev })).status).toBe(403);
  });

  it('a token with namespace "dev" { policy = "write" } submits into dev, not into default', async () => {
    const w = await policyToken('namespace "dev" { policy = "write" }');
    expect((await call("PUT", "/v1/jobs", { body: { Job: job("tool2", "dev") }, token: w })).status).toBe(200);
    expect((await call("PUT", "/v1/jobs", { body: { Job: job("tool3", null) }, token: w })).status).toBe(403);
    expect((await call("PUT", "/v1/jobs?namespace=default", { body: { Job: job("tool4", "dev") }, token: w })).status).toBe(403);
    expect((await call("DELETE", "/v1/job/tool2?namespace=dev", { token: w })).status).toBe(200);
  });
});
