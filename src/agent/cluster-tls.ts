import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { joinCluster, joinFederationCa, keepRenewed, loadNodeTls, nodeTlsPaths, type NodeTls } from "../client/index.js";
import { caPaths, caRegion, ClusterCa, clusterFiles, FEDERATION_DERIVED, federationCaHeld, fileCaSlot, issueServerCert, NodeRole, OWN_ETCD_KEY_HOWTO, parseCaRecord, parseJoinToken, privateDir, readIfThere, takeUpFederationCa, writePrivate, type GivenClusterKey, type RecordSlot } from "../pki/index.js";
import { ErrorCode, errorMessage, RucheError, type Logger } from "../structs/index.js";
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
  /** A server: where the cluster CA's record is (shared on etcd); default the data dir's (a server alone). */
  caSlot?: RecordSlot;
  /** A server: the cluster key given with -encrypt (`server { encrypt }`), base64. */
  encrypt?: string;
  /** A server joining with a server join token: the running servers to ask (-servers, -retry-join), host:port. */
  peers?: readonly string[];
  /**
   * A server that runs its own etcd member among several (`bootstrap_expect` above 1, or
   * `retry_join`): its CA is derived from the cluster key (`ClusterCa.derive`), which it
   * must be given, since it needs certificates before its etcd exists.
   */
  ownEtcd?: boolean;
  /**
   * A server of a region that joins another region's CA (`-join-wan-token`, a server join token
   * of that region): the federation's one CA, taken up from `wanPeers` (`retry_join_wan`) at
   * this region's first start (`pki/federation.ts`).
   */
  joinWanToken?: string;
  wanPeers?: readonly string[];
}

/**
 * A server's cluster CA, one for the whole cluster (`ClusterCa`). Servers that run their own
 * etcd members (`ctx.ownEtcd`) derive it from the cluster key given with -encrypt
 * (`ClusterCa.derive`): without one they stop, saying how to give it (`OWN_ETCD_KEY_HOWTO`),
 * unless `keyOptional` (TLS off: the CA only signs for the join routes; then as a server
 * alone). Others: its record in the state (`ctx.caSlot`), opened with the cluster key from -encrypt, from the data dir
 * (`tls/cluster.key`), or — a server joining with a server join token — from a running
 * server, over TLS checked against the token's CA digest (the key is then kept in the data
 * dir for the next start). The server that makes the CA and the key says once, in its log,
 * where the key is and how other servers get it; the key itself is never logged.
 */
export async function openClusterCa(ctx: ClusterTlsContext, joinToken?: string, opts: { keyOptional?: boolean } = {}): Promise<ClusterCa> {
  if (ctx.joinWanToken !== undefined) return openFederationCa(ctx, ctx.joinWanToken, joinToken);
  if (ctx.ownEtcd === true && joinToken === undefined && ctx.caSlot === undefined) {
    if (ctx.encrypt !== undefined) return deriveOwnEtcdCa(ctx, ctx.encrypt);
    if (opts.keyOptional !== true) throw new RucheError(ErrorCode.BadRequest, `this server cannot start with TLS on: ${OWN_ETCD_KEY_HOWTO}`, { path: "encrypt" });
  }
  let key: GivenClusterKey | undefined = ctx.encrypt === undefined ? undefined : { key: ctx.encrypt, from: "-encrypt", keep: false };
  if (joinToken !== undefined && ctx.caSlot === undefined) {
    throw new RucheError(ErrorCode.BadRequest, "-join-token on a server joins servers that share their state on an etcd given with -etcd-endpoints (where the cluster CA is); a server alone keeps its CA in its data dir, and servers that run their own etcd members derive theirs from the cluster key (-encrypt, the same on each): neither joins this way", { path: "join_token" });
  }
  if (key === undefined && joinToken !== undefined && (await readIfThere(clusterFiles(ctx.dataDir).key)) === null) {
    const peers = [...new Set(ctx.peers ?? ctx.servers)];
    if (peers.length === 0) throw new RucheError(ErrorCode.BadRequest, "a server joining with -join-token needs a running server's address: -servers HOST:PORT (or -retry-join)", { path: "servers" });
    const joined = await joinCluster({ servers: peers, token: joinToken, name: ctx.name, role: NodeRole.Server, region: ctx.region, dataDir: ctx.dataDir, save: false, log: ctx.log });
    if (joined.clusterKey === undefined) throw new RucheError(ErrorCode.Forbidden, "the server joined did not send the cluster key (was the token made with -role server?)", { path: "join_token" });
    key = { key: joined.clusterKey, from: "the server join", keep: true };
    ctx.log.info({}, "joined the cluster as a server: the cluster key is kept in the data dir");
  }
  const { ca, created, keyFile } = await ClusterCa.open(ctx.dataDir, ctx.region, { ...(ctx.caSlot === undefined ? {} : { slot: ctx.caSlot }), ...(key === undefined ? {} : { key }) });
  if (created) ctx.log.info({ digest: ca.digest(), record: ctx.caSlot?.where ?? "data dir" }, "made the cluster's CA");
  if (keyFile !== null) {
    ctx.log.warn({ path: keyFile }, "made the cluster key, which opens the cluster CA's key in the state: start other servers with -encrypt and the key in this file, or join them with a server join token (ruche join-token create -role server, then ruche agent -server -join-token TOKEN -servers THIS_SERVER)");
  }
  return ca;
}

