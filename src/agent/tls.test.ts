/**
 * TLS on the wire, end to end in one process: a server agent and a client-only agent
 * started from config files with Nomad's tls block (certificates of a test CA), real
 * HTTPS on 127.0.0.1; the CLI talks to them as a user would.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testCa, type TestCert } from "../../test/tls-certs.js";
import { ApiClient, fetchOver, tlsDispatcher } from "../apiclient/index.js";
import { agentConfigFromArgs } from "../cli/commands/agent.js";
import { runCli } from "../cli/index.js";
import type { DialTls } from "../structs/index.js";
import { startAgent, type RunningAgent } from "./index.js";
import { until } from "../../test/e2e/harness.js";

const JOB = `job "hello" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo hello over mtls; exec sleep 300"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

let dir = "";
let ca = "";
let clientCert: TestCert;
let stranger: TestCert;
const agents: RunningAgent[] = [];
let server: RunningAgent;
let serverOut = "";
let client: RunningAgent | undefined;

async function start(args: string[], onOut: (l: string) => void = () => undefined): Promise<RunningAgent> {
  const { config } = await agentConfigFromArgs(args, dir);
  const a = await startAgent({ ...config, logLevel: "error" }, onOut);
  agents.push(a);
  return a;
}

async function cli(env: Record<string, string>, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env: { RUCHE_ADDR: server.address, ...env }, cwd: dir });
  return { code, out, err };
}

function tlsConfig(name: string, certs: TestCert): string {
  writeFileSync(join(dir, `${name}.pem`), certs.cert);
  writeFileSync(join(dir, `${name}-key.pem`), certs.key);
  const file = join(dir, `${name}.hcl`);
  writeFileSync(
    file,
    `tls {
  http = true
  rpc  = true
  ca_file   = "ca.pem"
  cert_file = "${name}.pem"
  key_file  = "${name}-key.pem"
  verify_server_hostname = true
}
`,
  );
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-tls-"));
  const authority = await testCa();
  ca = authority.cert;
  writeFileSync(join(dir, "ca.pem"), ca);
  const serverCert = await authority.issue("server.global.nomad", ["server.global.nomad", "localhost", "127.0.0.1"]);
  clientCert = await authority.issue("client.global.nomad", ["client.global.nomad", "localhost", "127.0.0.1"]);
  stranger = await (await testCa("Another CA")).issue("client.global.nomad", ["client.global.nomad", "127.0.0.1"]);
  writeFileSync(join(dir, "job.hcl"), JOB);
  // About TLS: ACLs are off here on purpose (the penetration suite and the README's production section run with them).
  const common = ["-acl-enabled=false", "-bind", "127.0.0.1", "-http-port", "0", "-dns-port", "-1", "-router-port", "-1"];
  server = await start(["-server", "-data-dir", join(dir, "server"), "-consul-port", "0", ...common, "-config", tlsConfig("server", serverCert)], (l) => (serverOut += l));
  client = await start(["-client", "-servers", server.address, "-data-dir", join(dir, "client"), "-node", "tls-node", "-raw-exec", ...common, "-config", tlsConfig("client", clientCert)]);
}, 60_000);

afterAll(async () => {
  // The client keeps its tasks running when it stops (its data dir is not a temporary one): the job is stopped first.
  if (client !== undefined) {
    const api = new ApiClient(server.address, { tls: { ca } });
    await api.request("DELETE", "/v1/job/hello").catch(() => undefined);
    await until("the task stopped", async () => {
      const allocs = (await api.request<{ ClientStatus: string }[]>("GET", "/v1/job/hello/allocations")).body;
      return allocs.every((a) => a.ClientStatus !== "running" && a.ClientStatus !== "pending") ? true : undefined;
    }).catch(() => undefined);
  }
  for (const a of agents.reverse()) await a.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function get(url: string, tls: DialTls): Promise<Response> {
  const d = tlsDispatcher(tls);
  try {
    const res = await fetchOver(d)(new URL(url), {});
    await res.clone().arrayBuffer();
    return res;
  } finally {
    await d.close();
  }
}

describe("an agent with a tls block", () => {
  it("serves its API and its Consul port over HTTPS, and says so", async () => {
    expect(serverOut).toMatch(/^ {4}API: +https:\/\/127\.0\.0\.1:\d+$/m);
    const consul = /^ {4}Consul: +https:\/\/(\S+)/m.exec(serverOut)?.[1] ?? "";
    expect(consul).not.toBe("");
    const leader = await get(`https://${server.address}/v1/status/leader`, { ca });
    expect(leader.status).toBe(200);
    expect((await get(`https://${consul}/v1/status/leader`, { ca })).status).toBe(200);
  });

  it("refuses plain HTTP on its TLS port with an answer, not a hang", async () => {
    const res = await fetch(`http://${server.address}/v1/status/leader`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Client sent an HTTP request to an HTTPS server.");
  });

  it("is reached by the CLI with -ca-cert; without the CA the CLI says the certificate is not trusted", async () => {
    const ok = await cli({}, "server", "members", "-ca-cert", join(dir, "ca.pem"));
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    const env = await cli({ RUCHE_CACERT: join(dir, "ca.pem") }, "node", "status");
    expect(env.code).toBe(0);
    const refused = await cli({}, "node", "status", "-address", `https://${server.address}`);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/certificate is signed by a CA this client does not trust/);
    expect(refused.err).toMatch(/-ca-cert or RUCHE_CACERT/);
    const plain = await cli({}, "node", "status");
    expect(plain.code).toBe(1);
    expect(plain.err).toMatch(/Client sent an HTTP request to an HTTPS server/);
  });

  it("refuses -tls-skip-verify, saying what to do instead", async () => {
    const r = await cli({}, "node", "status", "-tls-skip-verify");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/-tls-skip-verify \(NOMAD_SKIP_VERIFY\) is refused.*-ca-cert/);
  });

  it("registers a client agent over mutual TLS, which runs a job whose logs come back through the server", async () => {
    const env = { RUCHE_CACERT: join(dir, "ca.pem"), RUCHE_CLIENT_CERT: join(dir, "client.pem"), RUCHE_CLIENT_KEY: join(dir, "client-key.pem") };
    await until("the client node ready", async () => {
      const r = await cli(env, "node", "status");
      return /tls-node\s.*ready/.test(r.out) ? true : undefined;
    });
    const run = await cli(env, "job", "run", "-detach", "job.hcl");
    expect(run.err).toBe("");
    const api = new ApiClient(server.address, { tls: { ca } });
    const allocId = await until("the allocation running on the client", async () => {
      const allocs = (await api.request<{ ID: string; ClientStatus: string; NodeID: string }[]>("GET", "/v1/job/hello/allocations")).body;
      const a = allocs.find((x) => x.ClientStatus === "running" && x.NodeID === client?.nodeId);
      return a?.ID;
    });
    const logs = await until("the task's output", async () => {
      const r = await cli(env, "alloc", "logs", allocId.slice(0, 8), "t");
      return r.out.includes("hello over mtls") ? r.out : undefined;
    });
    expect(logs).toContain("hello over mtls");
  });

  it("lets only holders of a certificate of the CA reach a client's node API (its tasks' logs and exec)", async () => {
    const address = client?.address ?? "";
    const anonymous = await get(`https://${address}/v1/client/fs/logs/x`, { ca });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toMatch(/requires a client certificate/);
    const foreign = await get(`https://${address}/v1/client/fs/logs/x`, { ca, cert: stranger.cert, key: stranger.key });
    expect(foreign.status).toBe(403);
    // Another node's certificate (verify_server_hostname tells servers apart): refused too.
    const node = await get(`https://${address}/v1/client/fs/logs/x`, { ca, cert: clientCert.cert, key: clientCert.key });
    expect(node.status).toBe(403);
    expect(await node.text()).toMatch(/only the servers call a node's API/);
  });

  it("refuses a client certificate signed by another CA", async () => {
    const res = await get(`https://${server.address}/v1/nodes`, { ca, cert: stranger.cert, key: stranger.key });
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/client certificate \(client\.global\.nomad\) is not trusted/);
  });
});
