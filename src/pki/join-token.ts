import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { ErrorCode, RucheError } from "../structs/index.js";

/**
 * Join tokens, in Swarm's shape: `RUCHE-1-<digest>-<secret>` as `SWMTKN-1-<digest>-<secret>`.
 * The digest is the cluster CA's SHA-256 (of its DER) in base 36, 50 characters; the secret
 * 128 random bits in base 36, 25 characters. The digest lets a joining node check the CA a
 * server shows before it sends anything; the secret is what it trades for a certificate, and
 * the servers keep only its hash.
 */
export const JOIN_TOKEN_PREFIX = "RUCHE-1";

const DIGEST_LEN = 50;
const SECRET_LEN = 25;
const SECRET_BYTES = 16;

function toBase36(hex: string, width: number): string {
  return BigInt(`0x${hex}`).toString(36).padStart(width, "0");
}

function fromBase36(text: string): bigint {
  let n = 0n;
  for (const ch of text) n = n * 36n + BigInt(parseInt(ch, 36));
  return n;
}

/** A new token for the CA whose digest (hex) is `caDigestHex`: the token, and the hash the servers keep. */
export function newJoinToken(caDigestHex: string): { token: string; secretHash: string } {
  const secret = toBase36(randomBytes(SECRET_BYTES).toString("hex"), SECRET_LEN);
  return { token: `${JOIN_TOKEN_PREFIX}-${toBase36(caDigestHex, DIGEST_LEN)}-${secret}`, secretHash: hashJoinSecret(secret) };
}

/** A join token's parts: the CA digest (hex, 64 characters) and the secret. A text that is not a token is refused, saying so, and never echoed. */
export function parseJoinToken(token: unknown): { caDigest: string; secret: string } {
  const parts = typeof token === "string" ? token.trim().split("-") : [];
  const [prefix, version, digest = "", secret = ""] = parts;
  const bad = (why: string): never => {
    throw new RucheError(ErrorCode.BadRequest, `not a join token: ${why} (a join token looks like ${JOIN_TOKEN_PREFIX}-<50 characters>-<25 characters>, as \`ruche join-token create\` prints it)`, { path: "Token" });
  };
  if (parts.length !== 4 || `${prefix ?? ""}-${version ?? ""}` !== JOIN_TOKEN_PREFIX) return bad(`it does not start with ${JOIN_TOKEN_PREFIX}-`);
  if (!/^[0-9a-z]+$/.test(digest) || digest.length !== DIGEST_LEN) return bad("its CA digest is not 50 base-36 characters");
  if (!/^[0-9a-z]+$/.test(secret) || secret.length !== SECRET_LEN) return bad("its secret is not 25 base-36 characters");
  const n = fromBase36(digest);
  if (n >= 1n << 256n) return bad("its CA digest is over 256 bits");
  return { caDigest: n.toString(16).padStart(64, "0"), secret };
}

/** What the servers keep of a token: SHA-256 of its secret, hex. */
export function hashJoinSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Whether `secret` is the one whose hash is `secretHash`, in constant time. */
export function secretMatches(secretHash: string, secret: string): boolean {
  const a = Buffer.from(secretHash, "hex");
  const b = Buffer.from(hashJoinSecret(secret), "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
