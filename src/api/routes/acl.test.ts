import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../../server/index.js";
import { memoryBackend, StateStore } from "../../state/index.js";
import { silentLogger } from "../../structs/index.js";
import { startApi } from "../index.js";
import { testApi, type TestApi } from "../testing.js";

/** Real HTTP on 127.0.0.1, port 0, over a server on a memory store. ACLs are off at the door: these are the routes' own answers. */
let store: StateStore;
let base: string;

let t: TestApi;

beforeAll(async () => {
  t = await testApi();
  ({ store, base } = t);
});

afterAll(async () => {
  await t.stop();
});

interface Answer {
  status: number;
  json: unknown;
  headers: Headers;
}

async function call(method: string, path: string, body?: unknown, token?: string): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers["x-nomad-token"] = token;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, json: text === "" ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
}

const error = (a: Answer): { code?: string; message?: string; path?: string; details?: unknown } => (a.json as { error: { code: string; message: string; path?: string } }).error;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let management = "";

describe("ACL routes", () => {
  it("bootstraps once, in Nomad's shape, and refuses a second time naming the reset index", async () => {
    const a = await call("POST", "/v1/acl/bootstrap");
    expect(a.status).toBe(200);
    const t = a.json as Record<string, unknown>;
    expect(Object.keys(t)).toEqual(["AccessorID", "SecretID", "Name", "Type", "Policies", "Roles", "Global", "CreateTime", "CreateIndex", "ModifyIndex"]);
    expect(t).toMatchObject({ Name: "Bootstrap Token", Type: "management", Policies: null, Global: true });
    expect(t.AccessorID).toMatch(UUID);
    expect(t.SecretID).toMatch(UUID);
    expect(t.CreateIndex).toBe(t.ModifyIndex);
    management = t.SecretID as string;

    const again = await call("POST", "/v1/acl/bootstrap", { BootstrapSecret: "2b778dd9-f5f1-6f29-b4b4-9a5fa948757a" });
    expect(again.status).toBe(400);
    expect(error(again).message).toBe(`ACL bootstrap already done (reset index: ${String(t.ModifyIndex)})`);
    expect(store.aclTokenBySecret("2b778dd9-f5f1-6f29-b4b4-9a5fa948757a")).toBeUndefined();
  });

  it("applies, lists, reads and deletes a policy; invalid rules are refused with file:line:col", async () => {
    const rules = 'namespace "default" {\n  policy = "read"\n}\n';
    expect((await call("POST", "/v1/acl/policy/readonly", { Name: "readonly", Description: "read the jobs", Rules: rules })).status).toBe(200);
    const got = await call("GET", "/v1/acl/policy/readonly");
    expect(got.json).toEqual({ Name: "readonly", Description: "read the jobs", Rules: rules, JobACL: null, CreateIndex: store.aclPolicy("readonly")?.CreateIndex, ModifyIndex: store.aclPolicy("readonly")?.ModifyIndex });
    expect(Number(got.headers.get("x-ruche-index"))).toBeGreaterThan(0);
    const list = await call("GET", "/v1/acl/policies");
    expect(list.json).toEqual([{ Name: "readonly", Description: "read the jobs", CreateIndex: expect.any(Number) as number, ModifyIndex: expect.any(Number) as number }]);

    const bad = await call("PUT", "/v1/acl/policy/broken", { Rules: 'namespace "default" {\n  policy = "raed"\n}\n' });
    expect(bad.status).toBe(400);
    expect(error(bad)).toMatchObject({
      code: "RUCHE_BAD_REQUEST",
      path: "Rules",
      message: 'the policy\'s rules are not valid: policy broken:2:3: namespace["default"].policy: policy must be one of "deny", "read", "write", "scale", got "raed"; did you mean "read"?',
    });
    expect(store.aclPolicy("broken")).toBeUndefined();

    expect(error(await call("POST", "/v1/acl/policy/a", { Name: "b", Rules: rules })).message).toBe('the policy\'s Name "b" does not match the path\'s "a"');
    expect(error(await call("POST", "/v1/acl/policy/a_b", { Rules: rules })).message).toMatch(/^policy name "a_b" is not valid/);
    expect(error(await call("POST", "/v1/acl/policy/a", { Description: "x" })).path).toBe("Rules");

    expect((await call("DELETE", "/v1/acl/policy/readonly")).status).toBe(200);
    expect((await call("GET", "/v1/acl/policy/readonly")).status).toBe(404);
    expect((await call("DELETE", "/v1/acl/policy/readonly")).status).toBe(404);
  });

  it("creates a client token for existing policies only, with a TTL, and never lists a secret", async () => {
    await call("POST", "/v1/acl/policy/ops", { Rules: 'node {\n  policy = "read"\n}\n' });
    const missing = await call("POST", "/v1/acl/token", { Name: "x", Type: "client", Policies: ["nope"] });
    expect([missing.status, error(missing).message]).toEqual([400, 'ACL policy "nope" not found']);
    expect(error(await call("POST", "/v1/acl/token", { Type: "client" })).message).toBe("a client token needs at least one policy");
    expect(error(await call("POST", "/v1/acl/token", { Type: "management", Policies: ["ops"] })).path).toBe("Policies");
    expect(error(await call("POST", "/v1/acl/token", { Type: "root" })).path).toBe("Type");
    expect(error(await call("POST", "/v1/acl/token", { Type: "client", Policies: ["ops"], ExpirationTTL: "10s" })).message).toMatch(/less than 1m0s/);
    expect(error(await call("POST", "/v1/acl/token", { Type: "client", Policies: ["ops"], ExpirationTTL: "48h" })).message).toMatch(/more than 24h0m0s/);

    const before = Date.now();
    const created = await call("POST", "/v1/acl/token", { Name: "ops token", Type: "client", Policies: ["ops"], ExpirationTTL: "1h" });
    expect(created.status).toBe(200);
    const t = created.json as Record<string, unknown>;
    expect(t).toMatchObject({ Name: "ops token", Type: "client", Policies: ["ops"], Global: false });
    expect(t.SecretID).toMatch(UUID);
    const expires = Date.parse(t.ExpirationTime as string) - Date.parse(t.CreateTime as string);
    expect(expires).toBe(3600_000);
    expect(Date.parse(t.CreateTime as string)).toBeGreaterThanOrEqual(before - 1000);

    // Go's nanoseconds and an RFC 3339 time are taken too; both at once are not.
    const ns = (await call("POST", "/v1/acl/token", { Name: "ns", Type: "client", Policies: ["ops"], ExpirationTTL: 2 * 3600 * 1e9 })).json as { CreateTime: string; ExpirationTime: string; AccessorID: string };
    expect(Date.parse(ns.ExpirationTime) - Date.parse(ns.CreateTime)).toBe(2 * 3600_000);
    const at = new Date(Date.now() + 3 * 3600_000).toISOString();
    expect((await call("POST", "/v1/acl/token", { Name: "at", Type: "client", Policies: ["ops"], ExpirationTime: at })).json).toMatchObject({ ExpirationTime: at });
    expect(error(await call("POST", "/v1/acl/token", { Type: "client", Policies: ["ops"], ExpirationTTL: "1h", ExpirationTime: at })).message).toBe("give ExpirationTTL or ExpirationTime, not both");
    for (const name of ["ns", "at"]) {
      const id = store.aclTokens().find((x) => x.Name === name)?.AccessorID ?? "";
      await call("DELETE", `/v1/acl/token/${id}`);
    }

    const list = await call("GET", "/v1/acl/tokens");
    const stubs = list.json as Record<string, unknown>[];
    // Oldest first: the bootstrap and anonymous tokens (one commit, then by accessor), then this one.
    expect(stubs.map((s) => s.Name).slice(0, 2).sort()).toEqual(["Anonymous Token", "Bootstrap Token"]);
    expect(stubs.map((s) => s.Name)[2]).toBe("ops token");
    for (const s of stubs) expect(s).not.toHaveProperty("SecretID");
    expect(JSON.stringify(list.json)).not.toContain(t.SecretID as string);

    // Nomad's pages: per_page and X-Nomad-NextToken.
    const page = await call("GET", "/v1/acl/tokens?per_page=2");
    expect((page.json as unknown[]).length).toBe(2);
    const next = page.headers.get("x-nomad-nexttoken") ?? "";
    const rest = await call("GET", `/v1/acl/tokens?per_page=2&next_token=${encodeURIComponent(next)}`);
    expect((rest.json as { Name: string }[]).map((s) => s.Name)).toEqual(["ops token"]);
    expect(rest.headers.get("x-nomad-nexttoken")).toBeNull();
    const byPrefix = await call("GET", `/v1/acl/tokens?prefix=${(t.AccessorID as string).slice(0, 8)}`);
    expect((byPrefix.json as { AccessorID: string }[]).map((s) => s.AccessorID)).toEqual([t.AccessorID]);
  });

  it("shows a token's secret to a management token and to itself only; self reads the request's token", async () => {
    const created = (await call("POST", "/v1/acl/token", { Name: "reader", Type: "client", Policies: ["ops"] })).json as { AccessorID: string; SecretID: string };
    const path = `/v1/acl/token/${created.AccessorID}`;
    expect((await call("GET", path)).json).not.toHaveProperty("SecretID");
    expect((await call("GET", path, undefined, management)).json).toMatchObject({ SecretID: created.SecretID });
    expect((await call("GET", path, undefined, created.SecretID)).json).toMatchObject({ SecretID: created.SecretID });
    const other = (await call("POST", "/v1/acl/token", { Name: "other", Type: "client", Policies: ["ops"] })).json as { SecretID: string };
    expect((await call("GET", path, undefined, other.SecretID)).json).not.toHaveProperty("SecretID");

    for (const header of [{ "x-nomad-token": created.SecretID }, { "x-ruche-token": created.SecretID }, { "x-consul-token": created.SecretID }, { authorization: `Bearer ${created.SecretID}` }]) {
      const res = await fetch(`${base}/v1/acl/token/self`, { headers: header });
      expect(((await res.json()) as { AccessorID: string }).AccessorID).toBe(created.AccessorID);
    }
    expect((await call("GET", "/v1/acl/token/self", undefined, "5f3c1d7e-0000-4000-8000-000000000000")).status).toBe(404);
    expect((await call("GET", "/v1/acl/token/00000000-0000-4000-8000-000000000000")).status).toBe(404);
  });

  it("updates a token's name and policies, keeping its secret, and deletes it", async () => {
    await call("POST", "/v1/acl/policy/more", { Rules: 'agent {\n  policy = "read"\n}\n' });
    const t = (await call("POST", "/v1/acl/token", { Name: "before", Type: "client", Policies: ["ops"] })).json as { AccessorID: string; SecretID: string; CreateIndex: number };
    const path = `/v1/acl/token/${t.AccessorID}`;
    const up = await call("POST", path, { AccessorID: t.AccessorID, Name: "after", Type: "client", Policies: ["ops", "more"] });
    expect(up.status).toBe(200);
    expect(up.json).toMatchObject({ AccessorID: t.AccessorID, SecretID: t.SecretID, Name: "after", Policies: ["ops", "more"], CreateIndex: t.CreateIndex });
    expect((up.json as { ModifyIndex: number }).ModifyIndex).toBeGreaterThan(t.CreateIndex);
    expect(error(await call("POST", path, { AccessorID: "someone-else", Type: "client", Policies: ["ops"] })).path).toBe("AccessorID");
    expect(error(await call("POST", path, { Type: "client", Policies: ["ops"], Global: true })).path).toBe("Global");
    expect(error(await call("POST", path, { Type: "client", Policies: ["gone"] })).message).toBe('ACL policy "gone" not found');
    // What the body leaves out stays.
    expect((await call("POST", path, { Name: "again" })).json).toMatchObject({ Name: "again", Type: "client", Policies: ["ops", "more"] });

    expect((await call("DELETE", path)).status).toBe(200);
    expect(store.aclToken(t.AccessorID)).toBeUndefined();
    expect(store.aclTokenBySecret(t.SecretID)).toBeUndefined();
    expect((await call("DELETE", path)).status).toBe(404);
  });

  it("sets the anonymous token's policies, which cannot be deleted or made management", async () => {
    expect(store.aclToken("anonymous")).toMatchObject({ Policies: ["anonymous"] });
    const set = await call("POST", "/v1/acl/token/anonymous", { Policies: ["ops"] });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ AccessorID: "anonymous", Name: "Anonymous Token", Type: "client", Policies: ["ops"] });
    expect(set.json).not.toHaveProperty("SecretID");
    expect(store.aclToken("anonymous")?.Policies).toEqual(["ops"]);
    expect((await call("GET", "/v1/acl/token/self")).json).toMatchObject({ AccessorID: "anonymous" });
    expect(error(await call("POST", "/v1/acl/token/anonymous", { Type: "management" })).path).toBe("Type");
    expect((await call("DELETE", "/v1/acl/token/anonymous")).status).toBe(400);
  });

  it("describes the ACL routes in /v1/openapi.json", async () => {
    const doc = (await call("GET", "/v1/openapi.json")).json as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths["/v1/acl/bootstrap"] ?? {})).toEqual(["put", "post"]);
    for (const p of ["/v1/acl/policies", "/v1/acl/policy/{name}", "/v1/acl/tokens", "/v1/acl/token", "/v1/acl/token/self", "/v1/acl/token/{accessor}"]) expect(doc.paths).toHaveProperty([p]);
    expect(Object.keys(doc.paths["/v1/acl/token/{accessor}"] ?? {}).sort()).toEqual(["delete", "get", "post", "put"]);
  });
});

