import { createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import type { IdentityClaims } from "../structs/index.js";

/** The one algorithm the servers sign with and the only one a token may name (never `none`, never HMAC). */
export const JWT_ALGORITHM = "ES256";

/** Why a token was refused: each one a value, not an exception. */
export type JwtRefusal = "malformed" | "algorithm" | "unknown-key" | "signature" | "expired" | "not-yet-valid";

export type Verified = { ok: true; kid: string; claims: IdentityClaims } | { ok: false; reason: JwtRefusal };

/** The signing half of a key: its `kid` and its private key. */
export interface Signer {
  kid: string;
  privateKey: KeyObject;
}

/** Clock skew allowed on `nbf` and `iat` between the server that signed and the one that checks. */
const SKEW_S = 60;

const b64url = (b: Buffer | string): string => Buffer.from(b).toString("base64url");

/** A compact JWS of `claims`, ES256 over P-256 (JOSE's raw r‖s signature), `kid` in the header. */
export function signJwt(claims: IdentityClaims, signer: Signer): string {
  const header = b64url(JSON.stringify({ alg: JWT_ALGORITHM, kid: signer.kid, typ: "JWT" }));
  const payload = b64url(JSON.stringify(claims));
  const input = `${header}.${payload}`;
  const sig = sign("sha256", Buffer.from(input), { key: signer.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${b64url(sig)}`;
}

/** Whether a string has the shape of a compact JWS (three base64url parts, the first a JSON header): a token that is not is an ACL token's secret. */
export function looksLikeJwt(token: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/**
 * Checks a token the servers signed: its header names ES256 (anything else, `none` above all,
 * is refused before any key is looked at) and a key `keyOf` knows, its signature holds under
 * that key, and at `nowMs` it is past `nbf` and before `exp` (no `exp`: it does not expire).
 * Pure but for the signature check.
 */
export function verifyJwt(token: string, keyOf: (kid: string) => KeyObject | undefined, nowMs: number): Verified {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, reason: "malformed" };
  const [h, p, s] = parts as [string, string, string];
  const header = json(h);
  if (header === undefined) return { ok: false, reason: "malformed" };
  if (header.alg !== JWT_ALGORITHM) return { ok: false, reason: "algorithm" };
  if (typeof header.kid !== "string" || header.kid === "") return { ok: false, reason: "unknown-key" };
  const key = keyOf(header.kid);
  if (key === undefined) return { ok: false, reason: "unknown-key" };
  const sig = Buffer.from(s, "base64url");
  if (sig.length !== 64) return { ok: false, reason: "signature" };
  let good: boolean;
  try {
    good = verify("sha256", Buffer.from(`${h}.${p}`), { key, dsaEncoding: "ieee-p1363" }, sig);
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: "signature" };
  const claims = json(p);
  if (claims === undefined || !isClaims(claims)) return { ok: false, reason: "malformed" };
  const now = Math.floor(nowMs / 1000);
  if (claims.exp !== undefined && claims.exp <= now) return { ok: false, reason: "expired" };
  if (claims.nbf > now + SKEW_S) return { ok: false, reason: "not-yet-valid" };
  return { ok: true, kid: header.kid, claims };
}

/** A public key from its JWK (`kty: EC`, `crv: P-256`). */
export function publicKeyFromJwk(jwk: { kty: "EC"; crv: "P-256"; x: string; y: string }): KeyObject {
  return createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: "jwk" });
}

function json(part: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isClaims(c: Record<string, unknown>): c is Record<string, unknown> & IdentityClaims {
  const str = (k: string): boolean => typeof c[k] === "string";
  const num = (k: string): boolean => typeof c[k] === "number" && Number.isFinite(c[k]);
  return (
    str("nomad_namespace") &&
    str("nomad_job_id") &&
    str("nomad_allocation_id") &&
    str("nomad_task") &&
    str("sub") &&
    str("jti") &&
    (typeof c.aud === "string" || (Array.isArray(c.aud) && c.aud.every((a) => typeof a === "string"))) &&
    num("iat") &&
    num("nbf") &&
    (c.exp === undefined || num("exp"))
  );
}
