/**
 * Consul's ACL API on the Consul-compatible listener, driven as Consul's users drive it: the
 * `consul` npm client (bootstrap, KV with a token) and curl (token/self), over real HTTP on
 * 127.0.0.1 with ACLs on, sharing its tokens and policies with Nomad's routes on the main API.
 * And, ACLs off, both faces' ACL routes answer as Nomad and Consul do, writing nothing.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import Consul from "consul";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService, LockDelays, ServiceRegistry, StoreCatalog } from "../../catalog/index.js";
import { Server } from "../../server/index.js";
import { memoryBackend, StateStore } from "../../state/index.js";
import { silentLogger } from "../../structs/index.js";
import { startApi, startConsulApi, type CatalogApi, type RunningHttp } from "../index.js";
import { consulPolicyId, GLOBAL_MANAGEMENT } from "./consul-acl.js";

const exec = promisify(execFile);

/** curl, as a user runs it (scripts/test-deps.sh installs it); its status and body. */
async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  try {
    const { stdout } = await exec("curl", ["-sS", "-w", "\n%{http_code}", ...args], { timeout: 20_000 });
    const cut = stdout.lastIndexOf("\n");
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") throw new Error("curl is not installed: scripts/test-deps.sh installs it (Debian package curl)", { cause: err });
    throw err;
  }
}

interface Started {
  store: StateStore;
  server: Server;
  api: RunningHttp;
  consul: RunningHttp;
}

async function start(enabled: boolean): Promise<Started> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store, { log: silentLogger });
  const catalog: CatalogApi = {
    catalog: new StoreCatalog(store, "dc1", silentLogger),
    localNode: () => undefined,
    version: "1.17.0",
    registry: new ServiceRegistry(store, Date.now),
    allowScriptChecks: false,
    kv: new KVService(store, { now: Date.now, delays: new LockDelays() }),
  };
  const api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, consul: catalog, acl: { enabled } });
  const consul = await startConsulApi({ host: "127.0.0.1", port: 0, log: silentLogger, consul: catalog, acl: { enabled, state: store } });
  return { store, server, api, consul };
}

async function stop(s: Started): Promise<void> {
  await s.consul.close();
  await s.api.close();
  await s.server.stop();
}

function client(address: string, token?: string): Consul {
  const [host, port] = address.split(":");
  return new Consul({ host: host ?? "", port: Number(port), ...(token === undefined ? {} : { defaults: { token } }) });
}

