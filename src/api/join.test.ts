import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caDigest, ClusterCa, createCa, createKeyAndCsr, newJoinToken, splitCerts, type Ca } from "../pki/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { renewIdentity, startApi, type CreatedJoinToken, type JoinAnswer, type RunningHttp } from "./index.js";

let store: StateStore;
let http: RunningHttp;
let ca: Ca;
let base: string;

beforeAll(async () => {
  store = await StateStore.open(memoryBackend());
  ca = await createCa({ region: "global" });
  http = await startApi(new Server(store), store, { host: "127.0.0.1", port: 0, log: silentLogger, pki: { region: "global", ca: () => ca } });
  base = `http://${http.address}`;
});

afterAll(async () => {
  await http.close();
  await store.close();
});

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what the answer is
async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: (text === "" ? null : res.headers.get("content-type")?.includes("json") === true ? JSON.parse(text) : text) as T };
}

type Err = { error: { code: string; message: string; path?: string } };

async function join(body: Record<string, unknown>): Promise<{ status: number; body: JoinAnswer & Err }> {
  return call("POST", "/v1/agent/join", body);
}

describe("join tokens and the join", () => {
  it("a client token, once shown, trades a CSR for a node certificate of the cluster's CA", async () => {
    const created = await call<CreatedJoinToken>("POST", "/v1/operator/join-token", { Role: "client" });
    expect(created.status).toBe(200);
    expect(created.body.Token).toMatch(/^RUCHE-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    expect(created.body.Role).toBe("client");
    // The state keeps the secret's hash only.
    const secret = created.body.Token.split("-")[3]!;
    expect(JSON.stringify(store.joinTokens())).not.toContain(secret);
    // The list shows no secret and no hash.
    const list = await call<Record<string, unknown>[]>("GET", "/v1/operator/join-tokens");
    expect(list.body.map((t) => t.ID)).toContain(created.body.ID);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.every((t) => !("SecretHash" in t) && !("Token" in t))).toBe(true);

    const { csrPem, keyPem } = await createKeyAndCsr({ region: "global", role: "client", name: "web-1" });
    const res = await join({ Token: created.body.Token, CSR: csrPem, Role: "client", Name: "web-1" });
    expect(res.status).toBe(200);
    const cert = new X509Certificate(res.body.Certificate);
    expect(cert.checkIssued(ca.cert) && cert.verify(ca.cert.publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe("URI:spiffe://ruche/global/client/web-1");
    expect(res.body.CACert).toBe(ca.certPem);
    expect(res.body).toMatchObject({ Region: "global", Role: "client", Name: "web-1" });
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    // The CA's certificate is public.
    const caText = await call<string>("GET", "/v1/agent/ca");
    expect(caText.body).toBe(ca.certPem);
  });

  it("refuses, saying which: not a token, another CA's, unknown, revoked, wrong role, malformed CSR, bad name", async () => {
    const { body: tok } = await call<CreatedJoinToken>("POST", "/v1/operator/join-token", { Role: "client" });
    const { csrPem } = await createKeyAndCsr({ region: "global", role: "client", name: "n" });
    const ok = { Token: tok.Token, CSR: csrPem, Role: "client", Name: "n" };

    const notToken = await join({ ...ok, Token: "hello" });
    expect(notToken.status).toBe(400);
    expect(notToken.body.error.message).toMatch(/not a join token/);

    const other = await createCa({ region: "global" });
    const foreign = await join({ ...ok, Token: newJoinToken(caDigest(other.certPem)).token });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.message).toMatch(/made for another CA/);

    const unknown = await join({ ...ok, Token: newJoinToken(caDigest(ca.certPem)).token });
    expect(unknown.status).toBe(403);
    expect(unknown.body.error.message).toMatch(/^unknown join token/);

    const wrongRole = await join({ ...ok, Role: "server" });
    expect(wrongRole.status).toBe(403);
    expect(wrongRole.body.error.message).toMatch(/wrong role: .* is for role client, and the node asked to join as server/);

    const badCsr = await join({ ...ok, CSR: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" });
    expect(badCsr.status).toBe(400);
    expect(badCsr.body.error.message).toMatch(/malformed CSR/);

    const badName = await join({ ...ok, Name: "a/b" });
    expect(badName.status).toBe(400);
    expect(badName.body.error.path).toBe("Name");

    const revoked = await call<{ RevokedTime: number }>("DELETE", `/v1/operator/join-token/${tok.ID}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.RevokedTime).toBeGreaterThan(0);
    const afterRevoke = await join(ok);
    expect(afterRevoke.status).toBe(403);
    expect(afterRevoke.body.error.message).toMatch(/was revoked at/);
    // No secret in any refusal.
    for (const r of [notToken, foreign, unknown, wrongRole, badCsr, afterRevoke]) expect(JSON.stringify(r.body)).not.toContain(tok.Token.split("-")[3]!);

    expect((await call<Err>("DELETE", "/v1/operator/join-token/nope")).status).toBe(404);
  });

  it("rotate: the role's old tokens stop working, the new one works, the other role's are kept", async () => {
    const { body: server1 } = await call<CreatedJoinToken>("POST", "/v1/operator/join-token", { Role: "server" });
    const { body: client1 } = await call<CreatedJoinToken>("POST", "/v1/operator/join-token", { Role: "client" });
    const { body: server2 } = await call<CreatedJoinToken>("POST", "/v1/operator/join-token/rotate", { Role: "server" });
    expect(server2.Token).not.toBe(server1.Token);
    const { csrPem } = await createKeyAndCsr({ region: "global", role: "server", name: "s2" });
    const old = await join({ Token: server1.Token, CSR: csrPem, Role: "server", Name: "s2" });
    expect(old.status).toBe(403);
    expect(old.body.error.message).toMatch(/revoked/);
    const fresh = await join({ Token: server2.Token, CSR: csrPem, Role: "server", Name: "s2", Addresses: ["10.0.0.2", "s2.example"] });
    expect(fresh.status).toBe(200);
    // A server's certificate serves: it names the region's servers and the addresses it gave.
    const cert = new X509Certificate(fresh.body.Certificate);
    expect(cert.checkHost("server.global.ruche")).toBe("server.global.ruche");
    expect(cert.checkHost("s2.example")).toBe("s2.example");
    expect(cert.checkIP("10.0.0.2")).toBe("10.0.0.2");
    const { csrPem: c2 } = await createKeyAndCsr({ region: "global", role: "client", name: "c2" });
    expect((await join({ Token: client1.Token, CSR: c2, Name: "c2" })).status).toBe(200);
  });

  it("renew needs a certificate: none over plain HTTP is a 401 that says so", async () => {
    const res = await call<Err>("POST", "/v1/agent/renew", { CSR: "x" });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/needs the node's current certificate/);
  });
});

describe("renewIdentity", () => {
  const now = new Date("2026-12-06T12:00:00Z");
  it("is the identity of a valid node certificate of the region", () => {
    expect(renewIdentity({ uris: ["spiffe://ruche/global/client/web-1"], validTo: new Date("2026-12-07T00:00:00Z") }, "global", now)).toEqual({ region: "global", role: "client", name: "web-1" });
  });
  it("refuses an expired one, another region's, and one that names no node", () => {
    expect(() => renewIdentity({ uris: ["spiffe://ruche/global/client/web-1"], validTo: new Date("2026-12-06T11:00:00Z") }, "global", now)).toThrow(/expired at 2026-12-06T11:00:00.000Z: join again/);
    expect(() => renewIdentity({ uris: ["spiffe://ruche/europe/client/web-1"], validTo: new Date("2026-12-07T00:00:00Z") }, "global", now)).toThrow(/region europe, not global/);
    expect(() => renewIdentity({ uris: [], validTo: new Date("2026-12-07T00:00:00Z") }, "global", now)).toThrow(/names no Ruche node/);
  });
});

describe("a CA rotation, through the API", () => {
  it("new joins get a certificate of the new CA with the cross-signed one; tokens of the old CA are refused, saying so", async () => {
    const dir = await mkdtemp(joinPath(tmpdir(), "ruche-api-rotate-"));
    const s = await StateStore.open(memoryBackend());
    const { ca: cluster } = await ClusterCa.open(dir, "global");
    const h = await startApi(new Server(s), s, { host: "127.0.0.1", port: 0, log: silentLogger, pki: cluster });
    const post = async (path: string, body: unknown = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`http://${h.address}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      const oldToken = (await post("/v1/operator/join-token")).body.Token as string;
      const rotated = await post("/v1/operator/tls/ca/rotate");
      expect(rotated.body).toMatchObject({ Rotating: true, CADigest: cluster.digest() });
      expect(rotated.body.Trusted).toHaveLength(2);
      const { csrPem } = await createKeyAndCsr({ region: "global", role: "client", name: "n" });
      const refused = await post("/v1/agent/join", { Token: oldToken, CSR: csrPem, Name: "n" });
      expect(refused.status).toBe(403);
      expect(JSON.stringify(refused.body)).toMatch(/made for another CA/);
      const newToken = (await post("/v1/operator/join-token")).body.Token as string;
      const joined = await post("/v1/agent/join", { Token: newToken, CSR: csrPem, Name: "n" });
      expect(joined.status).toBe(200);
      const chain = splitCerts(joined.body.Certificate as string);
      expect(chain).toHaveLength(2);
      expect(new X509Certificate(chain[0]!).checkIssued(cluster.ca().cert)).toBe(true);
      expect(chain[1]).toBe(cluster.chain());
      expect(splitCerts(joined.body.CACert as string)).toHaveLength(2);
      const finished = await post("/v1/operator/tls/ca/finish");
      expect(finished.body).toMatchObject({ Rotating: false });
    } finally {
      await h.close();
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
