import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { createServer as createTlsServer } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type RunningHttp } from "../api/index.js";
import { caDigest, createCa, issueServerCert, newJoinToken, signCsr, type Ca } from "../pki/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { fetchPinnedCa, joinCluster, keepRenewed, loadNodeTls, nodeTlsPaths, renewAt, renewNodeTls, type NodeTls } from "./join.js";

let ca: Ca;
let store: StateStore;
/** The API over mutual TLS. */
let api: RunningHttp;
/** The same API, its certificate given with the CA's. */
let chained: RunningHttp;
let dirs: string[] = [];
const TTL_MS = 3000;

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "ruche-join-"));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  ca = await createCa({ region: "global" });
  store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  const srv = await issueServerCert(ca, { region: "global", name: "s1" });
  const pki = { region: "global", ca: () => ca, nodeCertTtlMs: TTL_MS };
  api = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, pki, wire: { tls: { cert: srv.certPem, key: srv.keyPem, ca: ca.certPem, requestClientCert: true } } });
  chained = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger, pki, wire: { tls: { cert: srv.certPem + ca.certPem, key: srv.keyPem, ca: ca.certPem, requestClientCert: true } } });
});

afterAll(async () => {
  await api.close();
  await chained.close();
  await store.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

/** A token made through the API's own route. */
async function token(role: "client" | "server" = "client"): Promise<{ Token: string; ID: string }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: api.port, method: "POST", path: "/v1/operator/join-token", ca: ca.certPem, servername: "server.global.ruche", headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => {
        resolve(JSON.parse(text) as { Token: string; ID: string });
      });
    });
    req.on("error", reject);
    req.end(JSON.stringify({ Role: role }));
  });
}

