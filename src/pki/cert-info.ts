import { X509Certificate } from "node:crypto";
import { ErrorCode, RucheError } from "../structs/index.js";
import { serverName, spiffeIdentity, type NodeIdentity } from "./identity.js";
import { pemBlock } from "./pem.js";

/** What a certificate says that Ruche reads: its identity, its validity, whether it serves a region's API. */
export interface CertInfo {
  subject: string;
  /** The node or server it speaks for (its `spiffe://ruche/...` URI), or null when it has none (a CA). */
  identity: NodeIdentity | null;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  /** SHA-256 fingerprint, as `AB:CD:...`. */
  fingerprint256: string;
  /** The DNS names and IPs of its subjectAltName. */
  dnsNames: string[];
  ips: string[];
}

/** The certificate of a PEM text (its first), parsed. */
export function x509(pem: string | Buffer, what = "the certificate"): X509Certificate {
  try {
    return new X509Certificate(typeof pem === "string" ? pemBlock(pem, "CERTIFICATE", what) : pem);
  } catch (err) {
    if (err instanceof RucheError) throw err;
    throw new RucheError(ErrorCode.BadRequest, `${what} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

/** The SAN entries of one kind, from node's `subjectAltName` text ("DNS:a, IP Address:1.2.3.4, URI:..."). */
function sans(cert: X509Certificate, kind: string): string[] {
  return (cert.subjectAltName ?? "")
    .split(", ")
    .filter((s) => s.startsWith(`${kind}:`))
    .map((s) => s.slice(kind.length + 1));
}

export function certInfo(pem: string | Buffer): CertInfo {
  const cert = x509(pem);
  const identity = spiffeIdentity(sans(cert, "URI"));
  return {
    subject: cert.subject,
    identity,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    dnsNames: sans(cert, "DNS"),
    ips: sans(cert, "IP Address"),
  };
}

/** Why a certificate is not to be trusted, or its identity. */
export type CertCheck = { ok: true; identity: NodeIdentity; notAfter: Date } | { ok: false; reason: string };

/**
 * Whether `pem` is a node or server certificate of this cluster, valid at `now`: signed by one
 * of `caPems` (the CAs trusted now: during a CA rotation the old and the new), within its
 * validity, naming a Ruche identity. The reason, when it is not, says which.
 */
export function checkNodeCert(pem: string | Buffer, caPems: readonly string[], now: Date = new Date()): CertCheck {
  let cert: X509Certificate;
  try {
    cert = x509(pem);
  } catch (err) {
    return { ok: false, reason: `the certificate cannot be read: ${(err as Error).message}` };
  }
  const issuer = caPems.map((p) => x509(p, "the CA certificate")).find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (issuer === undefined) return { ok: false, reason: `the certificate ${cert.subject.replace(/\n/g, ", ")} is not signed by this cluster's CA` };
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) return { ok: false, reason: `the certificate is not valid before ${from.toISOString()}` };
  if (now > to) return { ok: false, reason: `the certificate expired at ${to.toISOString()}` };
  const info = certInfo(pem);
  if (info.identity === null) return { ok: false, reason: "the certificate names no Ruche node (no spiffe://ruche/ URI)" };
  return { ok: true, identity: info.identity, notAfter: to };
}

/** Whether a certificate may serve the region's API: it carries `server.<region>.ruche`. */
export function isServerCert(pem: string | Buffer, region: string): boolean {
  return certInfo(pem).dnsNames.includes(serverName(region));
}
