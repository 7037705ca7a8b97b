import { createHash } from "node:crypto";
import { pemBlock } from "./pem.js";

/** The SHA-256 digest of a certificate's DER, in hex: what a join token pins. The first certificate of a PEM bundle. */
export function caDigest(caPem: string): string {
  return createHash("sha256").update(pemBlock(caPem, "CERTIFICATE", "the CA certificate")).digest("hex");
}
