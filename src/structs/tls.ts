import { errorCode } from "./errors.js";

/**
 * What one side of a TLS connection to an agent trusts and shows (PEM texts): the CA the
 * agent's certificate must chain to, and for mutual TLS a certificate and key of its own.
 */
export interface DialTls {
  /** The CA (PEM) the server's certificate must be signed by; absent: the system's CAs. */
  ca?: string;
  /** A client certificate and its key (PEM), shown to the server (mutual TLS). */
  cert?: string;
  key?: string;
  /**
   * The name the server's certificate must carry (the CLI's `-tls-server-name`), or names of
   * which it must carry one; absent: the host of the address dialled, as any HTTPS client checks it.
   */
  serverName?: string | readonly string[];
  /** false: the chain alone is checked, not the name (Nomad's agents with `verify_server_hostname = false`). Default true. */
  verifyHostname?: boolean;
}

/**
 * The names of which a server's certificate carries one in a region when agents check it
 * (`verify_server_hostname`): the cluster CA's `server.<region>.ruche`, and Nomad's
 * `server.<region>.nomad` for certificates made with Nomad's tools.
 */
export function serverHostnames(region: string): string[] {
  return [`server.${region}.ruche`, `server.${region}.nomad`];
}

/** The identity a certificate of the cluster CA gives a server of the region (a URI SAN), and a name of `serverHostnames`: whether a peer is one. */
export function isServerPeer(peer: { dnsNames: readonly string[]; uris: readonly string[] }, region: string): boolean {
  const names = serverHostnames(region);
  return peer.dnsNames.some((n) => names.includes(n)) || peer.uris.some((u) => u.startsWith(`spiffe://ruche/${region}/server/`));
}

/** The codes OpenSSL gives a certificate it does not accept, with what they mean. */
const CERT_CODES: Readonly<Record<string, string>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "is not signed by a CA this client trusts",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "is not signed by a CA this client trusts",
  UNABLE_TO_GET_ISSUER_CERT: "is not signed by a CA this client trusts",
  SELF_SIGNED_CERT_IN_CHAIN: "is signed by a CA this client does not trust",
  DEPTH_ZERO_SELF_SIGNED_CERT: "is self-signed, and not trusted by this client",
  CERT_SIGNATURE_FAILURE: "has a signature that does not verify",
  CERT_HAS_EXPIRED: "has expired",
  CERT_NOT_YET_VALID: "is not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "does not name the host it was reached at",
  INVALID_CA: "is signed by a certificate that is not a CA",
};

/** A TLS handshake that failed: the request never left. */
const HANDSHAKE_CODES: ReadonlySet<string> = new Set([...Object.keys(CERT_CODES), "ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_PACKET_LENGTH_TOO_LONG", "EPROTO"]);

function codeOf(err: unknown): string | undefined {
  return errorCode(err) ?? errorCode((err as { cause?: unknown } | null)?.cause);
}

/** Whether a connection failed in its TLS handshake (a certificate refused, a server that does not speak TLS): nothing was sent. */
export function tlsHandshakeFailed(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && HANDSHAKE_CODES.has(code);
}

/**
 * Why a connection to an agent failed in its TLS handshake, in words, or undefined when it
 * did not fail there: the server's certificate refused (and why), or a server that answers
 * plain HTTP on the port.
 */
export function tlsFailure(err: unknown): string | undefined {
  const code = codeOf(err);
  if (code === undefined) return undefined;
  const cert = CERT_CODES[code];
  if (cert !== undefined) return `the server's certificate ${cert} (${code})`;
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_PACKET_LENGTH_TOO_LONG") return `the server does not speak TLS on this port (${code}): it serves plain HTTP, reached with http://`;
  if (code === "EPROTO") return `the TLS handshake failed (${code})`;
  return undefined;
}
