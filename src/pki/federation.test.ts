import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { caDigest, caRegion, certInfo, checkFederationPeer, ClusterCa, clusterFiles, createKeyAndCsr, FEDERATION_DERIVED, FEDERATION_ROTATING, fileCaSlot, issueServerCert, newClusterKey, serverRegions, signCsr, takeUpFederationCa } from "./index.js";
import { handshake } from "./testing.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "ruche-fedca-"));
  dirs.push(d);
  return d;
}

function names(pem: string): { uris: string[]; dnsNames: string[]; subject: string } {
  const c = new X509Certificate(pem);
  const parts = (c.subjectAltName ?? "").split(", ");
  return { uris: parts.filter((p) => p.startsWith("URI:")).map((p) => p.slice(4)), dnsNames: parts.filter((p) => p.startsWith("DNS:")).map((p) => p.slice(4)), subject: c.subject };
}

describe("one CA per federation", () => {
  it("a second region takes up the first's CA record and key: both regions' server certificates chain to one root and complete mutual TLS, a third CA's do not", async () => {
    const europeDir = await dir();
    const usDir = await dir();
    const { ca: europe } = await ClusterCa.open(europeDir, "europe");
    const record = europe.federationRecord();
    const digest = europe.digest();

    // The us region's first start: the record goes into its empty slot; the key opens it.
    const slot = fileCaSlot(usDir);
    expect(await takeUpFederationCa(slot, record, digest)).toBe("taken");
    expect(await takeUpFederationCa(slot, record, digest)).toBe("already");
    const { ca: us, created } = await ClusterCa.open(usDir, "us", { key: { key: europe.clusterKey(), from: "the federation join", keep: true } });
    expect(created).toBe(false);
    expect(us.digest()).toBe(digest);
    expect(caRegion(us.ca().certPem)).toBe("europe");
    expect((await readFile(clusterFiles(usDir).key, "utf8")).trim()).toBe(europe.clusterKey());

    const eu1 = await issueServerCert(europe.ca(), { region: "europe", name: "eu1" });
    const us1 = await issueServerCert(us.ca(), { region: "us", name: "us1" });
    expect(certInfo(us1.certPem).identity).toEqual({ region: "us", role: "server", name: "us1" });
    const root = europe.ca().certPem;
    expect(await handshake({ cert: eu1.certPem, key: eu1.keyPem }, root, { cert: us1.certPem, key: us1.keyPem }, root, "server.europe.ruche")).toBe("ok");
    expect(await handshake({ cert: us1.certPem, key: us1.keyPem }, root, { cert: eu1.certPem, key: eu1.keyPem }, root, "server.us.ruche")).toBe("ok");

    // A region that made its own CA: its servers' certificates are not trusted by the federation's, nor the reverse.
    const { ca: mars } = await ClusterCa.open(await dir(), "mars");
    const m1 = await issueServerCert(mars.ca(), { region: "mars", name: "m1" });
    expect(await handshake({ cert: eu1.certPem, key: eu1.keyPem }, root, { cert: m1.certPem, key: m1.keyPem }, mars.ca().certPem, "server.europe.ruche")).not.toBe("ok");
    expect(await handshake({ cert: m1.certPem, key: m1.keyPem }, mars.ca().certPem, { cert: us1.certPem, key: us1.keyPem }, root, "server.mars.ruche")).toMatch(/self-signed certificate|unable to verify|certificate/);
  });

  it("refuses a record whose CA is not the token's, and a region that already has a CA of its own", async () => {
    const { ca: europe } = await ClusterCa.open(await dir(), "europe");
    const ownDir = await dir();
    const { ca: own } = await ClusterCa.open(ownDir, "us");
    await expect(takeUpFederationCa(fileCaSlot(await dir()), europe.federationRecord(), own.digest())).rejects.toThrow(/is not the join token's .*not taken up/);
    await expect(takeUpFederationCa(fileCaSlot(ownDir), europe.federationRecord(), europe.digest())).rejects.toThrow(/this region already has a cluster CA of its own \(sha256 [0-9a-f]{16}…\) in .*ca-record\.json, not the federation's/);
  });

  it("is not shared during a rotation, nor when derived from the cluster key (servers on their own etcd members)", async () => {
    const { ca } = await ClusterCa.open(await dir(), "europe");
    await ca.rotate();
    expect(() => ca.federationRecord()).toThrow(FEDERATION_ROTATING);
    await ca.finish();
    expect(ca.federationRecord().Previous).toBeNull();
    const derived = await ClusterCa.derive(await dir(), "europe", { key: newClusterKey(), from: "-encrypt", keep: false });
    expect(() => derived.federationRecord()).toThrow(FEDERATION_DERIVED);
  });

  it("tells a server of the region it claims from any other certificate of the CA", async () => {
    const { ca } = await ClusterCa.open(await dir(), "europe");
    const eu1 = names((await issueServerCert(ca.ca(), { region: "europe", name: "eu1" })).certPem);
    const us1 = names((await issueServerCert(ca.ca(), { region: "us", name: "us1" })).certPem);
    const { csrPem } = await createKeyAndCsr({ region: "us", role: "client", name: "n1" });
    const node = names(await signCsr(ca.ca(), csrPem, { region: "us", role: "client", name: "n1" }));
    expect(serverRegions(eu1)).toEqual(["europe"]);
    expect(serverRegions(node)).toEqual([]);
    expect(checkFederationPeer(us1, "us")).toEqual({ ok: true });
    const lie = checkFederationPeer(eu1, "us");
    expect(lie.ok).toBe(false);
    if (!lie.ok) expect(lie.reason).toMatch(/^it says it is a server of region "us", but its certificate \(O=europe.*\) names a server of region europe only: not a server of "us" \(server\.us\.ruche\)$/);
    const client = checkFederationPeer(node, "us");
    if (!client.ok) expect(client.reason).toMatch(/names no server of any region \(a node's or an operator's certificate\)/);
    expect(client.ok).toBe(false);
    // Nomad's tools' names count too (an operator's certificate made with `nomad tls cert create -server -region us`).
    expect(checkFederationPeer({ uris: [], dnsNames: ["server.us.nomad", "localhost"] }, "us")).toEqual({ ok: true });
    expect(caDigest(ca.ca().certPem)).toBe(ca.digest());
  });
});