describe("ACL bootstrap reset", () => {
  it("bootstraps again once the reset index a refusal named is in the reset file, and only that index", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-acl-reset-"));
    const resetFile = join(dir, "acl-bootstrap-reset");
    const st = await StateStore.open(memoryBackend());
    const srv = new Server(st);
    const api = await startApi(srv, st, { host: "127.0.0.1", port: 0, log: silentLogger, aclBootstrapResetFile: resetFile });
    const boot = async (): Promise<Answer> => {
      const res = await fetch(`http://${api.address}/v1/acl/bootstrap`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      const text = await res.text();
      return { status: res.status, json: JSON.parse(text) as unknown, headers: res.headers };
    };
    try {
      const first = (await boot()).json as { SecretID: string; ModifyIndex: number };
      const refused = await boot();
      expect(error(refused).message).toBe(`ACL bootstrap already done (reset index: ${first.ModifyIndex})`);
      writeFileSync(resetFile, `${first.ModifyIndex + 1}\n`);
      expect(error(await boot()).message).toBe(`Invalid bootstrap reset index (specified ${first.ModifyIndex + 1}, reset index: ${first.ModifyIndex})`);
      writeFileSync(resetFile, `${first.ModifyIndex}\n`);
      const second = await boot();
      expect(second.status).toBe(200);
      const t = second.json as { SecretID: string; ModifyIndex: number; Type: string };
      expect(t.Type).toBe("management");
      expect(t.SecretID).not.toBe(first.SecretID);
      // The old token stays; the file, now stale, allows no third bootstrap.
      expect(st.aclTokenBySecret(first.SecretID)).toBeDefined();
      expect(error(await boot()).message).toBe(`Invalid bootstrap reset index (specified ${first.ModifyIndex}, reset index: ${t.ModifyIndex})`);
    } finally {
      await api.close();
      await srv.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
