import { KV_MAX_VALUE_BYTES, sessionView, TXN_KV_VERBS, type KVService, type KVTable, type SessionRequest, type TxnKVOp, type TxnKVVerb } from "../../catalog/index.js";
import { AclPrefixKind, assertNever, ErrorCode, RucheError, type Acl } from "../../structs/index.js";
import { consulHeaders } from "./consul.js";
import { consulBody, consulBodyList, SESSION, TXN_OP } from "../consul-body.js";
import { blockingParams, type Reply, type Request, type Router } from "../http.js";

/** Consul's limits on a transaction. */
const TXN_MAX_OPS = 128;

/**
 * Consul's KV store, sessions and transactions: `/v1/kv/*key`, `/v1/session/*`, `/v1/txn`,
 * over the KV service (catalog/kv-service.ts). Only HTTP is here: the query, the body, the
 * blocking query, and Consul's wire format — replies carry `X-Consul-Index`; values travel
 * base64 in JSON and as bytes in a PUT body and a `?raw` read; some errors are Consul's
 * plain-text answers.
 */
export function kvRoutes(r: Router, kv: KVService): void {
  /**
   * Waits as a blocking query asks, then reads; the index is never 0. With `indexOf`, the
   * index is that of what the read answers (a key's, a prefix's): the wait ends only when it
   * moves, and it is the `X-Consul-Index` answered; without, the table's.
   */
  const blockingRead = async <T>(req: Request, table: KVTable, read: () => T, indexOf: () => number = () => kv.index(table)): Promise<{ body: T; index: number }> => {
    const b = blockingParams(req.query);
    const index = b === null ? Math.max(1, indexOf()) : await kv.waitPast(table, indexOf, b.index, b.waitMs, req.signal);
    return { body: read(), index };
  };
  const reply = (body: unknown, index: number, status = 200): Reply => ({ status, body, index, headers: consulHeaders(index) });
  /** Consul's plain-text answers: an empty 404 for a missing key, a reason for some errors. */
  const text = (status: number, body: string, index: number, err?: unknown): Reply => ({
    status,
    body,
    index,
    headers: { ...consulHeaders(index), "content-type": "text/plain; charset=utf-8" },
    ...(err === undefined ? {} : { err }),
  });
  const notFound = (err: unknown): err is RucheError => err instanceof RucheError && err.code === ErrorCode.NotFound;

  // --- KV ----------------------------------------------------------------------------

  r.get("/v1/kv/*key", async (req, res) => {
    const key = req.params.key ?? "";
    const q = req.query;
    // A tree or its keys leave out what the token may not read, as Consul's do without `enable_key_list_policy`.
    const readable = (k: string): boolean => req.acl.prefix(AclPrefixKind.Key, k, "read");
    if (q.has("keys")) {
      const sep = q.get("separator") ?? "";
      const { body, index } = await blockingRead(req, "kv", () => kv.keys(key, sep).filter(readable), () => kv.prefixIndex(key));
      return body.length === 0 ? text(404, "", index) : reply(body, index);
    }
    if (q.has("recurse")) {
      const { body, index } = await blockingRead(req, "kv", () => kv.list(key).filter((e) => readable(e.Key)), () => kv.prefixIndex(key));
      return body.length === 0 ? text(404, "", index) : reply(body.map(dirEntry), index);
    }
    // A missing key's 404 carries its index too (python-consul reads `X-Consul-Index` on it).
    const { body: e, index } = await blockingRead(req, "kv", () => kv.get(key), () => kv.keyIndex(key));
    if (e === undefined) return text(404, "", index);
    if (q.has("raw")) {
      const bytes = e.Value === null ? Buffer.alloc(0) : Buffer.from(e.Value, "base64");
      res.writeHead(200, { ...consulHeaders(index), "content-type": "application/octet-stream", "content-length": bytes.length });
      res.end(bytes);
      return { streamed: true };
    }
    return reply([dirEntry(e)], index);
  });

  r.put("/v1/kv/*key", async (req) => {
    const q = req.query;
    const o = { ...optional("flags", uintParam(q, "flags")), ...optional("cas", uintParam(q, "cas")), ...optional("acquire", q.get("acquire") ?? undefined), ...optional("release", q.get("release") ?? undefined) };
    try {
      const { index, ok } = await kv.put(req.params.key ?? "", req.rawBody ?? Buffer.alloc(0), o);
      return reply(ok, index);
    } catch (err) {
      // An acquire by a session that is not there: Consul answers 500 with the reason.
      if (notFound(err)) return text(500, err.message, kv.index("kv"), err);
      throw err;
    }
  });

  r.delete("/v1/kv/*key", async (req) => {
    // A tree goes only if the token may write every key of it (Consul's KeyWritePrefix); the prefix itself is checked at the door.
    if (req.query.has("recurse") && !kv.list(req.params.key ?? "").every((e) => req.acl.prefix(AclPrefixKind.Key, e.Key, "write"))) {
      return text(403, "Permission denied", kv.index("kv"));
    }
    const { index, ok } = await kv.delete(req.params.key ?? "", { recurse: req.query.has("recurse"), ...optional("cas", uintParam(req.query, "cas")) });
    return reply(ok, index);
  });

  // --- sessions ----------------------------------------------------------------------

  r.put("/v1/session/create", async (req) => {
    // Keys in any case, as Consul's decoder reads them (python-consul sends `name`, `ttl`, `behavior`, `lockdelay`).
    const b = consulBody(req.body, SESSION) ?? {};
    try {
      const asked = checkSessionRequest(b);
      // On the node of the agent asked: a create another server forwarded goes on that server's node (named as the server is).
      if (req.receivedBy !== undefined && (asked.Node ?? "") === "") asked.Node = req.receivedBy.server;
      const { index, session } = await kv.sessionCreate(asked);
      return reply({ ID: session.ID }, index);
    } catch (err) {
      // A node or check the catalog does not have, or a critical check: Consul's state store refuses it, answered 500 with its words.
      if (err instanceof RucheError && err.code === ErrorCode.Conflict) return text(500, err.message, kv.index("sessions"), err);
      throw err;
    }
  });

  r.put("/v1/session/destroy/:id", async (req) => {
    const { index } = await kv.sessionDestroy(req.params.id ?? "");
    return reply(true, index);
  });

  r.put("/v1/session/renew/:id", async (req) => {
    try {
      const { index, session } = await kv.sessionRenew(req.params.id ?? "");
      return reply([sessionView(session)], index);
    } catch (err) {
      if (notFound(err)) return text(404, err.message, kv.index("sessions"));
      throw err;
    }
  });

  r.get("/v1/session/info/:id", async (req) => {
    const id = req.params.id ?? "";
    const { body, index } = await blockingRead(req, "sessions", () => kv.sessionInfo(id));
    return reply(body === undefined ? [] : [sessionView(body)], index);
  });

  r.get("/v1/session/node/:node", async (req) => {
    const node = req.params.node ?? "";
    if (node === "") return text(400, "Missing node name", kv.index("sessions"));
    const { body, index } = await blockingRead(req, "sessions", () => kv.sessionsOnNode(node).filter((s) => req.acl.prefix(AclPrefixKind.Session, s.Node, "read")));
    return reply(body.map(sessionView), index);
  });

  r.get("/v1/session/list", async (req) => {
    const { body, index } = await blockingRead(req, "sessions", () => kv.sessionList().filter((s) => req.acl.prefix(AclPrefixKind.Session, s.Node, "read")));
    return reply(body.map(sessionView), index);
  });

  // --- transactions ------------------------------------------------------------------

  r.put("/v1/txn", async (req) => {
    const ops = checkTxn(req.body);
    // Each operation needs its key's read or write; one refused fails the whole transaction, as in Consul.
    const denied = ops.flatMap((op, i) => (txnAllowed(req.acl, op, (prefix) => kv.list(prefix).map((e) => e.Key)) ? [] : [{ OpIndex: i, What: "Permission denied" }]));
    if (denied.length > 0) return reply({ Results: null, Errors: denied }, kv.index("kv"), 409);
    const t = await kv.txn(ops);
    if (!t.ok) return reply({ Results: null, Errors: t.errors }, t.index, 409);
    // A tree read leaves out the keys the token may not read.
    const reads = t.results.flatMap((rows) => (rows === null ? [] : rows.filter((e) => req.acl.prefix(AclPrefixKind.Key, e.Key, "read")).map((e) => ({ KV: dirEntry(e) }))));
    return reply({ Results: reads.length === 0 ? null : reads, Errors: null }, t.index);
  });
}

