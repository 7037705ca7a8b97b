import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as pkijs from "pkijs";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";
import { buildCertificate, keyId } from "./build-cert.js";
import { EC_KEY, engine, newKeyPair, subtle, type CryptoKey } from "./engine.js";
import { pemBlock, toPem } from "./pem.js";

/** A CA's lifetime when created: ten years. */
export const CA_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/** How far back a certificate's notBefore is set, for clocks a little behind (Swarm's CertBackdate). */
export const BACKDATE_MS = 60 * 60 * 1000;

/** The cluster's certificate authority: its certificate and the key that signs with it. */
export interface Ca {
  /** The CA certificate, PEM. */
  certPem: string;
  /** Its private key, PKCS#8 PEM: never sent anywhere. */
  keyPem: string;
  cert: X509Certificate;
  key: CryptoKey;
  /** Its SubjectKeyIdentifier: every certificate it signs names it. */
  keyId: ArrayBuffer;
  /** Its subject's CN. */
  name: string;
  /** Its subject as its certificate has it: the issuer of everything it signs. */
  subject: pkijs.RelativeDistinguishedNames;
}

/** A new self-signed CA (ECDSA P-256, ten years): `ruche-ca.<region>`. */
export async function createCa(opts: { region: string; now?: Date; ttlMs?: number }): Promise<Ca> {
  const now = opts.now ?? new Date();
  const pair = await newKeyPair();
  const name = `ruche-ca.${opts.region}`;
  const spki = new pkijs.PublicKeyInfo();
  await spki.importKey(pair.publicKey, engine);
  const id = await keyId(spki);
  const der = await buildCertificate({
    subject: { CN: name, O: opts.region },
    issuer: { CN: name, O: opts.region },
    publicKey: pair.publicKey,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + (opts.ttlMs ?? CA_TTL_MS)),
    ca: true,
    issuerKeyId: id,
    signer: pair.privateKey,
  });
  const keyPem = toPem("PRIVATE KEY", await subtle.exportKey("pkcs8", pair.privateKey));
  return caFromPem(toPem("CERTIFICATE", der), keyPem);
}

/** A CA from its certificate and key (PEM); throws if they are not a CA and its key. */
export async function caFromPem(certPem: string, keyPem: string): Promise<Ca> {
  const der = pemBlock(certPem, "CERTIFICATE", "the CA certificate");
  const cert = new X509Certificate(der);
  if (!cert.ca) throw new RucheError(ErrorCode.BadRequest, `the certificate ${cert.subject} is not a CA`);
  const key = await subtle.importKey("pkcs8", pemBlock(keyPem, "PRIVATE KEY", "the CA key"), EC_KEY, false, ["sign"]);
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new RucheError(ErrorCode.BadRequest, "the CA key does not belong to the CA certificate");
  const parsed = pkijs.Certificate.fromBER(der);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? "";
  return { certPem: toPem("CERTIFICATE", der), keyPem, cert, key, keyId: await keyId(parsed.subjectPublicKeyInfo), name: cn, subject: parsed.subject };
}

/** Where a data dir keeps the CA: `<data_dir>/tls/ca.pem` and `ca-key.pem`. */
export function caPaths(dataDir: string): { dir: string; cert: string; key: string } {
  const dir = join(dataDir, "tls");
  return { dir, cert: join(dir, "ca.pem"), key: join(dir, "ca-key.pem") };
}

/** Writes a file readable by its owner only (0600), whole or not at all. */
export async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Makes a directory only its owner may enter (0700), and its parents. */
export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * The cluster CA of a server's data dir: loaded from `<data_dir>/tls/` when there, made and
 * written there (the key 0600, the directory 0700) when not. A certificate without its key,
 * or a key that is not the certificate's, stops here with the path.
 */
export async function loadOrCreateCa(dataDir: string, opts: { region: string; now?: Date }): Promise<{ ca: Ca; created: boolean }> {
  const paths = caPaths(dataDir);
  const [certPem, keyPem] = await Promise.all([readIfThere(paths.cert), readIfThere(paths.key)]);
  if (certPem !== null && keyPem !== null) {
    try {
      return { ca: await caFromPem(certPem, keyPem), created: false };
    } catch (err) {
      throw new RucheError(ErrorCode.Internal, `the cluster CA in ${paths.dir} cannot be used: ${errorMessage(err)}`, { cause: err, path: paths.dir });
    }
  }
  if (certPem !== null || keyPem !== null) {
    throw new RucheError(ErrorCode.Internal, `the cluster CA in ${paths.dir} is incomplete: ${certPem === null ? paths.cert : paths.key} is missing; restore it, or remove both files to make a new CA (every node will have to join again)`, { path: paths.dir });
  }
  const ca = await createCa(opts);
  await privateDir(paths.dir);
  await writePrivate(paths.key, ca.keyPem);
  await writeFile(paths.cert, ca.certPem, { mode: 0o644 });
  return { ca, created: true };
}

/** A file's text, or null when there is no such file. */
export async function readIfThere(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}
