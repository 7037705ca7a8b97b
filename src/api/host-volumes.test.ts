import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/index.js";
import { Client } from "../client/index.js";
import { testClientConfig } from "../client/testing.js";
import { MockDriver } from "../drivers/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger, type AclToken, type Logger } from "../structs/index.js";
import { startApi, type RunningHttp } from "./index.js";

/**
 * Nomad's host volume routes through real HTTP (127.0.0.1, port 0), ACLs on, a real node agent
 * of this process (mock driver) making the volumes: the answers field for field as the Go
 * client's `api.HostVolume` and `api.HostVolumeStub` (hashicorp/nomad api/host_volumes.go)
 * decode them, and the host-volume-* capabilities of a token's policy as Nomad expands them.
 */

/** api.HostVolume's fields, as Go's encoding/json reads them (`?`: omitempty or a pointer). */
const HOST_VOLUME: Record<string, string> = {
  Namespace: "string",
  ID: "string",
  Name: "string",
  PluginID: "string",
  NodePool: "string",
  NodeID: "string",
  "Constraints?": "object",
  RequestedCapacityMinBytes: "number",
  RequestedCapacityMaxBytes: "number",
  CapacityBytes: "number",
  RequestedCapabilities: "object",
  "Parameters?": "object",
  HostPath: "string",
  State: "string",
  CreateIndex: "number",
  CreateTime: "number",
  ModifyIndex: "number",
  ModifyTime: "number",
  "Allocations?": "object",
};
const STUB = ["Namespace", "ID", "Name", "PluginID", "NodePool", "NodeID", "CapacityBytes", "State", "CreateIndex", "CreateTime", "ModifyIndex", "ModifyTime"];

function shapeProblems(o: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, t] of Object.entries(HOST_VOLUME)) {
    const f = key.replace("?", "");
    if (!Object.hasOwn(o, f)) {
      if (!key.endsWith("?")) out.push(`missing:${f}`);
      continue;
    }
    if (typeof o[f] !== t || o[f] === null) out.push(`type:${f}`);
  }
  for (const f of Object.keys(o)) if (!Object.hasOwn(HOST_VOLUME, f) && !Object.hasOwn(HOST_VOLUME, `${f}?`)) out.push(`extra:${f}`);
  return out;
}

/** The test node `name`, its state in `dataDir`, logging to `log`. */
function clientConfig(dataDir: string, name: string, log: Logger): ConstructorParameters<typeof Client>[1] {
  return { ...testClientConfig(dataDir, [new MockDriver()]), name, log };
}

let dir = "";
let store: StateStore;
let server: Server;
let client: Client;
let api: RunningHttp;
let management = "";

async function policyToken(rules: string): Promise<string> {
  const name = `p-${randomUUID().slice(0, 8)}`;
  const t: AclToken = { AccessorID: randomUUID(), SecretID: randomUUID(), Name: "t", Type: "client", Policies: [name], Global: false, CreateTime: new Date().toISOString(), CreateIndex: 0, ModifyIndex: 0 };
  await store.write((tx) => {
    tx.put("aclPolicies", { Name: name, Description: "", Rules: rules, CreateIndex: 0, ModifyIndex: 0 });
    tx.put("aclTokens", t);
  });
  return t.SecretID;
}

async function call(method: string, path: string, o: { body?: unknown; token?: string } = {}): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`http://${api.address}${path}`, { method, headers: { "x-nomad-token": o.token ?? management }, ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }) });
  const text = await res.text();
  return { status: res.status, json: text === "" ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
}

const volume = (name: string) => ({ Volume: { Name: name, PluginID: "mkdir", RequestedCapabilities: [{ AccessMode: "single-node-writer", AttachmentMode: "file-system" }], Parameters: { mode: "0750" } }, PolicyOverride: false });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-host-volumes-api-"));
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger });
  server.start();
  client = new Client(inProcessTransport(server), clientConfig(dir, "local", silentLogger));
  await client.start();
  api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, acl: { enabled: true }, local: { has: () => false, tasks: () => [], logs: () => (async function* () {})(), exec: () => Promise.reject(new Error("none")) } });
  const t: AclToken = { AccessorID: randomUUID(), SecretID: randomUUID(), Name: "m", Type: "management", Policies: [], Global: false, CreateTime: new Date().toISOString(), CreateIndex: 0, ModifyIndex: 0 };
  await store.write((tx) => {
    tx.put("aclTokens", t);
  });
  management = t.SecretID;
}, 30_000);

