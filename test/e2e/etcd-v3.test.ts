/**
 * etcd's v3 API on a real agent (`ruche agent -dev -etcd-port 0`, its own process): etcdctl
 * (Debian's etcd-client, API v3) writes through the etcd listener and Consul's HTTP KV
 * (`/v1/kv/`) reads the same keys, and back: one KV store, two dialects. With ACLs on, a
 * Ruche token is the etcd token (etcdctl's --user with the token's SecretID as the password).
 * With TLS on, the etcd port speaks TLS only, with the HTTP API's certificate and client
 * certificate policy.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchOver, tlsDispatcher } from "../../src/apiclient/index.js";
import { testCa } from "../tls-certs.js";
import { type AgentProcess, startAgentProcess } from "./harness.js";

const run = promisify(execFile);
let agent: AgentProcess | undefined;
let dir = "";

async function etcdctl(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run("etcdctl", [`--endpoints=http://${agent?.etcdAddress ?? ""}`, "--command-timeout=10s", ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error("etcdctl is missing: install Debian's etcd-client (scripts/test-deps.sh)", { cause: err });
    throw err;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-etcd-v3-"));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-etcd-port", "0", "-data-dir", join(dir, "data")]);
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("etcd's v3 API on a dev agent", () => {
  it("announces its listener", () => {
    expect(agent?.out()).toMatch(/^ {4}etcd: +http:\/\/127\.0\.0\.1:\d+ \(v3 gRPC and JSON gateway, v2 keys\)$/m);
  });

  it("etcdctl put is read by GET /v1/kv/, and a Consul write by etcdctl get", async () => {
    expect(await etcdctl("put", "config/db", "postgres://db:5432")).toBe("OK\n");
    const res = await fetch(`http://${agent?.consulAddress ?? ""}/v1/kv/config/db`);
    expect(res.status).toBe(200);
    const [entry] = (await res.json()) as { Key: string; Value: string; CreateIndex: number; ModifyIndex: number }[];
    expect(entry?.Key).toBe("config/db");
    expect(Buffer.from(entry?.Value ?? "", "base64").toString()).toBe("postgres://db:5432");
    // etcd's version and lease stay out of Consul's answer.
    expect(entry).not.toHaveProperty("Version");
    expect(entry).not.toHaveProperty("Lease");
    // The revisions are the store's indices.
    const got = JSON.parse(await etcdctl("get", "config/db", "-w", "json")) as { kvs: { mod_revision: number; create_revision: number }[] };
    expect(got.kvs[0]?.mod_revision).toBe(entry?.ModifyIndex);

    const put = await fetch(`http://${agent?.consulAddress ?? ""}/v1/kv/config/cache`, { method: "PUT", body: "redis://cache:6379" });
    expect(await put.json()).toBe(true);
    expect(await etcdctl("get", "--prefix", "config/")).toBe("config/cache\nredis://cache:6379\nconfig/db\npostgres://db:5432\n");
    expect(await etcdctl("del", "config/db")).toBe("1\n");
    expect((await fetch(`http://${agent?.consulAddress ?? ""}/v1/kv/config/db`)).status).toBe(404);
  });

  it("serves the JSON gateway and /version on the same port", async () => {
    const res = await fetch(`http://${agent?.etcdAddress ?? ""}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: Buffer.from("config/cache").toString("base64") }) });
    const body = (await res.json()) as { kvs: { value: string }[] };
    expect(Buffer.from(body.kvs[0]?.value ?? "", "base64").toString()).toBe("redis://cache:6379");
    expect(await (await fetch(`http://${agent?.etcdAddress ?? ""}/version`)).json()).toMatchObject({ etcdserver: "3.5.0" });
  });
});

describe("etcd's v3 API on a server with ACLs on", () => {
  let server: AgentProcess | undefined;
  let secret = "";
  const ctl = async (...args: string[]): Promise<string> => (await run("etcdctl", [`--endpoints=http://${server?.etcdAddress ?? ""}`, "--command-timeout=10s", ...args], { env: { ...process.env, ETCDCTL_API: "3" } })).stdout;

  beforeAll(async () => {
    server = await startAgentProcess(["-server", "-acl-enabled", "-tls-enabled=false", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-etcd-port", "0", "-data-dir", join(dir, "acl")]);
    const boot = await fetch(`http://${server.address}/v1/acl/bootstrap`, { method: "POST" });
    secret = ((await boot.json()) as { SecretID: string }).SecretID;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("takes the management token's secret as etcdctl's password, and refuses a request without one", async () => {
    expect(await ctl("--user", `root:${secret}`, "put", "secured/k", "v")).toBe("OK\n");
    expect(await ctl("--user", `root:${secret}`, "get", "secured/k", "--print-value-only")).toBe("v\n");
    await expect(ctl("put", "secured/k", "w")).rejects.toThrow(/permission denied/);
    await expect(ctl("--user", "root:not-a-token", "get", "secured/k")).rejects.toThrow(/authentication failed/);
  });
});

describe("etcd's API on a server with TLS on", () => {
  // Nomad's tls block with a test CA and verify_https_client: the etcd port asks for the same client certificates as the HTTP API.
  let server: AgentProcess | undefined;
  let tlsDir = "";
  const f = (name: string): string => join(tlsDir, name);
  const ctl = async (api: "2" | "3", ...args: string[]): Promise<string> => (await run("etcdctl", [`--endpoints=https://${server?.etcdAddress ?? ""}`, ...args], { env: { ...process.env, ETCDCTL_API: api }, timeout: 30_000 })).stdout;

  beforeAll(async () => {
    tlsDir = join(dir, "tls");
    mkdirSync(tlsDir);
    const authority = await testCa();
    const serverCert = await authority.issue("server.global.ruche", ["server.global.ruche", "localhost", "127.0.0.1"]);
    const clientCert = await authority.issue("client.global.ruche", ["client.global.ruche"]);
    for (const [name, text] of [["ca.pem", authority.cert], ["server.pem", serverCert.cert], ["server-key.pem", serverCert.key], ["client.pem", clientCert.cert], ["client-key.pem", clientCert.key]] as const) writeFileSync(f(name), text);
    const q = (name: string): string => JSON.stringify(f(name));
    writeFileSync(f("tls.hcl"), `tls {\n  http = true\n  rpc  = true\n  ca_file   = ${q("ca.pem")}\n  cert_file = ${q("server.pem")}\n  key_file  = ${q("server-key.pem")}\n  verify_https_client = true\n}\n`);
    server = await startAgentProcess(["-server", "-acl-enabled=false", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-etcd-port", "0", "-data-dir", join(dir, "tls-data"), "-config", f("tls.hcl")], {}, { ca: authority.cert, cert: clientCert.cert, key: clientCert.key });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("serves it over TLS, announced as https://", () => {
    expect(server?.out()).toMatch(/^ {4}etcd: +https:\/\/127\.0\.0\.1:\d+ \(v3 gRPC and JSON gateway, v2 keys\)$/m);
  });

  it("takes etcdctl (v3 and v2) with the CA and a client certificate of it", async () => {
    const cert = ["--cacert", f("ca.pem"), "--cert", f("client.pem"), "--key", f("client-key.pem")];
    expect(await ctl("3", ...cert, "put", "tls/k", "v")).toBe("OK\n");
    expect(await ctl("3", ...cert, "get", "tls/k", "--print-value-only")).toBe("v\n");
    expect(await ctl("2", "--ca-file", f("ca.pem"), "--cert-file", f("client.pem"), "--key-file", f("client-key.pem"), "get", "/tls/k")).toBe("v\n");
  }, 60_000);

  it("refuses etcdctl without a client certificate (verify_https_client), and in plain text", async () => {
    await expect(ctl("3", "--command-timeout=3s", "--cacert", f("ca.pem"), "get", "tls/k")).rejects.toThrow(/all SubConns are in TransientFailure/);
    await expect(run("etcdctl", [`--endpoints=http://${server?.etcdAddress ?? ""}`, "--command-timeout=3s", "get", "tls/k"], { env: { ...process.env, ETCDCTL_API: "3" } })).rejects.toThrow(/all SubConns are in TransientFailure/);
    const plain = await fetch(`http://${server?.etcdAddress ?? ""}/version`, { signal: AbortSignal.timeout(5000) });
    expect(plain.status).toBe(400);
    expect(await plain.text()).toContain("Client sent an HTTP request to an HTTPS server.");
  }, 60_000);
});

describe("etcd's API on a server as it starts by default (the cluster's own PKI, ACLs on)", () => {
  let server: AgentProcess | undefined;
  const caFile = (): string => join(dir, "pki", "tls", "ca.pem");
  const ctl = async (...args: string[]): Promise<string> => (await run("etcdctl", [`--endpoints=https://${server?.etcdAddress ?? ""}`, "--command-timeout=10s", "--cacert", caFile(), ...args], { env: { ...process.env, ETCDCTL_API: "3" } })).stdout;

  beforeAll(async () => {
    server = await startAgentProcess(["-server", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-etcd-port", "0", "-data-dir", join(dir, "pki")], {}, { get ca(): string { return readFileSync(caFile(), "utf8"); } });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it("serves etcd over TLS with the server's certificate of the cluster CA, and the ACL token still decides", async () => {
    const d = tlsDispatcher({ ca: readFileSync(caFile(), "utf8") });
    const secret = await fetchOver(d)(new URL(`https://${server?.address ?? ""}/v1/acl/bootstrap`), { method: "POST" })
      .then(async (boot) => ((await boot.json()) as { SecretID: string }).SecretID)
      .finally(() => d.close());
    expect(await ctl("--user", `root:${secret}`, "put", "pki/k", "v")).toBe("OK\n");
    expect(await ctl("--user", `root:${secret}`, "get", "pki/k", "--print-value-only")).toBe("v\n");
    await expect(ctl("put", "pki/k", "w")).rejects.toThrow(/permission denied/);
  }, 60_000);
});
