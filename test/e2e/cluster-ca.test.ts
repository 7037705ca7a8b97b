/**
 * One cluster CA for every server, with real `ruche agent` processes on one real etcd
 * (`-etcd-endpoints`): the first server makes the CA (its key sealed under the cluster key in
 * the state) and the cluster key in its data dir; a server with no key, or a wrong one, is
 * refused saying both ways in; a server joining with a server join token receives the key and
 * starts; another given the key with -encrypt starts too. Every server then answers with the
 * same CA, a node joined through one server is trusted by another, and a CA rotation made
 * through one server is taken up by the others.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchOver, tlsDispatcher } from "../../src/apiclient/index.js";
import { caDigest, splitCerts } from "../../src/pki/index.js";
import { startEtcd, type EtcdTestCluster } from "../../src/state/etcd-testing.js";
import type { DialTls } from "../../src/structs/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let dir = "";
let etcd: EtcdTestCluster | undefined;
const started: AgentProcess[] = [];
let s1: AgentProcess | undefined;
let s2: AgentProcess | undefined;
let s3: AgentProcess | undefined;

// ACLs off here on purpose: this file is about the servers' CA (the penetration suite runs with ACLs on).
const common = (): string[] => ["-acl-enabled=false", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1"];
const serverArgs = (name: string): string[] => ["-server", "-node", name, "-data-dir", join(dir, name), "-etcd-endpoints", etcd?.endpoints.join(",") ?? "", "-tls-http", ...common()];
const caFile = (name: string): string => join(dir, name, "tls", "ca.pem");
/** The first server's CA as the test trusts it, read once the server has made it. */
const trust: DialTls = {
  get ca(): string {
    return readFileSync(caFile("s1"), "utf8");
  },
};

function cli(agent: AgentProcess | undefined, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return ruche(agent?.address ?? "", dir, ...argv, "-ca-cert", caFile("s1"));
}

async function caStatus(agent: AgentProcess | undefined): Promise<{ CADigest: string; Trusted: string[]; Rotating: boolean }> {
  const r = await cli(agent, "operator", "tls", "ca", "-json");
  expect(r.err).toBe("");
  return JSON.parse(r.out) as { CADigest: string; Trusted: string[]; Rotating: boolean };
}

/** What a server's `GET /v1/agent/ca` answers, over TLS. */
async function agentCa(agent: AgentProcess | undefined): Promise<string> {
  const d = tlsDispatcher(trust);
  try {
    const res = await fetchOver(d)(new URL(`https://${agent?.address ?? ""}/v1/agent/ca`), {});
    expect(res.status).toBe(200);
    return await res.text();
  } finally {
    await d.close();
  }
}

async function start(args: string[]): Promise<AgentProcess> {
  const a = await startAgentProcess(args, {}, trust);
  started.push(a);
  return a;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-cluster-ca-"));
  etcd = await startEtcd({ members: 1 });
  s1 = await start(serverArgs("s1"));
}, 60_000);

