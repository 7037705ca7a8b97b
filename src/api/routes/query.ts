import { QUERY_NOT_FOUND, type PreparedQueries, type QueryDefinition } from "../../catalog/index.js";
import { AclPrefixKind, ErrorCode, errorMessage, parseQueryBody, queryAclName, REDACTED_TOKEN, RucheError, type Acl, type PreparedQuery } from "../../structs/index.js";
import { CONSUL_DENIED } from "../acl-authorize.js";
import { requestToken } from "../acl-token.js";
import { blockingParams, type Reply, type Request, type Router } from "../http.js";
import { EXECUTE_REMOTE_PATH, type QueryExecutor } from "../prepared-query.js";
import { consulHeaders } from "./consul.js";

function text(status: number, body: string): Reply {
  return { status, body, headers: { "content-type": "text/plain; charset=utf-8" } };
}

/** The query as a token sees it: its Token redacted for any but a management token (Consul's filter). */
function shown(q: PreparedQuery, acl: Acl): PreparedQuery {
  return acl.management || q.Token === "" ? q : { ...q, Token: REDACTED_TOKEN };
}

/** Whether a token may see a query in a list or by explain: a management token every one, another the named ones it has `query` read on (Consul's `filterPreparedQueries`). */
function listed(q: PreparedQuery, acl: Acl): boolean {
  if (acl.management) return true;
  const name = queryAclName(q);
  return name !== undefined && acl.prefix(AclPrefixKind.Query, name, "read");
}

/** Whether a token may write a query by that ACL name (none: anyone may). */
function writable(q: Pick<PreparedQuery, "Name" | "Template">, acl: Acl): boolean {
  const name = queryAclName(q);
  return name === undefined || acl.prefix(AclPrefixKind.Query, name, "write");
}

/** `?limit=`: a whole number, 0 for every instance. */
function limitOf(req: Request): number {
  const raw = req.query.get("limit");
  if (raw === null || raw === "") return 0;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RucheError(ErrorCode.BadRequest, `Bad limit: "${raw}" is not a whole number >= 0`, { path: "limit" });
  return n;
}

/** A body read into a query definition, or Consul's refusal. */
function definition(body: unknown): { def: QueryDefinition & { ID: string } } | { refusal: Reply } {
  const parsed = parseQueryBody(body);
  return parsed.ok ? { def: parsed.query } : { refusal: text(400, parsed.error) };
}

/** A failed write as Consul's plain text: a query or session that is not there 404, a refused name or session 400. */
function writeFailed(err: unknown): Reply {
  if (err instanceof RucheError && (err.code === ErrorCode.BadRequest || err.code === ErrorCode.NotFound)) return text(err.code === ErrorCode.NotFound ? 404 : 400, err.message);
  throw err;
}

/**
 * Consul's prepared queries (`/v1/query`, Consul's `agent/prepared_query_endpoint.go`), on the
 * Consul-compatible listener and under the main API: create (`POST /v1/query` → `{"ID"}`),
 * list, read, update and delete by ID, execute and explain by ID or name; and the route
 * another datacenter's server sends a failing-over query to. ACLs as Consul's: a query with a
 * Name (or a template) is guarded by `query` rules on its name (write to change it, read to
 * see it), an unnamed one by its unguessable ID; an execution answers the instances the token
 * (the query's own Token when it has one) may read.
 */
