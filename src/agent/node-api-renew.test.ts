/**
 * A joined client agent renews its node certificate, and its node API (the HTTPS listener the
 * servers reach for alloc logs and exec) serves the renewed one to new connections. Real:
 * a server API over TLS with the cluster's own CA issuing 4-second node certificates, a
 * client agent started in this process with a join token, TLS connections on 127.0.0.1.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type CreatedJoinToken, type RunningHttp } from "../api/index.js";
import { agentConfigFromArgs } from "../cli/commands/agent.js";
import { nodeTlsPaths } from "../client/index.js";
import { createCa, issueServerCert } from "../pki/index.js";
import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { startAgent, type RunningAgent } from "./agent.js";
import { agentWire, type AgentWire } from "./tls.js";

const NODE_CERT_TTL_MS = 4000;
const log = pino({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), "ruche-node-api-renew-"));
let store: StateStore;
let server: Server;
let api: RunningHttp;
let wire: AgentWire;
let agent: RunningAgent | undefined;
let caPem = "";

/** A JSON request to the server's HTTPS API, trusting the cluster's CA. */
function post(path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const [host, port] = api.address.split(":");
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, method: "POST", ca: caPem, servername: "server.global.ruche", headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown });
      });
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** The certificate a new TLS connection to `address` is served, checked against the cluster's CA. */
function servedCert(address: string): Promise<X509Certificate> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), ca: caPem, checkServerIdentity: () => undefined }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert === undefined) reject(new Error(`${address} showed no certificate`));
      else resolve(cert);
    });
    socket.on("error", reject);
  });
}

beforeAll(async () => {
  // The server's side as a server agent makes it: the cluster's CA, a server certificate of it, the three files agentWire reads.
  const ca = await createCa({ region: "global" });
  const { certPem, keyPem } = await issueServerCert(ca, { region: "global", name: "s1", names: ["127.0.0.1"] });
  caPem = ca.certPem;
  const files = { caFile: join(dir, "ca.pem"), certFile: join(dir, "server.pem"), keyFile: join(dir, "server-key.pem") };
  writeFileSync(files.caFile, caPem);
  writeFileSync(files.certFile, certPem);
  writeFileSync(files.keyFile, keyPem, { mode: 0o600 });
  wire = await agentWire({ enabled: true, ...files, verifyServerHostname: true, verifyHttpsClient: false }, "global");
  store = await StateStore.open(memoryBackend());
  server = new Server(store, { log });
  server.start();
  api = await startApi(server, store, {
    host: "127.0.0.1",
    port: 0,
    log,
    wire: wire.api,
    pki: { region: "global", ca: () => ca, nodeCertTtlMs: NODE_CERT_TTL_MS },
  });
});

afterAll(async () => {
  await agent?.stop();
  await api.close();
  await server.stop();
  await wire.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a joined node's API", () => {
  it("serves the renewed node certificate to new connections once the agent renews it", async () => {
    const made = await post("/v1/operator/join-token", { Role: "client" });
    expect(made.status).toBe(200);
    const token = (made.json as CreatedJoinToken).Token;
    const clientData = join(dir, "client");
    const { config } = await agentConfigFromArgs(
      ["-client", "-data-dir", clientData, "-servers", api.address, "-join-token", token, "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-acl-enabled=false", "-log-level", "silent"],
      dir,
    );
    agent = await startAgent(config, () => undefined);
    const nodePem = (): X509Certificate => new X509Certificate(readFileSync(nodeTlsPaths(clientData).cert));

    const first = await servedCert(agent.address);
    const joined = nodePem();
    expect(first.fingerprint256).toBe(joined.fingerprint256);
    expect(Date.parse(first.validTo) - Date.parse(first.validFrom)).toBeLessThanOrEqual(NODE_CERT_TTL_MS + 2000);

    // Renewed at two thirds of its life: the data dir holds the new one, and a new connection is served it.
    const deadline = Date.now() + 4 * NODE_CERT_TTL_MS;
    let served = first;
    while (served.fingerprint256 === first.fingerprint256 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      served = await servedCert(agent.address);
    }
    expect(served.fingerprint256, "the node API still serves the certificate of the join").not.toBe(first.fingerprint256);
    expect(served.fingerprint256).toBe(nodePem().fingerprint256);
    expect(served.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    expect(Date.parse(served.validTo)).toBeGreaterThan(Date.parse(first.validTo));
  }, 40_000);
});
