/**
 * The values of the agent's cluster settings, checked alike whether they come from a flag
 * (`-region`, `-bootstrap-expect`, `-retry-join`, `-etcd-endpoints`, `-etcd-cacert`...) or a
 * config file (`region`, `server { bootstrap_expect, server_join { retry_join }, etcd { endpoints, ca_file... } }`).
 * Each check returns why a value is refused, or undefined when it is good; the caller says
 * where the value came from.
 */

/** The port `retry_join` uses when an address names none: a server's HTTP API's default. */
export const DEFAULT_JOIN_PORT = 4646;

/**
 * A region's name: it is part of names other programs read (a member's `name.region`, the
 * servers' state under `/ruche/<region>/` on etcd, DNS names), so one DNS label: letters,
 * digits, "-" and "_", up to 63, not starting or ending with "-".
 */
export function checkRegion(name: string): string | undefined {
  if (/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(name)) return undefined;
  return `region ${JSON.stringify(name)} is not a region name: letters, digits, "-" and "_", up to 63 characters, not starting or ending with "-"`;
}

/** How many servers a cluster waits for before it forms: a whole number from 1. */
export function checkBootstrapExpect(n: number): string | undefined {
  return Number.isSafeInteger(n) && n >= 1 ? undefined : `bootstrap_expect must be a whole number from 1, got ${String(n)}`;
}

/**
 * Another server's API address for `retry_join`, as host:port ([v6]:port); a host alone
 * takes port 4646. Returns the address with its port, or why it is refused.
 */
export function joinAddress(text: string): { ok: true; address: string } | { ok: false; reason: string } {
  const s = text.trim();
  const bad = (why: string): { ok: false; reason: string } => ({ ok: false, reason: `retry_join takes another server's API address, host:port (or a host alone, port ${DEFAULT_JOIN_PORT}): ${JSON.stringify(text)} ${why}` });
  if (s.includes("=")) return bad("looks like a cloud auto-join query, which Ruche does not have");
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+)(?::(\d+))?$/.exec(s);
  if (m === null) return bad("is not one");
  const port = m[2] === undefined ? DEFAULT_JOIN_PORT : Number(m[2]);
  if (port < 1 || port > 65535) return bad("has no valid port (1 to 65535)");
  return { ok: true, address: `${m[1] ?? ""}:${port}` };
}

/**
 * An external etcd's client URL, http://host:port, or https://host:port for a cluster that
 * speaks TLS (with the CA that signed its certificate, `-etcd-cacert`: checked where the
 * endpoints and the files meet, see `checkEtcdTls`).
 */
export function checkEtcdEndpoint(text: string): string | undefined {
  const notUrl = `etcd endpoint ${JSON.stringify(text)} must be an http:// or https:// URL, such as http://127.0.0.1:2379`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return notUrl;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return notUrl;
  const scheme = url.protocol.slice(0, -1);
  if (!/:\d+\/?$/.test(text) || (url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.username !== "") return `etcd endpoint ${JSON.stringify(text)} must be ${scheme}://host:port and nothing more, such as ${scheme}://127.0.0.1:2379`;
  return undefined;
}

/**
 * The external etcd's endpoints against its TLS files (`-etcd-cacert`, `-etcd-cert`,
 * `-etcd-key`; `server { etcd { ca_file, cert_file, key_file } }`), as given: one scheme for
 * every endpoint; https with the CA; http with none of the files (TLS settings for an etcd
 * that speaks plain HTTP are a mistake); the certificate and its key together or neither.
 * Returns why they do not hold together, or undefined.
 */
export function checkEtcdTls(endpoints: readonly string[], files: { cacert?: string | undefined; cert?: string | undefined; key?: string | undefined }): string | undefined {
  const https = endpoints.filter((e) => e.startsWith("https://"));
  const given = (["cacert", "cert", "key"] as const).filter((k) => files[k] !== undefined).map((k) => `-etcd-${k}`);
  if (endpoints.length === 0) return given.length === 0 ? undefined : `${given.join(", ")} given without -etcd-endpoints: they are the TLS of an external etcd cluster`;
  if (https.length > 0 && https.length < endpoints.length) return `-etcd-endpoints mixes http:// and https:// endpoints (${endpoints.join(", ")}): the members of one etcd cluster all speak TLS or none does`;
  if (https.length === 0) return given.length === 0 ? undefined : `${given.join(", ")} given, but the etcd endpoints are http:// (${endpoints.join(", ")}): TLS settings for an etcd that speaks plain HTTP are a mistake; give https:// endpoints, or drop ${given.join(", ")}`;
  if (files.cacert === undefined) return `an https etcd endpoint needs -etcd-cacert (server { etcd { ca_file } }): the CA that signed the etcd members' certificates`;
  if ((files.cert === undefined) !== (files.key === undefined)) return `${files.cert === undefined ? "-etcd-key" : "-etcd-cert"} given without ${files.cert === undefined ? "-etcd-cert" : "-etcd-key"}: an etcd client certificate and its key go together (or neither, for an etcd that asks for no client certificate)`;
  return undefined;
}
