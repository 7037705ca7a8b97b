import { createPublicKey, verify, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { caDigest, checkNodeCert, ClusterCa, clusterFiles, createKeyAndCsr, deriveCa, deriveCaScalar, deterministicSign, DERIVED_NOT_ATTACHED, fileCaSlot, issueServerCert, newClusterKey, parseClusterKey, signCsr } from "./index.js";
import { handshake } from "./testing.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const KEY = parseClusterKey(newClusterKey(), "test");
const OTHER = parseClusterKey(newClusterKey(), "test");

const spki = (pem: string): string => new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" }).toString("hex");

describe("the cluster CA derived from the cluster key (servers on etcd members of their own)", () => {
  it("is the same for the same key and region, byte for byte, and another for another key or region", async () => {
    const [a, b, other, east] = await Promise.all([deriveCa(KEY, "global"), deriveCa(Buffer.from(KEY), "global"), deriveCa(OTHER, "global"), deriveCa(KEY, "east")]);
    expect(b.certPem).toBe(a.certPem);
    expect(b.keyPem).toBe(a.keyPem);
    expect(caDigest(b.certPem)).toBe(caDigest(a.certPem));
    expect(spki(b.certPem)).toBe(spki(a.certPem));
    expect(deriveCaScalar(KEY, "global").equals(deriveCaScalar(KEY, "east"))).toBe(false);
    for (const c of [other, east]) {
      expect(spki(c.certPem)).not.toBe(spki(a.certPem));
      expect(caDigest(c.certPem)).not.toBe(caDigest(a.certPem));
    }
    // A CA as createCa makes them: its name, self-signed, its key its own.
    expect(a.cert.ca).toBe(true);
    expect(a.cert.subject).toBe("O=global\nCN=ruche-ca.global");
    expect(east.cert.subject).toBe("O=east\nCN=ruche-ca.east");
    expect(a.cert.verify(a.cert.publicKey)).toBe(true);
    expect(a.cert.checkIssued(a.cert)).toBe(true);
    expect(a.cert.validFrom).toBe("Jan  1 00:00:00 2025 GMT");
    expect(a.cert.validTo).toBe("Jan  1 00:00:00 2075 GMT");
  });

  it("signs deterministically, with signatures any ECDSA verifier accepts", async () => {
    const ca = await deriveCa(KEY, "global");
    const d = deriveCaScalar(KEY, "global");
    const pub = createPublicKey(ca.keyPem);
    for (const msg of ["", "a", "ruche".repeat(1000)]) {
      const sig = deterministicSign(d, Buffer.from(msg));
      expect(Buffer.from(deterministicSign(d, Buffer.from(msg))).equals(Buffer.from(sig))).toBe(true);
      expect(verify("sha256", Buffer.from(msg), pub, sig)).toBe(true);
      expect(verify("sha256", Buffer.from(`${msg}!`), pub, sig)).toBe(false);
    }
    expect(Buffer.from(deterministicSign(d, Buffer.from("a"))).equals(Buffer.from(deterministicSign(d, Buffer.from("b"))))).toBe(false);
  });

  it("two servers given one key: a certificate issued by one verifies against the other's CA file, and they talk mutual TLS", async () => {
    const [dirA, dirB] = await Promise.all([mkdtemp(join(tmpdir(), "ruche-derive-a-")), mkdtemp(join(tmpdir(), "ruche-derive-b-"))]);
    dirs.push(dirA, dirB);
    const key = { key: KEY.toString("base64"), from: "-encrypt", keep: false };
    const a = await ClusterCa.derive(dirA, "global", key);
    const b = await ClusterCa.derive(dirB, "global", key);
    const [caFileA, caFileB] = await Promise.all([readFile(clusterFiles(dirA).ca, "utf8"), readFile(clusterFiles(dirB).ca, "utf8")]);
    expect(caFileB).toBe(caFileA);
    expect(b.digest()).toBe(a.digest());

    const { csrPem, keyPem } = await createKeyAndCsr({ region: "global", role: "client", name: "n1" });
    const node = await signCsr(a.ca(), csrPem, { region: "global", role: "client", name: "n1" });
    expect(new X509Certificate(node).verify(new X509Certificate(caFileB).publicKey)).toBe(true);
    const checked = checkNodeCert(node, [caFileB], new Date());
    expect(checked.ok).toBe(true);

    const sa = await issueServerCert(a.ca(), { region: "global", name: "a" });
    const sb = await issueServerCert(b.ca(), { region: "global", name: "b" });
    expect(await handshake({ cert: sa.certPem, key: sa.keyPem }, caFileA, { cert: sb.certPem, key: sb.keyPem }, caFileB)).toBe("ok");
    expect(await handshake({ cert: sb.certPem, key: sb.keyPem }, caFileB, { cert: node, key: keyPem }, caFileA)).toBe("ok");
    // A server given another key is of another cluster.
    const stranger = await ClusterCa.derive(await mkdtemp(join(tmpdir(), "ruche-derive-c-")).then((d) => (dirs.push(d), d)), "global", { ...key, key: OTHER.toString("base64") });
    const sc = await issueServerCert(stranger.ca(), { region: "global", name: "c" });
    expect(await handshake({ cert: sa.certPem, key: sa.keyPem }, caFileA, { cert: sc.certPem, key: sc.keyPem }, stranger.trusted().join(""))).not.toBe("ok");
  });

  it("rotates through its record once it reaches it: signs with a new CA, keeps the anchor trusted and in the chain, and starts again from the data dir's copy", async () => {
    const tmp = async (name: string): Promise<string> => {
      const d = await mkdtemp(join(tmpdir(), `ruche-derive-${name}-`));
      dirs.push(d);
      return d;
    };
    const key = { key: KEY.toString("base64"), from: "-encrypt", keep: false };
    const [dirA, dirB] = await Promise.all([tmp("ra"), tmp("rb")]);
    const ca = await ClusterCa.derive(dirA, "global", key);
    const anchor = ca.ca().certPem;
    expect(ca.anchorCa()?.certPem).toBe(anchor);
    // Before its etcd is reached (the record is there): no rotation, nothing changed.
    const before = await readFile(clusterFiles(dirA).ca, "utf8");
    await expect(ca.rotate()).rejects.toThrow(DERIVED_NOT_ATTACHED);
    await expect(ca.finish()).rejects.toThrow(DERIVED_NOT_ATTACHED);
    expect(await ca.refresh()).toBe(false);
    expect(await readFile(clusterFiles(dirA).ca, "utf8")).toBe(before);
    expect(ca.trusted()).toEqual([anchor]);
    expect(ca.chain()).toBe("");

    // The record the servers share (a file here; etcd's slot is the state's): made by the first to reach it, read by the next.
    const shared = fileCaSlot(await tmp("shared"));
    expect(await ca.attach(shared)).toBe(false);
    const other = await ClusterCa.derive(dirB, "global", key);
    expect(await other.attach(shared)).toBe(false);
    expect(other.digest()).toBe(ca.digest());

    // A rotation through one server; the other takes it up.
    const { digest } = await ca.rotate();
    expect(digest).not.toBe(caDigest(anchor));
    expect(ca.trusted()).toEqual([ca.ca().certPem, anchor]);
    expect(await other.refresh()).toBe(true);
    expect(other.digest()).toBe(digest);
    const first = ca.ca().certPem;
    await ca.finish();
    // The anchor stays trusted (it is the cluster key's) and signs the current one in the chain.
    expect(ca.trusted()).toEqual([first, anchor]);
    const byAnchor = new X509Certificate(ca.chain());
    expect(byAnchor.checkIssued(new X509Certificate(anchor))).toBe(true);
    expect(byAnchor.subject).toBe(ca.ca().cert.subject);
    // A server that knows the anchor alone (one joining, one that was away) and a server of the new CA accept each other.
    const server = await issueServerCert(ca.ca(), { region: "global", name: "a" });
    const joiner = await issueServerCert(ca.anchorCa() ?? ca.ca(), { region: "global", name: "b" });
    expect(await handshake({ cert: server.certPem + ca.chain(), key: server.keyPem }, ca.trusted().join(""), { cert: joiner.certPem, key: joiner.keyPem }, anchor)).toBe("ok");

    // A second rotation: agents on the first rotated CA and servers on the anchor alone both accept the new one; its end drops the first, never the anchor.
    const onFirst = await issueServerCert(ca.ca(), { region: "global", name: "c" });
    await ca.rotate();
    const second = await issueServerCert(ca.ca(), { region: "global", name: "a" });
    expect(await handshake({ cert: second.certPem + ca.chain(), key: second.keyPem }, ca.trusted().join(""), { cert: onFirst.certPem, key: onFirst.keyPem }, first)).toBe("ok");
    expect(await handshake({ cert: second.certPem + ca.chain(), key: second.keyPem }, ca.trusted().join(""), { cert: joiner.certPem, key: joiner.keyPem }, anchor)).toBe("ok");
    await ca.finish();
    expect(ca.trusted()).toEqual([ca.ca().certPem, anchor]);
    expect(ca.trusted()).not.toContain(first);

    // A data dir starts from its copy of the record: as this server last read it (the other server's is a rotation behind, until it reaches the record).
    const again = await ClusterCa.derive(dirA, "global", key);
    expect(again.digest()).toBe(ca.digest());
    expect(again.trusted()).toEqual(ca.trusted());
    const away = await ClusterCa.derive(dirB, "global", key);
    expect(away.digest()).toBe(digest);
    expect(await away.attach(shared)).toBe(true);
    expect(away.digest()).toBe(ca.digest());
    // A copy the key given does not open stops the start, saying so.
    await expect(ClusterCa.derive(dirA, "global", { ...key, key: OTHER.toString("base64") })).rejects.toThrow(/does not decrypt its key/);
  });
});