/**
 * The cluster CA of a region that joined another region's (`-join-wan-token`): one CA for the
 * federation. At this region's first start (its CA record's place is empty) the CA's record and
 * the cluster key come from a server of the other region (`joinFederationCa`: its CA checked
 * against the token's digest before anything secret is sent) and the record is written as
 * this region's, create-if-absent; later starts, and this region's other servers started
 * with the token, find it there. Without a cluster key (given with -encrypt, or kept in
 * `tls/cluster.key`), it is asked for again the same way. A region that already has a CA of
 * its own is refused, and so are servers that run their own etcd members (their CA is derived
 * per region, `FEDERATION_DERIVED`).
 */
async function openFederationCa(ctx: ClusterTlsContext, token: string, joinToken: string | undefined): Promise<ClusterCa> {
  if (ctx.ownEtcd === true) throw new RucheError(ErrorCode.BadRequest, `-join-wan-token: ${FEDERATION_DERIVED}`, { path: "join_wan_token" });
  if (joinToken !== undefined) throw new RucheError(ErrorCode.BadRequest, "-join-wan-token and -join-token: a server joins either its own region's cluster (-join-token) or, as its region's first server, another region's CA (-join-wan-token); keep one", { path: "join_wan_token" });
  const { caDigest: digest } = parseJoinToken(token);
  const slot = ctx.caSlot ?? fileCaSlot(ctx.dataDir);
  const held = await federationCaHeld(slot, digest);
  const keyKept = ctx.encrypt !== undefined || (await readIfThere(clusterFiles(ctx.dataDir).key)) !== null;
  let key: GivenClusterKey | undefined = ctx.encrypt === undefined ? undefined : { key: ctx.encrypt, from: "-encrypt", keep: false };
  if (!held || !keyKept) {
    const joined = await untilReached(() => joinFederationCa({ servers: [...new Set(ctx.wanPeers ?? [])], token, name: ctx.name, region: ctx.region, log: ctx.log }), ctx.log);
    if (!held) {
      const how = await takeUpFederationCa(slot, joined.record, digest);
      ctx.log.info({ digest, from: joined.server, region: joined.region, record: slot.where, how }, "took up the federation's CA from another region: this region's servers issue their certificates from it");
    }
    key ??= { key: joined.clusterKey, from: `the federation join (region ${joined.region})`, keep: true };
  }
  const { ca } = await ClusterCa.open(ctx.dataDir, ctx.region, { slot, ...(key === undefined ? {} : { key }) });
  ctx.log.info({ digest: ca.digest(), madeBy: caRegion(ca.ca().certPem) }, "the cluster CA is the federation's, shared with the region that made it");
  return ca;
}

/** Tries `fn` again while no server could be reached (the other region starting too), for up to `withinMs`; a refusal stops at once. */
async function untilReached<T>(fn: () => Promise<T>, log: Logger, withinMs = 60_000): Promise<T> {
  const until = Date.now() + withinMs;
  for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof RucheError && err.code === ErrorCode.Unreachable) || Date.now() + delay > until) throw err;
      log.warn({ err: errorMessage(err) }, "federation CA join: no server of the other region answers yet; trying again");
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * The CA of a server on an etcd member of its own, anchored on the one derived from the
 * cluster key: the same on every server given the key (`ClusterCa.derive`). A CA the data dir
 * kept from before (each such server made its own) gives way to it, said once: nodes joined
 * through this server with it join again.
 */
async function deriveOwnEtcdCa(ctx: ClusterTlsContext, encrypt: string): Promise<ClusterCa> {
  const ca = await ClusterCa.derive(ctx.dataDir, ctx.region, { key: encrypt, from: "-encrypt", keep: false });
  const slot = fileCaSlot(ctx.dataDir);
  const kept = await slot.read();
  if (kept !== null && parseCaRecord(kept.value, slot.where).Current.Cert !== ca.ca().certPem) {
    ctx.log.warn({ path: slot.where, digest: ca.digest() }, "this data dir kept a CA of its own, which the CA derived from the cluster key replaces: nodes that joined through this server before join again");
  }
  ctx.log.info({ digest: ca.digest(), anchor: ca.anchorCa()?.certPem === ca.ca().certPem ? "the same" : "another" }, "the cluster's CA is anchored on the one derived from the cluster key (-encrypt), the same on every server given it, which signs their etcd members' certificates");
  return ca;
}

