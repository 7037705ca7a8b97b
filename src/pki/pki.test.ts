import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caDigest, certInfo, checkNodeCert, createCa, createKeyAndCsr, issueServerCert, loadOrCreateCa, signCsr, type Ca } from "./index.js";

let ca: Ca;
beforeAll(async () => {
  ca = await createCa({ region: "global" });
});

describe("the cluster CA", () => {
  it("is a self-signed ECDSA P-256 CA for ten years", () => {
    const c = new X509Certificate(ca.certPem);
    expect(c.ca).toBe(true);
    expect(c.checkIssued(c)).toBe(true);
    expect(c.verify(c.publicKey)).toBe(true);
    expect(c.publicKey.asymmetricKeyType).toBe("ec");
    expect(c.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(c.subject).toContain("CN=ruche-ca.global");
    const years = (Date.parse(c.validTo) - Date.now()) / (365 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);
    expect(c.keyUsage).toBeUndefined(); // node lists extended key usages only: a CA has none
    expect(caDigest(ca.certPem)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is written to <data_dir>/tls (key 0600, dir 0700) and read back the same", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ruche-pki-"));
    try {
      const first = await loadOrCreateCa(dir, { region: "global" });
      expect(first.created).toBe(true);
      expect((await stat(join(dir, "tls"))).mode & 0o777).toBe(0o700);
      expect((await stat(join(dir, "tls", "ca-key.pem"))).mode & 0o777).toBe(0o600);
      expect(await readFile(join(dir, "tls", "ca.pem"), "utf8")).toBe(first.ca.certPem);
      const again = await loadOrCreateCa(dir, { region: "global" });
      expect(again.created).toBe(false);
      expect(caDigest(again.ca.certPem)).toBe(caDigest(first.ca.certPem));
      // The loaded key signs: a certificate it issues chains to the CA written first.
      const { csrPem } = await createKeyAndCsr({ region: "global", role: "client", name: "n1" });
      const cert = new X509Certificate(await signCsr(again.ca, csrPem, { region: "global", role: "client", name: "n1" }));
      expect(cert.checkIssued(first.ca.cert)).toBe(true);
      expect(cert.verify(first.ca.cert.publicKey)).toBe(true);
      // A key without its certificate is refused, naming what is missing.
      await rm(join(dir, "tls", "ca.pem"));
      await expect(loadOrCreateCa(dir, { region: "global" })).rejects.toThrow(/incomplete: .*ca\.pem is missing/);
      // A key that is not the certificate's is refused.
      const other = await createCa({ region: "global" });
      await writeFile(join(dir, "tls", "ca.pem"), other.certPem);
      await expect(loadOrCreateCa(dir, { region: "global" })).rejects.toThrow(/does not belong to the CA certificate/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("certificates", () => {
  it("a server certificate names the region's server, loopback and the server's addresses", async () => {
    const { certPem } = await issueServerCert(ca, { region: "global", name: "s1", names: ["s1.example", "10.1.2.3"], ips: ["fd00::1"] });
    const c = new X509Certificate(certPem);
    expect(c.ca).toBe(false);
    expect(c.checkIssued(ca.cert)).toBe(true);
    expect(c.verify(ca.cert.publicKey)).toBe(true);
    expect(c.checkHost("server.global.ruche")).toBe("server.global.ruche");
    expect(c.checkHost("localhost")).toBe("localhost");
    expect(c.checkHost("s1.example")).toBe("s1.example");
    expect(c.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(c.checkIP("10.1.2.3")).toBe("10.1.2.3");
    expect(c.checkIP("FD00:0:0:0:0:0:0:1")).toBeDefined();
    expect(c.checkHost("other.example")).toBeUndefined();
    expect(c.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
    expect(certInfo(certPem).identity).toEqual({ region: "global", role: "server", name: "s1" });
  });

  it("a node certificate takes its identity from the CA, not from the CSR, for 24 hours by default", async () => {
    const { csrPem, keyPem } = await createKeyAndCsr({ region: "global", role: "server", name: "asks-for-much" });
    const now = new Date();
    const pem = await signCsr(ca, csrPem, { region: "global", role: "client", name: "web-1" }, { now });
    const c = new X509Certificate(pem);
    expect(c.checkIssued(ca.cert) && c.verify(ca.cert.publicKey)).toBe(true);
    // One attribute per RDN: O, OU, CN.
    expect(c.subject).toBe("O=global\nOU=client\nCN=web-1");
    expect(c.subjectAltName).toBe("URI:spiffe://ruche/global/client/web-1");
    expect(c.checkHost("server.global.ruche")).toBeUndefined();
    expect(c.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
    expect(Date.parse(c.validTo) - now.getTime()).toBeGreaterThan(24 * 3600 * 1000 - 2000);
    expect(Date.parse(c.validTo) - now.getTime()).toBeLessThanOrEqual(24 * 3600 * 1000);
    // The certificate is for the key that made the CSR.
    const { createPrivateKey } = await import("node:crypto");
    expect(c.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(checkNodeCert(pem, [ca.certPem])).toMatchObject({ ok: true, identity: { region: "global", role: "client", name: "web-1" } });
  });

  it("refuses a CSR that is not one, or not signed by its own key", async () => {
    const id = { region: "global", role: "client", name: "n" } as const;
    await expect(signCsr(ca, "hello", id)).rejects.toThrow(/malformed CSR/);
    await expect(signCsr(ca, undefined, id)).rejects.toThrow(/malformed CSR/);
    const { csrPem } = await createKeyAndCsr(id);
    // Flip one byte of the signature (the DER's last byte): the CSR no longer verifies.
    const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    der[der.length - 1]! ^= 0x01;
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signCsr(ca, forged, id)).rejects.toThrow(/malformed CSR/);
  });

  it("checks a node certificate: another CA's, an expired one, one not yet valid", async () => {
    const other = await createCa({ region: "global" });
    const { csrPem } = await createKeyAndCsr({ region: "global", role: "client", name: "n" });
    const foreign = await signCsr(other, csrPem, { region: "global", role: "client", name: "n" });
    expect(checkNodeCert(foreign, [ca.certPem])).toMatchObject({ ok: false, reason: expect.stringMatching(/not signed by this cluster's CA/) as unknown });
    expect(checkNodeCert(foreign, [ca.certPem, other.certPem]).ok).toBe(true);
    const past = new Date(Date.now() - 48 * 3600 * 1000);
    const old = await signCsr(ca, csrPem, { region: "global", role: "client", name: "n" }, { now: past });
    expect(checkNodeCert(old, [ca.certPem])).toMatchObject({ ok: false, reason: expect.stringMatching(/expired at/) as unknown });
    expect(checkNodeCert(old, [ca.certPem], past).ok).toBe(true);
  });
});

describe("mutual TLS with these certificates", () => {
  let server: ReturnType<typeof createServer> | undefined;
  afterAll(() => {
    server?.close();
  });

  it("a client with a node certificate and a server with a server certificate complete a handshake; a stranger does not", async () => {
    const srv = await issueServerCert(ca, { region: "global", name: "s1" });
    const seen: { authorized: boolean; cn: string | undefined }[] = [];
    server = createServer({ cert: srv.certPem, key: srv.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (sock) => {
      const peer = sock.getPeerCertificate();
      seen.push({ authorized: sock.authorized, cn: peer.subject.CN as string | undefined });
      sock.end("hello\n");
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;

    const node = await createKeyAndCsr({ region: "global", role: "client", name: "web-1" });
    const nodeCert = await signCsr(ca, node.csrPem, { region: "global", role: "client", name: "web-1" });
    const reply = await talk(port, { cert: nodeCert, key: node.keyPem, ca: ca.certPem, servername: "server.global.ruche" });
    expect(reply).toEqual({ ok: true, data: "hello\n" });
    expect(seen).toEqual([{ authorized: true, cn: "web-1" }]);

    // A client whose certificate another CA signed is refused by the server.
    const other = await createCa({ region: "global" });
    const strangerCert = await signCsr(other, node.csrPem, { region: "global", role: "client", name: "web-1" });
    const refused = await talk(port, { cert: strangerCert, key: node.keyPem, ca: ca.certPem, servername: "server.global.ruche" });
    expect(refused.ok).toBe(false);
    // A client with no certificate at all is refused too.
    expect((await talk(port, { ca: ca.certPem, servername: "server.global.ruche" })).ok).toBe(false);
    // A client that trusts another CA refuses the server.
    const wrongCa = await talk(port, { cert: nodeCert, key: node.keyPem, ca: other.certPem, servername: "server.global.ruche" });
    expect(wrongCa).toMatchObject({ ok: false, error: expect.stringMatching(/certificate/) as unknown });
    // A node's certificate is no server's: a client checking for the region's server name refuses it.
    const nodeServer = createServer({ cert: nodeCert, key: node.keyPem }, (s) => s.end("x"));
    await new Promise<void>((resolve) => nodeServer.listen(0, "127.0.0.1", resolve));
    try {
      const p = (nodeServer.address() as { port: number }).port;
      expect(await talk(p, { ca: ca.certPem, servername: "server.global.ruche" })).toMatchObject({ ok: false, error: expect.stringMatching(/altnames|Hostname/i) as unknown });
    } finally {
      nodeServer.close();
    }
    expect(seen).toHaveLength(1);
  });
});

/** One TLS connection to 127.0.0.1:port: what the server sent, or the error. */
function talk(port: number, opts: { cert?: string; key?: string; ca: string; servername: string }): Promise<{ ok: true; data: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    let data = "";
    const sock: TLSSocket = connect({ host: "127.0.0.1", port, ...opts });
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (data += d));
    sock.on("end", () => {
      resolve(data === "" ? { ok: false, error: "closed without a word" } : { ok: true, data });
    });
    sock.on("error", (err: Error) => {
      resolve({ ok: false, error: err.message });
    });
  });
}