/** Whether a transaction's operation is allowed: reads (a tree's rows are filtered) need read on the key, the rest write; a tree's delete, write on every key of it. */
function txnAllowed(acl: Acl, op: TxnKVOp, keysUnder: (prefix: string) => string[]): boolean {
  switch (op.Verb) {
    case "get-tree":
      return true;
    case "get":
    case "check-index":
    case "check-session":
    case "check-not-exists":
      return acl.prefix(AclPrefixKind.Key, op.Key, "read");
    case "delete-tree":
      return acl.prefix(AclPrefixKind.Key, op.Key, "write") && keysUnder(op.Key).every((k) => acl.prefix(AclPrefixKind.Key, k, "write"));
    case "set":
    case "delete":
    case "cas":
    case "delete-cas":
    case "lock":
    case "unlock":
      return acl.prefix(AclPrefixKind.Key, op.Key, "write");
    default:
      return assertNever(op.Verb);
  }
}

/** `{ k: v }` when v is defined, else `{}`: for exactOptionalPropertyTypes. */
function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

function uintParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (v === "" || !Number.isSafeInteger(n) || n < 0) throw new RucheError(ErrorCode.BadRequest, `${name} must be a whole number >= 0, got "${v}"`, { path: name });
  return n;
}

function checkSessionRequest(b: Record<string, unknown>): SessionRequest {
  const bad = (msg: string, path: string): never => {
    throw new RucheError(ErrorCode.BadRequest, `Request decode failed: ${msg}`, { path });
  };
  const out: SessionRequest = {};
  for (const f of ["Checks", "NodeChecks"] as const) {
    const v = b[f];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) return bad(`${f} must be a list of check IDs`, f);
    out[f] = v;
  }
  const sc = b.ServiceChecks;
  if (sc !== undefined && sc !== null) {
    if (!Array.isArray(sc)) return bad("ServiceChecks must be a list of {ID, Namespace}", "ServiceChecks");
    out.ServiceChecks = (sc as unknown[]).map((c, i) => {
      const o = (c ?? {}) as { ID?: unknown; Namespace?: unknown };
      if (typeof o.ID !== "string" || o.ID === "") return bad(`ServiceChecks[${i}].ID must be a check ID`, `ServiceChecks[${i}].ID`);
      if (o.Namespace !== undefined && o.Namespace !== "" && o.Namespace !== "default") return bad(`ServiceChecks[${i}].Namespace: namespaces are not supported (Consul Enterprise)`, `ServiceChecks[${i}].Namespace`);
      return { ID: o.ID };
    });
  }
  for (const f of ["Name", "Node", "TTL", "Behavior"] as const) {
    const v = b[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") throw new RucheError(ErrorCode.BadRequest, `${f} must be a string`, { path: f });
    out[f] = v;
  }
  const d = b.LockDelay;
  if (typeof d === "string" || typeof d === "number") out.LockDelay = d;
  else if (d !== undefined && d !== null) throw new RucheError(ErrorCode.BadRequest, "LockDelay must be a duration", { path: "LockDelay" });
  return out;
}