interface ConsulToken {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies?: { ID: string; Name: string }[];
  Local: boolean;
  CreateTime: string;
  Hash: string;
  CreateIndex: number;
  ModifyIndex: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("Consul's ACL API, ACLs on", () => {
  let s: Started;
  let management: ConsulToken;
  let reader: ConsulToken;
  let policyId = "";
  const consulUrl = (path: string): string => `http://${s.consul.address}${path}`;
  /** A request with `token` in X-Consul-Token: status and parsed JSON (or the text). */
  const call = async (method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(consulUrl(path), { method, headers: { "content-type": "application/json", ...(token === undefined ? {} : { "x-consul-token": token }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const t = await res.text();
    let json: unknown = t;
    try {
      json = JSON.parse(t) as unknown;
    } catch {
      // Consul's refusals are plain text.
    }
    return { status: res.status, json };
  };

  beforeAll(async () => {
    s = await start(true);
  });
  afterAll(async () => {
    await stop(s);
  });

  it("bootstraps once with the consul client, in Consul's shape; a second time is refused with the reset index", async () => {
    management = (await client(s.consul.address).acl.bootstrap()) as ConsulToken;
    expect(Object.keys(management)).toEqual(["AccessorID", "SecretID", "Description", "Policies", "Local", "CreateTime", "Hash", "CreateIndex", "ModifyIndex"]);
    expect(management).toMatchObject({ Description: "Bootstrap Token (Global Management)", Policies: [GLOBAL_MANAGEMENT], Local: false });
    expect(management.AccessorID).toMatch(UUID);
    expect(management.SecretID).toMatch(UUID);
    expect(management.Hash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    // The same token, as Nomad's routes show it.
    expect(s.store.aclTokenBySecret(management.SecretID)).toMatchObject({ AccessorID: management.AccessorID, Type: "management", Global: true });

    const again = client(s.consul.address).acl.bootstrap();
    await expect(again).rejects.toMatchObject({ statusCode: 403, message: `Permission denied: ACL bootstrap no longer allowed (reset index: ${s.store.aclBootstrap()?.ModifyIndex ?? ""})` });
  });

  it("creates, reads and lists a policy by ID and by name, the same one Nomad's routes show", async () => {
    const rules = 'key_prefix "app/" {\n  policy = "read"\n}\n';
    const made = await call("PUT", "/v1/acl/policy", management.SecretID, { Name: "app-read", Description: "read app/", Rules: rules });
    expect(made.status).toBe(200);
    const p = made.json as { ID: string; Name: string; Rules: string; Hash: string; CreateIndex: number; ModifyIndex: number };
    expect(p).toMatchObject({ Name: "app-read", Description: "read app/", Rules: rules });
    expect(p.ID).toMatch(UUID);
    expect(p.ID).toBe(consulPolicyId("app-read"));
    policyId = p.ID;
    expect((await call("GET", `/v1/acl/policy/${p.ID}`, management.SecretID)).json).toEqual(p);
    expect((await call("GET", "/v1/acl/policy/name/app-read", management.SecretID)).json).toEqual(p);
    const list = (await call("GET", "/v1/acl/policies", management.SecretID)).json as { ID: string; Name: string; Rules?: string }[];
    expect(list.map((x) => [x.ID, x.Name])).toEqual([
      [GLOBAL_MANAGEMENT.ID, GLOBAL_MANAGEMENT.Name],
      [p.ID, "app-read"],
    ]);
    expect(list[1]).not.toHaveProperty("Rules");
    const nomad = (await fetch(`http://${s.api.address}/v1/acl/policy/app-read`, { headers: { "x-nomad-token": management.SecretID } }).then((r) => r.json())) as { Rules: string };
    expect(nomad.Rules).toBe(rules);

    expect((await call("PUT", "/v1/acl/policy", management.SecretID, { Name: "app-read", Rules: rules })).json).toBe('Invalid Policy: A Policy with Name "app-read" already exists');
    const bad = await call("PUT", "/v1/acl/policy", management.SecretID, { Name: "bad", Rules: 'key_prefix "x" {\n  policy = "raed"\n}\n' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatch(/^Invalid Policy: failed to parse rules: .*policy bad:2:3/);
    expect((await call("PUT", `/v1/acl/policy/${GLOBAL_MANAGEMENT.ID}`, management.SecretID, { Name: "global-management", Rules: "" })).status).toBe(400);
  });

  it("creates a token on that policy; its secret reads app/ but not secret/ through the consul client, and token/self through curl", async () => {
    const made = await call("PUT", "/v1/acl/token", management.SecretID, { Description: "app reader", Policies: [{ Name: "app-read" }], Local: true });
    expect(made.status).toBe(200);
    reader = made.json as ConsulToken;
    expect(reader).toMatchObject({ Description: "app reader", Policies: [{ ID: policyId, Name: "app-read" }], Local: true });
    expect(s.store.aclToken(reader.AccessorID)).toMatchObject({ Name: "app reader", Type: "client", Policies: ["app-read"], Global: false });

    const admin = client(s.consul.address, management.SecretID);
    await admin.kv.set("app/config", "blue");
    await admin.kv.set("secret/password", "hunter2");
    const mine = client(s.consul.address, reader.SecretID);
    expect(((await mine.kv.get("app/config")) as { Value: string }).Value).toBe("blue");
    await expect(mine.kv.get("secret/password")).rejects.toThrow("consul: kv.get: Permission denied");
    await expect(mine.kv.set("app/config", "red")).rejects.toThrow("Permission denied");
    await expect(client(s.consul.address, "6a1253d2-1785-4a3a-9f1b-6b5f0b2d1c00").kv.get("app/config")).rejects.toThrow("consul: kv.get: ACL not found");

    const self = await curl("-H", `X-Consul-Token: ${reader.SecretID}`, consulUrl("/v1/acl/token/self"));
    expect(self.status).toBe(200);
    expect(JSON.parse(self.body)).toEqual(reader);
    // Consul's ?token= too.
    expect(JSON.parse((await curl(consulUrl(`/v1/acl/token/self?token=${reader.SecretID}`))).body)).toMatchObject({ AccessorID: reader.AccessorID });
    // A client token may not manage tokens.
    expect(await curl("-H", `X-Consul-Token: ${reader.SecretID}`, consulUrl("/v1/acl/tokens"))).toEqual({ status: 403, body: "Permission denied" });
  });

  it("reads, lists, updates and deletes tokens in Consul's shape", async () => {
    expect((await call("GET", `/v1/acl/token/${reader.AccessorID}`, management.SecretID)).json).toEqual(reader);
    const list = (await call("GET", "/v1/acl/tokens", management.SecretID)).json as ConsulToken[];
    expect(list.map((t) => t.AccessorID)).toEqual(expect.arrayContaining([management.AccessorID, reader.AccessorID, "00000000-0000-0000-0000-000000000002"]));
    expect(((await call("GET", `/v1/acl/tokens?policy=${policyId}`, management.SecretID)).json as ConsulToken[]).map((t) => t.AccessorID)).toEqual([reader.AccessorID]);

    const path = `/v1/acl/token/${reader.AccessorID}`;
    const up = await call("PUT", path, management.SecretID, { Description: "app reader 2", Policies: [{ ID: policyId }], Local: true });
    expect(up.status).toBe(200);
    expect(up.json).toMatchObject({ AccessorID: reader.AccessorID, SecretID: reader.SecretID, Description: "app reader 2", Policies: [{ ID: policyId, Name: "app-read" }] });
    expect((up.json as ConsulToken).Hash).not.toBe(reader.Hash);
    expect((await call("PUT", path, management.SecretID, { AccessorID: management.AccessorID })).json).toBe("Token Accessor ID in URL and payload do not match");
    expect((await call("PUT", path, management.SecretID, { Local: false, Policies: [{ ID: policyId }] })).json).toBe(`Cannot toggle local mode of ${reader.AccessorID}`);
    expect((await call("PUT", "/v1/acl/token", management.SecretID, { Policies: [{ Name: "nope" }] })).json).toBe('cannot find policy "nope"');
    expect((await call("PUT", "/v1/acl/token", management.SecretID, { Roles: [{ Name: "r" }] })).status).toBe(400);

    // The anonymous token: Consul's accessor, Ruche's anonymous token.
    const anon = await call("GET", "/v1/acl/token/00000000-0000-0000-0000-000000000002", management.SecretID);
    expect(anon.json).toMatchObject({ AccessorID: "00000000-0000-0000-0000-000000000002", SecretID: "anonymous" });
    expect((await call("DELETE", "/v1/acl/token/00000000-0000-0000-0000-000000000002", management.SecretID)).status).toBe(400);
    expect((await call("DELETE", `/v1/acl/token/${management.AccessorID}`, management.SecretID)).json).toBe("Deletion of the request's authorization token is not permitted");

    expect((await call("DELETE", path, management.SecretID)).json).toBe(true);
    expect(s.store.aclToken(reader.AccessorID)).toBeUndefined();
    expect((await call("GET", path, management.SecretID)).status).toBe(404);
    expect((await call("DELETE", path, management.SecretID)).status).toBe(404);
    expect((await call("DELETE", `/v1/acl/policy/${policyId}`, management.SecretID)).json).toBe(true);
    expect(s.store.aclPolicy("app-read")).toBeUndefined();
    expect((await call("DELETE", `/v1/acl/policy/${GLOBAL_MANAGEMENT.ID}`, management.SecretID)).status).toBe(400);
  });
});

describe("ACLs off", () => {
  let s: Started;
  beforeAll(async () => {
    s = await start(false);
  });
  afterAll(async () => {
    await stop(s);
  });

  it("Consul's ACL routes answer 401 ACL support disabled, and write nothing", async () => {
    await expect(client(s.consul.address).acl.bootstrap()).rejects.toMatchObject({ statusCode: 401, message: "ACL support disabled" });
    for (const [method, path] of [
      ["GET", "/v1/acl/token/self"],
      ["GET", "/v1/acl/tokens"],
      ["PUT", "/v1/acl/token"],
      ["GET", "/v1/acl/policies"],
      ["DELETE", `/v1/acl/policy/${GLOBAL_MANAGEMENT.ID}`],
    ] as const) {
      expect(await curl("-X", method, `http://${s.consul.address}${path}`)).toEqual({ status: 401, body: "ACL support disabled" });
    }
    expect(s.store.aclBootstrap()).toBeUndefined();
  });

  it("Nomad's ACL routes answer 400 ACL support disabled, and write nothing", async () => {
    for (const [method, path] of [
      ["POST", "/v1/acl/bootstrap"],
      ["GET", "/v1/acl/token/self"],
      ["GET", "/v1/acl/tokens"],
      ["POST", "/v1/acl/policy/ops"],
      ["GET", "/v1/acl/policies"],
    ] as const) {
      const res = await fetch(`http://${s.api.address}${path}`, { method, headers: { "content-type": "application/json" }, ...(method === "POST" ? { body: JSON.stringify({ Rules: "" }) } : {}) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe("ACL support disabled");
    }
    expect(s.store.aclBootstrap()).toBeUndefined();
    expect(s.store.aclPolicies()).toEqual([]);
  });
});
