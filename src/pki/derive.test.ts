import { createPublicKey, verify, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { caDigest, checkNodeCert, ClusterCa, clusterFiles, createKeyAndCsr, deriveCa, deriveCaScalar, deterministicSign, DERIVED_ROTATE_REFUSED, issueServerCert, newClusterKey, parseClusterKey, signCsr } from "./index.js";
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

  it("refuses a rotation, changing nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ruche-derive-r-"));
    dirs.push(dir);
    const ca = await ClusterCa.derive(dir, "global", { key: KEY.toString("base64"), from: "-encrypt", keep: false });
    const before = await readFile(clusterFiles(dir).ca, "utf8");
    await expect(ca.rotate()).rejects.toThrow(DERIVED_ROTATE_REFUSED);
    await expect(ca.finish()).rejects.toThrow(DERIVED_ROTATE_REFUSED);
    expect(await ca.refresh()).toBe(false);
    expect(await readFile(clusterFiles(dir).ca, "utf8")).toBe(before);
    expect(ca.trusted()).toEqual([before]);
    expect(ca.chain()).toBe("");
  });
});
