import { request } from "node:https";
import { hostname } from "node:os";
import { join } from "node:path";
import { caPaths, issueServerCert, privateDir, serverName, writePrivate, type Ca } from "../pki/index.js";
import { errorMessage } from "../structs/index.js";

/**
 * The TLS of a server's own etcd member where the servers derive the cluster CA from the
 * cluster key: the member serves its client and peer ports over HTTPS and asks every client
 * and peer for a certificate of that CA that names the region's servers (etcd's
 * --client-cert-auth, --peer-client-cert-auth, and --client-cert-allowed-hostname,
 * --peer-cert-allowed-hostname `server.<region>.ruche`: a node's certificate, of the same CA,
 * names no server and is refused); the server's etcd clients show the member's own certificate.
 */
export interface EtcdTls {
  /** PEM: the member's certificate (serverAuth and clientAuth), its key, the CAs it trusts. */
  cert: string;
  key: string;
  ca: string;
  /** The name a certificate must carry for the member to take it: the region's servers', `server.<region>.ruche`. */
  serverName: string;
  /** The same, as files in the data dir (etcd reads files). */
  files: { cert: string; key: string; ca: string };
}

/** Where a server keeps its etcd member's certificate: `<data_dir>/tls/etcd.pem`, `etcd-key.pem`, `etcd-ca.pem`, all 0600. */
export function etcdTlsPaths(dataDir: string): { ca: string; cert: string; key: string } {
  const dir = caPaths(dataDir).dir;
  return { ca: join(dir, "etcd-ca.pem"), cert: join(dir, "etcd.pem"), key: join(dir, "etcd-key.pem") };
}

/**
 * Issues the member's certificate, at every start, from the CA derived from the cluster key
 * (`ClusterCa.anchorCa`: the same on every server, before their etcd exists, and never
 * rotated, so that a rotation of the cluster CA leaves etcd alone), which the member trusts
 * alone: its SANs are the member's advertised and bind addresses, loopback (127.0.0.1, ::1,
 * localhost) and the host name; written 0600 to `etcdTlsPaths`.
 */
export async function issueEtcdCert(ca: Ca, opts: { dataDir: string; region: string; name: string; addresses: readonly string[] }): Promise<EtcdTls> {
  const ips = opts.addresses.filter((a) => a !== "" && a !== "0.0.0.0" && a !== "::" && a !== "[::]" && /^[\d.]+$|:/.test(a));
  const names = opts.addresses.filter((a) => a !== "" && !ips.includes(a) && !/^[\d.]+$|:/.test(a));
  const { certPem: cert, keyPem } = await issueServerCert(ca, { region: opts.region, name: opts.name, names: [...new Set([hostname(), ...names])], ips: [...new Set(ips)] });
  const files = etcdTlsPaths(opts.dataDir);
  const trusted = ca.certPem;
  await privateDir(caPaths(opts.dataDir).dir);
  await writePrivate(files.key, keyPem);
  await writePrivate(files.cert, cert);
  await writePrivate(files.ca, trusted);
  return { cert, key: keyPem, ca: trusted, serverName: serverName(opts.region), files };
}

/** etcd's own flags for serving its client and peer ports with the member's certificate, and asking every client and peer for a server's certificate of the CA. */
export function etcdTlsFlags(tls: EtcdTls): string[] {
  const f = tls.files;
  return [
    "--cert-file", f.cert, "--key-file", f.key, "--client-cert-auth", "--trusted-ca-file", f.ca, "--client-cert-allowed-hostname", tls.serverName,
    "--peer-cert-file", f.cert, "--peer-key-file", f.key, "--peer-client-cert-auth", "--peer-trusted-ca-file", f.ca, "--peer-cert-allowed-hostname", tls.serverName,
  ];
}

/** A GET of one of the member's HTTPS paths (`/health`, the peer port's `/members`), showing its certificate: status and body. */
export function etcdHttpsGet(url: string, tls: EtcdTls, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => {
      reject(new Error(`${url}: ${errorMessage(err)}`, { cause: err }));
    });
    req.end();
  });
}

/** `etcdHealth` over HTTPS with the member's certificate. */
export async function etcdHealthTls(clientURL: string, tls: EtcdTls, timeoutMs = 1000): Promise<{ healthy: boolean; reason: string }> {
  try {
    const res = await etcdHttpsGet(`${clientURL}/health`, tls, timeoutMs);
    let health: unknown;
    try {
      health = (JSON.parse(res.text) as { health?: unknown }).health;
    } catch {
      health = undefined;
    }
    if (res.status === 200 && (health === "true" || health === true)) return { healthy: true, reason: "" };
    return { healthy: false, reason: `${res.status}: ${res.text.trim().slice(0, 200)}` };
  } catch (err) {
    return { healthy: false, reason: errorMessage(err) };
  }
}