afterAll(async () => {
  await client.stop({ stopTasks: true });
  await api.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("Nomad's host volume routes", () => {
  it("answer create, get and list in api.HostVolume's and api.HostVolumeStub's shapes, with the index headers", async () => {
    const created = await call("PUT", "/v1/volume/host/create", { body: volume("shapes") });
    expect(created.status).toBe(200);
    const body = created.json as { Volume: Record<string, unknown>; Warnings: string };
    expect(Object.keys(body).sort()).toEqual(["Volume", "Warnings"]);
    expect(shapeProblems(body.Volume)).toEqual([]);
    expect(body.Volume).toMatchObject({ Namespace: "default", Name: "shapes", PluginID: "mkdir", NodeID: client.nodeId, State: "ready", Parameters: { mode: "0750" } });
    expect(body.Volume.CreateTime).toBeGreaterThan(Date.now() * 1e6 - 60e9);
    expect(Number(created.headers.get("x-nomad-index"))).toBeGreaterThan(0);

    const got = await call("GET", `/v1/volume/host/${String(body.Volume.ID)}`);
    expect(shapeProblems(got.json as Record<string, unknown>)).toEqual([]);
    expect(got.headers.get("x-nomad-index")).not.toBeNull();
    const list = await call("GET", "/v1/volumes?type=host");
    const [stub] = list.json as Record<string, unknown>[];
    expect(Object.keys(stub ?? {}).sort()).toEqual([...STUB].sort());
    expect((await call("GET", "/v1/volumes?type=csi")).status).toBe(400);
    expect((await call("GET", `/v1/volumes?type=host&node_id=${client.nodeId}`)).json).toHaveLength(1);
    expect((await call("GET", "/v1/volumes?type=host&node_pool=other")).json).toEqual([]);

    expect((await call("GET", "/v1/volume/host/nope")).status).toBe(404);
    expect((await call("PUT", "/v1/volume/host/create", { body: { Volume: { ...volume("x").Volume, Namespace: "prod" } } })).status).toBe(404);
    expect((await call("DELETE", `/v1/volume/host/${String(body.Volume.ID)}/delete`)).status).toBe(200);
    expect((await call("GET", "/v1/volumes?type=host")).json).toEqual([]);
  });

  it("register offers a directory already on the node, and delete leaves it there", async () => {
    const path = mkdtempSync(join(dir, "registered-"));
    const r = await call("PUT", "/v1/volume/host/register", { body: { Volume: { Name: "registered", NodeID: client.nodeId, HostPath: path } } });
    expect(r.status).toBe(200);
    const vol = (r.json as { Volume: { ID: string; State: string; HostPath: string } }).Volume;
    expect(vol).toMatchObject({ State: "ready", HostPath: path });
    expect(store.node(client.nodeId)?.HostVolumes?.registered).toEqual({ Name: "registered", Path: path, ReadOnly: false, ID: vol.ID });
    const missing = await call("PUT", "/v1/volume/host/register", { body: { Volume: { Name: "gone", NodeID: client.nodeId, HostPath: join(dir, "nowhere") } } });
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.json)).toContain("cannot be used");
    expect((await call("DELETE", `/v1/volume/host/${vol.ID}`)).status).toBe(200);
    const { existsSync } = await import("node:fs");
    expect(existsSync(path)).toBe(true);
    expect(store.node(client.nodeId)?.HostVolumes?.registered).toBeUndefined();
  });

  it("check Nomad's host-volume-* capabilities: read lists, write (the policy) creates but does not delete, host-volume-write does all", async () => {
    const reader = await policyToken('namespace "default" { capabilities = ["host-volume-read"] }');
    const writer = await policyToken('namespace "default" { policy = "write" }');
    const all = await policyToken('namespace "default" { capabilities = ["host-volume-write"] }');
    expect((await call("GET", "/v1/volumes?type=host", { token: reader })).status).toBe(200);
    expect((await call("PUT", "/v1/volume/host/create", { body: volume("acl"), token: reader })).status).toBe(403);
    const made = await call("PUT", "/v1/volume/host/create", { body: volume("acl"), token: writer });
    expect(made.status).toBe(200);
    const id = (made.json as { Volume: { ID: string } }).Volume.ID;
    expect((await call("DELETE", `/v1/volume/host/${id}`, { token: writer })).status).toBe(403);
    expect((await call("PUT", "/v1/volume/host/register", { body: { Volume: { Name: "r", NodeID: client.nodeId, HostPath: dir } }, token: writer })).status).toBe(403);
    expect((await call("DELETE", `/v1/volume/host/${id}`, { token: all })).status).toBe(200);
    expect((await call("GET", "/v1/volumes?type=host", { token: await policyToken('namespace "other" { policy = "read" }') })).status).toBe(403);
  });

  it("a node's agent started again makes the volumes asked of it while it was down, and leaves alone those kept that the servers no longer have", async () => {
    const nodeDir = mkdtempSync(join(dir, "restarted-"));
    const warned: string[] = [];
    const log: Logger = { ...silentLogger, warn: (_f, msg) => void warned.push(msg) };
    const first = new Client(inProcessTransport(server), clientConfig(nodeDir, "restarted", log));
    await first.start();
    const made = await call("PUT", "/v1/volume/host/create", { body: { Volume: { ...volume("forgotten").Volume, NodeID: first.nodeId } } });
    expect(made.status).toBe(200);
    const forgotten = (made.json as { Volume: { ID: string; HostPath: string } }).Volume;
    await first.stop({ stopTasks: false });
    // The servers forget one volume while the agent is down (its row dropped), and are asked for another.
    await store.write((tx) => {
      tx.delete("hostVolumes", `default/${forgotten.ID}`);
    });
    const asked = call("PUT", "/v1/volume/host/create", { body: { Volume: { ...volume("while-down").Volume, NodeID: first.nodeId } } });
    const again = new Client(inProcessTransport(server), clientConfig(nodeDir, "restarted", log));
    await again.start();
    try {
      const answer = await asked;
      expect(answer.status).toBe(200);
      const vol = (answer.json as { Volume: { State: string; HostPath: string } }).Volume;
      expect(vol).toMatchObject({ State: "ready", HostPath: join(nodeDir, "host_volumes", (answer.json as { Volume: { ID: string } }).Volume.ID) });
      const { existsSync } = await import("node:fs");
      expect(existsSync(vol.HostPath)).toBe(true);
      expect(existsSync(forgotten.HostPath)).toBe(true);
      expect(warned).toContain("a dynamic host volume kept on this node is not in the servers' state: left as it is, offered no more when its directory goes");
    } finally {
      await again.stop({ stopTasks: true });
    }
  });
});
