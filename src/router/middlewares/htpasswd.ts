import { createHash, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";

/**
 * The password hashes of htpasswd lines (`name:hash`) that Traefik's basicAuth takes: bcrypt
 * (`$2y$`, `$2a$`, `$2b$`), Apache's MD5 (`$apr1$`), MD5-crypt (`$1$`) and SHA-1 (`{SHA}`).
 */
export function hashKind(hash: string): "bcrypt" | "md5" | "sha" | null {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return "bcrypt";
  if (/^\$(apr1|1)\$[^$]{0,8}\$[./0-9A-Za-z]{22}$/.test(hash)) return "md5";
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash)) return "sha";
  return null;
}

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function md5(...parts: (Buffer | string)[]): Buffer {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MD5-crypt (Poul-Henning Kamp's), with the magic `$1$` or Apache's `$apr1$`: the whole `$magic$salt$hash` string. */
export function md5Crypt(password: string, magic: "$1$" | "$apr1$", salt: string): string {
  const pw = Buffer.from(password);
  const s = salt.slice(0, 8);
  const h = createHash("md5");
  h.update(pw);
  h.update(magic);
  h.update(s);
  const alt = md5(pw, s, pw);
  for (let i = pw.length; i > 0; i -= 16) h.update(alt.subarray(0, Math.min(16, i)));
  for (let i = pw.length; i > 0; i >>= 1) h.update((i & 1) !== 0 ? Buffer.from([0]) : Buffer.from([pw[0] ?? 0]));
  let final = h.digest();
  for (let i = 0; i < 1000; i++) {
    const c = createHash("md5");
    c.update((i & 1) !== 0 ? pw : final);
    if (i % 3 !== 0) c.update(s);
    if (i % 7 !== 0) c.update(pw);
    c.update((i & 1) !== 0 ? final : pw);
    final = c.digest();
  }
  let out = "";
  const to64 = (v: number, n: number): void => {
    for (let k = 0; k < n; k++) {
      out += ITOA64.charAt(v & 0x3f);
      v >>= 6;
    }
  };
  const b = (k: number): number => final[k] as number;
  to64((b(0) << 16) | (b(6) << 8) | b(12), 4);
  to64((b(1) << 16) | (b(7) << 8) | b(13), 4);
  to64((b(2) << 16) | (b(8) << 8) | b(14), 4);
  to64((b(3) << 16) | (b(9) << 8) | b(15), 4);
  to64((b(4) << 16) | (b(10) << 8) | b(5), 4);
  to64(b(11), 2);
  return `${magic}${s}$${out}`;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether `password` is the one `hash` was made from (bcrypt's work done off the event loop's long turns). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  switch (hashKind(hash)) {
    case "bcrypt":
      // `$2y$` is PHP's name for the same algorithm as `$2b$`.
      return bcrypt.compare(password, hash.startsWith("$2y$") ? `$2b$${hash.slice(4)}` : hash);
    case "md5": {
      const magic = hash.startsWith("$apr1$") ? "$apr1$" : "$1$";
      const salt = hash.slice(magic.length, hash.indexOf("$", magic.length));
      return same(md5Crypt(password, magic, salt), hash);
    }
    case "sha":
      return same(`{SHA}${createHash("sha1").update(password).digest("base64")}`, hash);
    case null:
      return false;
  }
}
