import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger, type AclToken } from "../structs/index.js";
import { startApi, type RunningHttp } from "./index.js";

/**
 * Nomad's `/v1/operator/scheduler/configuration` through real HTTP on a server with ACLs on,
 * as `api.Operator().SchedulerGetConfiguration`, `SchedulerSetConfiguration` and
 * `SchedulerCASConfiguration` call it; what it changes: memory_max's warning, registrations
 * refused.
 */
let store: StateStore;
let server: Server;
let api: RunningHttp;
const tokens: Record<string, string> = {};

async function token(type: "management" | "client", rules?: string): Promise<string> {
  const name = `p-${randomUUID().slice(0, 8)}`;
  const t: AclToken = { AccessorID: randomUUID(), SecretID: randomUUID(), Name: name, Type: type, Policies: rules === undefined ? [] : [name], Global: false, CreateTime: new Date().toISOString(), CreateIndex: 0, ModifyIndex: 0 };
  await store.write((tx) => {
    if (rules !== undefined) tx.put("aclPolicies", { Name: name, Description: "", Rules: rules, CreateIndex: 0, ModifyIndex: 0 });
    tx.put("aclTokens", t);
  });
  return t.SecretID;
}

async function call(method: string, path: string, tokenName: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(`http://${api.address}${path}`, { method, headers: { "x-nomad-token": tokens[tokenName] ?? "" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, json: (text.startsWith("{") ? JSON.parse(text) : {}) as Record<string, unknown>, text };
}

const job = (memoryMax: number): unknown => ({
  Job: { ID: "web", Name: "web", Type: "service", Datacenters: ["dc1"], TaskGroups: [{ Name: "g", Count: 1, Tasks: [{ Name: "t", Driver: "mock", Config: {}, Resources: { CPU: 100, MemoryMB: 64, MemoryMaxMB: memoryMax } }] }] },
});

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log: silentLogger });
  server.start();
  api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, acl: { enabled: true } });
  tokens.management = await token("management");
  tokens.submitter = await token("client", 'namespace "default" { policy = "write" }');
  tokens.reader = await token("client", 'operator { policy = "read" }');
});

afterAll(async () => {
  await api.close();
  await server.stop();
});

describe("the scheduler configuration", () => {
  it("answers Nomad's defaults (less preemption) in api.SchedulerConfigurationResponse's shape, to operator:read", async () => {
    const got = await call("GET", "/v1/operator/scheduler/configuration", "reader");
    expect(got.status, got.text).toBe(200);
    expect(got.json).toMatchObject({
      SchedulerConfig: {
        SchedulerAlgorithm: "binpack",
        PreemptionConfig: { SystemSchedulerEnabled: false, SysBatchSchedulerEnabled: false, BatchSchedulerEnabled: false, ServiceSchedulerEnabled: false },
        MemoryOversubscriptionEnabled: false,
        RejectJobRegistration: false,
        PauseEvalBroker: false,
        NodeLimitForFeasibilityChecks: 0,
        ModifyIndex: 0,
      },
      KnownLeader: true,
    });
    expect((await call("PUT", "/v1/operator/scheduler/configuration", "reader", {})).status).toBe(403);
    expect((await call("GET", "/v1/operator/scheduler/configuration", "submitter")).status).toBe(403);
  });

  it("sets it, with check-and-set on its ModifyIndex, and refuses what Ruche cannot do, saying what", async () => {
    const set = await call("PUT", "/v1/operator/scheduler/configuration", "management", { SchedulerAlgorithm: "spread", MemoryOversubscriptionEnabled: true, PreemptionConfig: {} });
    expect(set.json).toMatchObject({ Updated: true });
    const cfg = (await call("GET", "/v1/operator/scheduler/configuration", "management")).json.SchedulerConfig as { SchedulerAlgorithm: string; ModifyIndex: number; CreateIndex: number };
    expect(cfg).toMatchObject({ SchedulerAlgorithm: "spread", MemoryOversubscriptionEnabled: true });
    expect(cfg.ModifyIndex).toBeGreaterThan(0);
    // A stale index: nothing written, Updated false (api.SchedulerCASConfiguration).
    const stale = await call("PUT", `/v1/operator/scheduler/configuration?cas=${cfg.ModifyIndex - 1}`, "management", { SchedulerAlgorithm: "binpack" });
    expect(stale.json).toMatchObject({ Updated: false });
    const ok = await call("POST", `/v1/operator/scheduler/configuration?cas=${cfg.ModifyIndex}`, "management", { SchedulerAlgorithm: "binpack", MemoryOversubscriptionEnabled: true });
    expect(ok.json).toMatchObject({ Updated: true });
    for (const [body, said] of [
      [{ SchedulerAlgorithm: "random" }, "invalid scheduler algorithm: random"],
      [{ PreemptionConfig: { SystemSchedulerEnabled: true } }, "PreemptionConfig.SystemSchedulerEnabled: Ruche's schedulers do not preempt"],
      [{ PauseEvalBroker: true }, "PauseEvalBroker: Ruche has no eval broker to pause"],
      [{ NodeLimitForFeasibilityChecks: 50 }, "NodeLimitForFeasibilityChecks"],
      [{ MemoryOversubscriptionEnabled: "yes" }, "MemoryOversubscriptionEnabled must be true or false"],
    ] as const) {
      const r = await call("PUT", "/v1/operator/scheduler/configuration", "management", body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect(r.text).toContain(said);
    }
    expect((await call("GET", "/v1/operator/scheduler/configuration", "management")).json.SchedulerConfig).toMatchObject({ SchedulerAlgorithm: "binpack", MemoryOversubscriptionEnabled: true });
  });

  it("warns on register, plan and validate that memory_max is ignored while oversubscription is off, as Nomad does", async () => {
    await call("PUT", "/v1/operator/scheduler/configuration", "management", { MemoryOversubscriptionEnabled: false });
    const warning = '1 warning:\n\n* Memory oversubscription is not enabled; Task "g.t" memory_max value will be ignored. Update the Scheduler Configuration to allow oversubscription.';
    expect((await call("PUT", "/v1/jobs", "submitter", job(256))).json.Warnings).toBe(warning);
    expect((await call("PUT", "/v1/job/web/plan", "submitter", job(256))).json.Warnings).toBe(warning);
    expect((await call("PUT", "/v1/validate/job", "submitter", job(256))).json.Warnings).toBe(warning);
    expect((await call("PUT", "/v1/jobs", "submitter", job(0))).json.Warnings).toBe("");
    await call("PUT", "/v1/operator/scheduler/configuration", "management", { MemoryOversubscriptionEnabled: true });
    expect((await call("PUT", "/v1/jobs", "submitter", job(256))).json.Warnings).toBe("");
  });

  it("refuses registration, dispatch and scale to all but management tokens while RejectJobRegistration is on", async () => {
    await call("PUT", "/v1/operator/scheduler/configuration", "management", { RejectJobRegistration: true });
    const refused = await call("PUT", "/v1/jobs", "submitter", job(0));
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("Job registration, dispatch, and scale are disabled by the scheduler configuration");
    expect((await call("PUT", "/v1/job/web/scale", "submitter", { Count: 2, Target: { Group: "g" } })).status).toBe(403);
    expect((await call("PUT", "/v1/job/web/dispatch", "submitter", {})).status).toBe(403);
    expect((await call("PUT", "/v1/jobs", "management", job(0))).status).toBe(200);
    await call("PUT", "/v1/operator/scheduler/configuration", "management", { RejectJobRegistration: false });
    expect((await call("PUT", "/v1/jobs", "submitter", job(0))).status).toBe(200);
  });
});
