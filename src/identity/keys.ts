import { createPrivateKey, generateKeyPairSync, randomUUID, type KeyObject } from "node:crypto";
import type { SigningKey } from "../structs/index.js";
import { publicKeyFromJwk, type Signer } from "./jwt.js";

/** A new signing key (ECDSA P-256) as the state keeps it, its ID a random UUID. */
export function newSigningKey(nowMs: number): Omit<SigningKey, "CreateIndex" | "ModifyIndex"> {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string" || typeof jwk.y !== "string") throw new Error("a P-256 public key without x and y");
  return {
    ID: randomUUID(),
    Algorithm: "ES256",
    PublicJwk: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y },
    PrivateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    CreateTime: nowMs,
  };
}

/** The public keys of the state's signing keys, by kid, each parsed once per key. */
export class KeyCache {
  private readonly publics = new Map<string, { row: SigningKey; key: KeyObject }>();
  private signerOf: { row: SigningKey; signer: Signer } | undefined;

  /** `kid`'s public key among `rows`, or undefined. */
  publicKey(rows: readonly SigningKey[], kid: string): KeyObject | undefined {
    const row = rows.find((r) => r.ID === kid);
    if (row === undefined) return undefined;
    const hit = this.publics.get(kid);
    if (hit?.row === row) return hit.key;
    const key = publicKeyFromJwk(row.PublicJwk);
    this.publics.set(kid, { row, key });
    return key;
  }

  /** What signs with `row`. */
  signer(row: SigningKey): Signer {
    if (this.signerOf?.row === row) return this.signerOf.signer;
    const signer = { kid: row.ID, privateKey: createPrivateKey(row.PrivateKeyPem) };
    this.signerOf = { row, signer };
    return signer;
  }
}

/** The JSON Web Key Set of the servers' public keys (`/.well-known/jwks.json`): never a private part. */
export function jwks(rows: readonly SigningKey[]): { keys: { kty: "EC"; crv: "P-256"; x: string; y: string; kid: string; alg: "ES256"; use: "sig" }[] } {
  return { keys: rows.map((r) => ({ kty: r.PublicJwk.kty, crv: r.PublicJwk.crv, x: r.PublicJwk.x, y: r.PublicJwk.y, kid: r.ID, alg: r.Algorithm, use: "sig" })) };
}
