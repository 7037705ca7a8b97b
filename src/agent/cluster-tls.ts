import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { joinCluster, keepRenewed, loadNodeTls, nodeTlsPaths, type NodeTls } from "../client/index.js";
import { caPaths, ClusterCa, issueServerCert, privateDir, writePrivate } from "../pki/index.js";
import { ErrorCode, RucheError, type Logger } from "../structs/index.js";
import type { AgentTlsFiles, ClusterTls } from "./tls.js";

/** Where a server keeps the certificate it issues itself from the cluster CA: `<data_dir>/tls/server.pem`, `server-key.pem` (0600), and the CAs it trusts, `server-ca.pem`. */
export function serverTlsPaths(dataDir: string): { ca: string; cert: string; key: string } {
  const dir = caPaths(dataDir).dir;
  return { ca: join(dir, "server-ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server-key.pem") };
}

/** What an agent using the cluster's own PKI needs to know about itself. */
export interface ClusterTlsContext {
  dataDir: string;
  region: string;
  server: boolean;
  /** The node's (or server's) name, which its certificate carries. */
  name: string;
  /** The servers a client joins (host:port of their HTTPS API). */
  servers: readonly string[];
  bind: string;
  networkIp: string;
  log: Logger;
}

/**
 * The cluster's own PKI made into the three files `agentWire` reads. A server (a server and
 * client agent too: its node uses the server's files) opens the cluster CA in its data dir
 * (made on first start) and issues itself a fresh certificate at every start, naming its
 * bind and advertised addresses, its host name, loopback and `server.<region>.ruche`. A
 * client uses the certificate its data dir keeps from an earlier join, or joins with the
 * join token (the servers' CA checked against the token's digest before the secret is
 * sent); without either it is refused. The server's CA is returned for its API to sign with.
 */
export async function resolveClusterTls(tls: ClusterTls, ctx: ClusterTlsContext): Promise<{ files: AgentTlsFiles; ca?: ClusterCa; node?: NodeTls }> {
  const verify = { verifyServerHostname: tls.verifyServerHostname, verifyHttpsClient: tls.verifyHttpsClient };
  if (ctx.server) {
    const { ca, created } = await ClusterCa.open(ctx.dataDir, ctx.region);
    if (created) ctx.log.info({ digest: ca.digest() }, "made the cluster's CA");
    const wildcard = (a: string): boolean => a === "0.0.0.0" || a === "::" || a === "";
    const addrs = [...new Set([ctx.bind, ctx.networkIp].filter((a) => !wildcard(a)))];
    const { certPem, keyPem } = await issueServerCert(ca.ca(), { region: ctx.region, name: ctx.name, names: [...new Set([hostname(), ...addrs])] });
    const p = serverTlsPaths(ctx.dataDir);
    await privateDir(caPaths(ctx.dataDir).dir);
    await writePrivate(p.key, keyPem);
    // During a CA rotation the chain carries the new CA cross-signed by the old, and both roots are trusted.
    await writeFile(p.cert, certPem + ca.chain(), { mode: 0o644 });
    await writeFile(p.ca, ca.trusted().join(""), { mode: 0o644 });
    return { files: { enabled: true, caFile: p.ca, certFile: p.cert, keyFile: p.key, ...verify }, ca };
  }
  const paths = nodeTlsPaths(ctx.dataDir);
  const files: AgentTlsFiles = { enabled: true, caFile: paths.ca, certFile: paths.cert, keyFile: paths.key, ...verify };
  const kept = await loadNodeTls(ctx.dataDir);
  if (kept !== null) return { files, node: kept };
  const token = tls.cluster.joinToken;
  if (token === undefined) {
    throw new RucheError(ErrorCode.BadRequest, `TLS is on without certificate files and ${paths.dir} holds no node certificate: join the cluster with -join-token TOKEN (ruche join-token create on a server), or give -tls-ca-file, -tls-cert-file and -tls-key-file`, { path: "tls" });
  }
  const node = await joinCluster({ servers: ctx.servers, token, name: ctx.name, region: ctx.region, dataDir: ctx.dataDir, log: ctx.log });
  return { files, node };
}

/**
 * Keeps a joined node's certificate renewed (at two thirds of its lifetime, over mutual TLS
 * with the current one) until the returned function is called; `onRenewed` gets each new
 * certificate, for the node's next connections to the servers to show.
 */
export function keepNodeRenewed(node: NodeTls, ctx: ClusterTlsContext, onRenewed: (tls: NodeTls) => void): () => Promise<void> {
  const stop = new AbortController();
  const running = keepRenewed({ servers: ctx.servers, dataDir: ctx.dataDir, current: node, name: ctx.name, region: ctx.region, signal: stop.signal, onRenewed, log: ctx.log });
  return async () => {
    stop.abort();
    await running;
  };
}
