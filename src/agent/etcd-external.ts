import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Etcd3 } from "etcd3";
import { createSecureContext } from "node:tls";
import { splitCerts } from "../pki/index.js";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";

/**
 * The TLS a server's etcd clients speak: PEM, the CAs that signed the etcd members'
 * certificates, and the client certificate and key shown when etcd asks for one (none: TLS
 * that checks the members alone). The TLS of a managed member (`EtcdTls`) is one; so is an
 * external cluster's (`ExternalEtcdTls`). The members' certificates are checked against the
 * host of each endpoint, as etcd's own clients do.
 */
export interface EtcdClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/**
 * The TLS of an external etcd cluster (`-etcd-cacert`, `-etcd-cert`, `-etcd-key`; the agent
 * config's `server { etcd { ca_file, cert_file, key_file } }`, etcdctl's --cacert, --cert,
 * --key), read at start, and the files it was read from.
 */
export interface ExternalEtcdTls extends EtcdClientTls {
  files: { cacert: string; cert?: string; key?: string };
}

/** etcd3's `credentials` option for a client that speaks `tls`: the CAs trusted, and the client certificate shown, if any. */
export function etcdClientCredentials(tls: EtcdClientTls): { rootCertificate: Buffer; certChain?: Buffer; privateKey?: Buffer } {
  return {
    rootCertificate: Buffer.from(tls.ca),
    ...(tls.cert === undefined || tls.key === undefined ? {} : { certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) }),
  };
}

/** The text of `file`, given with `flag`; a file missing or unreadable is refused naming both. */
async function readPem(flag: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new RucheError(ErrorCode.BadRequest, `${flag} ${file}: cannot read it: ${errorMessage(err)}`, { cause: err, path: flag });
  }
}

/** The certificates of a PEM file, each parsed; a file with none, or one that is not a certificate, is refused naming the flag and the file. */
function certificates(flag: string, file: string, text: string): void {
  const certs = splitCerts(text);
  if (certs.length === 0) throw new RucheError(ErrorCode.BadRequest, `${flag} ${file} is not PEM: no "CERTIFICATE" block`, { path: flag });
  for (const c of certs) {
    try {
      new X509Certificate(c);
    } catch (err) {
      throw new RucheError(ErrorCode.BadRequest, `${flag} ${file} holds a block that is not a certificate: ${errorMessage(err)}`, { cause: err, path: flag });
    }
  }
}

/**
 * Reads the external etcd's TLS files: the CA bundle, and the client certificate with its
 * key when given; each must be PEM of what it says, and the key the certificate's. A bad
 * one is refused naming its flag and its path, before the agent starts anything.
 */
export async function readExternalEtcdTls(files: ExternalEtcdTls["files"]): Promise<ExternalEtcdTls> {
  const ca = await readPem("-etcd-cacert", files.cacert);
  certificates("-etcd-cacert", files.cacert, ca);
  if (files.cert === undefined || files.key === undefined) return { ca, files: { cacert: files.cacert } };
  const [cert, key] = await Promise.all([readPem("-etcd-cert", files.cert), readPem("-etcd-key", files.key)]);
  certificates("-etcd-cert", files.cert, cert);
  try {
    createPrivateKey(key);
  } catch (err) {
    throw new RucheError(ErrorCode.BadRequest, `-etcd-key ${files.key} is not a PEM private key (unencrypted): ${errorMessage(err)}`, { cause: err, path: "-etcd-key" });
  }
  try {
    createSecureContext({ ca, cert, key });
  } catch (err) {
    throw new RucheError(ErrorCode.BadRequest, `-etcd-cert ${files.cert} and -etcd-key ${files.key} do not make a TLS identity: ${errorMessage(err)}`, { cause: err, path: "-etcd-cert" });
  }
  return { ca, cert, key, files: { cacert: files.cacert, cert: files.cert, key: files.key } };
}

/**
 * Why a call to the external etcd failed, in the words of the settings that can fix it: etcd
 * refused this server's TLS (no client certificate given, or one it does not trust), its
 * certificate is not trusted by `-etcd-cacert` or does not name the endpoint's host, it does
 * not speak TLS on an https:// endpoint (or speaks it on an http:// one), or it is not there.
 */
export function externalEtcdProblem(err: unknown, endpoints: readonly string[], tls: ExternalEtcdTls | undefined): string {
  const at = `the etcd cluster at ${endpoints.join(", ")}`;
  // gRPC's "14 UNAVAILABLE: No connection established. Last error: ..." without its time and empty resolution note.
  const why = errorMessage(err).replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, "").replace(/\.?\s*Resolution note:\s*$/, "").trim();
  if (tls !== undefined) {
    if (/alert (bad certificate|certificate required|handshake failure|unknown ca|certificate unknown)/i.test(why)) {
      return tls.cert === undefined
        ? `${at} refused this server's TLS connection: it asks for a client certificate (etcd's --client-cert-auth), and none was given; give -etcd-cert and -etcd-key (server { etcd { cert_file, key_file } }), a certificate signed by a CA in etcd's --trusted-ca-file (${why})`
        : `${at} refused this server's client certificate -etcd-cert ${tls.files.cert ?? ""}: it must be signed by a CA in etcd's --trusted-ca-file (and pass its --client-cert-allowed-hostname, if set) (${why})`;
    }
    if (/self[- ]signed|unable to (verify|get)|certificate (verify failed|has expired|is not yet valid)|does not match|altname|ERR_TLS_CERT/i.test(why)) {
      return `the certificate ${at} shows is not trusted over TLS: -etcd-cacert ${tls.files.cacert} must hold the CA that signed it, and it must name the endpoint's host (${why})`;
    }
    if (/wrong version number|packet length too long|unknown protocol|http_request|before secure TLS connection/i.test(why)) {
      return `${at} does not speak TLS as this server expects over its https:// endpoints (-etcd-cacert given): if it serves plain HTTP, give http:// endpoints and no etcd TLS files (${why})`;
    }
  } else if (/failed to connect|connection dropped|protocol error|premature close|ECONNRESET|socket hang up/i.test(why)) {
    return `${at} did not take a plain HTTP connection: if it speaks TLS (etcd's --cert-file), give https:// endpoints with -etcd-cacert, and -etcd-cert and -etcd-key if it asks for client certificates (${why})`;
  }
  return `cannot reach ${at}${tls === undefined ? "" : " over TLS"}: ${why}`;
}

/**
 * Asks the external etcd for its status through `client` (its first member that answers,
 * within the client's call deadline) before the server relies on it; on a failure, closes
 * the client and stops the start saying why (`externalEtcdProblem`).
 */
export async function reachExternalEtcd(client: Etcd3, endpoints: readonly string[], tls: ExternalEtcdTls | undefined): Promise<Etcd3> {
  try {
    await client.maintenance.status();
    return client;
  } catch (err) {
    client.close();
    throw new RucheError(ErrorCode.Unreachable, externalEtcdProblem(err, endpoints, tls), { cause: err });
  }
}
