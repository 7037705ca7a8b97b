import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as pkijs from "pkijs";
import { buildCertificate } from "./build-cert.js";
import { BACKDATE_MS, caFromPem, caPaths, createCa, loadOrCreateCa, privateDir, readIfThere, writePrivate, type Ca } from "./ca.js";
import { caDigest } from "./digest.js";
import { pemBlock, toPem } from "./pem.js";

/**
 * The new CA's certificate signed by the old CA's key (Swarm's cross-signed root): the same
 * subject and key as the new root, issued by the old one, valid as long as the old one. A peer
 * that trusts only the old root verifies a certificate of the new CA through it.
 */
export async function crossSign(oldCa: Ca, newCa: Ca, now: Date = new Date()): Promise<string> {
  const spki = pkijs.Certificate.fromBER(pemBlock(newCa.certPem, "CERTIFICATE", "the new CA certificate")).subjectPublicKeyInfo;
  const der = await buildCertificate({
    subject: newCa.subject,
    issuer: oldCa.subject,
    publicKey: spki,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(Math.min(Date.parse(oldCa.cert.validTo), Date.parse(newCa.cert.validTo))),
    ca: true,
    issuerKeyId: oldCa.keyId,
    signer: oldCa.key,
  });
  return toPem("CERTIFICATE", der);
}

/**
 * The cluster CA of a server's data dir, through a CA rotation (`ruche operator tls ca
 * rotate`, as `docker swarm ca --rotate`): after a rotation it signs with the new CA, and
 * hands every certificate it signs with the new CA's certificate cross-signed by the old
 * one (`chain`), so that an agent that still trusts only the old root accepts it, while the
 * agents trust both roots (`trusted`) and renew onto the new one. Files: `tls/ca.pem` and
 * `ca-key.pem` (the current CA), `ca-previous.pem` (the root before it) and `ca-cross.pem`
 * (the current CA signed by the previous), kept until `finish`. It is what a server's API
 * takes as its `pki` (`api.ClusterPki`) as it is.
 */
export class ClusterCa {
  private constructor(
    private readonly dataDir: string,
    readonly region: string,
    private current: Ca,
    private previous: string | null,
    private cross: string | null,
  ) {}

  static async open(dataDir: string, region: string): Promise<{ ca: ClusterCa; created: boolean }> {
    const { ca, created } = await loadOrCreateCa(dataDir, { region });
    const p = rotationPaths(dataDir);
    const [previous, cross] = await Promise.all([readIfThere(p.previous), readIfThere(p.cross)]);
    return { ca: new ClusterCa(dataDir, region, ca, previous, cross), created };
  }

  /** The CA that signs now. */
  ca(): Ca {
    return this.current;
  }

  /** The roots to trust: the current CA's, and during a rotation the previous one's. */
  trusted(): string[] {
    return this.previous === null ? [this.current.certPem] : [this.current.certPem, this.previous];
  }

  /** What follows a certificate this CA signs, in its chain: the cross-signed current CA during a rotation, else nothing. */
  chain(): string {
    return this.cross ?? "";
  }

  /** SHA-256 of the current CA (what new join tokens pin). */
  digest(): string {
    return caDigest(this.current.certPem);
  }

  /**
   * Rolls the CA: a new one, cross-signed by the current, becomes current; the current stays
   * trusted as the previous. Written whole before it is used: the previous root and the cross
   * certificate first, then the new key and certificate.
   */
  async rotate(now: Date = new Date()): Promise<{ digest: string }> {
    const next = await createCa({ region: this.region, now });
    const cross = await crossSign(this.current, next, now);
    const paths = caPaths(this.dataDir);
    const p = rotationPaths(this.dataDir);
    await privateDir(paths.dir);
    await writeFile(p.previous, this.current.certPem, { mode: 0o644 });
    await writeFile(p.cross, cross, { mode: 0o644 });
    await writePrivate(paths.key, next.keyPem);
    await writeFile(paths.cert, next.certPem, { mode: 0o644 });
    this.previous = this.current.certPem;
    this.cross = cross;
    this.current = await caFromPem(next.certPem, next.keyPem);
    return { digest: this.digest() };
  }

  /** Ends a rotation: the previous root is no longer trusted (every agent has renewed onto the current). */
  async finish(): Promise<void> {
    const p = rotationPaths(this.dataDir);
    await Promise.all([rm(p.previous, { force: true }), rm(p.cross, { force: true })]);
    this.previous = null;
    this.cross = null;
  }
}

function rotationPaths(dataDir: string): { previous: string; cross: string } {
  const dir = caPaths(dataDir).dir;
  return { previous: join(dir, "ca-previous.pem"), cross: join(dir, "ca-cross.pem") };
}

