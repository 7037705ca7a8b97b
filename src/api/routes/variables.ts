import { ALL_NAMESPACES, DEFAULT_NAMESPACE, ErrorCode, RucheError, VariableCap, type Acl } from "../../structs/index.js";
import { blockingParams, type Reply, type Request, type Router } from "../http.js";
import { queryNamespace } from "../namespace.js";
import { NEXT_TOKEN_HEADER, pageQuery, paginate, sortedBy, type Tokenizer } from "../paginate.js";
import type { VariableService } from "../variables.js";

/**
 * Nomad's variables (`command/agent/variable_endpoint.go`): `GET /v1/vars?prefix=&namespace=`
 * (the metadata of the variables the token may list; `namespace=*` every namespace; in pages
 * with `per_page` and `next_token`, as Nomad's), `GET
 * /v1/var/:path` (404 "variable not found"), `PUT /v1/var/:path[?cas=N]` (the variable
 * written; a check-and-set that fails is 409 with the variable in the way, its items left out
 * when the token may not read it), `DELETE /v1/var/:path[?cas=N]` (204). Reads take blocking
 * queries on the variables' index. The door lets any token through (`acl-routes-table.ts`):
 * each route checks the token's variable capability on the path (`Acl.variable`), as Nomad's
 * `AllowVariableOperation`, a workload identity's implicit access included.
 */
export function variableRoutes(r: Router, vars: VariableService): void {
  r.get("/v1/vars", async (req) => {
    const ns = queryNamespace(req);
    const prefix = req.query.get("prefix") ?? "";
    const index = await waitIndex(req, vars);
    const q = pageQuery(req.query);
    const mayList = vars.list(ns === ALL_NAMESPACES ? undefined : ns, prefix).filter((v) => req.acl.variable(v.Namespace, v.Path, VariableCap.List));
    const { page, nextToken } = paginate(sortedBy(mayList, PATH_TOKENS), q, PATH_TOKENS);
    return { body: page, index, headers: nextToken === "" ? {} : { [NEXT_TOKEN_HEADER]: nextToken } };
  });

  r.get("/v1/var/*path", async (req) => {
    const path = pathOf(req);
    const ns = oneNamespace(req);
    must(req.acl, ns, path, VariableCap.Read);
    const index = await waitIndex(req, vars);
    const v = vars.get(ns, path);
    if (v === undefined) throw new RucheError(ErrorCode.NotFound, "variable not found", { path: "path" });
    return { body: v, index };
  });

  r.put("/v1/var/*path", async (req): Promise<Reply> => {
    const path = pathOf(req);
    refuseLocks(req);
    const ns = bodyNamespace(req);
    must(req.acl, ns, path, VariableCap.Write);
    const items = itemsOf(req.body);
    const w = await vars.put(ns, path, items, casOf(req));
    if (w.ok) return { body: w.variable, index: w.index };
    return conflict(req.acl, w.conflict);
  });

  r.delete("/v1/var/*path", async (req): Promise<Reply> => {
    const path = pathOf(req);
    refuseLocks(req);
    const ns = oneNamespace(req);
    must(req.acl, ns, path, VariableCap.Destroy);
    const w = await vars.delete(ns, path, casOf(req));
    if (w.ok) return { status: 204, body: "", index: w.index, headers: { "content-type": "text/plain; charset=utf-8" } };
    return conflict(req.acl, w.conflict);
  });
}

/** Pages of the list as Nomad's (`WithNamespace`, `WithID`: the path): `namespace.path`. */
const PATH_TOKENS: Tokenizer<{ Namespace: string; Path: string }> = {
  token: (x) => `${x.Namespace}.${x.Path}`,
  compare: (x, t) => {
    const k = `${x.Namespace}.${x.Path}`;
    return k < t ? -1 : k > t ? 1 : 0;
  },
};

