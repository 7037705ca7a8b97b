import { createPrivateKey, createSecretKey, createHmac, generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { mock, type IdentityClaims, type SigningKey, type WorkloadIdentity } from "../structs/index.js";
import { identityClaims } from "./claims.js";
import { signJwt, verifyJwt, looksLikeJwt } from "./jwt.js";
import { jwks, KeyCache, newSigningKey } from "./keys.js";

const NOW = Date.UTC(2026, 0, 1);
const row = (k: Omit<SigningKey, "CreateIndex" | "ModifyIndex">): SigningKey => ({ ...k, CreateIndex: 1, ModifyIndex: 1 });
const key = row(newSigningKey(NOW));
const other = row(newSigningKey(NOW));
const cache = new KeyCache();
const keyOf = (kid: string) => cache.publicKey([key], kid);

const DEFAULT: WorkloadIdentity = { Name: "default", Audience: ["nomadproject.io"], Env: true, File: true, ChangeMode: "", ChangeSignal: "", TTL: 0 };
const job = mock.job({ id: "web" });
const alloc = mock.alloc(job, mock.node(), 0);

function claims(o: Partial<IdentityClaims> = {}): IdentityClaims {
  return { ...identityClaims(alloc, "t", DEFAULT, NOW, "jti-1"), ...o };
}
const b64 = (x: unknown): string => Buffer.from(JSON.stringify(x)).toString("base64url");

describe("workload identity JWTs", () => {
  it("carries Nomad's claims and verifies under the key that signed it", () => {
    const token = signJwt(claims(), cache.signer(key));
    expect(looksLikeJwt(token)).toBe(true);
    const [h] = token.split(".");
    expect(JSON.parse(Buffer.from(h ?? "", "base64url").toString())).toEqual({ alg: "ES256", kid: key.ID, typ: "JWT" });
    const v = verifyJwt(token, keyOf, NOW);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.claims).toMatchObject({
      nomad_namespace: "default",
      nomad_job_id: "web",
      nomad_allocation_id: alloc.ID,
      nomad_task: "t",
      sub: `global:default:web:${alloc.TaskGroup}:t:default`,
      aud: "nomadproject.io",
      iat: NOW / 1000,
      nbf: NOW / 1000,
    });
    expect(v.claims.exp).toBeUndefined();
  });

  it("gives a named identity its audience and an exp from its ttl", () => {
    const c = identityClaims(alloc, "t", { ...DEFAULT, Name: "vault", Audience: ["vault.io", "other"], TTL: 3_600_000_000_000 }, NOW, "j");
    expect(c.aud).toEqual(["vault.io", "other"]);
    expect(c.exp).toBe(NOW / 1000 + 3600);
    expect(c.sub.endsWith(":t:vault")).toBe(true);
  });

  it("refuses a token whose payload was changed", () => {
    const [h, , s] = signJwt(claims(), cache.signer(key)).split(".");
    const forged = `${h ?? ""}.${b64(claims({ nomad_job_id: "admin" }))}.${s ?? ""}`;
    expect(verifyJwt(forged, keyOf, NOW)).toEqual({ ok: false, reason: "signature" });
  });

  it("refuses a token past its exp, and one not valid yet", () => {
    const token = signJwt(claims({ exp: NOW / 1000 + 10 }), cache.signer(key));
    expect(verifyJwt(token, keyOf, NOW).ok).toBe(true);
    expect(verifyJwt(token, keyOf, NOW + 10_000)).toEqual({ ok: false, reason: "expired" });
    const later = signJwt(claims({ nbf: NOW / 1000 + 3600 }), cache.signer(key));
    expect(verifyJwt(later, keyOf, NOW)).toEqual({ ok: false, reason: "not-yet-valid" });
  });

  it("refuses a token signed by a key the servers do not have, or naming a kid they do not know", () => {
    const byOther = signJwt(claims(), cache.signer(other));
    expect(verifyJwt(byOther, keyOf, NOW)).toEqual({ ok: false, reason: "unknown-key" });
    // The servers' kid on another key's signature.
    const [, p, s] = byOther.split(".");
    const relabelled = `${b64({ alg: "ES256", kid: key.ID, typ: "JWT" })}.${p ?? ""}.${s ?? ""}`;
    expect(verifyJwt(relabelled, keyOf, NOW)).toEqual({ ok: false, reason: "signature" });
  });

  it("refuses alg none, and HMAC keyed with the public key (the algorithm confusion)", () => {
    const none = `${b64({ alg: "none", kid: key.ID })}.${b64(claims())}.`;
    expect(verifyJwt(none, keyOf, NOW)).toEqual({ ok: false, reason: "algorithm" });
    const input = `${b64({ alg: "HS256", kid: key.ID })}.${b64(claims())}`;
    const pub = keyOf(key.ID)?.export({ format: "pem", type: "spki" }) ?? "";
    const mac = createHmac("sha256", createSecretKey(Buffer.from(pub))).update(input).digest("base64url");
    expect(verifyJwt(`${input}.${mac}`, keyOf, NOW)).toEqual({ ok: false, reason: "algorithm" });
  });

  it("refuses what is not a JWS of the claims it must carry", () => {
    for (const t of ["", "a.b", "a.b.c.d", "eyJ.eyJ.", `${b64({ alg: "ES256", kid: key.ID })}.bm90IGpzb24.AAAA`]) expect(verifyJwt(t, keyOf, NOW).ok).toBe(false);
    // Signed properly, but without the claims a workload identity has.
    const input = `${b64({ alg: "ES256", kid: key.ID })}.${b64({ sub: "x" })}`;
    const sig = sign("sha256", Buffer.from(input), { key: createPrivateKey(key.PrivateKeyPem), dsaEncoding: "ieee-p1363" }).toString("base64url");
    expect(verifyJwt(`${input}.${sig}`, keyOf, NOW)).toEqual({ ok: false, reason: "malformed" });
    expect(looksLikeJwt("3f1c2a4e-5b6d-4c7e-8f90-a1b2c3d4e5f6")).toBe(false);
  });

  it("publishes the public keys only, by kid", () => {
    const set = jwks([key, other]);
    expect(set.keys.map((k) => k.kid)).toEqual([key.ID, other.ID]);
    for (const k of set.keys) {
      expect(Object.keys(k).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
    }
    expect(JSON.stringify(set)).not.toContain("PRIVATE");
    // A key pair made elsewhere has nothing in common with the servers'.
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(publicKey.export({ format: "jwk" }).x).not.toBe(key.PublicJwk.x);
  });
});
