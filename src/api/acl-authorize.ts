import { spiffeIdentity } from "../pki/index.js";
import { ALLOW_ALL, assertNever, DENY_ALL, ErrorCode, RucheError, type Acl, type Logger } from "../structs/index.js";
import type { AclResolver } from "./acl-resolve.js";
import { requestNamespace, routeEntry, type AclLookups, type Face, type Listener, type Need } from "./acl-routes-table.js";
import { requestToken } from "./acl-token.js";
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
function isClusterAgent(req: Request): boolean {
  return req.peerCert !== undefined && spiffeIdentity(req.peerCert.uris) !== null;
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
    const need: Need = entry === undefined ? { kind: "management" } : typeof entry.need === "function" ? entry.need(req, door.lookups) : entry.need;
    const secret = tokenless(need) ? undefined : secretOf(req, face);
    const resolved = door.resolver.resolve(secret);
    if (!resolved.ok) {
      if (face === "consul") return consulRefusal(CONSUL_TOKEN_NOT_FOUND);
      throw new RucheError(ErrorCode.Forbidden, resolved.reason === "expired" ? NOMAD_TOKEN_EXPIRED : NOMAD_TOKEN_NOT_FOUND);
    }
    req.acl = tokenless(need) ? DENY_ALL : resolved.acl;
    if (allowed(resolved.acl, need, isClusterAgent(req), requestNamespace(req, door.lookups))) return undefined;
    if (face === "consul") return consulRefusal(CONSUL_DENIED);
    throw new RucheError(ErrorCode.Forbidden, NOMAD_DENIED);
  };
}
