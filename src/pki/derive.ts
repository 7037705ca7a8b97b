import { createECDH, createHash, createPrivateKey, hkdfSync } from "node:crypto";
import * as pkijs from "pkijs";
import { buildCertificate, keyId } from "./build-cert.js";
import { caFromPem, type Ca } from "./ca.js";
import { EC_KEY, engine, subtle } from "./engine.js";
import { toPem } from "./pem.js";

/** The order of P-256's base point: a private key is a scalar in [1, n). */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** A derived CA's validity: fixed, so that every server writes the same certificate (2025 to 2075). */
export const DERIVED_CA_NOT_BEFORE = new Date(Date.UTC(2025, 0, 1));
export const DERIVED_CA_NOT_AFTER = new Date(Date.UTC(2075, 0, 1));

function big(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

/** `base`^`exp` mod `m`. */
function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if ((e & 1n) === 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

/**
 * A P-256 scalar from HKDF-SHA256(`ikm`, `salt`, info): the first of `info`, `info 1`,
 * `info 2`, ... whose 32 bytes are neither 0 nor at least the curve's order.
 */
function scalar(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  for (let i = 0; ; i++) {
    const d = Buffer.from(hkdfSync("sha256", ikm, salt, i === 0 ? info : `${info} ${i}`, 32));
    const v = big(d);
    if (v > 0n && v < P256_N) return d;
  }
}

/** A DER INTEGER of a non-negative value. */
function derInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let b = Buffer.from(hex, "hex");
  if ((b[0] ?? 0) & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

/**
 * An ECDSA P-256 / SHA-256 signature of `message` by the private scalar `d`, as an
 * ECDSA-Sig-Value (DER), its nonce derived from the key and the message (HKDF, as RFC 6979
 * derives it from both): the same key signs the same bytes alike on every server.
 */
export function deterministicSign(d: Buffer, message: Uint8Array): Uint8Array {
  const h = createHash("sha256").update(message).digest();
  const e = big(h);
  const x = big(d);
  for (let i = 0; ; i++) {
    const kBytes = scalar(d, h, `ruche CA signature nonce ${i}`);
    const k = big(kBytes);
    const point = createECDH("prime256v1");
    point.setPrivateKey(kBytes);
    const r = big(point.getPublicKey().subarray(1, 33)) % P256_N;
    if (r === 0n) continue;
    const s = (modPow(k, P256_N - 2n, P256_N) * ((e + r * x) % P256_N)) % P256_N;
    if (s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

/** The private scalar of the cluster CA of `region` derived from the cluster key: HKDF-SHA256(key, info "ruche cluster CA <region>"). */
export function deriveCaScalar(clusterKey: Buffer, region: string): Buffer {
  return scalar(clusterKey, Buffer.alloc(0), `ruche cluster CA ${region}`);
}

/**
 * The cluster CA of `region` derived from the cluster key alone, the same on every server
 * given the key, before any of them talk (servers that run their own etcd members need it
 * before their etcd exists): its ECDSA P-256 key from `deriveCaScalar`, its certificate
 * (`O=<region>, CN=ruche-ca.<region>`, as `createCa`'s) with a serial taken from the public
 * key, a fixed validity and a deterministic signature, so that every server writes the same
 * bytes and a join token's digest (of the certificate's DER) holds on every one.
 */
export async function deriveCa(clusterKey: Buffer, region: string): Promise<Ca> {
  const d = deriveCaScalar(clusterKey, region);
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey();
  const jwk = { kty: "EC", crv: "P-256", x: pub.subarray(1, 33).toString("base64url"), y: pub.subarray(33, 65).toString("base64url") };
  const keyObject = createPrivateKey({ key: { ...jwk, d: d.toString("base64url") }, format: "jwk" });
  const keyDer = keyObject.export({ type: "pkcs8", format: "der" });
  const privateKey = await subtle.importKey("pkcs8", keyDer, EC_KEY, false, ["sign"]);
  const publicKey = await subtle.importKey("jwk", jwk, EC_KEY, true, ["verify"]);
  const spki = new pkijs.PublicKeyInfo();
  await spki.importKey(publicKey, engine);
  const name = `ruche-ca.${region}`;
  const serial = createHash("sha256").update("ruche cluster CA serial").update(pub).digest().subarray(0, 16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const der = await buildCertificate({
    subject: { CN: name, O: region },
    issuer: { CN: name, O: region },
    publicKey,
    notBefore: DERIVED_CA_NOT_BEFORE,
    notAfter: DERIVED_CA_NOT_AFTER,
    ca: true,
    issuerKeyId: await keyId(spki),
    signer: privateKey,
    serial,
    sign: (tbs) => deterministicSign(d, tbs),
  });
  return caFromPem(toPem("CERTIFICATE", der), toPem("PRIVATE KEY", keyDer));
}
