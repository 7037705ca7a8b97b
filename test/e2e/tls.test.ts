/**
 * TLS on the wire with real `ruche agent` processes: a server and a client-only agent, each
 * given Nomad's tls block with certificates of a test CA; the CLI talks to them as a user
 * would, over HTTPS on 127.0.0.1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCa, type TestCert } from "../tls-certs.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let server: AgentProcess | undefined;
let client: AgentProcess | undefined;

function tlsFile(name: string, certs: TestCert): string {
  writeFileSync(join(dir, `${name}.pem`), certs.cert);
  writeFileSync(join(dir, `${name}-key.pem`), certs.key);
  const file = join(dir, `${name}.hcl`);
  const path = (f: string): string => JSON.stringify(join(dir, f));
  writeFileSync(file, `tls {\n  http = true\n  rpc  = true\n  ca_file   = ${path("ca.pem")}\n  cert_file = ${path(`${name}.pem`)}\n  key_file  = ${path(`${name}-key.pem`)}\n  verify_server_hostname = true\n}\n`);
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-tls-"));
  const authority = await testCa();
  writeFileSync(join(dir, "ca.pem"), authority.cert);
  const serverCert = await authority.issue("server.global.ruche", ["server.global.ruche", "localhost", "127.0.0.1"]);
  const clientCert = await authority.issue("client.global.ruche", ["client.global.ruche", "localhost", "127.0.0.1"]);
  // About TLS: ACLs are off here on purpose (the penetration suite and the README's production section run with them).
  const common = ["-acl-enabled=false", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1"];
  server = await startAgentProcess(["-server", "-data-dir", join(dir, "server"), ...common, "-config", tlsFile("server", serverCert)], {}, { ca: authority.cert });
  client = await startAgentProcess(["-client", "-servers", server.address, "-data-dir", join(dir, "client"), "-node", "tls-e2e", ...common, "-config", tlsFile("client", clientCert)], {}, { ca: authority.cert, cert: clientCert.cert, key: clientCert.key });
}, 90_000);

afterAll(async () => {
  await client?.stop();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("agents with a tls block", () => {
  it("print their API as https://, and a client agent registers over mutual TLS", async () => {
    expect(server?.out()).toMatch(/^ {4}API: +https:\/\//m);
    const status = await until("the node ready in node status", async () => {
      const r = await ruche(server?.address ?? "", dir, "node", "status", "-ca-cert", "ca.pem");
      return /tls-e2e\s.*ready/.test(r.out) ? r : undefined;
    }, 20_000);
    expect(status.code).toBe(0);
  }, 30_000);

  it("refuse the CLI without the CA, saying the certificate is not trusted and what to give", async () => {
    const r = await ruche(`https://${server?.address ?? ""}`, dir, "node", "status");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/certificate is signed by a CA this client does not trust/);
    expect(r.err).toMatch(/-ca-cert or RUCHE_CACERT/);
  });

  it("answer plain HTTP on the TLS port with 400, not a hang", async () => {
    const res = await fetch(`http://${server?.address ?? ""}/v1/nodes`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Client sent an HTTP request to an HTTPS server.");
  });
});
