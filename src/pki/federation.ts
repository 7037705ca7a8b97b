import { ErrorCode, RucheError } from "../structs/index.js";
import { x509 } from "./cert-info.js";
import { parseCaRecord, type CaRecord, type RecordSlot } from "./ca-record.js";
import { caDigest } from "./digest.js";
import { NodeRole, parseSpiffeUri } from "./identity.js";

/**
 * One CA per federation (Nomad's one CA whose server certificates name `server.<region>.nomad`,
 * Consul's WAN federation under one CA): the first region's cluster CA is every region's. A
 * second region's first server, started with a server join token of the first region
 * (`-join-wan-token`, which pins that CA's digest), takes up the first region's CA record and
 * cluster key over TLS checked against the digest, and keeps the record as its own region's;
 * every region's servers then issue themselves certificates of that one CA naming
 * `server.<their region>.ruche`, and a server checks that a peer of another region shows one
 * naming the region it claims.
 */

/** Why a CA anchored on the one derived from the cluster key (servers on etcd members of their own) is not shared with another region. */
export const FEDERATION_DERIVED =
  "servers that run their own etcd members derive their cluster CA from the cluster key and their region (before their etcd exists), so it cannot be one CA with another region's: federating them over TLS is not built; federate regions whose servers keep their state alone or on an etcd given with -etcd-endpoints";

/** Why a CA under rotation is not handed to another region. */
export const FEDERATION_ROTATING =
  "the cluster CA is being rotated (ruche operator tls ca finish ends it): another region takes up the federation's CA once the rotation is finished";

/** Why a federated CA does not rotate: said by `operator tls ca rotate` and `finish` on a server whose CA other regions share. */
export const FEDERATION_NO_ROTATION =
  "the cluster CA is the federation's, shared with other regions (they took it up when they joined): rotating it here would leave the other regions' servers trusting a CA this region no longer signs with, and rotating a federation's CA in every region is not built: nothing was changed";

/** The region whose first server made a CA (`O=<region>` of its subject, as `createCa` and `deriveCa` write it), or null when it names none. */
export function caRegion(caPem: string): string | null {
  const m = /(?:^|\n)O=([^\n]*)/.exec(x509(caPem, "the CA certificate").subject);
  return m?.[1] ?? null;
}

/** The subject and names of a peer's certificate as Node's TLS gives it (`getPeerCertificate`, `checkServerIdentity`'s), for `checkFederationPeer`. */
export function peerNames(cert: { subject?: object; subjectaltname?: string }): { subject: string; uris: string[]; dnsNames: string[] } {
  const parts = (cert.subjectaltname ?? "").split(", ");
  const of = (kind: string): string[] => parts.filter((p) => p.startsWith(`${kind}:`)).map((p) => p.slice(kind.length + 1));
  const subject = Object.entries(cert.subject ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(", ");
  return { subject, uris: of("URI"), dnsNames: of("DNS") };
}

/** The regions a certificate names a server of: its `spiffe://ruche/<region>/server/<name>` URIs and `server.<region>.ruche` (or `.nomad`) DNS names. */
export function serverRegions(peer: { uris: readonly string[]; dnsNames: readonly string[] }): string[] {
  const out = new Set<string>();
  for (const u of peer.uris) {
    const id = parseSpiffeUri(u);
    if (id !== null && id.role === NodeRole.Server) out.add(id.region);
  }
  for (const n of peer.dnsNames) {
    const m = /^server\.([^.]+)\.(ruche|nomad)$/.exec(n);
    if (m?.[1] !== undefined) out.add(m[1]);
  }
  return [...out].sort();
}

/**
 * Whether a peer of the federation (its certificate verified against the federation's CA) is
 * a server of the region it claims: its certificate must name `server.<region>.ruche` (or
 * `.nomad`) or `spiffe://ruche/<region>/server/…`. The refusal says what it names instead.
 */
export function checkFederationPeer(peer: { uris: readonly string[]; dnsNames: readonly string[]; subject?: string }, claimed: string): { ok: true } | { ok: false; reason: string } {
  const regions = serverRegions(peer);
  if (regions.includes(claimed)) return { ok: true };
  const who = peer.subject === undefined ? "its certificate" : `its certificate (${peer.subject.replace(/\n/g, ", ")})`;
  const names = regions.length === 0 ? "names no server of any region (a node's or an operator's certificate)" : `names a server of region ${regions.join(", ")} only`;
  return { ok: false, reason: `it says it is a server of region "${claimed}", but ${who} ${names}: not a server of "${claimed}" (server.${claimed}.ruche)` };
}

/**
 * Takes up the federation's CA record (what a server of the first region answered a WAN join
 * with, its CA checked against the token's `digest`) into this region's slot, create-if-absent.
 * "taken": written; "already": the slot holds this CA already (a later start, or another server
 * of this region took it up first). A slot that holds another CA is refused: a region joins the
 * federation's CA at its first start, before it has made one of its own.
 */
export async function takeUpFederationCa(slot: RecordSlot, record: CaRecord, digest: string): Promise<"taken" | "already"> {
  if (caDigest(record.Current.Cert) !== digest) {
    throw new RucheError(ErrorCode.Forbidden, `the federation's CA record has a CA whose SHA-256 digest (${caDigest(record.Current.Cert).slice(0, 16)}…) is not the join token's (${digest.slice(0, 16)}…): not taken up`);
  }
  if (await slot.create(JSON.stringify(record))) return "taken";
  if (await federationCaHeld(slot, digest)) return "already";
  throw new RucheError(ErrorCode.Internal, `the cluster CA's record (${slot.where}) could not be written, and is not there`);
}

/** Whether the slot holds the CA of `digest` (the federation's), as the current one. */
export async function federationCaHeld(slot: RecordSlot, digest: string): Promise<boolean> {
  const found = await slot.read();
  if (found === null) return false;
  const held = parseCaRecord(found.value, slot.where);
  if (caDigest(held.Current.Cert) === digest) return true;
  throw otherCa(slot, digest, found.value);
}

function otherCa(slot: RecordSlot, digest: string, value: string | undefined): RucheError {
  const held = value === undefined ? "" : ` (sha256 ${caDigest(parseCaRecord(value, slot.where).Current.Cert).slice(0, 16)}…)`;
  return new RucheError(
    ErrorCode.Conflict,
    `this region already has a cluster CA of its own${held} in ${slot.where}, not the federation's (sha256 ${digest.slice(0, 16)}…) the WAN join token is for: a region takes up the federation's CA at its first start, before it makes one; start this region's first server on a new data dir (or etcd prefix) with -join-wan-token, then join its other servers and nodes to it again`,
    { path: "join_wan_token" },
  );
}