export function queryRoutes(r: Router, queries: PreparedQueries, exec: QueryExecutor): void {
  r.put("/v1/query", async (req) => {
    if (req.method === "PUT") return text(405, "Method PUT not allowed on /v1/query: create a query with POST");
    const read = definition(req.body);
    if ("refusal" in read) return read.refusal;
    if (read.def.ID !== "") return text(400, "Invalid prepared query: ID must be empty when creating a new prepared query");
    if (!writable(read.def, req.acl)) return text(403, CONSUL_DENIED);
    try {
      return { body: { ID: await queries.create(read.def) } };
    } catch (err) {
      return writeFailed(err);
    }
  });
  r.get("/v1/query", async (req) => {
    const index = await waited(queries, req);
    return { body: queries.list().filter((q) => listed(q, req.acl)).map((q) => shown(q, req.acl)), index, headers: consulHeaders(index) };
  });
  r.get("/v1/query/:id", async (req) => {
    const index = await waited(queries, req);
    const q = queries.get(req.params.id ?? "");
    if (q === undefined) return text(404, QUERY_NOT_FOUND);
    // An unnamed query is seen by whoever has its ID; a named one with `query` read on its name.
    const name = queryAclName(q);
    if (name !== undefined && !req.acl.management && !req.acl.prefix(AclPrefixKind.Query, name, "read")) return text(403, CONSUL_DENIED);
    return { body: [shown(q, req.acl)], index, headers: consulHeaders(index) };
  });
  r.put("/v1/query/:id", async (req) => {
    const id = req.params.id ?? "";
    const existing = queries.get(id);
    if (existing === undefined) return text(404, `Cannot modify non-existent prepared query: '${id}'`);
    if (!writable(existing, req.acl)) return text(403, CONSUL_DENIED);
    const read = definition(req.body);
    if ("refusal" in read) return read.refusal;
    if (read.def.ID !== "" && read.def.ID !== id) return text(400, `Invalid prepared query: the body's ID "${read.def.ID}" is not the path's "${id}"`);
    if (!writable(read.def, req.acl)) return text(403, CONSUL_DENIED);
    try {
      await queries.update(id, read.def);
    } catch (err) {
      return writeFailed(err);
    }
    return { body: null };
  });
  r.delete("/v1/query/:id", async (req) => {
    const id = req.params.id ?? "";
    const existing = queries.get(id);
    if (existing === undefined) return text(404, `Cannot modify non-existent prepared query: '${id}'`);
    if (!writable(existing, req.acl)) return text(403, CONSUL_DENIED);
    try {
      await queries.delete(id);
    } catch (err) {
      return writeFailed(err);
    }
    return { body: null };
  });
  r.get("/v1/query/:id/execute", async (req) => {
    if (req.query.has("connect") && req.query.get("connect") !== "false") return text(400, "Ruche has no service mesh (Connect): ?connect is not offered");
    const near = req.query.get("near");
    const token = requestToken(req) ?? req.query.get("token") ?? undefined;
    const answer = await exec.execute(req.params.id ?? "", { acl: req.acl, limit: limitOf(req), ...(near === null ? {} : { near }), ...(token === undefined ? {} : { token }), ...sourceIp(req) });
    if (answer === undefined) return text(404, QUERY_NOT_FOUND);
    const index = queries.index();
    return { body: answer, index, headers: consulHeaders(index) };
  });
  r.get("/v1/query/:id/explain", (req) => {
    let q: PreparedQuery | undefined;
    try {
      q = queries.resolve(req.params.id ?? "");
    } catch (err) {
      return text(400, errorMessage(err));
    }
    if (q === undefined) return text(404, QUERY_NOT_FOUND);
    if (!listed(q, req.acl)) return text(403, CONSUL_DENIED);
    const index = queries.index();
    return { body: { Query: shown(q, req.acl) }, index, headers: consulHeaders(index) };
  });
  // Another datacenter's server, failing over: the query's definition comes in the body.
  r.put(EXECUTE_REMOTE_PATH, (req) => {
    try {
      return { body: exec.executeRemote(req.body, { acl: req.acl }) };
    } catch (err) {
      return text(400, `Invalid remote execution: ${errorMessage(err)}`);
    }
  });
}

/** A blocking read on the queries (`?index=&wait=`): the index to answer with. */
async function waited(queries: PreparedQueries, req: Request): Promise<number> {
  const b = blockingParams(req.query);
  return b === null ? queries.index() : queries.wait(b.index, b.waitMs, req.signal);
}

/** The client's address, for `near=_ip`. */
function sourceIp(req: Request): { sourceIp?: string } {
  const a = req.raw.socket.remoteAddress;
  return a === undefined ? {} : { sourceIp: a.replace(/^::ffff:/, "") };
}
