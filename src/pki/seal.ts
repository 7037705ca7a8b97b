import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ErrorCode, RucheError } from "../structs/index.js";

/** The cluster key's length: 32 bytes, AES-256 (what `nomad operator gossip keyring generate` prints, base64). */
export const CLUSTER_KEY_BYTES = 32;

const SEALED_PREFIX = "ruche-sealed-1:";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A new cluster key, base64 (`ruche operator keygen`). */
export function newClusterKey(): string {
  return randomBytes(CLUSTER_KEY_BYTES).toString("base64");
}

/**
 * A cluster key from its base64 text (`-encrypt`, `server { encrypt }`, `tls/cluster.key`):
 * 32 bytes, standard or URL-safe base64. Anything else is refused, naming `where` and what is
 * wrong, never the text itself.
 */
export function parseClusterKey(text: string, where: string): Buffer {
  const t = text.trim();
  if (t === "") throw new RucheError(ErrorCode.BadRequest, `${where} is empty: give a 32-byte key in base64 (\`ruche operator keygen\` prints one)`, { path: where });
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t) || t.replace(/=+$/, "").length % 4 === 1) {
    throw new RucheError(ErrorCode.BadRequest, `${where} is not base64: give a 32-byte key in base64 (\`ruche operator keygen\` prints one)`, { path: where });
  }
  const key = Buffer.from(t.replaceAll("-", "+").replaceAll("_", "/"), "base64");
  if (key.length !== CLUSTER_KEY_BYTES) {
    throw new RucheError(ErrorCode.BadRequest, `${where} is ${key.length} bytes; the cluster key is ${CLUSTER_KEY_BYTES} bytes (AES-256): \`ruche operator keygen\` prints one`, { path: where });
  }
  return key;
}

/**
 * `plain` encrypted with AES-256-GCM under `key` (a random 96-bit nonce each time), bound to
 * `context` (authenticated, not stored: the same context must be given to open it):
 * `ruche-sealed-1:<base64 of nonce, tag, ciphertext>`.
 */
export function seal(key: Buffer, plain: string, context: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(context, "utf8"));
  const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
}

/** What `unseal` says when it cannot open a sealed text. */
export type UnsealResult = { ok: true; plain: string } | { ok: false; reason: "malformed" | "wrong-key" };

/**
 * A sealed text opened with `key` and `context`: `wrong-key` when GCM's tag does not check
 * (another key, another context, or the text changed), `malformed` when it is not a sealed
 * text at all.
 */
export function unseal(key: Buffer, sealed: string, context: string): UnsealResult {
  if (!sealed.startsWith(SEALED_PREFIX)) return { ok: false, reason: "malformed" };
  const raw = Buffer.from(sealed.slice(SEALED_PREFIX.length), "base64");
  if (raw.length < IV_BYTES + TAG_BYTES) return { ok: false, reason: "malformed" };
  const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(context, "utf8"));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return { ok: true, plain: Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8") };
  } catch {
    return { ok: false, reason: "wrong-key" };
  }
}