describe("joining a cluster", () => {
  it("checks the server's CA against the token, trades the secret for a certificate, and keeps it under the data dir", async () => {
    const dataDir = await tempDir();
    const { Token } = await token();
    const tls = await joinCluster({ servers: [api.address], token: Token, name: "web-1", dataDir, log: silentLogger });
    const cert = new X509Certificate(tls.certPem);
    expect(cert.subjectAltName).toBe("URI:spiffe://ruche/global/client/web-1");
    expect(cert.checkIssued(ca.cert)).toBe(true);
    expect(tls.caPem).toBe(ca.certPem);
    const p = nodeTlsPaths(dataDir);
    expect((await stat(p.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(p.key)).mode & 0o777).toBe(0o600);
    const loaded = await loadNodeTls(dataDir);
    expect(loaded?.certPem).toBe(tls.certPem);
    expect(loaded?.keyPem).toBe(tls.keyPem);
    expect(await loadNodeTls(await tempDir())).toBeNull();

    // Renewal over mutual TLS with the current certificate: a new key, the same identity.
    const renewed = await renewNodeTls({ servers: [api.address], dataDir, current: tls, name: "web-1" });
    expect(renewed.keyPem).not.toBe(tls.keyPem);
    expect(new X509Certificate(renewed.certPem).subjectAltName).toBe("URI:spiffe://ruche/global/client/web-1");
    expect((await loadNodeTls(dataDir))?.certPem).toBe(renewed.certPem);
  });

  it("reads the CA from the chain a server sends, and passes over a server that cannot be reached", async () => {
    const { Token } = await token();
    const tls = await joinCluster({ servers: ["127.0.0.1:1", chained.address], token: Token, name: "web-2", dataDir: await tempDir(), log: silentLogger });
    expect(new X509Certificate(tls.certPem).checkIssued(ca.cert)).toBe(true);
    // A TLS server that speaks no HTTP at all: the CA comes from its chain alone.
    const srv = await issueServerCert(ca, { region: "global", name: "s3" });
    const mute = createTlsServer({ cert: srv.certPem + ca.certPem, key: srv.keyPem }, (s) => s.destroy());
    await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
    try {
      expect(await fetchPinnedCa(`127.0.0.1:${(mute.address() as { port: number }).port}`, caDigest(ca.certPem), "global")).toBe(ca.certPem);
    } finally {
      mute.close();
    }
  });

  it("asks a server that sends its certificate alone for the CA (GET /v1/agent/ca), and joins", async () => {
    const srv = await issueServerCert(ca, { region: "global", name: "s2" });
    const seen: string[] = [];
    // A server of this CA that shows its own certificate only (no chain), answering as the API does.
    const lone: HttpsServer = createHttpsServer({ cert: srv.certPem, key: srv.keyPem }, (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push(`${req.method ?? ""} ${req.url ?? ""}`);
        if (req.url === "/v1/agent/ca") {
          res.end(ca.certPem);
          return;
        }
        const b = JSON.parse(body) as { CSR: string; Name: string };
        void signCsr(ca, b.CSR, { region: "global", role: "client", name: b.Name }).then((cert) => {
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify({ Certificate: cert, CACert: ca.certPem }));
        });
      });
    });
    await new Promise<void>((resolve) => lone.listen(0, "127.0.0.1", resolve));
    try {
      const addr = `127.0.0.1:${(lone.address() as { port: number }).port}`;
      const { Token } = await token();
      const tls = await joinCluster({ servers: [addr], token: Token, name: "web-5", dataDir: await tempDir() });
      expect(new X509Certificate(tls.certPem).subjectAltName).toBe("URI:spiffe://ruche/global/client/web-5");
      expect(seen).toEqual(["GET /v1/agent/ca", "POST /v1/agent/join"]);
    } finally {
      lone.close();
    }
  });

  it("refuses a server whose CA is not the token's, before sending anything secret", async () => {
    const rogueCa = await createCa({ region: "global" });
    const srv = await issueServerCert(rogueCa, { region: "global", name: "rogue" });
    const seen: string[] = [];
    const rogue: HttpsServer = createHttpsServer({ cert: srv.certPem, key: srv.keyPem }, (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push(`${req.method ?? ""} ${req.url ?? ""} ${body}`);
        res.end(req.url === "/v1/agent/ca" ? rogueCa.certPem : "{}");
      });
    });
    await new Promise<void>((resolve) => rogue.listen(0, "127.0.0.1", resolve));
    try {
      const addr = `127.0.0.1:${(rogue.address() as { port: number }).port}`;
      const { Token } = await token();
      const secret = Token.split("-")[3]!;
      await expect(joinCluster({ servers: [addr], token: Token, name: "web-3", dataDir: await tempDir() })).rejects.toThrow(/does not match the join token's .*not sending the token's secret/);
      expect(seen).toEqual(["GET /v1/agent/ca "]);
      expect(seen.join("")).not.toContain(secret);
    } finally {
      rogue.close();
    }
  });

  it("says what the servers refused: a revoked token, the wrong role, a token of another CA", async () => {
    const { Token, ID } = await token();
    const { request } = await import("node:https");
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: api.port, method: "DELETE", path: `/v1/operator/join-token/${ID}`, ca: ca.certPem, servername: "server.global.ruche" }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end();
    });
    await expect(joinCluster({ servers: [api.address], token: Token, name: "n", dataDir: await tempDir() })).rejects.toThrow(/refused the join: the join token .* was revoked/);
    const { Token: serverToken } = await token("server");
    await expect(joinCluster({ servers: [api.address], token: serverToken, name: "n", dataDir: await tempDir() })).rejects.toThrow(/wrong role: .* is for role server/);
    // A token for another CA: this server's CA does not match it, and the client stops first.
    const other = await createCa({ region: "global" });
    await expect(joinCluster({ servers: [api.address], token: newJoinToken(caDigest(other.certPem)).token, name: "n", dataDir: await tempDir() })).rejects.toThrow(/does not match the join token's/);
    await expect(joinCluster({ servers: [api.address], token: "SWMTKN-1-abc-def", name: "n", dataDir: await tempDir() })).rejects.toThrow(/not a join token/);
  });

  it("renews at two thirds of the lifetime, until stopped", async () => {
    const dataDir = await tempDir();
    const { Token } = await token();
    const first = await joinCluster({ servers: [api.address], token: Token, name: "web-4", dataDir });
    // A 3 s certificate (backdated 125 ms) is due about 2 s after it was made.
    const due = renewAt(first).getTime();
    expect(due).toBeGreaterThan(Date.now());
    const stop = new AbortController();
    const renewed: NodeTls[] = [];
    const at: number[] = [];
    const loop = keepRenewed({
      servers: [api.address],
      dataDir,
      current: first,
      name: "web-4",
      signal: stop.signal,
      onRenewed: (t) => {
        renewed.push(t);
        at.push(Date.now());
      },
      log: silentLogger,
    });
    const deadline = Date.now() + 10_000;
    while (renewed.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop.abort();
    await loop;
    expect(renewed.length).toBeGreaterThan(0);
    expect(at[0]!).toBeGreaterThanOrEqual(due);
    expect(renewed[0]!.certPem).not.toBe(first.certPem);
    expect((await loadNodeTls(dataDir))?.certPem).toBe(renewed.at(-1)!.certPem);
  });
});
