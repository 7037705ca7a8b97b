import type { IncomingHttpHeaders } from "node:http";

/** The headers a request's ACL token may come in, in the order they are read. */
export const TOKEN_HEADERS = ["x-ruche-token", "x-nomad-token", "x-consul-token"] as const;

/**
 * The ACL token (its SecretID) a request presents: `X-Ruche-Token`, `X-Nomad-Token`,
 * `X-Consul-Token`, else `Authorization: Bearer <secret>` (Nomad's and Consul's); undefined
 * when there is none. An empty header is no token. Consul's `?token=` is not read here: the
 * routes that take it read it themselves.
 */
export function requestToken(req: { headers: IncomingHttpHeaders }): string | undefined {
  for (const h of TOKEN_HEADERS) {
    const v = req.headers[h];
    const text = (Array.isArray(v) ? v[0] : v)?.trim();
    if (text !== undefined && text !== "") return text;
  }
  const auth = req.headers.authorization?.trim();
  if (auth !== undefined) {
    const m = /^bearer\s+(\S+)$/i.exec(auth);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}
