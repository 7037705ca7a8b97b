/**
 * Nomad's variables over real HTTP, driven as Nomad's Go client (`api/variables.go` at
 * hashicorp/nomad aa026cc99cfb74a77e519a1c1f0c78ba1b452705) drives them: `Variables.Create`,
 * `CheckedCreate` (`?cas=`), `Read` (404: ErrVariablePathNotFound), `PrefixList`, `Delete`,
 * `CheckedDelete`; answers compared field by field with `api.Variable` and
 * `api.VariableMetadata` (the server's `structs.VariableDecrypted` and `VariableMetadata`).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadAclPolicyParser, parseAclPolicy } from "../jobspec/index.js";
import { newClusterKey, parseClusterKey } from "../pki/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { ALLOW_ALL, compileAcl, silentLogger, variablePathProblem, workloadAcl, type Acl } from "../structs/index.js";
import { Router, startHttp, type RunningHttp } from "./http.js";
import { variableRoutes } from "./routes/variables.js";
import { testApi } from "./testing.js";
import { VariableService } from "./variables.js";

/** api.Variable's fields as the server writes them (structs.VariableDecrypted: the metadata, Lock null, and Items). */
const VARIABLE_FIELDS = ["CreateIndex", "CreateTime", "Items", "Lock", "ModifyIndex", "ModifyTime", "Namespace", "Path"];
/** api.VariableMetadata's: no Items. */
const METADATA_FIELDS = ["CreateIndex", "CreateTime", "Lock", "ModifyIndex", "ModifyTime", "Namespace", "Path"];

let store: StateStore;
let http: RunningHttp;
let base: string;
let acl: Acl;
let now: number;
const key = parseClusterKey(newClusterKey(), "test key");

beforeEach(async () => {
  await loadAclPolicyParser();
  store = await StateStore.open(memoryBackend());
  acl = ALLOW_ALL;
  now = Date.parse("2026-12-07T06:00:00Z");
  const router = new Router();
  variableRoutes(router, new VariableService(store, { now: () => now, key: () => key }));
  http = await startHttp({
    host: "127.0.0.1",
    port: 0,
    router,
    authorize: (req) => {
      req.acl = acl;
      return undefined;
    },
    log: silentLogger,
  });
  base = `http://${http.address}`;
});

afterEach(async () => {
  await http.close();
  await store.close();
});

