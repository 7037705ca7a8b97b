import { applyTxn, KV_MAX_VALUE_BYTES, kvDelete, kvKeys, kvSet, TXN_KV_VERBS, TxnAborted, type TxnKVOp, type TxnKVVerb } from "../../catalog/index.js";
import { destroySession, lockDelaysOf, newSession, renewSession, sessionLive, sessionView, type SessionRequest } from "../../catalog/index.js";
import type { StateStore, TableName } from "../../state/index.js";
import { HttpError } from "../errors.js";
import { consulHeaders } from "./consul.js";
import { blockingParams, type Reply, type Request, type Router } from "../http.js";

export { SessionReaper } from "../../catalog/index.js";

/** Consul's limits on a transaction. */
const TXN_MAX_OPS = 128;

/**
 * Consul's KV store, sessions and transactions: `/v1/kv/*key`, `/v1/session/*`, `/v1/txn`.
 * Replies carry `X-Consul-Index`. Values travel base64 in JSON and as bytes in a PUT body
 * and a `?raw` read.
 */
export function kvRoutes(r: Router, store: StateStore, opts: { now(): number; datacenter: string }): void {
  const delays = lockDelaysOf(store);
  const env = (): { nowMs: number; delays: typeof delays } => ({ nowMs: opts.now(), delays });

  /** Waits as a blocking query asks, then reads; the index is never 0. */
  const blockingRead = async <T>(req: Request, tables: TableName[], read: () => T): Promise<{ body: T; index: number }> => {
    const b = blockingParams(req.query);
    const index = b === null ? Math.max(1, ...tables.map((t) => store.tableIndex(t))) : Math.max(1, await store.waitFor(tables, b.index, b.waitMs, req.signal));
    return { body: read(), index };
  };
  const reply = (body: unknown, index: number, status = 200): Reply => ({ status, body, index, headers: consulHeaders(index) });
  const notFound = (index: number): Reply => ({ status: 404, body: "", index, headers: { ...consulHeaders(index), "content-type": "text/plain; charset=utf-8" } });

  // --- KV ----------------------------------------------------------------------------

  r.get("/v1/kv/*key", async (req, res) => {
    const key = req.params.key ?? "";
    const q = req.query;
    if (q.has("keys")) {
      const sep = q.get("separator") ?? "";
      const { body, index } = await blockingRead(req, ["kv"], () => store.kvList(key));
      return body.length === 0 ? notFound(index) : reply(kvKeys(body, key, sep), index);
    }
    if (q.has("recurse")) {
      const { body, index } = await blockingRead(req, ["kv"], () => store.kvList(key));
      return body.length === 0 ? notFound(index) : reply(body, index);
    }
    const { body: e, index } = await blockingRead(req, ["kv"], () => store.kvGet(key));
    if (e === undefined) return notFound(index);
    if (q.has("raw")) {
      const bytes = e.Value === null ? Buffer.alloc(0) : Buffer.from(e.Value, "base64");
      res.writeHead(200, { ...consulHeaders(index), "content-type": "application/octet-stream", "content-length": bytes.length });
      res.end(bytes);
      return { streamed: true };
    }
    return reply([e], index);
  });

  r.put("/v1/kv/*key", async (req) => {
    const key = req.params.key ?? "";
    if (key === "") throw new HttpError(400, "RUCHE_BAD_REQUEST", "Missing key name");
    const bytes = req.rawBody ?? Buffer.alloc(0);
    if (bytes.length > KV_MAX_VALUE_BYTES) {
      throw new HttpError(
        413,
        "RUCHE_TOO_LARGE",
        `Request body(${bytes.length} bytes) too large, max size: ${KV_MAX_VALUE_BYTES} bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.`,
      );
    }
    const q = req.query;
    const acquire = q.get("acquire");
    const release = q.get("release");
    if (acquire !== null && release !== null) throw new HttpError(400, "RUCHE_BAD_REQUEST", "Conflicting flags: acquire and release");
    const op = {
      key,
      value: bytes.length === 0 ? null : bytes.toString("base64"),
      flags: uintParam(q, "flags") ?? 0,
      ...optional("cas", uintParam(q, "cas")),
      ...optional("acquire", acquire ?? undefined),
      ...optional("release", release ?? undefined),
    };
    const { index, result } = await store.write((tx) => kvSet(tx, op, env()));
    if (!result.ok && result.invalidSession === true) return { status: 500, body: result.reason, index, headers: { ...consulHeaders(index), "content-type": "text/plain; charset=utf-8" } };
    return reply(result.ok, index);
  });

  r.delete("/v1/kv/*key", async (req) => {
    const key = req.params.key ?? "";
    const recurse = req.query.has("recurse");
    if (key === "" && !recurse) throw new HttpError(400, "RUCHE_BAD_REQUEST", "Missing key name");
    const cas = uintParam(req.query, "cas");
    const { index, result } = await store.write((tx) => kvDelete(tx, key, { recurse, ...optional("cas", cas) }));
    return reply(result.ok, index);
  });

  // --- sessions ----------------------------------------------------------------------

  r.put("/v1/session/create", async (req) => {
    const b = req.body ?? {};
    if (typeof b !== "object" || Array.isArray(b)) throw new HttpError(400, "RUCHE_BAD_REQUEST", "the body must be a JSON object");
    const s = newSession(checkSessionRequest(b as Record<string, unknown>), "ruche", opts.now());
    const { index } = await store.write((tx) => {
      tx.put("sessions", s);
    });
    return reply({ ID: s.ID }, index);
  });

  r.put("/v1/session/destroy/:id", async (req) => {
    const id = req.params.id ?? "";
    const { index } = await store.write((tx) => destroySession(tx, id, opts.now(), delays));
    return reply(true, index);
  });

  r.put("/v1/session/renew/:id", async (req) => {
    const id = req.params.id ?? "";
    const { index, result } = await store.write((tx) => renewSession(tx, id, opts.now()));
    if (result === undefined) return { status: 404, body: `Session id '${id}' not found`, index, headers: { ...consulHeaders(index), "content-type": "text/plain; charset=utf-8" } };
    return reply([sessionView(result)], index);
  });

  r.get("/v1/session/info/:id", async (req) => {
    const id = req.params.id ?? "";
    const { body, index } = await blockingRead(req, ["sessions"], () => store.session(id));
    return reply(sessionLive(body, opts.now()) ? [sessionView(body)] : [], index);
  });

  r.get("/v1/session/list", async (req) => {
    const { body, index } = await blockingRead(req, ["sessions"], () => store.sessions());
    const now = opts.now();
    return reply(
      body.filter((s) => sessionLive(s, now)).map(sessionView),
      index,
    );
  });

  // --- transactions ------------------------------------------------------------------

  r.put("/v1/txn", async (req) => {
    const ops = checkTxn(req.body);
    try {
      const { index, result } = await store.write((tx) => applyTxn(tx, ops, env()));
      const reads = result.flatMap((rows) => (rows === null ? [] : rows.map((e) => ({ KV: e }))));
      return reply({ Results: reads.length === 0 ? null : reads, Errors: null }, index);
    } catch (err) {
      if (!(err instanceof TxnAborted)) throw err;
      return reply({ Results: null, Errors: err.errors }, store.index, 409);
    }
  });
}

