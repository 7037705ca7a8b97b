import { randomUUID, X509Certificate } from "node:crypto";
import { caDigest, checkName, isNodeRole, type CaRecord, newJoinToken, NodeRole, parseJoinToken, secretMatches, signCsr, spiffeIdentity, type Ca, type NodeIdentity } from "../../pki/index.js";
import { ErrorCode, joinTokenStub, RucheError, type JoinToken, type JoinTokenStub } from "../../structs/index.js";
import type { TLSSocket } from "node:tls";
import type { ApiContext } from "../context.js";
import type { Handler, Request, Router } from "../http.js";

/**
 * The cluster's PKI as a server's API serves it: the CA it signs node certificates with, and
 * for how long. Given to `startApi` (`ApiOptions.pki`); without it none of these routes exist.
 */
export interface ClusterPki {
  region: string;
  /** The CA this server signs with now. */
  ca(): Ca;
  /** The CA certificates (PEM) a node is to trust now: the current CA's, and during a CA rotation the others still valid. Default: the current one. */
  trusted?(): string[];
  /** What follows a certificate the CA signs in its chain: during a CA rotation, the current CA cross-signed by the previous. Default: nothing. */
  chain?(): string;
  /** Whether a rotation is under way (the previous CA still trusted). Default: more than one root trusted. */
  rotating?(): boolean;
  /** Rolls the CA (`ClusterCa.rotate`), and ends a rotation (`finish`): absent, `/v1/operator/tls/ca/*` refuse to. */
  rotate?(): Promise<unknown>;
  finish?(): Promise<void>;
  /**
   * The cluster key (base64) that opens the CA's key in the state: given, over TLS only, to a
   * server that joins with a server join token (`ruche agent -server -join-token`), and to no
   * one else. Absent: a server join answers without it.
   */
  clusterKey?(): string;
  /**
   * The CA's record (its key sealed under the cluster key), given with the cluster key, over
   * TLS only, to another region's first server that joins this federation's CA with a server
   * join token (`ruche agent -server -join-wan-token`); it refuses, saying why, when this CA
   * cannot be shared (derived, or under rotation). Absent: a WAN join is refused.
   */
  federationRecord?(): CaRecord;
  /** A node certificate's lifetime (default 24 h). */
  nodeCertTtlMs?: number;
  /** The clock (tests). */
  now?(): Date;
}

/** What `POST /v1/agent/join` and `/v1/agent/renew` answer: the node's certificate and the CAs to trust. */
export interface JoinAnswer {
  /** The node's certificate, PEM; during a CA rotation followed by the new CA cross-signed by the old. */
  Certificate: string;
  /** The CA certificates to trust, PEM, one after the other. */
  CACert: string;
  /** When the certificate expires (RFC 3339). */
  NotAfter: string;
  Region: string;
  Role: NodeRole;
  Name: string;
  /** To a server joining with a server join token, over TLS: the cluster key (base64), with which it opens the cluster's CA. */
  ClusterKey?: string;
}

/** What a WAN join (`Federation: true` in the join's body) answers another region's server: the federation's CA, to take up as its region's. */
export interface FederationJoinAnswer {
  /** The region of the server that answers. */
  Region: string;
  /** The CA's record, as the state keeps it (the key sealed under the cluster key). */
  CARecord: CaRecord;
  /** The cluster key (base64) that opens it. */
  ClusterKey: string;
}

/** A join token as `create` and `rotate` answer it: the token itself, shown this once. */
export type CreatedJoinToken = JoinTokenStub & { Token: string };

function role(value: unknown, path: string): NodeRole {
  if (value === undefined || value === "") return NodeRole.Client;
  if (!isNodeRole(value)) throw new RucheError(ErrorCode.BadRequest, `${path} must be "client" or "server"; got ${JSON.stringify(value)}`, { path });
  return value;
}

function bodyOf(req: Request): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== "object" || Array.isArray(b)) throw new RucheError(ErrorCode.BadRequest, "the request body must be a JSON object");
  return b as Record<string, unknown>;
}

/**
 * The join tokens' routes (`ruche join-token ...`), the CA's certificate, and the nodes' join
 * and renewal. `sharedJoin` wraps the node join, whose path Nomad's `server join` shares
 * (`PUT /v1/agent/join?address=`, `routes/federation.ts`).
 */
