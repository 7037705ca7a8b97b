import { webcrypto } from "node:crypto";
import { CryptoEngine } from "pkijs";

/**
 * The one crypto engine every certificate operation here uses: pkijs over Node's WebCrypto,
 * passed to each call (pkijs's global engine is left alone). Keys are ECDSA P-256, signatures
 * ECDSA with SHA-256.
 */
export const engine = new CryptoEngine({ name: "node", crypto: webcrypto });

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Node's WebCrypto. */
export const subtle = webcrypto.subtle;

/** The key algorithm of every key Ruche makes. */
export const EC_KEY = { name: "ECDSA", namedCurve: "P-256" } as const;

/** The hash of every signature Ruche makes. */
export const HASH = "SHA-256";

/** A new ECDSA P-256 key pair; the private key exportable (to be written to disk as PKCS#8). */
export async function newKeyPair(): Promise<CryptoKeyPair> {
  return subtle.generateKey(EC_KEY, true, ["sign", "verify"]);
}
