import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { connect, type DetailedPeerCertificate, type PeerCertificate, type TLSSocket } from "node:tls";
import { caDigest, checkFederationPeer, createKeyAndCsr, parseCaRecord, parseJoinToken, peerNames, privateDir, serverName, serverRegions, splitCerts, toPem, writePrivate, type CaRecord, type NodeRole } from "../pki/index.js";
import { ErrorCode, errorMessage, isErrorCode, RucheError, type Logger } from "../structs/index.js";

/**
 * A node's side of joining a cluster (Swarm's model): with a join token and the servers'
 * addresses, it checks the CA a server shows against the token's digest before it sends
 * anything secret, then trades the token's secret and a CSR for a node certificate (its key
 * made here and never sent), and keeps key, certificate and CA under its data dir. Then it
 * renews the certificate over mutual TLS once two thirds of its lifetime have passed.
 */

/** A node's TLS material (PEM texts), as kept in `<data_dir>/tls/`. */
export interface NodeTls {
  /** The CA certificates the node trusts (the cluster's CA; during a CA rotation, both). */
  caPem: string;
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

/** Where a node keeps its TLS material: `<data_dir>/tls/ca.pem`, `node.pem`, `node-key.pem` (0600). */
export function nodeTlsPaths(dataDir: string): { dir: string; ca: string; cert: string; key: string } {
  const dir = join(dataDir, "tls");
  return { dir, ca: join(dir, "ca.pem"), cert: join(dir, "node.pem"), key: join(dir, "node-key.pem") };
}

export interface JoinOptions {
  /** The servers' addresses, `host:port` of their HTTPS API; tried in turn. */
  servers: readonly string[];
  /** The join token (`RUCHE-1-...`). */
  token: string;
  /** The node's name, which its certificate carries. */
  name: string;
  /** The role to join as: the token's (client unless said). */
  role?: NodeRole;
  /** The region (default "global"): the server's certificate must carry `server.<region>.ruche`. */
  region?: string;
  /** Where the key, certificate and CA are written (`<dataDir>/tls/`). */
  dataDir: string;
  /** A server joining: the names and IPs its certificate is to carry. */
  addresses?: readonly string[];
  /** Whether to write the key, certificate and CA under the data dir (default true); a server joining takes the cluster key from the answer and issues its own certificate. */
  save?: boolean;
  log?: Logger;
  /** How long one server may take to answer (default 10 s). */
  timeoutMs?: number;
}

/** What was said to the servers and what they answered. */
interface JoinAnswer {
  Certificate: string;
  CACert: string;
  /** To a server joining with a server join token: the cluster key, base64. */
  ClusterKey?: string;
}

function hostPort(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(addr);
  if (m === null) throw new RucheError(ErrorCode.BadRequest, `a server address must be host:port; got ${JSON.stringify(addr)}`);
  return { host: m[1] ?? "", port: Number(m[2]) };
}

/** Every certificate a TLS peer sent, leaf first, up to the self-signed root if it sent one. */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  // Node's issuerCertificate is missing past the chain's end, and points to itself at a self-signed root.
  let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c !== undefined && Object.keys(c).length > 0 && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw));
    c = (c as { issuerCertificate?: DetailedPeerCertificate }).issuerCertificate;
  }
  return out;
}

/** Opens TLS to a server trusting nothing yet (what it shows is checked by the caller). */
function openUntrusted(addr: string, region: string, timeoutMs: number): Promise<TLSSocket> {
  const { host, port } = hostPort(addr);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername: serverName(region), rejectUnauthorized: false, timeout: timeoutMs });
    const fail = (err: Error): void => {
      socket.destroy();
      reject(new RucheError(ErrorCode.Unreachable, `could not open TLS to the server ${addr}: ${err.message}`, { cause: err }));
    };
    socket.once("secureConnect", () => {
      socket.off("error", fail);
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once("error", fail);
    socket.once("timeout", () => {
      fail(new Error(`no TLS handshake within ${timeoutMs} ms`));
    });
  });
}

