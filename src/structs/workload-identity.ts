/**
 * Workload identities (Nomad's): a JWT the servers sign for each task of an allocation whose
 * `identity` block asks for it, which the task reads from its environment (`NOMAD_TOKEN`) or
 * its `secrets/` directory (`nomad_token`) and presents to the API as its ACL token.
 */

/** The default identity's name: the one that is an API token (`NOMAD_TOKEN`, `secrets/nomad_token`). */
export const DEFAULT_IDENTITY_NAME = "default";
/** The default identity's audience (Nomad's `WorkloadIdentityDefaultAud`): the API takes only identities for it. */
export const DEFAULT_IDENTITY_AUDIENCE = "nomadproject.io";
/** Nomad's rule for an identity's name (it names a file in `secrets/`). */
export const IDENTITY_NAME_PATTERN = /^[a-zA-Z0-9-_]{1,128}$/;

/** A task's `identity` block, in Nomad's JSON shape (`api.WorkloadIdentity`). */
export interface WorkloadIdentity {
  /** "default" (the API token), or another name for a third party that verifies the JWT with the servers' JWKS. */
  Name: string;
  /** The JWT's `aud`; the default identity's is always `nomadproject.io`. */
  Audience: string[];
  /** Put the JWT in the task's environment: `NOMAD_TOKEN` (default), `NOMAD_TOKEN_<name>` (others). */
  Env: boolean;
  /** Write it to the task's `secrets/`: `nomad_token` (default), `nomad_<name>.jwt` (others), mode 0600. */
  File: boolean;
  /** With `File`: where the JWT is written instead, relative to the task's directory (`local/nomad_token`); absent: in `secrets/`. */
  Filepath?: string;
  /** What the node does when the token changes: "" or "noop" (it rewrites the file only). */
  ChangeMode: string;
  ChangeSignal: string;
  /** Nanoseconds the JWT is valid for (its `exp`); 0: no expiry (the default identity's only choice, as in Nomad). */
  TTL: number;
}

/** The JWT's claims, as Nomad's `IdentityClaims` name them. */
export interface IdentityClaims {
  nomad_namespace: string;
  nomad_job_id: string;
  nomad_allocation_id: string;
  nomad_task: string;
  /** `<region>:<namespace>:<job>:<group>:<task>:<identity name>`. */
  sub: string;
  /** One audience as a string, several as a list (as go-jose writes Nomad's). */
  aud: string | string[];
  /** The signing key's ID is in the header; `jti` is the token's own random ID. */
  jti: string;
  /** Seconds since the epoch. */
  iat: number;
  nbf: number;
  exp?: number;
}

/**
 * The servers' signing key (Nomad's keyring, one key: no rotation yet). The private key
 * stays in the state: no route, log or event shows it; the public half is served at
 * `/.well-known/jwks.json`.
 */
export interface SigningKey {
  /** The key's ID, the JWT header's `kid`. */
  ID: string;
  /** "ES256" (ECDSA P-256, SHA-256). */
  Algorithm: "ES256";
  /** The public key as a JWK (`kty`, `crv`, `x`, `y`). */
  PublicJwk: { kty: "EC"; crv: "P-256"; x: string; y: string };
  /** The private key, PKCS #8 PEM. Never shown. */
  PrivateKeyPem: string;
  /** ms since the epoch. */
  CreateTime: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** The key of a task's signed identity in `Allocation.SignedIdentities`: the task's name for the default identity (Nomad's), `<task>/<name>` for another. */
export function signedIdentityKey(task: string, name: string): string {
  return name === DEFAULT_IDENTITY_NAME ? task : `${task}/${name}`;
}

/** The identities of a task, the default one first, that it asks to see (env or file). */
export function exposedIdentities(t: { Identity?: WorkloadIdentity | null; Identities?: WorkloadIdentity[] }): WorkloadIdentity[] {
  return [...(t.Identity == null ? [] : [t.Identity]), ...(t.Identities ?? [])].filter((w) => w.Env || w.File);
}

/** The environment variable an identity's JWT is put in. */
export function identityEnvName(name: string): string {
  return name === DEFAULT_IDENTITY_NAME ? "NOMAD_TOKEN" : `NOMAD_TOKEN_${name}`;
}

/** The file in the task's `secrets/` an identity's JWT is written to. */
export function identityFileName(name: string): string {
  return name === DEFAULT_IDENTITY_NAME ? "nomad_token" : `nomad_${name}.jwt`;
}

/** A token's audiences, whichever way `aud` was written. */
export function audiences(claims: Pick<IdentityClaims, "aud">): string[] {
  return typeof claims.aud === "string" ? [claims.aud] : claims.aud;
}
