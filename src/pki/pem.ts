import { ErrorCode, RucheError } from "../structs/index.js";

/** DER bytes as PEM with `label` ("CERTIFICATE", "PRIVATE KEY", "CERTIFICATE REQUEST"). */
export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every `label` block of a PEM text, as DER, in order. */
export function pemBlocks(pem: string, label: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(BLOCK)) {
    if (m[1] === label) out.push(Buffer.from((m[2] ?? "").replace(/\s+/g, ""), "base64"));
  }
  return out;
}

/** The one `label` block of a PEM text, as DER; `what` names it in the error when there is none. */
export function pemBlock(pem: string, label: string, what: string): Buffer {
  const [first] = pemBlocks(pem, label);
  if (first === undefined || first.length === 0) throw new RucheError(ErrorCode.BadRequest, `${what} is not PEM: no "${label}" block`);
  return first;
}

/** Each certificate of a PEM bundle as its own PEM text, in order. */
export function splitCerts(pem: string): string[] {
  return pemBlocks(pem, "CERTIFICATE").map((der) => toPem("CERTIFICATE", der));
}