/** One HTTPS request on a new connection that trusts `ca` and checks the region's server name; `insecure`: that trusts nothing (the CA's certificate, which the caller checks itself). */
function httpsCall(
  addr: string,
  o: { method: string; path: string; body?: unknown; insecure?: true; ca?: string; cert?: string; key?: string; region: string; timeoutMs: number; checkServer?: (cert: PeerCertificate) => Error | undefined },
): Promise<{ status: number; text: string }> {
  const { host, port } = hostPort(addr);
  const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host,
        port,
        method: o.method,
        path: o.path,
        agent: false,
        timeout: o.timeoutMs,
        headers: { accept: "application/json", ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": String(payload.length) }) },
        servername: serverName(o.region),
        ...(o.insecure === true ? { rejectUnauthorized: false } : { ca: o.ca, ...(o.cert === undefined ? {} : { cert: o.cert, key: o.key }), rejectUnauthorized: true }),
        ...(o.checkServer === undefined ? {} : { checkServerIdentity: (_host: string, cert: PeerCertificate) => o.checkServer?.(cert) }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on("error", (err) => {
      reject(new RucheError(ErrorCode.Unreachable, `the server ${addr} could not be reached over TLS: ${errorMessage(err)}`, { cause: err }));
    });
    req.end(payload);
  });
}

/** A server's refusal, as the error it answered (its code and message), or a generic one. */
function refusal(addr: string, what: string, status: number, text: string): RucheError {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown; path?: unknown } }).error;
    if (e !== undefined && isErrorCode(e.code) && typeof e.message === "string") {
      return new RucheError(e.code, `the server ${addr} refused ${what}: ${e.message}`, { path: typeof e.path === "string" ? e.path : undefined });
    }
  } catch {
    // Not our JSON: said below.
  }
  return new RucheError(ErrorCode.BadGateway, `the server ${addr} answered ${what} with ${status}: ${text.slice(0, 200)}`);
}

/**
 * The cluster's CA as a server shows it, checked against `digest` (the join token's) before
 * anything secret is sent: the root of the chain the server presents, or (a server that sends
 * its certificate alone) what `GET /v1/agent/ca` answers. The server's own certificate must
 * be signed by that CA. A CA with another digest is refused, saying so. Nothing sent here is
 * secret, and the secret later goes only over a connection that trusts this CA alone.
 */
