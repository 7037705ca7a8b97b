/**
 * A join token as the servers keep it (Swarm's join tokens): never the secret, only its
 * SHA-256. `ruche join-token create` prints the token once; the row says what it is for and
 * whether it still works. A revoked token's row stays, so a node that presents it is told it
 * was revoked, not that it is unknown.
 */
export interface JoinToken {
  /** The token's public id (a UUID): what `join-token list` shows and `revoke` names. */
  ID: string;
  /** What a node that joins with it becomes. */
  Role: "client" | "server";
  /** SHA-256 of the token's secret, hex. Never shown. */
  SecretHash: string;
  /** The SHA-256 (hex) of the CA the token pins: the CA of the servers when it was made. */
  CADigest: string;
  /** When it was made, ms since the epoch. */
  CreateTime: number;
  /** When it was revoked (or rotated away), ms since the epoch; 0 while it works. */
  RevokedTime: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A join token as lists show it: everything but the secret's hash. */
export type JoinTokenStub = Omit<JoinToken, "SecretHash">;

export function joinTokenStub(t: JoinToken): JoinTokenStub {
  const { SecretHash: _, ...stub } = t;
  return stub;
}