/**
 * The record of a cluster CA anchored on the derived one (`ClusterCa.attach`), taken up on
 * the servers' etcd once it runs; tried again for up to `withinMs` while etcd does not answer
 * (its quorum still forming). True when the CA changed (rotated while this server was away):
 * the server's certificate is to be issued again.
 */
export async function attachCa(ca: ClusterCa, slot: RecordSlot, log: Logger, withinMs = 30_000): Promise<boolean> {
  const until = Date.now() + withinMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 4000)) {
    try {
      const changed = await ca.attach(slot);
      if (changed) log.info({ digest: ca.digest() }, "the cluster CA changed while this server was away (a rotation): it takes up the current one");
      return changed;
    } catch (err) {
      if (err instanceof RucheError) throw err;
      if (Date.now() + delay > until) throw new RucheError(ErrorCode.NoLeader, `the cluster CA's record (${slot.where}) could not be read: ${errorMessage(err)}`, { cause: err });
      log.warn({ err: errorMessage(err) }, "the cluster CA's record could not be read on etcd; trying again");
      await new Promise((r) => setTimeout(r, delay));
    }
  }
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
    const ca = await openClusterCa(ctx, tls.cluster.joinToken);
    await issueOwnCert(ca, ctx);
    const p = serverTlsPaths(ctx.dataDir);
    return { files: { enabled: true, caFile: p.ca, certFile: p.cert, keyFile: p.key, ...verify }, ca };
  }
  const paths = nodeTlsPaths(ctx.dataDir);
  const files: AgentTlsFiles = { enabled: true, caFile: paths.ca, certFile: paths.cert, keyFile: paths.key, ...verify };
  const kept = await loadNodeTls(ctx.dataDir);
  const token = tls.cluster.joinToken;
  if (kept !== null && kept.notAfter.getTime() > Date.now()) return { files, node: kept };
  // Stopped for longer than its certificate's lifetime, a node cannot renew it: it joins again, with a token.
  if (kept !== null && token === undefined) {
    throw new RucheError(ErrorCode.BadRequest, `this node's certificate expired at ${kept.notAfter.toISOString()} (${paths.cert}; the agent was stopped for longer than its lifetime, so it could not renew it): join again with -join-token TOKEN (ruche join-token create on a server)`, { path: "tls" });
  }
  if (token === undefined) {
    throw new RucheError(ErrorCode.BadRequest, `TLS is on without certificate files and ${paths.dir} holds no node certificate: join the cluster with -join-token TOKEN (ruche join-token create on a server), or give -tls-ca-file, -tls-cert-file and -tls-key-file`, { path: "tls" });
  }
  const node = await joinCluster({ servers: ctx.servers, token, name: ctx.name, region: ctx.region, dataDir: ctx.dataDir, log: ctx.log });
  return { files, node };
}

/**
 * A server's own certificate from the cluster CA as it signs now, naming its bind and
 * advertised addresses, its host name, loopback and `server.<region>.ruche`, written to
 * `serverTlsPaths` and returned as a listener takes it: at every start, and when the CA is
 * rotated (through this server or another), so that once the rotation is finished the
 * server still shows a certificate its agents trust.
 */
export async function issueOwnCert(ca: ClusterCa, ctx: ClusterTlsContext): Promise<{ cert: string; key: string; ca: string }> {
  const wildcard = (a: string): boolean => a === "0.0.0.0" || a === "::" || a === "";
  const addrs = [...new Set([ctx.bind, ctx.networkIp].filter((a) => !wildcard(a)))];
  const { certPem, keyPem } = await issueServerCert(ca.ca(), { region: ctx.region, name: ctx.name, names: [...new Set([hostname(), ...addrs])] });
  const p = serverTlsPaths(ctx.dataDir);
  await privateDir(caPaths(ctx.dataDir).dir);
  await writePrivate(p.key, keyPem);
  // During a CA rotation the chain carries the new CA cross-signed by the old, and both roots are trusted.
  const cert = certPem + ca.chain();
  const trusted = ca.trusted().join("");
  await writeFile(p.cert, cert, { mode: 0o644 });
  await writeFile(p.ca, trusted, { mode: 0o644 });
  return { cert, key: keyPem, ca: trusted };
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
