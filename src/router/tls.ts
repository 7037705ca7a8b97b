import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createSecureContext, type SecureContext } from "node:tls";
import { errorMessage } from "../structs/index.js";

export interface Certificates {
  /** The first certificate: served when the client names no host, or one no certificate covers. */
  cert: Buffer;
  key: Buffer;
  /** Picks the certificate for the name the client asks for (SNI): exact name, then wildcard. */
  SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  /** The names each certificate covers, in order. */
  names: string[][];
}

/** Loads certificates and keys from PEM files; the names they cover come from their subject alternative names (else their CN). */
export async function loadCertificates(files: readonly { certFile: string; keyFile: string }[]): Promise<Certificates> {
  if (files.length === 0) throw new Error("TLS needs at least one certificate");
  const loaded: { cert: Buffer; key: Buffer; names: string[]; ctx: SecureContext }[] = [];
  for (const f of files) {
    const [cert, key] = await Promise.all([readFile(f.certFile), readFile(f.keyFile)]);
    let names: string[];
    let ctx: SecureContext;
    try {
      const x = new X509Certificate(cert);
      names = (x.subjectAltName ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.startsWith("DNS:"))
        .map((s) => s.slice(4).toLowerCase());
      if (names.length === 0) {
        const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1];
        if (cn !== undefined) names = [cn.toLowerCase()];
      }
      ctx = createSecureContext({ cert, key });
    } catch (err) {
      throw new Error(`certificate ${f.certFile} with key ${f.keyFile}: ${errorMessage(err)}`, { cause: err });
    }
    loaded.push({ cert, key, names, ctx });
  }
  const first = loaded[0] as (typeof loaded)[number];
  const find = (name: string): SecureContext => {
    const n = name.toLowerCase();
    const wild = `*${n.slice(n.indexOf("."))}`;
    return (loaded.find((l) => l.names.includes(n)) ?? loaded.find((l) => n.includes(".") && l.names.includes(wild)) ?? first).ctx;
  };
  return {
    cert: first.cert,
    key: first.key,
    SNICallback: (servername, cb) => {
      cb(null, find(servername));
    },
    names: loaded.map((l) => l.names),
  };
}
