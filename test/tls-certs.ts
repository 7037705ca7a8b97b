/**
 * Certificates for tests of TLS on the wire: a CA, and certificates it signs, made with pkijs
 * over Node's WebCrypto (ECDSA P-256, SHA-256), in PEM. A test fixture only: the agents' own
 * certificates come from src/pki.
 */
import { randomBytes, webcrypto } from "node:crypto";
import { isIPv4 } from "node:net";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

const engine = new pkijs.CryptoEngine({ name: "node", crypto: webcrypto });
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;

export interface TestCa {
  /** The CA's certificate, PEM. */
  cert: string;
  /** Signs a certificate for `cn` with these names (DNS names, IPv4 addresses, URIs with a scheme). */
  issue(cn: string, names: string[], o?: { notAfter?: Date }): Promise<TestCert>;
}

export interface TestCert {
  cert: string;
  key: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

function name(cn: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({ typesAndValues: [new pkijs.AttributeTypeAndValue({ type: "2.5.4.3", value: new asn1js.Utf8String({ value: cn }) })] });
}

function ext(extnID: string, critical: boolean, value: { toSchema(): asn1js.BaseBlock }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toSchema().toBER(false) });
}

function generalName(n: string): pkijs.GeneralName {
  if (isIPv4(n)) return new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: new Uint8Array(n.split(".").map(Number)).buffer }) });
  if (n.includes("://")) return new pkijs.GeneralName({ type: 6, value: n });
  return new pkijs.GeneralName({ type: 2, value: n });
}

async function makeCert(o: { subject: string; issuer: string; keys: webcrypto.CryptoKeyPair; signer: webcrypto.CryptoKey; ca: boolean; names: string[]; notAfter: Date }): Promise<string> {
  const c = new pkijs.Certificate();
  c.version = 2;
  const serial = randomBytes(16);
  // Positive and minimally encoded: a first byte of 0 before one under 0x80 is DER's "illegal padding", refused by OpenSSL.
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  c.serialNumber = new asn1js.Integer({ valueHex: new Uint8Array(serial).buffer });
  c.subject = name(o.subject);
  c.issuer = name(o.issuer);
  c.notBefore.value = new Date(Date.now() - 60_000);
  c.notAfter.value = o.notAfter;
  await c.subjectPublicKeyInfo.importKey(o.keys.publicKey, engine);
  // keyUsage: digitalSignature, and for a CA keyCertSign and cRLSign.
  const usage = new asn1js.BitString({ valueHex: new Uint8Array([o.ca ? 0x86 : 0x80]).buffer, unusedBits: o.ca ? 1 : 7 });
  c.extensions = [ext("2.5.29.19", true, new pkijs.BasicConstraints({ cA: o.ca })), new pkijs.Extension({ extnID: "2.5.29.15", critical: true, extnValue: usage.toBER(false) })];
  if (!o.ca) {
    c.extensions.push(ext("2.5.29.37", false, new pkijs.ExtKeyUsage({ keyPurposes: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"] })));
    if (o.names.length > 0) c.extensions.push(ext("2.5.29.17", false, new pkijs.AltName({ altNames: o.names.map(generalName) })));
  }
  await c.sign(o.signer, "SHA-256", engine);
  return pem("CERTIFICATE", c.toSchema(true).toBER(false));
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC, true, ["sign", "verify"]);
}

/** A new CA named `cn`, valid for a day. */
export async function testCa(cn = "Ruche test CA"): Promise<TestCa> {
  const keys = await keyPair();
  const day = new Date(Date.now() + 86_400_000);
  const cert = await makeCert({ subject: cn, issuer: cn, keys, signer: keys.privateKey, ca: true, names: [], notAfter: day });
  return {
    cert,
    issue: async (subject, names, io = {}) => {
      const leaf = await keyPair();
      const c = await makeCert({ subject, issuer: cn, keys: leaf, signer: keys.privateKey, ca: false, names, notAfter: io.notAfter ?? day });
      return { cert: c, key: pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", leaf.privateKey)) };
    },
  };
}