/** Checks a `/v1/txn` body: a list of `{ "KV": {...} }`, keys in any case. Only KV operations are supported. */
function checkTxn(raw: unknown): TxnKVOp[] {
  const bad = (msg: string, path?: string): never => {
    throw new RucheError(ErrorCode.BadRequest, msg, { path });
  };
  if (!Array.isArray(raw)) return bad("the body must be a list of operations");
  if (raw.length > TXN_MAX_OPS) bad(`Transaction contains too many operations (${raw.length} > ${TXN_MAX_OPS})`);
  const body = consulBodyList(raw, TXN_OP);
  return body.map((item, i) => {
    const kv = item?.KV as Record<string, unknown> | undefined;
    if (kv === undefined || typeof kv !== "object" || (kv as unknown) === null) return bad("only KV operations are supported", `[${i}].KV`);
    const verb = kv.Verb;
    if (typeof verb !== "string" || !(TXN_KV_VERBS as readonly string[]).includes(verb)) return bad(`unknown KV verb ${JSON.stringify(verb)}`, `[${i}].KV.Verb`);
    const key = kv.Key ?? "";
    if (typeof key !== "string") return bad("Key must be a string", `[${i}].KV.Key`);
    const value = kv.Value ?? null;
    if (value !== null && (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))) return bad("Value must be base64", `[${i}].KV.Value`);
    if (value !== null && Buffer.from(value, "base64").length > KV_MAX_VALUE_BYTES) return bad(`Value is over ${KV_MAX_VALUE_BYTES} bytes`, `[${i}].KV.Value`);
    const num = (f: string): number => {
      const n = kv[f] ?? 0;
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) return bad(`${f} must be a whole number >= 0`, `[${i}].KV.${f}`);
      return n;
    };
    const session = kv.Session ?? "";
    if (typeof session !== "string") return bad("Session must be a string", `[${i}].KV.Session`);
    if (key === "" && verb !== "get-tree" && verb !== "delete-tree") bad("Key must not be empty", `[${i}].KV.Key`);
    return { Verb: verb as TxnKVVerb, Key: key, Value: value, Flags: num("Flags"), Index: num("Index"), Session: session };
  });
}

/** An entry as Consul answers it (`structs.DirEntry`): `Session` only while a session holds the key (`json:",omitempty"`). */
function dirEntry<E extends { Session: string }>(e: E): E | Omit<E, "Session"> {
  if (e.Session !== "") return e;
  const { Session: _, ...rest } = e;
  return rest;
}
