import { ErrorCode, RucheError } from "../structs/index.js";

/** What a join token lets a node become: a client agent, or another server. */
export const NodeRole = { Client: "client", Server: "server" } as const;
export type NodeRole = (typeof NodeRole)[keyof typeof NodeRole];

export function isNodeRole(x: unknown): x is NodeRole {
  return x === NodeRole.Client || x === NodeRole.Server;
}

/**
 * Who a node certificate speaks for: its region, its role and its name. In the certificate
 * the name is the subject's CN, the role its OU, the region its O, and all three are in the
 * SAN URI `spiffe://ruche/<region>/<role>/<name>`, which is what a peer reads.
 */
export interface NodeIdentity {
  region: string;
  role: NodeRole;
  name: string;
}

/** A region's or a node's name as a certificate may carry it. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws a 400 naming `what` unless `value` is a valid name for a certificate. */
export function checkName(value: unknown, what: string): string {
  if (typeof value !== "string" || !NAME.test(value)) {
    throw new RucheError(ErrorCode.BadRequest, `${what} must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(value)}`, { path: what });
  }
  return value;
}

/** The SAN URI of a node's certificate. */
export function spiffeUri(id: NodeIdentity): string {
  return `spiffe://ruche/${id.region}/${id.role}/${id.name}`;
}

const SPIFFE = /^spiffe:\/\/ruche\/([^/]+)\/([^/]+)\/([^/]+)$/;

/** The identity a SAN URI names, or null when it is not one of Ruche's. */
export function parseSpiffeUri(uri: string): NodeIdentity | null {
  const m = SPIFFE.exec(uri);
  if (m === null) return null;
  const [, region = "", role, name = ""] = m;
  if (!isNodeRole(role) || !NAME.test(region) || !NAME.test(name)) return null;
  return { region, role, name };
}

/** The identity a certificate speaks for: the first of its SAN URIs that is one of Ruche's, or null. */
export function spiffeIdentity(uris: readonly string[]): NodeIdentity | null {
  for (const uri of uris) {
    const id = parseSpiffeUri(uri);
    if (id !== null) return id;
  }
  return null;
}

/**
 * The DNS name every server certificate of a region carries, and which agents check a server
 * against (Nomad's `server.<region>.nomad`): a node certificate never has it, so a client's
 * certificate cannot pass for a server's.
 */
export function serverName(region: string): string {
  return `server.${region}.ruche`;
}

/** Nomad's name for a region's servers, which server certificates also carry for Nomad's tools. */
export function nomadServerName(region: string): string {
  return `server.${region}.nomad`;
}
