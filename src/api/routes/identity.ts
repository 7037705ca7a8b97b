import { jwks } from "../../identity/index.js";
import type { ApiContext } from "../context.js";
import type { Router } from "../http.js";

/**
 * `GET /.well-known/jwks.json` (Nomad's): the public keys that verify the workload
 * identities the servers sign, by `kid`, for third parties (Vault, Consul, an OIDC
 * provider) and tasks. Open, as in Nomad: it holds no secret.
 */
export function identityRoutes(r: Router, ctx: ApiContext): void {
  r.get("/.well-known/jwks.json", () => ({ body: jwks(ctx.store.signingKeys()), headers: { "cache-control": "max-age=60" } }));
}
