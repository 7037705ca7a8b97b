import { timingSafeEqual } from "node:crypto";
import { spiffeIdentity, spiffeUri, type NodeIdentity } from "../pki/index.js";
import { AclResource, ErrorCode, RucheError, type Node } from "../structs/index.js";
import { NOMAD_DENIED } from "./acl-authorize.js";
import type { Request } from "./http.js";
import type { PeerCert } from "./tls-listener.js";

/**
 * The header an agent's own nodes (its node agent, its simulated nodes) send the agent's
 * node key in (`NodeAdmission.localKey`): a secret made at each start that never leaves the
 * process but to its own API.
 */
export const NODE_KEY_HEADER = "x-ruche-node-key";

/**
 * Who may register a node and speak for one on the node agent's routes (`/v1/client/...`),
 * beside the node's secret, which those routes check as before:
 * - over TLS, the client certificate: one of the cluster's CA names its node
 *   (`spiffe://ruche/<region>/<role>/<name>`), which must be the node's name, in this
 *   server's region; a certificate of the operator's CA that names no Ruche node speaks, as
 *   Nomad's `client.<region>.nomad` certificates do, for any node of the cluster;
 * - the agent's own nodes: its key (`NODE_KEY_HEADER`);
 * - without TLS, with ACLs on: a token with `node:write` (Nomad's right for node writes) to register;
 * - -dev: the agent's own nodes only;
 * - neither TLS nor ACLs, outside -dev: anyone who reaches the API (the agent says so at start).
 */
export interface NodeAdmission {
  /** This server's region: a node certificate of another region speaks for none of its nodes. */
  region: () => string;
  /** The listener serves HTTPS: a node proves itself with its certificate (or the agent's key), never with a token or nothing. */
  tls: boolean;
  /** ACLs on: without a certificate or the key, registering takes a token with node:write. */
  acl: boolean;
  /** The key this agent's own nodes send; undefined: none do. */
  localKey?: string;
  /** Only this agent's own nodes register (-dev). */
  ownNodesOnly: boolean;
}

/** What a request shows of the node it speaks for. */
export type NodeSpeaker =
  | { kind: "own" }
  | { kind: "certificate"; id: NodeIdentity; uri: string }
  /** A certificate of the operator's CA naming no Ruche node: the CA vouches for a member of the cluster. */
  | { kind: "operator-certificate"; subject: string }
  | { kind: "token" }
  | { kind: "anyone" };

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Whether the request carries this agent's node key (compared in constant time). */
function hasOwnKey(req: Request, adm: NodeAdmission): boolean {
  const sent = header(req, NODE_KEY_HEADER);
  if (adm.localKey === undefined || sent === undefined) return false;
  const a = Buffer.from(sent, "utf8");
  const b = Buffer.from(adm.localKey, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The Ruche node a certificate names (its first `spiffe://ruche/...` URI), or the certificate as the operator's. */
function certificateSpeaker(peer: PeerCert): NodeSpeaker {
  const id = spiffeIdentity(peer.uris);
  return id === null ? { kind: "operator-certificate", subject: peer.subject } : { kind: "certificate", id, uri: spiffeUri(id) };
}

/**
 * What proves a request may speak for a node, before its body is read: the agent's key, the
 * client certificate, else what the agent's settings allow (see `NodeAdmission`). `register`:
 * the request registers a node (a token may do that without TLS); otherwise it speaks for a
 * node it names, whose secret the route checks next. Throws 403 when nothing does.
 */
export function nodeSpeaker(req: Request, adm: NodeAdmission, register: boolean): NodeSpeaker {
  if (hasOwnKey(req, adm)) return { kind: "own" };
  if (req.peerCert !== undefined) return certificateSpeaker(req.peerCert);
  if (adm.tls) {
    const what = register ? "a node registers" : "a node calls its servers";
    throw new RucheError(ErrorCode.Forbidden, `over TLS ${what} with its client certificate, signed by the cluster's CA, and none came with this request (a client agent gets one with -join-token, which ruche join-token create prints)`);
  }
  if (adm.ownNodesOnly && register) {
    throw new RucheError(ErrorCode.Forbidden, "this -dev agent registers only its own node: a node of another process may not join it (run servers and clients outside -dev for a cluster)");
  }
  if (!register) return { kind: "anyone" };
  if (adm.acl) {
    // Nomad's words, as every refusal of the ACL door.
    if (!req.acl.allows(AclResource.Node, "write")) throw new RucheError(ErrorCode.Forbidden, NOMAD_DENIED);
    return { kind: "token" };
  }
  return { kind: "anyone" };
}

/** Throws 403 unless `speaker` may speak for `node` (its name, in this region): a certificate of another node, or of another region, may not. */
export function checkSpeaksFor(speaker: NodeSpeaker, node: Pick<Node, "ID" | "Name">, adm: NodeAdmission, doing: string): void {
  if (speaker.kind !== "certificate") return;
  const { id, uri } = speaker;
  const region = adm.region();
  if (id.region !== region) {
    throw new RucheError(ErrorCode.Forbidden, `the client certificate speaks for node "${id.name}" of region "${id.region}" (${uri}); this server is of region "${region}": it may not ${doing} node "${node.Name}"`);
  }
  if (id.name !== node.Name) {
    throw new RucheError(ErrorCode.Forbidden, `the client certificate speaks for node "${id.name}" (${uri}), not for node "${node.Name}" (${node.ID}): it may not ${doing} it`);
  }
}