export async function fetchPinnedCa(addr: string, digest: string, region: string, timeoutMs = 10_000): Promise<string> {
  const socket = await openUntrusted(addr, region, timeoutMs);
  try {
    const chain = peerChain(socket);
    const leaf = chain[0];
    if (leaf === undefined) throw new RucheError(ErrorCode.Forbidden, `the server ${addr} showed no certificate`);
    const root = chain.length > 1 ? chain.at(-1) : undefined;
    let offered: string[];
    if (root !== undefined && root.ca && root.checkIssued(root)) offered = [toPem("CERTIFICATE", root.raw)];
    else {
      const res = await httpsCall(addr, { method: "GET", path: "/v1/agent/ca", insecure: true, region, timeoutMs });
      if (res.status !== 200) throw refusal(addr, "the CA's certificate", res.status, res.text);
      offered = splitCerts(res.text);
    }
    const pinned = offered.find((pem) => caDigest(pem) === digest);
    if (pinned === undefined) {
      const shown = offered.map((pem) => caDigest(pem).slice(0, 16)).join(", ") || "none";
      throw new RucheError(
        ErrorCode.Forbidden,
        `the server ${addr} presents a CA whose SHA-256 digest (${shown}…) does not match the join token's (${digest.slice(0, 16)}…): not sending the token's secret. Is this the cluster the token was made for, and is the token current?`,
      );
    }
    const ca = new X509Certificate(pinned);
    if (!(leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) throw new RucheError(ErrorCode.Forbidden, `the server ${addr}'s certificate is not signed by the CA it presents: not sending the token's secret`);
    return pinned;
  } finally {
    socket.destroy();
  }
}

function material(caPem: string, certPem: string, keyPem: string): NodeTls {
  const cert = new X509Certificate(certPem);
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new RucheError(ErrorCode.Internal, "the certificate the server sent is not for this node's key");
  const cas = splitCerts(caPem).map((p) => new X509Certificate(p));
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) throw new RucheError(ErrorCode.Internal, "the certificate the server sent is not signed by the cluster's CA");
  return { caPem, certPem, keyPem, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

async function save(dataDir: string, tls: NodeTls): Promise<void> {
  const p = nodeTlsPaths(dataDir);
  await privateDir(p.dir);
  await writePrivate(p.key, tls.keyPem);
  await writeFile(`${p.cert}.tmp`, tls.certPem, { mode: 0o644 });
  await writeFile(`${p.ca}.tmp`, tls.caPem, { mode: 0o644 });
  await rename(`${p.cert}.tmp`, p.cert);
  await rename(`${p.ca}.tmp`, p.ca);
}

/** The TLS material a node kept from an earlier join, or null when it has none (it joins with a token). */
export async function loadNodeTls(dataDir: string): Promise<NodeTls | null> {
  const p = nodeTlsPaths(dataDir);
  let texts: [string, string, string];
  try {
    texts = await Promise.all([readFile(p.ca, "utf8"), readFile(p.cert, "utf8"), readFile(p.key, "utf8")]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    return material(...texts);
  } catch (err) {
    throw new RucheError(ErrorCode.Internal, `the node's TLS files in ${p.dir} do not hold together: ${errorMessage(err)}; remove them and join again with a join token`, { cause: err });
  }
}

/**
 * Joins the cluster: for each server in turn, the CA it shows is checked against the token's
 * digest (a mismatch stops here, nothing sent), then the token's secret and a CSR go to
 * `POST /v1/agent/join` over TLS that trusts only that CA and checks the region's server
 * name. A refusal (a revoked or unknown token, the wrong role) is final; a server that
 * cannot be reached passes to the next. The key, certificate and CA are written under the
 * data dir (key 0600, directory 0700) and returned.
 */
export async function joinCluster(opts: JoinOptions): Promise<NodeTls & { clusterKey?: string }> {
  const { caDigest: digest } = parseJoinToken(opts.token);
  const region = opts.region ?? "global";
  const role = opts.role ?? "client";
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (opts.servers.length === 0) throw new RucheError(ErrorCode.BadRequest, "joining needs the servers' addresses (-servers)");
  const unreachable: string[] = [];
  for (const addr of opts.servers) {
    let caPem: string;
    try {
      caPem = await fetchPinnedCa(addr, digest, region, timeoutMs);
    } catch (err) {
      if (err instanceof RucheError && err.code === ErrorCode.Unreachable) {
        unreachable.push(errorMessage(err));
        opts.log?.warn({ err, server: addr }, "join: server unreachable, trying the next");
        continue;
      }
      throw err;
    }
    const { keyPem, csrPem } = await createKeyAndCsr({ region, role, name: opts.name });
    let res: { status: number; text: string };
    try {
      res = await httpsCall(addr, { method: "POST", path: "/v1/agent/join", body: { Token: opts.token, CSR: csrPem, Role: role, Name: opts.name, ...(opts.addresses === undefined ? {} : { Addresses: opts.addresses }) }, ca: caPem, region, timeoutMs });
    } catch (err) {
      unreachable.push(errorMessage(err));
      continue;
    }
    if (res.status !== 200) throw refusal(addr, "the join", res.status, res.text);
    const answer = JSON.parse(res.text) as JoinAnswer;
    // The node keeps the CA it checked against the token, and any other the server says to trust (a CA rotation).
    const trusted = [caPem, ...splitCerts(answer.CACert).filter((p) => caDigest(p) !== digest)].join("");
    const tls = material(trusted, answer.Certificate, keyPem);
    if (opts.save === false) return typeof answer.ClusterKey === "string" ? { ...tls, clusterKey: answer.ClusterKey } : tls;
    await save(opts.dataDir, tls);
    opts.log?.info({ server: addr, notAfter: tls.notAfter.toISOString() }, "joined the cluster: node certificate issued");
    return tls;
  }
  throw new RucheError(ErrorCode.Unreachable, `no server could be reached to join: ${unreachable.join("; ")}`);
}

/** What another region's server gives a server that joins the federation's CA. */
export interface FederationCa {
  /** The region of the server that answered. */
  region: string;
  /** The federation CA's record, its key sealed under `clusterKey`. */
  record: CaRecord;
  clusterKey: string;
  /** The CA certificate checked against the token's digest. */
  caPem: string;
  /** The server that answered (host:port). */
  server: string;
}

/**
 * A region's first server joins the federation's CA (`-join-wan-token`, a server join token of
 * another region): for each of that region's servers in turn (`retry_join_wan`), the CA it
 * shows is checked against the token's digest before anything secret is sent, then the token
 * goes to `POST /v1/agent/join` with `Federation: true` and this server's region, over TLS that
 * trusts that CA alone and takes a server certificate of any region; the answer (the CA's
 * record and the cluster key) must come from a server of the region it names. A refusal is
 * final; a server that cannot be reached passes to the next. Nothing is written here.
 */
export async function joinFederationCa(opts: { servers: readonly string[]; token: string; name: string; region: string; timeoutMs?: number; log?: Logger }): Promise<FederationCa> {
  const { caDigest: digest } = parseJoinToken(opts.token);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (opts.servers.length === 0) throw new RucheError(ErrorCode.BadRequest, "-join-wan-token needs another region's server to ask: server { retry_join_wan = [\"HOST:PORT\"] } (-retry-join-wan)", { path: "retry_join_wan" });
  const unreachable: string[] = [];
  for (const addr of opts.servers) {
    let caPem: string;
    try {
      caPem = await fetchPinnedCa(addr, digest, opts.region, timeoutMs);
    } catch (err) {
      if (err instanceof RucheError && err.code === ErrorCode.Unreachable) {
        unreachable.push(errorMessage(err));
        opts.log?.warn({ err: errorMessage(err), server: addr }, "federation CA join: server unreachable, trying the next");
        continue;
      }
      throw err;
    }
    let shown: ReturnType<typeof peerNames> | undefined;
    const checkServer = (cert: PeerCertificate): Error | undefined => {
      shown = peerNames(cert);
      return serverRegions(shown).length > 0 ? undefined : new Error(`the certificate of ${addr} names no server of any region`);
    };
    let res: { status: number; text: string };
    try {
      res = await httpsCall(addr, { method: "POST", path: "/v1/agent/join", body: { Token: opts.token, Role: "server", Name: opts.name, Region: opts.region, Federation: true }, ca: caPem, region: opts.region, timeoutMs, checkServer });
    } catch (err) {
      unreachable.push(errorMessage(err));
      continue;
    }
    if (res.status !== 200) throw refusal(addr, "the federation CA join", res.status, res.text);
    const answer = JSON.parse(res.text) as { Region?: unknown; CARecord?: unknown; ClusterKey?: unknown };
    if (typeof answer.Region !== "string" || typeof answer.ClusterKey !== "string" || answer.CARecord === undefined) {
      throw new RucheError(ErrorCode.BadGateway, `the server ${addr} answered the federation CA join without Region, CARecord and ClusterKey: is it a Ruche server that shares its CA?`);
    }
    const check = shown === undefined ? { ok: false as const, reason: "it showed no certificate" } : checkFederationPeer(shown, answer.Region);
    if (!check.ok) throw new RucheError(ErrorCode.Forbidden, `the server ${addr}: ${check.reason}`);
    const record = parseCaRecord(JSON.stringify(answer.CARecord), `the answer of ${addr}`);
    return { region: answer.Region, record, clusterKey: answer.ClusterKey, caPem, server: addr };
  }
  throw new RucheError(ErrorCode.Unreachable, `no server of the other region could be reached to join its CA: ${unreachable.join("; ")}`);
}

/** When a certificate is to be renewed: once two thirds of its lifetime have passed. */
export function renewAt(tls: Pick<NodeTls, "notBefore" | "notAfter">): Date {
  const from = tls.notBefore.getTime();
  return new Date(from + ((tls.notAfter.getTime() - from) * 2) / 3);
}

/**
 * Renews a node's certificate: a new key and CSR, sent to `POST /v1/agent/renew` over mutual
 * TLS with the current certificate (no token needed); the new material is written where the
 * old was and returned. The servers' certificate must still chain to a CA the node trusts.
 */
export async function renewNodeTls(opts: { servers: readonly string[]; dataDir: string; current: NodeTls; region?: string; name: string; role?: NodeRole; timeoutMs?: number }): Promise<NodeTls> {
  const region = opts.region ?? "global";
  const { keyPem, csrPem } = await createKeyAndCsr({ region, role: opts.role ?? "client", name: opts.name });
  const reasons: string[] = [];
  for (const addr of opts.servers) {
    let res: { status: number; text: string };
    try {
      res = await httpsCall(addr, { method: "POST", path: "/v1/agent/renew", body: { CSR: csrPem }, ca: opts.current.caPem, cert: opts.current.certPem, key: opts.current.keyPem, region, timeoutMs: opts.timeoutMs ?? 10_000 });
    } catch (err) {
      reasons.push(errorMessage(err));
      continue;
    }
    if (res.status !== 200) throw refusal(addr, "the renewal", res.status, res.text);
    const answer = JSON.parse(res.text) as JoinAnswer;
    const tls = material(answer.CACert, answer.Certificate, keyPem);
    await save(opts.dataDir, tls);
    return tls;
  }
  throw new RucheError(ErrorCode.Unreachable, `no server could be reached to renew the node certificate: ${reasons.join("; ")}`);
}

/**
 * Keeps a node's certificate renewed until `signal` aborts: at two thirds of its lifetime it
 * is renewed (`onRenewed` gets the new material, to load into the agent's connections); a
 * renewal that fails is tried again after a tenth of what is left (at least 1 s, at most
 * 5 min), and logged. Resolves when stopped.
 */
export async function keepRenewed(opts: {
  servers: readonly string[];
  dataDir: string;
  current: NodeTls;
  name: string;
  region?: string;
  role?: NodeRole;
  signal: AbortSignal;
  onRenewed: (tls: NodeTls) => void;
  log?: Logger;
  now?: () => number;
}): Promise<void> {
  const now = opts.now ?? Date.now;
  let current = opts.current;
  let wait = renewAt(current).getTime() - now();
  while (!opts.signal.aborted) {
    if (!(await sleep(Math.max(0, wait), opts.signal))) return;
    try {
      current = await renewNodeTls({ servers: opts.servers, dataDir: opts.dataDir, current, name: opts.name, ...(opts.region === undefined ? {} : { region: opts.region }), ...(opts.role === undefined ? {} : { role: opts.role }) });
      opts.log?.info({ notAfter: current.notAfter.toISOString() }, "node certificate renewed");
      opts.onRenewed(current);
      wait = renewAt(current).getTime() - now();
    } catch (err) {
      const left = current.notAfter.getTime() - now();
      wait = Math.min(5 * 60_000, Math.max(1000, left / 10));
      opts.log?.warn({ err, retryInMs: wait }, "node certificate renewal failed");
    }
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const t = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve(true);
    }, ms);
    const stop = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener("abort", stop, { once: true });
  });
}
