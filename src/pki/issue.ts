import { isIP } from "node:net";
import { ErrorCode, RucheError } from "../structs/index.js";
import { buildCertificate, ipBytes, OID, type Sans } from "./build-cert.js";
import { BACKDATE_MS, type Ca } from "./ca.js";
import { csrPublicKey } from "./csr.js";
import { newKeyPair, subtle } from "./engine.js";
import { nomadServerName, NodeRole, serverName, spiffeUri, type NodeIdentity } from "./identity.js";
import { toPem } from "./pem.js";

/** A node certificate's lifetime unless told otherwise: 24 hours. */
export const NODE_CERT_TTL_MS = 24 * 3600 * 1000;

/** The shortest node certificate the CA signs (a test of renewal asks for seconds). */
export const MIN_NODE_CERT_TTL_MS = 1000;

/** A server certificate's lifetime unless told otherwise: a year. */
export const SERVER_CERT_TTL_MS = 365 * 24 * 3600 * 1000;

/** The names every server certificate carries besides the server's own: loopback and the region's server name. */
function serverSans(region: string, names: readonly string[], ips: readonly string[]): Required<Sans> {
  const dns = [...new Set([serverName(region), nomadServerName(region), "localhost", ...names.filter((n) => isIP(n) === 0 && n !== "")])];
  // One entry per address, however it is written (::1 and 0:0:0:0:0:0:0:1).
  const byBytes = new Map<string, string>();
  for (const ip of ["127.0.0.1", "::1", ...ips, ...names.filter((n) => isIP(n) !== 0)]) {
    if (isIP(ip) === 0) throw new RucheError(ErrorCode.BadRequest, `not an IP address: ${JSON.stringify(ip)}`);
    const key = Buffer.from(ipBytes(ip)).toString("hex");
    if (!byBytes.has(key)) byBytes.set(key, ip);
  }
  return { dns, ips: [...byBytes.values()], uris: [] };
}

/**
 * A server's own certificate and key, signed by the CA (the server holds the CA's key): its
 * SANs are `server.<region>.ruche` (and Nomad's `server.<region>.nomad`, which Nomad's tools
 * check with `-tls-server-name`), localhost, 127.0.0.1, ::1 and the server's own names and
 * IPs, its EKUs serverAuth and clientAuth (a server also calls other servers), its URI the
 * server's identity.
 */
export async function issueServerCert(
  ca: Ca,
  opts: { region: string; name: string; names?: readonly string[]; ips?: readonly string[]; ttlMs?: number; now?: Date },
): Promise<{ certPem: string; keyPem: string }> {
  const now = opts.now ?? new Date();
  const pair = await newKeyPair();
  const id: NodeIdentity = { region: opts.region, role: NodeRole.Server, name: opts.name };
  const sans = serverSans(opts.region, opts.names ?? [], opts.ips ?? []);
  const der = await buildCertificate({
    subject: { CN: serverName(opts.region), O: opts.region, OU: NodeRole.Server },
    issuer: ca.subject,
    publicKey: pair.publicKey,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: notAfter(ca, now, opts.ttlMs ?? SERVER_CERT_TTL_MS),
    ca: false,
    sans: { ...sans, uris: [spiffeUri(id)] },
    eku: [OID.serverAuth, OID.clientAuth],
    issuerKeyId: ca.keyId,
    signer: ca.key,
  });
  return { certPem: toPem("CERTIFICATE", der), keyPem: toPem("PRIVATE KEY", await subtle.exportKey("pkcs8", pair.privateKey)) };
}

/**
 * Signs a node's CSR into its certificate. Only the CSR's key is used (its signature
 * checked): the identity is the CA's to give (from the join token's role and the name the
 * node asked for, or from the certificate it renews), never the CSR's own subject or SANs, as
 * Swarm's CA trusts only a CSR's public key. The subject CN is the node's name, OU its role, O
 * its region; the SAN URI `spiffe://ruche/<region>/<role>/<name>`; EKU clientAuth and
 * serverAuth. A server's certificate also carries the region's server name and loopback
 * (and `serverIps` / `serverNames`, which a server joining gives), so that it can serve.
 */
export async function signCsr(
  ca: Ca,
  csrPem: unknown,
  id: NodeIdentity,
  opts: { ttlMs?: number; now?: Date; serverNames?: readonly string[]; serverIps?: readonly string[] } = {},
): Promise<string> {
  const publicKey = await csrPublicKey(csrPem);
  const now = opts.now ?? new Date();
  const ttl = opts.ttlMs ?? NODE_CERT_TTL_MS;
  if (!(ttl >= MIN_NODE_CERT_TTL_MS)) throw new RucheError(ErrorCode.BadRequest, `a node certificate's lifetime must be at least ${MIN_NODE_CERT_TTL_MS} ms`);
  const sans: Sans =
    id.role === NodeRole.Server ? { ...serverSans(id.region, opts.serverNames ?? [], opts.serverIps ?? []), uris: [spiffeUri(id)] } : { uris: [spiffeUri(id)] };
  const der = await buildCertificate({
    subject: { CN: id.name, O: id.region, OU: id.role },
    issuer: ca.subject,
    publicKey,
    // Backdated for clocks a little behind: an hour for a day's certificate, less for a shorter one, so that two thirds of its lifetime stay two thirds.
    notBefore: new Date(now.getTime() - Math.min(BACKDATE_MS, ttl / 24)),
    notAfter: notAfter(ca, now, ttl),
    ca: false,
    sans,
    eku: [OID.clientAuth, OID.serverAuth],
    issuerKeyId: ca.keyId,
    signer: ca.key,
  });
  return toPem("CERTIFICATE", der);
}

/** now + ttl, but never past the CA's own end. */
function notAfter(ca: Ca, now: Date, ttlMs: number): Date {
  const want = now.getTime() + ttlMs;
  const caEnd = Date.parse(ca.cert.validTo);
  return new Date(Math.min(want, caEnd));
}