afterAll(async () => {
  for (const a of started.reverse()) await a.stop();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("one cluster CA shared by the servers through etcd", () => {
  it("the first server makes the CA and keeps the cluster key in its data dir (0600), and says once how other servers get it", () => {
    const key = join(dir, "s1", "tls", "cluster.key");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const kek = readFileSync(key, "utf8").trim();
    expect(Buffer.from(kek, "base64")).toHaveLength(32);
    const log = (s1?.err() ?? "") + (s1?.out() ?? "");
    expect(log.match(/made the cluster key/g) ?? []).toHaveLength(1);
    // The key itself is never logged.
    expect(log).not.toContain(kek);
    // No clear CA key on disk: the state holds it sealed.
    expect(() => statSync(join(dir, "s1", "tls", "ca-key.pem"))).toThrow(/ENOENT/);
  });

  it("refuses a server that has no cluster key, or the wrong one, naming both ways in", async () => {
    await expect(startAgentProcess(serverArgs("nokey"), {}, trust)).rejects.toThrow(/cannot use the cluster's CA .*has no cluster key.*-encrypt KEY.*ruche join-token create -role server/s);
    const wrong = Buffer.alloc(32, 9).toString("base64");
    let message = "";
    await startAgentProcess([...serverArgs("wrongkey"), "-encrypt", wrong], {}, trust).catch((err: unknown) => (message = String(err)));
    expect(message).toMatch(/the cluster key given with -encrypt does not decrypt its key/);
    expect(message).toMatch(/-encrypt KEY.*-role server/s);
    expect(message).not.toContain(readFileSync(join(dir, "s1", "tls", "cluster.key"), "utf8").trim());
    await expect(startAgentProcess([...serverArgs("shortkey"), "-encrypt", Buffer.alloc(16).toString("base64")], {}, trust)).rejects.toThrow(/-encrypt is 16 bytes; the cluster key is 32 bytes/);
  }, 90_000);

  it("a server joining with a server join token receives the key over TLS and starts; another starts with -encrypt", async () => {
    const made = await cli(s1, "join-token", "create", "-role", "server", "-quiet");
    expect(made.err).toBe("");
    s2 = await start([...serverArgs("s2"), "-join-token", made.out.trim(), "-servers", s1?.address ?? ""]);
    const kek = readFileSync(join(dir, "s1", "tls", "cluster.key"), "utf8").trim();
    expect(readFileSync(join(dir, "s2", "tls", "cluster.key"), "utf8").trim()).toBe(kek);
    expect(statSync(join(dir, "s2", "tls", "cluster.key")).mode & 0o777).toBe(0o600);
    s3 = await start([...serverArgs("s3"), "-encrypt", kek]);
    // -encrypt is the operator's to keep: not written to the data dir.
    expect(() => statSync(join(dir, "s3", "tls", "cluster.key"))).toThrow(/ENOENT/);
  }, 90_000);

  it("every server serves certificates of ONE CA: the same digest at /v1/agent/ca, and ca.pem in each data dir", async () => {
    const digests = await Promise.all([s1, s2, s3].map(async (s) => (await caStatus(s)).CADigest));
    expect(new Set(digests).size).toBe(1);
    const pems = await Promise.all([s1, s2, s3].map((s) => agentCa(s)));
    for (const pem of pems) expect(splitCerts(pem).map(caDigest)).toEqual(digests.slice(0, 1));
    for (const name of ["s1", "s2", "s3"]) expect(caDigest(readFileSync(caFile(name), "utf8"))).toBe(digests[0]);
  }, 60_000);

  it("a node joined through the first server is trusted by the second", async () => {
    const made = await cli(s1, "join-token", "create", "-role", "client", "-quiet");
    const node = await start(["-client", "-servers", s1?.address ?? "", "-data-dir", join(dir, "n1"), "-node", "n1", ...common(), "-join-token", made.out.trim()]);
    expect(await node.stop()).toBe(true);
    // Started again on its kept certificate, talking to the second server only: registered and ready there.
    await start(["-client", "-servers", s2?.address ?? "", "-data-dir", join(dir, "n1"), "-node", "n1", ...common(), "-tls-http"]);
  }, 90_000);

  it("a CA rotation through one server is seen by the others, and finished through another", async () => {
    const before = (await caStatus(s1)).CADigest;
    const r = await cli(s1, "operator", "tls", "ca", "rotate");
    expect(r.err).toBe("");
    const rotated = (await caStatus(s1)).CADigest;
    expect(rotated).not.toBe(before);
    for (const s of [s2, s3]) {
      await until("the rotation seen by another server", async () => {
        const st = await caStatus(s);
        return st.CADigest === rotated && st.Rotating ? st : undefined;
      }, 15_000);
    }
    await until("the second server's ca.pem holding both roots", () => {
      const roots = splitCerts(readFileSync(caFile("s2"), "utf8")).map(caDigest);
      return roots.length === 2 && roots[0] === rotated && roots[1] === before ? roots : undefined;
    }, 15_000);
    const finished = await cli(s2, "operator", "tls", "ca", "finish");
    expect(finished.err).toBe("");
    await until("the finish seen by the first server", async () => {
      const st = await caStatus(s1);
      return st.CADigest === rotated && !st.Rotating ? st : undefined;
    }, 15_000);
    // Each server was issued a certificate of the new CA when it took the rotation up: trusting the new root alone reaches all of them.
    expect(splitCerts(readFileSync(caFile("s1"), "utf8")).map(caDigest)).toEqual([rotated]);
    for (const s of [s2, s3]) expect((await caStatus(s)).CADigest).toBe(rotated);
    // ...and the servers talk to each other on them: a write through each (forwarded by the followers to the leader, over mutual TLS) lands.
    for (const s of [s1, s2, s3]) {
      const w = await cli(s, "join-token", "create", "-role", "client", "-quiet");
      expect(w.err).toBe("");
      expect(w.out).toMatch(new RegExp(`^RUCHE-1-`));
    }
  }, 90_000);
});
