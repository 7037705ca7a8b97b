import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { nodeTlsPaths } from "../client/index.js";
import { createKeyAndCsr, deriveCa, newClusterKey, parseClusterKey, signCsr } from "../pki/index.js";
import { openClusterCa, resolveClusterTls, serverTlsPaths } from "./cluster-tls.js";
import { agentWire, type ClusterTls } from "./tls.js";

const dir = mkdtempSync(join(tmpdir(), "ruche-cluster-tls-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const tls: ClusterTls = { enabled: true, cluster: {}, verifyServerHostname: true, verifyHttpsClient: false };
const ctx = (dataDir: string, server: boolean) => ({ dataDir, region: "eu", server, name: "n1", servers: ["127.0.0.1:1"], bind: "0.0.0.0", networkIp: "192.0.2.7", log: pino({ level: "silent" }) });

describe("the cluster's own PKI as an agent's TLS files", () => {
  it("gives a server a certificate of its CA naming its region, addresses and host, its key 0600, and files agentWire takes", async () => {
    const data = join(dir, "server");
    const { files, ca } = await resolveClusterTls(tls, ctx(data, true));
    const p = serverTlsPaths(data);
    expect(files).toEqual({ enabled: true, caFile: p.ca, certFile: p.cert, keyFile: p.key, verifyServerHostname: true, verifyHttpsClient: false });
    const cert = new X509Certificate(readFileSync(files.certFile));
    for (const name of ["server.eu.ruche", "server.eu.nomad", "localhost", hostname()]) expect(cert.checkHost(name), name).toBe(name);
    for (const ip of ["127.0.0.1", "192.0.2.7"]) expect(cert.checkIP(ip), ip).toBe(ip);
    expect(cert.checkIP("0.0.0.0")).toBeUndefined();
    expect(cert.verify(new X509Certificate(readFileSync(join(data, "tls", "ca.pem"))).publicKey)).toBe(true);
    expect(statSync(files.keyFile).mode & 0o777).toBe(0o600);
    const wire = await agentWire(files, "eu");
    await wire.close();
    // Started again: the same CA, a fresh certificate.
    const again = await resolveClusterTls(tls, ctx(data, true));
    expect(again.ca?.digest()).toBe(ca?.digest());
    expect(readFileSync(again.files.certFile, "utf8")).not.toBe(cert.toString());
  });

  it("refuses a client with neither a join token nor the certificate of an earlier join, saying what to give", async () => {
    await expect(resolveClusterTls(tls, ctx(join(dir, "client"), false))).rejects.toThrow(/holds no node certificate: join the cluster with -join-token TOKEN/);
  });

  it("refuses a client whose kept certificate expired, without a join token, saying to join again", async () => {
    const data = join(dir, "stale");
    const ca = await deriveCa(parseClusterKey(newClusterKey(), "test"), "eu");
    const id = { region: "eu", role: "client" as const, name: "n1" };
    const { csrPem, keyPem } = await createKeyAndCsr(id);
    const certPem = await signCsr(ca, csrPem, id, { now: new Date(Date.now() - 48 * 3600_000), ttlMs: 3600_000 });
    const p = nodeTlsPaths(data);
    mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    writeFileSync(p.ca, ca.certPem);
    writeFileSync(p.cert, certPem);
    writeFileSync(p.key, keyPem, { mode: 0o600 });
    await expect(resolveClusterTls(tls, ctx(data, false))).rejects.toThrow(/this node's certificate expired at .*join again with -join-token TOKEN/);
  });

  it("gives servers that run their own etcd members the CA derived from -encrypt, the same on each; without it, refuses saying how", async () => {
    const key = newClusterKey();
    const own = (name: string) => ({ ...ctx(join(dir, name), true), ownEtcd: true, encrypt: key });
    const [a, b] = [await resolveClusterTls(tls, own("own-a")), await resolveClusterTls(tls, own("own-b"))];
    const derived = (await deriveCa(parseClusterKey(key, "test"), "eu")).certPem;
    expect(readFileSync(a.files.caFile, "utf8")).toBe(derived);
    expect(readFileSync(b.files.caFile, "utf8")).toBe(derived);
    expect(new X509Certificate(readFileSync(a.files.certFile)).verify(new X509Certificate(readFileSync(b.files.caFile)).publicKey)).toBe(true);
    const keyless = { ...ctx(join(dir, "own-c"), true), ownEtcd: true };
    await expect(resolveClusterTls(tls, keyless)).rejects.toThrow(/servers that run their own etcd members .* share the cluster's CA through the cluster key: give each the same server \{ encrypt = KEY \}.*or tls \{ enabled = false \}/);
    // With TLS off (the CA only for join routes) such a server keeps a CA of its data dir, as a server alone does.
    expect((await openClusterCa(keyless, undefined, { keyOptional: true })).derived).toBe(false);
  });
});
