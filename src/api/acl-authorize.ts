import { spiffeIdentity } from "../pki/index.js";
import { ALLOW_ALL, assertNever, DENY_ALL, ErrorCode, RucheError, type Acl, type Logger } from "../structs/index.js";
import type { AclResolver } from "./acl-resolve.js";
import { requestNamespace, routeEntry, type AclLookups, type Face, type Listener, type Need } from "./acl-routes-table.js";
import { requestToken } from "./acl-token.js";
import { FEDERATION_FORWARDED } from "./federation-forward.js";
import type { Reply, Request } from "./http.js";

/** Nomad's words for a refused request (`structs.ErrPermissionDenied`, `ErrTokenNotFound`, `ErrTokenExpired`). */
export const NOMAD_DENIED = "Permission denied";
export const NOMAD_TOKEN_NOT_FOUND = "ACL token not found";
export const NOMAD_TOKEN_EXPIRED = "ACL token expired";
/** Consul's (`acl.ErrPermissionDenied`, `acl.ErrNotFound`; an expired token is one it no longer finds). */
export const CONSUL_DENIED = "Permission denied";
export const CONSUL_TOKEN_NOT_FOUND = "ACL not found";

export interface AclDoor {
  /** ACLs on (`acl { enabled = true }`); off, every request may do everything. */
  enabled: boolean;
  resolver: AclResolver;
  lookups: AclLookups;
  /** The listener the hook guards: the Consul-compatible one answers every refusal as Consul does. */
  listener: Listener;
  log: Logger;
  /**
   * This server's region: a certificate of the cluster's PKI is an agent of this region only
   * (one CA serves a whole federation), and a request another region's server sent here with a
   * token this region does not know is told that tokens are per region. Absent: any region.
   */
  region?: () => string | undefined;
}

/**
 * What a request another region's server forwarded here is told when its token is not known
 * here, after Nomad's or Consul's words: ACL tokens are per region (Nomad replicates global
 * tokens from its authoritative region; Ruche does not), so the token must be one of this region.
 */
export function perRegionTokens(from: string, region: string | undefined): string {
  const here = region === undefined ? "this region" : `region "${region}"`;
  return ` (this request was forwarded by ${from} from another region: ACL tokens are per region and not replicated between regions, so it needs a token of ${here}, made there with acl token create)`;
}

/**
 * Whether `acl` meets `need`; `agent`: the request shows a certificate of the cluster's PKI;
 * `namespace`: the one the request acts in (`requestNamespace`), null for every namespace (a
 * list route's `*`, which the route filters). Pure.
 */
export function allowed(acl: Acl, need: Need, agent = false, namespace: string | null = "default"): boolean {
  switch (need.kind) {
    case "agent":
      return agent;
    case "open":
    case "filtered":
    case "node-identity":
    case "server":
    case "token":
      // "token": an unknown or expired secret was refused before this.
      return true;
    case "management":
      return acl.management;
    case "namespace":
      return namespace === null || acl.namespace(namespace, need.cap, need.job);
    case "resource":
      return acl.allows(need.resource, need.level);
    case "prefix":
      return acl.prefix(need.prefix, need.name, need.level);
    case "all":
      return need.of.every((n) => allowed(acl, n, agent, namespace));
    case "any":
      return need.of.some((n) => allowed(acl, n, agent, namespace));
    default:
      return assertNever(need);
  }
}

/** Whether the request shows a verified certificate of the cluster's PKI: a joined node's, a router's, a server's (their SAN URI names them). */
function isClusterAgent(req: Request, region: string | undefined): boolean {
  if (req.peerCert === undefined) return false;
  const id = spiffeIdentity(req.peerCert.uris);
  // Another region's agent (the federation shares one CA) is nobody's agent here.
  return id !== null && (region === undefined || id.region === region);
}

/** Routes that do not ask for an ACL token at all: their callers (anyone, a node agent, another server) prove nothing with one. */
function tokenless(need: Need): boolean {
  return need.kind === "open" || need.kind === "node-identity" || need.kind === "server";
}

/** Consul takes `?token=` on every route beside its header (deprecated there, still honoured); Nomad does not. */
function secretOf(req: Request, face: Face): string | undefined {
  const fromHeaders = requestToken(req);
  if (fromHeaders !== undefined && fromHeaders !== "") return fromHeaders;
  if (face !== "consul") return undefined;
  const q = req.query.get("token");
  return q === null || q === "" ? undefined : q;
}

/** Consul's refusals are plain text, 403 (`ACL not found`, `Permission denied`). */
function consulRefusal(message: string): Reply {
  return { status: 403, body: message, headers: { "content-type": "text/plain; charset=utf-8" } };
}

/**
 * The API's `authorize` hook with ACLs: resolves the request's token (`X-Ruche-Token`,
 * `X-Nomad-Token`, `X-Consul-Token`, `Authorization: Bearer`, and `?token=` on Consul's
 * routes) to what it may do, puts it on the request (`req.acl`), and lets the request in
 * only if it meets its route's need (`acl-routes-table.ts`). A refusal is 403 with Nomad's
 * words in Ruche's error body on Nomad's routes, Consul's plain text on Consul's. A route
 * the table does not list is open to a management token only. ACLs off: every request may
 * do everything.
 */
export function aclAuthorize(door: AclDoor): (req: Request) => Reply | undefined {
  const unlisted = new Set<string>();
  return (req) => {
    if (!door.enabled) {
      req.acl = ALLOW_ALL;
      return undefined;
    }
    const entry = routeEntry(req.route, door.listener);
    if (entry === undefined && !unlisted.has(req.route)) {
      unlisted.add(req.route);
      door.log.error({ route: req.route }, "a route has no entry in the ACL table: only a management token may use it");
    }
    const face: Face = door.listener === "consul" ? "consul" : (entry?.face ?? "nomad");
    // A write another server forwarded for its node: the rules look in that node (its services, its checks, its name).
    const look = req.receivedBy === undefined ? door.lookups : door.lookups.forAgentNode(req.receivedBy.node);
    const need: Need = entry === undefined ? { kind: "management" } : typeof entry.need === "function" ? entry.need(req, look) : entry.need;
    const secret = tokenless(need) ? undefined : secretOf(req, face);
    const resolved = door.resolver.resolve(secret);
    if (!resolved.ok) {
      const from = req.headers[FEDERATION_FORWARDED];
      const across = from === undefined || resolved.reason === "expired" ? "" : perRegionTokens(String(from), door.region?.());
      if (face === "consul") return consulRefusal(CONSUL_TOKEN_NOT_FOUND + across);
      throw new RucheError(ErrorCode.Forbidden, resolved.reason === "expired" ? NOMAD_TOKEN_EXPIRED : NOMAD_TOKEN_NOT_FOUND + across);
    }
    req.acl = tokenless(need) ? DENY_ALL : resolved.acl;
    if (allowed(resolved.acl, need, isClusterAgent(req, door.region?.()), requestNamespace(req, door.lookups))) return undefined;
    if (face === "consul") return consulRefusal(CONSUL_DENIED);
    throw new RucheError(ErrorCode.Forbidden, NOMAD_DENIED);
  };
}