/** A check-and-set's 409: the variable in the way, its items only for a token that may read it (Nomad's redacted conflict); its ModifyIndex as the index. */
function conflict(acl: Acl, v: { Namespace: string; Path: string; ModifyIndex: number; Items: Record<string, string> | null }): Reply {
  const body = v.Items !== null && !acl.variable(v.Namespace, v.Path, VariableCap.Read) ? { ...v, Items: null } : v;
  return { status: 409, body, index: v.ModifyIndex };
}

async function waitIndex(req: Request, vars: VariableService): Promise<number> {
  const b = blockingParams(req.query);
  if (b === null) return vars.index();
  return Math.max(1, await vars.wait(b.index, b.waitMs, req.signal));
}

function pathOf(req: Request): string {
  const path = req.params.path ?? "";
  if (path === "") throw new RucheError(ErrorCode.BadRequest, "missing variable path", { path: "path" });
  return path;
}

/** The namespace of a read or delete: the query's; "*" names no one variable. */
function oneNamespace(req: Request): string {
  const ns = queryNamespace(req);
  if (ns === ALL_NAMESPACES) throw new RucheError(ErrorCode.BadRequest, 'can not target wildcard ("*") namespace', { path: "namespace" });
  return ns;
}

/** The namespace of a write, as Nomad's `Variables.Apply` takes it: the body's `Namespace`, else the query's, else "default". */
function bodyNamespace(req: Request): string {
  const q = req.query.get("namespace");
  const b = req.body as { Namespace?: unknown } | undefined;
  const ns = typeof b?.Namespace === "string" && b.Namespace !== "" ? b.Namespace : q !== null && q !== "" ? q : DEFAULT_NAMESPACE;
  if (ns === ALL_NAMESPACES) throw new RucheError(ErrorCode.BadRequest, 'can not target wildcard ("*") namespace', { path: "namespace" });
  return ns;
}

function must(acl: Acl, ns: string, path: string, cap: VariableCap): void {
  if (!acl.variable(ns, path, cap)) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
}

/** `?cas=N`: Nomad's check-and-set index (`parseCAS`). */
function casOf(req: Request): number | undefined {
  const q = req.query.get("cas");
  if (q === null || q === "") return undefined;
  if (!/^\d+$/.test(q) || !Number.isSafeInteger(Number(q))) throw new RucheError(ErrorCode.BadRequest, `can not parse cas: ${JSON.stringify(q)} is not a whole number`, { path: "cas" });
  return Number(q);
}

/** Nomad's variable locks (`?lock-acquire`, `?lock-renew`, `?lock-release`, a body's `Lock`): Ruche does not have them. */
function refuseLocks(req: Request): void {
  const op = ["lock-acquire", "lock-renew", "lock-release"].find((k) => req.query.has(k));
  const lock = (req.body as { Lock?: unknown } | undefined)?.Lock;
  if (op !== undefined || (lock !== undefined && lock !== null)) {
    throw new RucheError(ErrorCode.BadRequest, `variable locks are not supported by Ruche (${op ?? "Lock"}): use a Consul KV session lock (/v1/kv with ?acquire=) instead`, { path: op ?? "Lock" });
  }
}

/** The body's `Items`: a map of strings, not empty (Nomad: "variable missing required Items object"). */
function itemsOf(body: unknown): Record<string, string> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RucheError(ErrorCode.BadRequest, "the body must be a variable: a JSON object with its Items", { path: "" });
  const items = (body as { Items?: unknown }).Items;
  if (items === undefined || items === null || (typeof items === "object" && !Array.isArray(items) && Object.keys(items).length === 0)) {
    throw new RucheError(ErrorCode.BadRequest, "variable missing required Items object", { path: "Items" });
  }
  if (typeof items !== "object" || Array.isArray(items)) throw new RucheError(ErrorCode.BadRequest, "Items must be an object mapping names to strings", { path: "Items" });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(items)) {
    if (typeof v !== "string") throw new RucheError(ErrorCode.BadRequest, `Items.${k} must be a string, got ${JSON.stringify(v)}`, { path: `Items.${k}` });
    out[k] = v;
  }
  return out;
}