export function joinRoutes(r: Router, ctx: ApiContext, pki: ClusterPki, sharedJoin: (nodeJoin: Handler) => Handler = (h) => h): void {
  const now = (): Date => pki.now?.() ?? new Date();
  const trusted = (): string[] => pki.trusted?.() ?? [pki.ca().certPem];

  const create = async (tokenRole: NodeRole, revokeOthers: boolean): Promise<CreatedJoinToken> => {
    const digest = caDigest(pki.ca().certPem);
    const { token, secretHash } = newJoinToken(digest);
    const at = now().getTime();
    const row: JoinToken = { ID: randomUUID(), Role: tokenRole, SecretHash: secretHash, CADigest: digest, CreateTime: at, RevokedTime: 0, CreateIndex: 0, ModifyIndex: 0 };
    await ctx.store.write((tx) => {
      if (revokeOthers) {
        for (const t of tx.list("joinTokens", "")) if (t.Role === tokenRole && t.RevokedTime === 0) tx.put("joinTokens", { ...t, RevokedTime: at });
      }
      tx.put("joinTokens", row);
    });
    const stored = ctx.store.joinTokens().find((t) => t.ID === row.ID) ?? row;
    return { ...joinTokenStub(stored), Token: token };
  };

  r.put("/v1/operator/join-token", async (req) => ({ body: await create(role(bodyOf(req).Role, "Role"), false) }));
  r.put("/v1/operator/join-token/rotate", async (req) => ({ body: await create(role(bodyOf(req).Role, "Role"), true) }));
  r.get("/v1/operator/join-tokens", () => ({
    body: ctx.store
      .joinTokens()
      .slice()
      .sort((a, b) => a.CreateIndex - b.CreateIndex)
      .map(joinTokenStub),
    index: Math.max(1, ctx.store.tableIndex("joinTokens")),
  }));
  r.delete("/v1/operator/join-token/:id", async (req) => {
    const id = req.params.id ?? "";
    const at = now().getTime();
    await ctx.store.write((tx) => {
      const t = tx.get("joinTokens", id);
      if (t === undefined) throw new RucheError(ErrorCode.NotFound, `no join token with ID ${JSON.stringify(id)}`, { path: "id" });
      if (t.RevokedTime === 0) tx.put("joinTokens", { ...t, RevokedTime: at });
    });
    const t = ctx.store.joinTokens().find((x) => x.ID === id);
    return { body: t === undefined ? null : joinTokenStub(t) };
  });

  r.get("/v1/agent/ca", () => ({ body: trusted().join(""), headers: { "content-type": "application/x-pem-file" } }));

  const caStatus = (): { CADigest: string; Trusted: string[]; Rotating: boolean } => {
    const all = trusted().map(caDigest);
    return { CADigest: caDigest(pki.ca().certPem), Trusted: all, Rotating: pki.rotating?.() ?? all.length > 1 };
  };
  r.get("/v1/operator/tls/ca", () => ({ body: caStatus() }));
  r.put("/v1/operator/tls/ca/rotate", async () => {
    if (pki.rotate === undefined) throw new RucheError(ErrorCode.BadRequest, "this server cannot rotate the cluster CA");
    await pki.rotate();
    return { body: caStatus() };
  });
  r.put("/v1/operator/tls/ca/finish", async () => {
    if (pki.finish === undefined) throw new RucheError(ErrorCode.BadRequest, "this server cannot rotate the cluster CA");
    await pki.finish();
    return { body: caStatus() };
  });

  const nodeJoin: Handler = async (req) => {
    const b = bodyOf(req);
    if (b.Federation === true) return { body: federationJoin(req, b, ctx.store.joinTokens(), pki) };
    const tokens = ctx.store.joinTokens();
    const id = admitJoin(b, tokens, pki.ca(), pki.region);
    const joined = await answer(pki, trusted(), id, b.CSR, now(), addresses(b, id));
    // A server joining opens the cluster's CA with the cluster key: sent only over TLS, whose CA the joining server checked against its token.
    if (id.role === NodeRole.Server && pki.clusterKey !== undefined) {
      if (!(req.raw.socket as Partial<TLSSocket>).encrypted) throw new RucheError(ErrorCode.Forbidden, "a server joins over TLS only: this server serves plain HTTP (tls { enabled = false }), so it does not send the cluster key; give the joining server -encrypt KEY instead", { path: "Role" });
      return { body: { ...joined, ClusterKey: pki.clusterKey() } };
    }
    return { body: joined };
  };
  r.put("/v1/agent/join", sharedJoin(nodeJoin));

  r.put("/v1/agent/renew", async (req) => {
    const b = bodyOf(req);
    const peer = req.peerCert;
    if (peer === undefined) throw new RucheError(ErrorCode.Unauthorized, "renewing a node certificate needs the node's current certificate, shown over mutual TLS; a node without a valid one joins again with a join token");
    const id = renewIdentity(peer, pki.region, now());
    return { body: await answer(pki, trusted(), id, b.CSR, now(), { names: peer.dnsNames, ips: peer.ips }) };
  });
}

/**
 * Another region's first server joins this federation's CA (`-join-wan-token`): with a server
 * join token of this region, over TLS whose CA it checked against the token, it is given the
 * CA's record and the cluster key, and its region's servers issue their certificates from the
 * same CA from then on. No certificate is signed here: it issues its own, naming its region.
 */
