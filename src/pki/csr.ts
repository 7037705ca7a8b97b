import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { ErrorCode, errorMessage, RucheError } from "../structs/index.js";
import { OID } from "./build-cert.js";
import { engine, HASH, newKeyPair, subtle } from "./engine.js";
import type { NodeIdentity } from "./identity.js";
import { pemBlock, toPem } from "./pem.js";

/**
 * A new key pair for this node and a certificate request for it (PEM both). The key stays
 * with the caller, who writes it to its own disk: only the CSR travels. The request names
 * the identity the node asks for; the CA decides what the certificate says, from the join
 * token's role and the request's Name, never from the CSR's own fields.
 */
export async function createKeyAndCsr(id: NodeIdentity): Promise<{ keyPem: string; csrPem: string }> {
  const pair = await newKeyPair();
  const csr = new pkijs.CertificationRequest();
  csr.version = 0;
  csr.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: id.name }) }));
  csr.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({ type: OID.organizationalUnit, value: new asn1js.Utf8String({ value: id.role }) }));
  await csr.subjectPublicKeyInfo.importKey(pair.publicKey, engine);
  await csr.sign(pair.privateKey, HASH, engine);
  const keyPem = toPem("PRIVATE KEY", await subtle.exportKey("pkcs8", pair.privateKey));
  return { keyPem, csrPem: toPem("CERTIFICATE REQUEST", csr.toSchema().toBER(false)) };
}

/**
 * The public key of a certificate request, once its signature is checked (the requester
 * holds the key): a request that is not PEM, not a CSR, not ECDSA P-256 or not signed by its
 * own key is refused with a 400 that says which.
 */
export async function csrPublicKey(csrPem: unknown): Promise<pkijs.PublicKeyInfo> {
  if (typeof csrPem !== "string" || csrPem === "") throw new RucheError(ErrorCode.BadRequest, "malformed CSR: CSR must be a PEM certificate request", { path: "CSR" });
  let csr: pkijs.CertificationRequest;
  try {
    csr = pkijs.CertificationRequest.fromBER(pemBlock(csrPem, "CERTIFICATE REQUEST", "the CSR"));
  } catch (err) {
    throw new RucheError(ErrorCode.BadRequest, `malformed CSR: ${errorMessage(err)}`, { path: "CSR", cause: err });
  }
  const alg = csr.subjectPublicKeyInfo.algorithm;
  const curve = alg.algorithmParams instanceof asn1js.ObjectIdentifier ? alg.algorithmParams.valueBlock.toString() : "";
  if (alg.algorithmId !== "1.2.840.10045.2.1" || curve !== "1.2.840.10045.3.1.7") {
    throw new RucheError(ErrorCode.BadRequest, "malformed CSR: its key must be ECDSA P-256", { path: "CSR" });
  }
  let ok: boolean;
  try {
    ok = await csr.verify(engine);
  } catch (err) {
    throw new RucheError(ErrorCode.BadRequest, `malformed CSR: its signature cannot be checked: ${errorMessage(err)}`, { path: "CSR", cause: err });
  }
  if (!ok) throw new RucheError(ErrorCode.BadRequest, "malformed CSR: it is not signed by its own key", { path: "CSR" });
  return csr.subjectPublicKeyInfo;
}