/** `{ k: v }` when v is defined, else `{}`: for exactOptionalPropertyTypes. */
function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

function uintParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (v === "" || !Number.isSafeInteger(n) || n < 0) throw new HttpError(400, "RUCHE_BAD_REQUEST", `${name} must be a whole number >= 0, got "${v}"`, name);
  return n;
}

function checkSessionRequest(b: Record<string, unknown>): SessionRequest {
  const out: SessionRequest = {};
  for (const f of ["Name", "Node", "TTL", "Behavior"] as const) {
    const v = b[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") throw new HttpError(400, "RUCHE_BAD_REQUEST", `${f} must be a string`, f);
    out[f] = v;
  }
  const d = b.LockDelay;
  if (typeof d === "string" || typeof d === "number") out.LockDelay = d;
  else if (d !== undefined && d !== null) throw new HttpError(400, "RUCHE_BAD_REQUEST", "LockDelay must be a duration", "LockDelay");
  return out;
}

/** Checks a `/v1/txn` body: a list of `{ "KV": {...} }`. Only KV operations are supported. */
function checkTxn(body: unknown): TxnKVOp[] {
  const bad = (msg: string, path?: string): never => {
    throw new HttpError(400, "RUCHE_BAD_REQUEST", msg, path);
  };
  if (!Array.isArray(body)) return bad("the body must be a list of operations");
  if (body.length > TXN_MAX_OPS) bad(`Transaction contains too many operations (${body.length} > ${TXN_MAX_OPS})`);
  return (body as unknown[]).map((item, i) => {
    const kv = (item as { KV?: unknown } | null)?.KV as Record<string, unknown> | undefined;
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