function federationJoin(req: Request, b: Record<string, unknown>, tokens: readonly JoinToken[], pki: ClusterPki): FederationJoinAnswer {
  // A server join token only (a client's is refused: wrong role), and the name the joining server gives.
  admitJoin({ ...b, Role: NodeRole.Server }, tokens, pki.ca(), pki.region);
  const theirs = checkName(b.Region, "Region");
  if (theirs === pki.region) {
    throw new RucheError(ErrorCode.BadRequest, `a server of region ${theirs} joins its own region's cluster with -join-token (and -servers or -retry-join), not with -join-wan-token, which joins another region's CA`, { path: "Region" });
  }
  if (!(req.raw.socket as Partial<TLSSocket>).encrypted) throw new RucheError(ErrorCode.Forbidden, "a region joins the federation's CA over TLS only: this server serves plain HTTP, so it does not send the CA's key", { path: "Federation" });
  if (pki.federationRecord === undefined || pki.clusterKey === undefined) throw new RucheError(ErrorCode.BadRequest, "this server cannot share its cluster CA with another region (it holds no cluster CA of the cluster's own PKI)", { path: "Federation" });
  return { Region: pki.region, CARecord: pki.federationRecord(), ClusterKey: pki.clusterKey() };
}

/** A server joining names its addresses for its certificate; a client's are ignored. */
function addresses(b: Record<string, unknown>, id: NodeIdentity): { names: string[]; ips: string[] } {
  if (id.role !== NodeRole.Server) return { names: [], ips: [] };
  const list = Array.isArray(b.Addresses) ? b.Addresses.filter((a): a is string => typeof a === "string" && a !== "" && a.length <= 253) : [];
  return { names: list, ips: [] };
}

async function answer(pki: ClusterPki, trusted: string[], id: NodeIdentity, csr: unknown, now: Date, server: { names: readonly string[]; ips: readonly string[] }): Promise<JoinAnswer> {
  const cert = await signCsr(pki.ca(), csr, id, { now, ...(pki.nodeCertTtlMs === undefined ? {} : { ttlMs: pki.nodeCertTtlMs }), serverNames: server.names, serverIps: server.ips });
  return { Certificate: cert + (pki.chain?.() ?? ""), CACert: trusted.join(""), NotAfter: new Date(new X509Certificate(cert).validTo).toISOString(), Region: id.region, Role: id.role, Name: id.name };
}

/**
 * Whether a join request may have a certificate, and for whom: its token (a token of this
 * CA, known, not revoked, for the role asked) and the name asked for. Each refusal says
 * which: not a token (400), a token for another CA, an unknown token, a revoked one, the
 * wrong role (403); a bad name (400). The CSR is checked when it is signed.
 */
export function admitJoin(b: Record<string, unknown>, tokens: readonly JoinToken[], ca: Ca, region: string): NodeIdentity {
  const { caDigest: tokenDigest, secret } = parseJoinToken(b.Token);
  const ours = caDigest(ca.certPem);
  if (tokenDigest !== ours) {
    throw new RucheError(ErrorCode.Forbidden, `the join token was made for another CA (sha256 ${tokenDigest.slice(0, 16)}…) than this cluster's (sha256 ${ours.slice(0, 16)}…): make a new one with \`ruche join-token create\``, { path: "Token" });
  }
  const token = tokens.find((t) => secretMatches(t.SecretHash, secret));
  if (token === undefined) throw new RucheError(ErrorCode.Forbidden, "unknown join token: no join token of this cluster has this secret (`ruche join-token list` shows the current ones)", { path: "Token" });
  if (token.RevokedTime !== 0) {
    throw new RucheError(ErrorCode.Forbidden, `the join token ${token.ID} was revoked at ${new Date(token.RevokedTime).toISOString()} (revoked or rotated): ask an operator for the current one`, { path: "Token" });
  }
  const asked = role(b.Role ?? token.Role, "Role");
  if (asked !== token.Role) throw new RucheError(ErrorCode.Forbidden, `wrong role: the join token ${token.ID} is for role ${token.Role}, and the node asked to join as ${asked}`, { path: "Role" });
  const name = checkName(b.Name, "Name");
  return { region, role: token.Role, name };
}

/**
 * Who a node renewing its certificate is: the identity of the certificate it shows (verified
 * by the listener against the cluster's CA), if that certificate is a node's of this region
 * and not expired. Each refusal says which.
 */
export function renewIdentity(peer: { uris: readonly string[]; validTo: Date }, region: string, now: Date): NodeIdentity {
  const id = spiffeIdentity(peer.uris);
  if (id === null) throw new RucheError(ErrorCode.Forbidden, "the client certificate names no Ruche node (no spiffe://ruche/ URI): it cannot be renewed");
  if (id.region !== region) throw new RucheError(ErrorCode.Forbidden, `the client certificate is for region ${id.region}, not ${region}`);
  if (peer.validTo.getTime() <= now.getTime()) throw new RucheError(ErrorCode.Forbidden, `the client certificate expired at ${peer.validTo.toISOString()}: join again with a join token`);
  return id;
}
