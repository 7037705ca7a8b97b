import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, createKeyAndCsr, newClusterKey, type Ca } from "../pki/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { startApi, type CreatedJoinToken, type RunningHttp } from "./index.js";

// The TLS side (a server joining receives the key) runs with real agents in test/e2e/cluster-ca.test.ts.
let store: StateStore;
let http: RunningHttp;
let ca: Ca;
const kek = newClusterKey();

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  ca = await createCa({ region: "global" });
  http = await startApi(new Server(store), store, { host: "127.0.0.1", port: 0, log: silentLogger, pki: { region: "global", ca: () => ca, clusterKey: () => kek } });
});

afterAll(async () => {
  await http.close();
  await store.close();
});

async function call(method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${http.address}${path}`, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

async function token(role: string): Promise<string> {
  return (JSON.parse((await call("POST", "/v1/operator/join-token", { Role: role })).text) as CreatedJoinToken).Token;
}

describe("the cluster key in a join's answer", () => {
  it("is never in a client's answer", async () => {
    const { csrPem } = await createKeyAndCsr({ region: "global", role: "client", name: "n1" });
    const res = await call("POST", "/v1/agent/join", { Token: await token("client"), CSR: csrPem, Role: "client", Name: "n1" });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(kek);
    expect(res.text).not.toContain("ClusterKey");
  });

  it("is not sent to a server joining over plain HTTP: refused, saying so", async () => {
    const { csrPem } = await createKeyAndCsr({ region: "global", role: "server", name: "s2" });
    const res = await call("POST", "/v1/agent/join", { Token: await token("server"), CSR: csrPem, Role: "server", Name: "s2" });
    expect(res.status).toBe(403);
    expect(res.text).toMatch(/a server joins over TLS only/);
    expect(res.text).not.toContain(kek);
  });
});

describe("another region's WAN join of the federation's CA (Federation: true)", () => {
  it("takes a server join token only, from another region, over TLS only: each refusal says which, and none carries the key", async () => {
    const client = await call("POST", "/v1/agent/join", { Token: await token("client"), Name: "us1", Region: "us", Federation: true });
    expect(client.status).toBe(403);
    expect(client.text).toMatch(/wrong role: the join token .* is for role client, and the node asked to join as server/);
    const same = await call("POST", "/v1/agent/join", { Token: await token("server"), Name: "g2", Region: "global", Federation: true });
    expect(same.status).toBe(400);
    expect(same.text).toMatch(/a server of region global joins its own region's cluster with -join-token/);
    const bad = await call("POST", "/v1/agent/join", { Token: await token("server"), Name: "us1", Region: "no/such", Federation: true });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/Region must be 1 to 128 letters/);
    const plain = await call("POST", "/v1/agent/join", { Token: await token("server"), Name: "us1", Region: "us", Federation: true });
    expect(plain.status).toBe(403);
    expect(plain.text).toMatch(/a region joins the federation's CA over TLS only/);
    for (const r of [client, same, bad, plain]) expect(r.text).not.toContain(kek);
  });
});
