import { AclResolver, type AclState } from "../api/index.js";
import type { Acl, Logger } from "../structs/index.js";

/** Consul's `acl { tokens { dns default } }`: the token the DNS interface answers with, and the one it falls back to. */
export interface DnsTokens {
  dns?: string;
  default?: string;
}

/** What the DNS interface answers with when ACLs are on: the token's ACL, re-read at each question, and its secret (for another datacenter's prepared query). */
export interface DnsAccess {
  acl: () => Acl;
  token?: string;
}

/**
 * The DNS token's ACL, as Consul picks it: `acl { tokens { dns } }`, else `default`, else the
 * anonymous token. Resolved at each question through the API's `AclResolver` (which caches
 * by the token's and its policies' ModifyIndex), so a changed policy takes effect on the next
 * question. A token that is not (or no longer) found, or expired, throws: answered SERVFAIL.
 * Without a token the startup log says once that DNS answers as the anonymous token.
 */
export function dnsAccess(state: AclState, tokens: DnsTokens | undefined, log: Logger): DnsAccess {
  const resolver = new AclResolver(state, Date.now, log);
  const secret = nonEmpty(tokens?.dns) ?? nonEmpty(tokens?.default);
  const which = nonEmpty(tokens?.dns) !== undefined ? "dns" : "default";
  if (secret === undefined) log.warn({}, "DNS answers with the anonymous token: no service is visible until a dns token is set (acl { tokens { dns } } or -acl-dns-token)");
  return {
    acl: () => {
      const r = resolver.resolve(secret);
      if (r.ok) return r.acl;
      throw new Error(`the DNS token (acl { tokens { ${which} } }) is ${r.reason === "expired" ? "expired" : "not found"}: DNS answers SERVFAIL until it is a valid token`);
    },
    ...(secret === undefined ? {} : { token: secret }),
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === "" ? undefined : s.trim();
}
