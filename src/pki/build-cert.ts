import { randomBytes } from "node:crypto";
import { ipBytes as parseIpBytes } from "../structs/index.js";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { engine, HASH, subtle, type CryptoKey } from "./engine.js";

/** OIDs this room writes. */
export const OID = {
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** A distinguished name as Ruche writes them: a CN, and optionally an O and an OU. */
export interface Name {
  CN: string;
  O?: string;
  OU?: string;
}

/** Subject alternative names. */
export interface Sans {
  dns?: readonly string[];
  ips?: readonly string[];
  uris?: readonly string[];
}

/** What a certificate says; the issuer's key signs it. */
export interface CertSpec {
  /** The subject: a name, or one as a certificate has it (a cross-signed CA keeps its own). */
  subject: Name | pkijs.RelativeDistinguishedNames;
  /** The issuer's subject, as its certificate has it (a CA's own name when it signs itself). */
  issuer: Name | pkijs.RelativeDistinguishedNames;
  /** The subject's public key, as a key or as the SubjectPublicKeyInfo of a CSR. */
  publicKey: CryptoKey | pkijs.PublicKeyInfo;
  notBefore: Date;
  notAfter: Date;
  /** A CA certificate (basicConstraints CA, keyUsage certSign) or a leaf (digitalSignature, the EKUs). */
  ca: boolean;
  sans?: Sans;
  /** A leaf's extended key usages (OIDs). */
  eku?: readonly string[];
  /** The issuer's public key's identifier (its SubjectKeyIdentifier), for the AuthorityKeyIdentifier. */
  issuerKeyId: ArrayBuffer;
  signer: CryptoKey;
  /** A serial number (positive, big-endian bytes) instead of a random one: a CA every server derives alike. */
  serial?: Uint8Array;
  /**
   * Signs the TBSCertificate's DER, returning an ECDSA-Sig-Value (DER) — a deterministic
   * signature, so that every server deriving one CA writes the same bytes. Absent: `signer`
   * signs through WebCrypto (a random nonce).
   */
  sign?: (tbs: Uint8Array) => Uint8Array;
}

/**
 * A distinguished name, each attribute in its own RDN (O, OU, CN, in that order). pkijs puts
 * every attribute of a name in one multi-valued RDN when it builds one, so the name is
 * encoded here and parsed back, which keeps its encoding.
 */
function rdn(name: Name): pkijs.RelativeDistinguishedNames {
  const sets: asn1js.Set[] = [];
  const add = (type: string, value: string | undefined): void => {
    if (value !== undefined) sets.push(new asn1js.Set({ value: [new pkijs.AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) }).toSchema()] }));
  };
  add(OID.organization, name.O);
  add(OID.organizationalUnit, name.OU);
  add(OID.commonName, name.CN);
  return pkijs.RelativeDistinguishedNames.fromBER(new asn1js.Sequence({ value: sets }).toBER(false));
}

/** UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280, 4.1.2.5). */
function time(d: Date): pkijs.Time {
  return new pkijs.Time({ type: d.getUTCFullYear() >= 2050 ? pkijs.TimeType.GeneralizedTime : pkijs.TimeType.UTCTime, value: d });
}

/** A positive 127-bit serial number, minimally encoded; `given` (positive, its top bit clear) as it is. */
function serial(given?: Uint8Array): asn1js.Integer {
  if (given !== undefined) return new asn1js.Integer({ valueHex: given.buffer.slice(given.byteOffset, given.byteOffset + given.length) as ArrayBuffer });
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x40;
  return new asn1js.Integer({ valueHex: b.buffer.slice(b.byteOffset, b.byteOffset + b.length) });
}

/** IPv4 or IPv6 text as the 4 or 16 bytes of an iPAddress SAN. */
export function ipBytes(ip: string): Uint8Array {
  const bytes = parseIpBytes(ip);
  if (bytes === null) throw new Error(`not an IP address: ${ip}`);
  return bytes;
}

/** The SubjectKeyIdentifier of a public key: SHA-1 of its subjectPublicKey bits (RFC 5280, 4.2.1.2, method 1). */
export async function keyId(spki: pkijs.PublicKeyInfo): Promise<ArrayBuffer> {
  return subtle.digest("SHA-1", spki.subjectPublicKey.valueBlock.valueHexView);
}

function extension(extnID: string, critical: boolean, value: { toBER(sizeOnly?: boolean): ArrayBuffer }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

/** A key usage BIT STRING: digitalSignature, and for a CA keyCertSign and cRLSign. */
function keyUsage(ca: boolean): asn1js.BitString {
  // Bit 0 (digitalSignature) is 0x80 of the first byte; keyCertSign (5) 0x04; cRLSign (6) 0x02.
  return ca ? new asn1js.BitString({ valueHex: Uint8Array.from([0x86]).buffer, unusedBits: 1 }) : new asn1js.BitString({ valueHex: Uint8Array.from([0x80]).buffer, unusedBits: 7 });
}

/** Builds and signs a certificate; returns its DER. */
export async function buildCertificate(spec: CertSpec): Promise<ArrayBuffer> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = serial(spec.serial);
  cert.issuer = spec.issuer instanceof pkijs.RelativeDistinguishedNames ? spec.issuer : rdn(spec.issuer);
  cert.subject = spec.subject instanceof pkijs.RelativeDistinguishedNames ? spec.subject : rdn(spec.subject);
  cert.notBefore = time(spec.notBefore);
  cert.notAfter = time(spec.notAfter);
  if (spec.publicKey instanceof pkijs.PublicKeyInfo) cert.subjectPublicKeyInfo = spec.publicKey;
  else await cert.subjectPublicKeyInfo.importKey(spec.publicKey, engine);

  const exts: pkijs.Extension[] = [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints(spec.ca ? { cA: true } : {}).toSchema()),
    extension(OID.keyUsage, true, keyUsage(spec.ca)),
    extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: await keyId(cert.subjectPublicKeyInfo) })),
    extension(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: spec.issuerKeyId }) }).toSchema()),
  ];
  if (spec.eku !== undefined && spec.eku.length > 0) exts.push(extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [...spec.eku] }).toSchema()));
  const names: pkijs.GeneralName[] = [
    ...(spec.sans?.dns ?? []).map((value) => new pkijs.GeneralName({ type: 2, value })),
    ...(spec.sans?.ips ?? []).map((ip) => new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(ip).buffer as ArrayBuffer }) })),
    ...(spec.sans?.uris ?? []).map((value) => new pkijs.GeneralName({ type: 6, value })),
  ];
  if (names.length > 0) exts.push(extension(OID.subjectAltName, false, new pkijs.AltName({ altNames: names }).toSchema()));
  cert.extensions = exts;

  if (spec.sign === undefined) {
    await cert.sign(spec.signer, HASH, engine);
  } else {
    // As pkijs's Certificate.sign, the signature itself made by `spec.sign`.
    const params = await engine.getSignatureParameters(spec.signer, HASH);
    cert.signature = params.signatureAlgorithm;
    cert.signatureAlgorithm = params.signatureAlgorithm;
    cert.tbsView = new Uint8Array(cert.encodeTBS().toBER(false));
    const sig = spec.sign(cert.tbsView);
    cert.signatureValue = new asn1js.BitString({ valueHex: sig.buffer.slice(sig.byteOffset, sig.byteOffset + sig.length) as ArrayBuffer });
  }
  return cert.toSchema(true).toBER(false);
}
