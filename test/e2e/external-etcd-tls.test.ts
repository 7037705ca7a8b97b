/**
 * A server on an existing etcd cluster that speaks TLS and asks for client certificates, as a
 * production etcd does (etcd's --cert-file, --key-file, --client-cert-auth,
 * --trusted-ca-file): one member of Debian's etcd on https, its certificates from a test CA.
 * A server given -etcd-endpoints https://... with -etcd-cacert, -etcd-cert and -etcd-key
 * starts and keeps its state there (a KV write through its Consul API read back with
 * etcdctl and the same files); the same server without the client certificate is refused
 * by etcd, and stops at start saying so. ACLs and TLS of the agent's own API are off: this
 * test is about etcd only.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdArgs, spawnEtcd, type EtcdChild } from "../../src/state/etcd-process.js";
import { freePortRange } from "../../src/state/etcd-testing.js";
import { testCa } from "../tls-certs.js";
import { type AgentProcess, NO_ACL_NO_TLS, root, rucheProgram, startAgentProcess, until } from "./harness.js";

const dir = mkdtempSync(join(tmpdir(), "ruche-external-etcd-tls-"));
const file = (name: string): string => join(dir, name);
let etcd: EtcdChild | undefined;
let endpoint = "";
const agents: AgentProcess[] = [];

/** etcdctl against the test's etcd with these TLS flags. */
function etcdctl(tlsFlags: string[], ...argv: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile("etcdctl", ["--endpoints", endpoint, "--dial-timeout", "2s", "--command-timeout", "3s", ...tlsFlags, ...argv], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

const CLIENT_FILES = ["--cacert", file("ca.pem"), "--cert", file("client.pem"), "--key", file("client-key.pem")];

beforeAll(async () => {
  const ca = await testCa("etcd test CA");
  const server = await ca.issue("etcd", ["127.0.0.1", "localhost"]);
  const client = await ca.issue("ruche-server", []);
  writeFileSync(file("ca.pem"), ca.cert);
  writeFileSync(file("etcd.pem"), server.cert);
  writeFileSync(file("etcd-key.pem"), server.key, { mode: 0o600 });
  writeFileSync(file("client.pem"), client.cert);
  writeFileSync(file("client-key.pem"), client.key, { mode: 0o600 });
  const port = await freePortRange(2);
  endpoint = `https://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${port + 1}`;
  etcd = await spawnEtcd(
    etcdArgs({
      name: "etcd0",
      dataDir: file("etcd-data"),
      listenClientURL: endpoint,
      clientURL: endpoint,
      listenPeerURL: peer,
      peerURL: peer,
      initialCluster: `etcd0=${peer}`,
      initialClusterState: "new",
      initialClusterToken: "external-etcd-tls",
      extra: ["--cert-file", file("etcd.pem"), "--key-file", file("etcd-key.pem"), "--client-cert-auth", "--trusted-ca-file", file("ca.pem")],
    }),
    file("etcd.log"),
  );
  await until("the etcd member answers over TLS", async () => ((await etcdctl(CLIENT_FILES, "endpoint", "health")).code === 0 ? true : undefined), 20_000);
}, 30_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  etcd?.kill("SIGKILL");
  await etcd?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("a server on an external etcd that speaks TLS", () => {
  it("starts with -etcd-cacert, -etcd-cert and -etcd-key, says so at start, and keeps its state there", async () => {
    const agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", file("data"), "-region", "tlsetcd", "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-etcd-endpoints", endpoint, "-etcd-cacert", file("ca.pem"), "-etcd-cert", file("client.pem"), "-etcd-key", file("client-key.pem")]);
    agents.push(agent);
    expect(agent.out()).toContain(`etcd:          ${endpoint}, TLS with a client certificate (-etcd-cert)`);
    const put = await fetch(`http://${agent.consulAddress}/v1/kv/external/greeting`, { method: "PUT", body: "over TLS" });
    expect(put.status).toBe(200);
    expect(await put.text()).toBe("true");
    // What the server wrote, read from etcd itself with the same files.
    const got = await etcdctl(CLIENT_FILES, "get", "--prefix", "/ruche/tlsetcd/");
    expect(got.code).toBe(0);
    expect(got.out).toContain("external/greeting");
    // Without a client certificate, etcd takes no one: the server's own files are what let it in.
    const anonymous = await etcdctl(["--cacert", file("ca.pem")], "get", "--prefix", "/ruche/tlsetcd/");
    expect(anonymous.code).not.toBe(0);
    // The members listed through the server, asked over TLS too.
    const members = (await (await fetch(`http://${agent.address}/v1/operator/etcd/members`)).json()) as { Members: { ClientURLs: string[]; Reachable: boolean }[] };
    expect(members.Members).toEqual([expect.objectContaining({ ClientURLs: [endpoint], Reachable: true })]);
    await agent.stop();
  }, 45_000);

  it("without the client certificate, stops at start saying that etcd refused it over TLS", async () => {
    const child = spawn(process.execPath, [rucheProgram(), "agent", ...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", file("data-anon"), "-region", "tlsetcd2", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-etcd-endpoints", endpoint, "-etcd-cacert", file("ca.pem")], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.once("exit", (c) => { resolve(c); })),
      new Promise<"running">((resolve) => setTimeout(() => { resolve("running"); }, 25_000)),
    ]);
    if (code === "running") child.kill("SIGKILL");
    expect(code, out).not.toBe("running");
    expect(code, out).not.toBe(0);
    expect(out).toContain(`Error: the etcd cluster at ${endpoint} refused this server's TLS connection: it asks for a client certificate (etcd's --client-cert-auth), and none was given; give -etcd-cert and -etcd-key`);
  }, 35_000);
});
