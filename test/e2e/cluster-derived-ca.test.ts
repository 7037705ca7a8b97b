/**
 * Three servers that run their own etcd members (`-bootstrap-expect 3 -retry-join a,b,c`),
 * given the same cluster key (`-encrypt`) and nothing else about TLS: each derives the same
 * cluster CA from the key before any of them talk, so that their retry_join, their etcd
 * members' joins and the forwarding of writes to the leader run over mutual TLS, and a node
 * joined with a join token through one server is trusted by the others. Their etcd members
 * speak TLS too, client and peer ports, and answer only a client that shows a certificate of
 * that CA (etcdctl here). The cluster CA rotates through any of them without downtime: the
 * servers take up the new CA from etcd, the derived one stays trusted and keeps signing the
 * etcd members' certificates, and a server down through the whole rotation comes back and
 * takes it up. A server of this kind given no key stops at start, saying how to give it one.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchOver, tlsDispatcher } from "../../src/apiclient/index.js";
import { deriveCa, newClusterKey, parseClusterKey } from "../../src/pki/index.js";
import { freePortRange } from "../../src/state/etcd-testing.js";
import type { DialTls } from "../../src/structs/index.js";
import { ruche, sleeperJob, startAgentProcess, until, type AgentProcess } from "./harness.js";

const REGION = "e2e-derived";
const KEY = newClusterKey();
let dir = "";
let caPem = "";
const ports: number[] = [];
const servers: (AgentProcess | undefined)[] = [];
let node: AgentProcess | undefined;
// ACLs are off here on purpose: this file is about the servers' one CA (the penetration suite runs with ACLs).
const common = ["-acl-enabled=false", "-bind", "127.0.0.1", "-consul-port", "-1", "-dns-port", "-1"];
const trust: DialTls = {
  get ca(): string {
    return caPem;
  },
};
const addr = (i: number): string => `127.0.0.1:${ports[i] ?? 0}`;
const caFile = (i: number): string => join(dir, `server-${i + 1}`, "tls", "ca.pem");

function serverArgs(i: number, extra: string[]): string[] {
  return ["-server", ...common, "-bootstrap-expect", "3", "-retry-join", [0, 1, 2].map(addr).join(","), "-region", REGION, "-node", `server-${i + 1}`, "-data-dir", join(dir, `server-${i + 1}`), "-http-port", String(ports[i] ?? 0), ...extra];
}

/** Debian's etcdctl (API v3) against server `i`'s etcd member at `scheme`://…:HTTP+1, with these TLS flags: its exit code and output. */
function etcdctl(i: number, scheme: "http" | "https", tlsFlags: string[], ...argv: string[]): Promise<{ code: number; out: string }> {
  const endpoint = `${scheme}://127.0.0.1:${(ports[i] ?? 0) + 1}`;
  return new Promise((resolve) => {
    execFile("etcdctl", ["--endpoints", endpoint, "--dial-timeout", "2s", "--command-timeout", "3s", ...tlsFlags, ...argv], { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

async function cli(at: number, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return ruche(addr(at), dir, argv[0] ?? "", argv[1] ?? "", "-ca-cert", caFile(at), ...argv.slice(2));
}

/** `ruche operator tls ca [rotate|finish]` through server `at`. */
async function caCli(at: number, ...action: string[]): Promise<{ code: number; out: string; err: string }> {
  return ruche(addr(at), dir, "operator", "tls", "ca", ...action, "-ca-cert", caFile(at));
}

/** The leader server `i` names (`/v1/status/leader`), asked over TLS trusting the cluster's CA. */
async function leaderAddress(i: number): Promise<string> {
  const d = tlsDispatcher(trust);
  try {
    const r = await fetchOver(d)(new URL(`https://${addr(i)}/v1/status/leader`), { signal: AbortSignal.timeout(5000) });
    return r.ok ? ((await r.json()) as string) : "";
  } catch {
    return "";
  } finally {
    await d.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-derived-ca-"));
  caPem = (await deriveCa(parseClusterKey(KEY, "the test's key"), REGION)).certPem;
  // Each server's etcd member takes its HTTP port + 1 and + 2.
  while (ports.length < 3) {
    const p = await freePortRange(3);
    if (!ports.some((q) => Math.abs(q - p) < 3)) ports.push(p);
  }
  for (let i = 0; i < 3; i++) mkdirSync(join(dir, `server-${i + 1}`), { recursive: true });
}, 30_000);

afterAll(async () => {
  // A task outlives its agent: the job is stopped first, while its node runs.
  const up = servers.findIndex((s) => s !== undefined && s.child.exitCode === null);
  if (node !== undefined && up >= 0) {
    await cli(up, "job", "stop", "derived");
    await until("the job's task stopped", async () => (((await cli(up, "job", "status", "derived")).out.split("Allocations")[1] ?? "").includes("running") ? undefined : true), 20_000).catch(() => undefined);
  }
  await node?.stop();
  await Promise.all(servers.map((s) => s?.stop() ?? Promise.resolve(true)));
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("servers on etcd members of their own, one CA derived from the cluster key", () => {
  it("refuses such a server without the cluster key, saying how to give it", async () => {
    mkdirSync(join(dir, "keyless"), { recursive: true });
    const args = serverArgs(0, []).map((a) => (a === join(dir, "server-1") ? join(dir, "keyless") : a));
    await expect(startAgentProcess(args, {}, trust)).rejects.toThrow(/servers that run their own etcd members .* share the cluster's CA through the cluster key: give each the same server \{ encrypt = KEY \}/);
  }, 40_000);

  it("form the cluster over mutual TLS with the same CA, forward a write through a follower, a joined node moves between them, and the CA rotates", async () => {
    const started = await Promise.all([0, 1, 2].map((i) => startAgentProcess(serverArgs(i, ["-encrypt", KEY]), {}, trust)));
    servers.push(...started);
    for (let i = 0; i < 3; i++) {
      expect(started[i]?.out()).toMatch(/^ {4}API: +https:\/\//m);
      expect(readFileSync(caFile(i), "utf8")).toBe(caPem);
    }
    // One leader, named alike by all three.
    const leader = await until("the three servers to name one leader", async () => {
      const named = await Promise.all([0, 1, 2].map((i) => leaderAddress(i)));
      return named.every((n) => n !== "" && n === named[0]) ? named[0] : undefined;
    }, 30_000);
    const followers = [0, 1, 2].filter((i) => addr(i) !== leader);
    expect(followers).toHaveLength(2);
    const [via = 0, other = 0] = followers;

    // Their etcd members speak TLS with client certificates: each server's certificate for its member is in its data dir, 0600.
    for (let i = 0; i < 3; i++) {
      const port = (ports[i] ?? 0) + 1;
      expect(started[i]?.out()).toMatch(new RegExp(`^ +etcd: +TLS with client certificates on https://127\\.0\\.0\\.1:${port} \\(clients\\), https://127\\.0\\.0\\.1:${port + 1} \\(peers\\)`, "m"));
      for (const f of ["etcd.pem", "etcd-key.pem", "etcd-ca.pem"]) expect(statSync(join(dir, `server-${i + 1}`, "tls", f)).mode & 0o777).toBe(0o600);
    }
    const tlsDir = join(dir, `server-${leader === addr(0) ? 2 : 1}`, "tls");
    const withCert = ["--cacert", join(tlsDir, "etcd-ca.pem"), "--cert", join(tlsDir, "etcd.pem"), "--key", join(tlsDir, "etcd-key.pem")];
    // Plain HTTP, and HTTPS without a client certificate, are refused; the servers' etcd certificate reads and writes, at any member.
    const plain = await etcdctl(via, "http", [], "get", "--prefix", "/ruche/");
    expect(plain.code).not.toBe(0);
    const anonymous = await etcdctl(via, "https", ["--cacert", join(tlsDir, "etcd-ca.pem")], "get", "--prefix", "/ruche/");
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.out).not.toContain("/ruche/");
    // ... by the member itself, for want of a client certificate.
    await until("the member's log to say it refused a client without a certificate", () => Promise.resolve(/client didn't provide a certificate/.test(readFileSync(join(dir, `server-${via + 1}`, "etcd.log"), "utf8")) ? true : undefined), 10_000);
    const members = await etcdctl(leader === addr(0) ? 1 : 0, "https", withCert, "member", "list");
    expect(members.code).toBe(0);
    expect(members.out.match(/https:\/\/127\.0\.0\.1:\d+, https:\/\/127\.0\.0\.1:\d+/g)).toHaveLength(3);
    expect(members.out).not.toContain("http://");
    const keys = await etcdctl(via, "https", withCert, "get", "--prefix", "--keys-only", "/ruche/");
    expect(keys.code).toBe(0);
    expect(keys.out).toContain(`/ruche/${REGION}/`);

    // A write through a follower, forwarded to the leader over mutual TLS: a join token, read back through the other follower.
    const made = await cli(via, "join-token", "create", "-role", "client", "-json");
    expect(made.err).toBe("");
    const { ID, Token } = JSON.parse(made.out) as { ID: string; Token: string };
    expect((await cli(other, "join-token", "list")).out).toContain(ID.slice(0, 8));

    // A node joins through that follower (its certificate signed by that server's copy of the CA), the others listed after it.
    const order = [via, ...[0, 1, 2].filter((i) => i !== via)];
    mkdirSync(join(dir, "node"), { recursive: true });
    node = await startAgentProcess(["-client", ...common, "-region", REGION, "-servers", order.map(addr).join(","), "-join-token", Token, "-data-dir", join(dir, "node"), "-node", "joined", "-http-port", "0", "-raw-exec"], {}, trust);
    expect(readFileSync(join(dir, "node", "tls", "ca.pem"), "utf8")).toBe(caPem);
    // The node's certificate, of the same CA, names no server: the etcd members refuse it.
    const nodeTls = join(dir, "node", "tls");
    const asNode = await etcdctl(other, "https", ["--cacert", join(nodeTls, "ca.pem"), "--cert", join(nodeTls, "node.pem"), "--key", join(nodeTls, "node-key.pem")], "get", "--prefix", "/ruche/");
    expect(asNode.code).not.toBe(0);
    expect(asNode.out).not.toContain("/ruche/");
    await until("the member's log to say it refused the node's certificate", () => Promise.resolve(/client certificate authentication failed/.test(readFileSync(join(dir, `server-${other + 1}`, "etcd.log"), "utf8")) ? true : undefined), 10_000);

    // The server it joined through stops: the node goes on with another, whose CA file trusts its certificate.
    expect(await servers[via]?.stop()).toBe(true);
    writeFileSync(join(dir, "derived.hcl"), sleeperJob("derived", "service", 1, ""));
    const run = await cli(other, "job", "run", "-detach", "derived.hcl");
    expect(run.err).toBe("");
    await until("the job running on the joined node, served by the servers left", async () => {
      const r = await cli(other, "job", "status", "derived");
      return /running/.test(r.out.split("Allocations")[1] ?? "") ? true : undefined;
    }, 60_000);
    const nodes = await cli(other, "node", "status");
    expect(nodes.out).toMatch(/joined.*ready/);

    // The cluster CA rotated through a server, while one is down: the servers up take the new
    // CA (the one derived from the key stays trusted, and signs their etcd members' certificates,
    // which do not change), writes go on, the node goes on.
    const up = [0, 1, 2].filter((i) => i !== via);
    const etcdCertBefore = readFileSync(join(dir, `server-${other + 1}`, "tls", "etcd.pem"), "utf8");
    const rotate = await caCli(other, "rotate");
    expect(rotate.err).toBe("");
    expect(rotate.code).toBe(0);
    // Made by the leader (a follower forwards it), taken up by each server from etcd.
    const caFiles = (): string[] => up.map((i) => readFileSync(caFile(i), "utf8"));
    await until("the servers up to take up the rotation", () => Promise.resolve(caFiles().every((f) => f !== caPem && f === caFiles()[0]) ? true : undefined), 15_000);
    expect(caFiles()[0]?.endsWith(caPem)).toBe(true);
    expect((await caCli(up.find((i) => i !== other) ?? other)).out).toMatch(/Rotation under way += true/);
    const during = await cli(up.find((i) => i !== other) ?? other, "join-token", "create", "-role", "client", "-json");
    expect(during.err).toBe("");
    expect(readFileSync(join(dir, `server-${other + 1}`, "tls", "etcd.pem"), "utf8")).toBe(etcdCertBefore);
    expect((await etcdctl(other, "https", withCert, "get", "--prefix", "--keys-only", "/ruche/")).code).toBe(0);
    const finish = await caCli(other, "finish");
    expect(finish.err).toBe("");
    let seen: { out: string; err: string }[] = [];
    await until("the servers up to end the rotation", async () => {
      seen = await Promise.all(up.map((i) => caCli(i)));
      return seen.every((r) => /Rotation under way += false/.test(r.out)) ? true : undefined;
    }, 15_000).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(seen)}`);
    });
    await until("the servers up to trust the new CA and the anchor alone", () => Promise.resolve(caFiles().every((f) => f === caFiles()[0] && (f.match(/BEGIN CERTIFICATE/g) ?? []).length === 2) ? true : undefined), 15_000);
    const current = readFileSync(caFile(other), "utf8");
    expect(current.endsWith(caPem)).toBe(true);
    writeFileSync(join(dir, "after.hcl"), sleeperJob("after", "service", 1, ""));
    expect((await cli(other, "job", "run", "-detach", "after.hcl")).err).toBe("");
    await until("a job placed after the rotation running on the joined node", async () => (/running/.test((await cli(other, "job", "status", "after")).out.split("Allocations")[1] ?? "") ? true : undefined), 60_000);
    await cli(other, "job", "stop", "after");

    // The server down through the whole rotation comes back on the CA it knew: its etcd member
    // joins (the anchor's certificates), and it takes up the rotated CA from etcd.
    const back = await startAgentProcess(serverArgs(via, ["-encrypt", KEY]), {}, trust);
    servers[via] = back;
    await until("the server back to take up the rotated CA", () => Promise.resolve(readFileSync(caFile(via), "utf8") === current ? true : undefined), 30_000);
    expect((await caCli(via)).out).toMatch(/Rotation under way += false/);
    expect((await cli(via, "join-token", "list")).out).toContain(ID.slice(0, 8));
  }, 180_000);
});