/** A request as the Go client sends it: JSON without a content type. */
async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; index: number; text: string }> {
  const res = await fetch(base + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  const json = res.headers.get("content-type")?.includes("json") === true && text !== "" ? (JSON.parse(text) as unknown) : undefined;
  return { status: res.status, json, index: Number(res.headers.get("x-nomad-index")), text };
}

const keys = (o: unknown): string[] => Object.keys(o as object).sort();

describe("Nomad's variables", () => {
  it("writes a variable as Variables.Create sends it and reads it back in api.Variable's shape, times in unix nanoseconds", async () => {
    const put = await call("PUT", "/v1/var/app/db", { Namespace: "", Path: "app/db", Items: { user: "ruche", password: "s3cret" } });
    expect(put.status).toBe(200);
    expect(keys(put.json)).toEqual(VARIABLE_FIELDS);
    const v = put.json as Record<string, unknown>;
    expect(v).toMatchObject({ Namespace: "default", Path: "app/db", Items: { user: "ruche", password: "s3cret" }, Lock: null, CreateTime: now * 1e6, ModifyTime: now * 1e6 });
    expect(v.ModifyIndex).toBe(put.index);
    expect(v.CreateIndex).toBe(put.index);

    const got = await call("GET", "/v1/var/app/db");
    expect(got.status).toBe(200);
    expect(got.json).toEqual(v);
    expect(got.index).toBeGreaterThanOrEqual(put.index);

    // Written again: the same CreateIndex and CreateTime, a new ModifyIndex and ModifyTime.
    now += 5000;
    const again = (await call("PUT", "/v1/var/app/db", { Items: { user: "ruche" } })).json as Record<string, unknown>;
    expect(again).toMatchObject({ CreateIndex: v.CreateIndex, CreateTime: v.CreateTime, ModifyTime: now * 1e6, Items: { user: "ruche" } });
    expect(again.ModifyIndex).toBeGreaterThan(v.ModifyIndex as number);
  });

  it("keeps the items sealed with the cluster key in the state, bound to their path", async () => {
    await call("PUT", "/v1/var/app/db", { Items: { password: "s3cret" } });
    const row = store.variable("default", "app/db")!;
    expect(row.Items).toBeUndefined();
    expect(row.Sealed).toMatch(/^ruche-sealed-1:/);
    expect(JSON.stringify(row)).not.toContain("s3cret");
    // A sealed blob moved under another path does not open there.
    await store.write((tx) => {
      tx.put("variables", { ...row, Path: "app/other" });
    });
    expect((await call("GET", "/v1/var/app/other")).status).toBe(500);
    // A server without the key (-dev) keeps them as they are.
    const plain = new VariableService(store, { now: () => now });
    await plain.put("default", "dev/x", { a: "b" });
    expect(store.variable("default", "dev/x")?.Items).toEqual({ a: "b" });
  });

  it("answers 404 \"variable not found\" for a path with no variable, as Variables.Read expects", async () => {
    const r = await call("GET", "/v1/var/nothing/here");
    expect(r.status).toBe(404);
    expect(r.text).toContain("variable not found");
  });

  it("lists the metadata of the variables under a prefix, no items, in every namespace with namespace=*", async () => {
    for (const [ns, path] of [["default", "app/a"], ["default", "app/b"], ["default", "other/c"], ["prod", "app/d"]] as const) {
      expect((await call("PUT", `/v1/var/${path}?namespace=${ns}`, { Items: { k: "v" } })).status).toBe(200);
    }
    const list = await call("GET", "/v1/vars?prefix=app/");
    expect(list.status).toBe(200);
    const items = list.json as Record<string, unknown>[];
    expect(items.map((i) => i.Path)).toEqual(["app/a", "app/b"]);
    for (const i of items) expect(keys(i)).toEqual(METADATA_FIELDS);
    expect(list.index).toBeGreaterThan(1);
    expect(((await call("GET", "/v1/vars?prefix=app/&namespace=prod")).json as { Path: string }[]).map((i) => i.Path)).toEqual(["app/d"]);
    expect(((await call("GET", "/v1/vars?namespace=*")).json as { Namespace: string; Path: string }[]).map((i) => `${i.Namespace}:${i.Path}`)).toEqual(["default:app/a", "default:app/b", "default:other/c", "prod:app/d"]);
    expect((await call("GET", "/v1/vars?prefix=none")).json).toEqual([]);
    // In pages, as Nomad's: per_page, and the next page's token in X-Nomad-NextToken.
    const first = await fetch(`${base}/v1/vars?namespace=*&per_page=3`);
    expect(((await first.json()) as { Path: string }[]).map((v) => v.Path)).toEqual(["app/a", "app/b", "other/c"]);
    const next = first.headers.get("x-nomad-nexttoken") ?? "";
    expect(next).toBe("prod.app/d");
    expect(((await call("GET", `/v1/vars?namespace=*&per_page=3&next_token=${encodeURIComponent(next)}`)).json as { Path: string }[]).map((v) => v.Path)).toEqual(["app/d"]);
  });

  it("checks and sets: ?cas=0 only creates, ?cas=N only replaces ModifyIndex N; a conflict is 409 with the variable in the way", async () => {
    const created = await call("PUT", "/v1/var/app/cfg?cas=0", { Items: { v: "1" } });
    expect(created.status).toBe(200);
    const v1 = created.json as { ModifyIndex: number };

    const again = await call("PUT", "/v1/var/app/cfg?cas=0", { Items: { v: "2" } });
    expect(again.status).toBe(409);
    expect(again.json).toEqual(created.json);
    expect(again.index).toBe(v1.ModifyIndex);

    const stale = await call("PUT", `/v1/var/app/cfg?cas=${v1.ModifyIndex + 100}`, { Items: { v: "2" } });
    expect(stale.status).toBe(409);
    expect((stale.json as { Items: unknown }).Items).toEqual({ v: "1" });

    const ok = await call("PUT", `/v1/var/app/cfg?cas=${v1.ModifyIndex}`, { Items: { v: "2" } });
    expect(ok.status).toBe(200);
    expect((ok.json as { Items: unknown }).Items).toEqual({ v: "2" });

    // No variable at the path and cas=N: the conflict names the path, with no items.
    const absent = await call("PUT", "/v1/var/app/none?cas=7", { Items: { v: "1" } });
    expect(absent.status).toBe(409);
    expect(absent.json).toEqual({ Namespace: "default", Path: "app/none", Lock: null, CreateIndex: 0, CreateTime: 0, ModifyIndex: 0, ModifyTime: 0, Items: null });

    // A token that may write but not read gets the conflict without the items (Nomad's redacted conflict).
    acl = compiled('namespace "default" { variables { path "app/*" { capabilities = ["write"] } } }');
    const redacted = await call("PUT", "/v1/var/app/cfg?cas=1", { Items: { v: "3" } });
    expect(redacted.status).toBe(409);
    expect((redacted.json as { Items: unknown }).Items).toBeNull();

    expect((await call("PUT", "/v1/var/app/cfg?cas=abc", { Items: { v: "3" } })).text).toContain("can not parse cas");
  });

  it("deletes with 204, and with ?cas= only at that ModifyIndex (409 with the variable otherwise)", async () => {
    const v = (await call("PUT", "/v1/var/app/gone", { Items: { v: "1" } })).json as { ModifyIndex: number };
    const conflict = await call("DELETE", `/v1/var/app/gone?cas=${v.ModifyIndex + 1}`);
    expect(conflict.status).toBe(409);
    expect((conflict.json as { Path: string }).Path).toBe("app/gone");
    const deleted = await call("DELETE", `/v1/var/app/gone?cas=${v.ModifyIndex}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe("");
    expect((await call("GET", "/v1/var/app/gone")).status).toBe(404);
    // One that is not there counts as deleted.
    expect((await call("DELETE", "/v1/var/app/gone")).status).toBe(204);
  });

  it("refuses what Nomad refuses, saying why: bad paths, reserved nomad/ paths, no items, items too large, locks", async () => {
    const bad = async (path: string, body: unknown, want: string): Promise<void> => {
      const r = await call("PUT", path, body);
      expect(r.status, path).toBe(400);
      expect((r.json as { error: { message: string } }).error.message, path).toContain(want);
    };
    // (A URL's own "../" is resolved by the client before it is sent: the path rule is checked on what arrives.)
    expect(variablePathProblem("app/../etc")).toContain("invalid path");
    await bad("/v1/var/app/..etc", { Items: { a: "b" } }, "invalid path");
    await bad("/v1/var/app.db", { Items: { a: "b" } }, "invalid path");
    await bad(`/v1/var/${"a".repeat(129)}`, { Items: { a: "b" } }, "invalid path");
    await bad("/v1/var/nomad", { Items: { a: "b" } }, '"nomad" is a reserved top-level directory path');
    await bad("/v1/var/nomad/other", { Items: { a: "b" } }, 'only paths at "nomad/jobs" or "nomad/job-templates"');
    await bad("/v1/var/nomad/job-templates", { Items: { a: "b" } }, '"nomad/job-templates" is a reserved directory path');
    await bad("/v1/var/app/x", { Items: {} }, "variable missing required Items object");
    await bad("/v1/var/app/x", { Path: "app/x" }, "variable missing required Items object");
    await bad("/v1/var/app/x", { Items: { a: 1 } }, "Items.a must be a string");
    await bad("/v1/var/app/x", { Items: { big: "x".repeat(65537) } }, "variables are limited to 64KiB in total size");
    await bad("/v1/var/app/x?lock-acquire", { Items: { a: "b" } }, "variable locks are not supported");
    await bad("/v1/var/app/x", { Items: { a: "b" }, Lock: { TTL: "15s" } }, "variable locks are not supported");
    expect((await call("PUT", "/v1/var/nomad/jobs/web/api/server", { Items: { a: "b" } })).status).toBe(200);
    expect((await call("PUT", "/v1/var/nomad/job-templates/t1", { Items: { a: "b" } })).status).toBe(200);
  });

  it("answers a blocking query on /v1/vars when a variable changes past its index", async () => {
    const first = await call("PUT", "/v1/var/app/a", { Items: { v: "1" } });
    const started = Date.now();
    const waiting = call("GET", `/v1/vars?index=${first.index}&wait=10s`);
    while (store.blockingQueries("variables") === 0) await new Promise((r) => setTimeout(r, 5));
    const second = await call("PUT", "/v1/var/app/b", { Items: { v: "2" } });
    const answer = await waiting;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(answer.index).toBe(second.index);
    expect((answer.json as unknown[]).length).toBe(2);
    // Nothing changes: the wait ends with the same index.
    const idle = await call("GET", `/v1/var/app/b?index=${second.index}&wait=100ms`);
    expect(idle.index).toBe(second.index);
  });

  it("checks each route's variable capability on the path, as Nomad's variables block grants it", async () => {
    await call("PUT", "/v1/var/app/a", { Items: { v: "1" } });
    await call("PUT", "/v1/var/secret/b", { Items: { v: "2" } });
    acl = compiled('namespace "default" { variables { path "app/*" { capabilities = ["read"] } } }');
    // read brings list (Nomad's expandVariablesCapabilities): the list shows app/a only.
    expect(((await call("GET", "/v1/vars")).json as { Path: string }[]).map((v) => v.Path)).toEqual(["app/a"]);
    expect((await call("GET", "/v1/var/app/a")).status).toBe(200);
    const denied = await call("GET", "/v1/var/secret/b");
    expect(denied.status).toBe(403);
    expect(denied.text).toContain("Permission denied");
    expect((await call("PUT", "/v1/var/app/a", { Items: { v: "x" } })).status).toBe(403);
    expect((await call("DELETE", "/v1/var/app/a")).status).toBe(403);
    // Another namespace is not granted.
    expect((await call("GET", "/v1/var/app/a?namespace=prod")).status).toBe(403);
    acl = compiled('namespace "*" { variables { path "*" { capabilities = ["write", "destroy"] } path "secret/*" { capabilities = ["deny"] } } }');
    expect((await call("PUT", "/v1/var/app/a?namespace=prod", { Items: { v: "x" } })).status).toBe(200);
    expect((await call("DELETE", "/v1/var/secret/b")).status).toBe(403);
    expect((await call("DELETE", "/v1/var/app/a")).status).toBe(204);
  });

  it("lets a task's workload identity read nomad/jobs, its job's, its group's and its task's variables, and nothing else", async () => {
    for (const p of ["nomad/jobs", "nomad/jobs/web", "nomad/jobs/web/api", "nomad/jobs/web/api/server", "nomad/jobs/web/api/other", "nomad/jobs/db", "app/x"]) {
      expect((await call("PUT", `/v1/var/${p}`, { Items: { v: p } })).status).toBe(200);
    }
    acl = workloadAcl("default", "web", { group: "api", task: "server" });
    const readable = [];
    for (const p of ["nomad/jobs", "nomad/jobs/web", "nomad/jobs/web/api", "nomad/jobs/web/api/server", "nomad/jobs/web/api/other", "nomad/jobs/db", "app/x"]) {
      if ((await call("GET", `/v1/var/${p}`)).status === 200) readable.push(p);
    }
    expect(readable).toEqual(["nomad/jobs", "nomad/jobs/web", "nomad/jobs/web/api", "nomad/jobs/web/api/server"]);
    expect((await call("PUT", "/v1/var/nomad/jobs/web", { Items: { v: "x" } })).status).toBe(403);
    expect((await call("GET", "/v1/var/nomad/jobs/web?namespace=prod")).status).toBe(403);
  });
});

describe("the variables block of an ACL policy", () => {
  it("is read as Nomad's grammar and refused where it is wrong, saying where", async () => {
    await loadAclPolicyParser();
    const rules = parseAclPolicy('namespace "default" {\n  policy = "read"\n  variables {\n    path "project/*" { capabilities = ["read", "write"] }\n  }\n}\n', "p.hcl");
    expect(rules.namespaces[0]?.variables).toEqual([{ path: "project/*", capabilities: ["read", "write", "list"] }]);
    const json = parseAclPolicy(JSON.stringify({ namespace: { default: { variables: { path: { "a/*": { capabilities: ["deny", "read"] } } } } } }), "p.json");
    expect(json.namespaces[0]?.variables).toEqual([{ path: "a/*", capabilities: ["deny"] }]);
    expect(() => parseAclPolicy('namespace "default" { variables { path "x" { capabilities = ["reed"] } } }', "p.hcl")).toThrow(/p\.hcl:1:\d+: .*unknown variable capability "reed".*did you mean "read"/);
    expect(() => parseAclPolicy('namespace "default" { variables { path "/x" { capabilities = ["read"] } } }', "p.hcl")).toThrow(/cannot start with a leading '\/'/);
    expect(() => parseAclPolicy('namespace "default" { variables {} }', "p.hcl")).toThrow(/no variable paths/);
  });

  it("decides a path by its exact rule, else by the closest glob, deny winning across policies", () => {
    const a = compileAcl([
      parseAclPolicy('namespace "default" { variables { path "*" { capabilities = ["list"] } path "app/*" { capabilities = ["read"] } path "app/db" { capabilities = ["write"] } } }', "a.hcl"),
      parseAclPolicy('namespace "default" { variables { path "app/secret" { capabilities = ["deny"] } } }', "b.hcl"),
    ]);
    expect(a.variable("default", "app/x", "read")).toBe(true);
    expect(a.variable("default", "other", "read")).toBe(false);
    expect(a.variable("default", "other", "list")).toBe(true);
    expect(a.variable("default", "app/db", "write")).toBe(true);
    expect(a.variable("default", "app/db", "read")).toBe(false);
    expect(a.variable("default", "app/secret", "read")).toBe(false);
    expect(a.variable("default", "app/secret", "list")).toBe(false);
    expect(a.variable("prod", "app/x", "read")).toBe(false);
    // A namespace policy grants no variables, as in Nomad.
    expect(compileAcl([parseAclPolicy('namespace "default" { policy = "write" }', "c.hcl")]).variable("default", "x", "read")).toBe(false);
  });
});

describe("variables on the API server", () => {
  it("are served by startApi, with X-Nomad-Index", async () => {
    const t = await testApi();
    try {
      const put = await fetch(`${t.base}/v1/var/app/x`, { method: "PUT", body: JSON.stringify({ Items: { a: "b" } }) });
      expect(put.status).toBe(200);
      const got = await fetch(`${t.base}/v1/var/app/x`);
      expect(((await got.json()) as { Items: unknown }).Items).toEqual({ a: "b" });
      expect(Number(got.headers.get("x-nomad-index"))).toBeGreaterThan(1);
    } finally {
      await t.stop();
    }
  });
});

function compiled(rules: string): Acl {
  return compileAcl([parseAclPolicy(rules, "test.hcl")]);
}
