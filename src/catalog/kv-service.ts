import type { StateStore } from "../state/index.js";
import { ErrorCode, RucheError, type KVEntry, type Session } from "../structs/index.js";
import { applyTxn, consulEntry, KV_MAX_VALUE_BYTES, kvDelete, kvKeys, kvSet, TxnAborted, type KVEnv, type TxnError, type TxnKVOp } from "./kv.js";
import { destroySession, newSession, renewSession, sessionHealth, sessionHealthProblem, sessionLive, type LockDelays, type SessionRequest } from "./sessions.js";
import type { CatalogReader } from "./types.js";
import { waitPast } from "./blocking.js";

/** How many deleted keys' indexes are kept for blocking queries (`KVIndexes`); past it the oldest are forgotten into the floor. */
const TOMBSTONES_KEPT = 100_000;

/**
 * The index of each part of the KV, for blocking queries and `X-Consul-Index`: a key's is its
 * ModifyIndex, or the index it was deleted at; a prefix's the highest of its keys' and of
 * the keys deleted under it. Deletions are remembered in memory from the store's change
 * feed (Consul keeps tombstones in its state store); what is not remembered — deleted
 * before this server started, or forgotten past `TOMBSTONES_KEPT` — is stood in for by
 * the floor (the KV's index at start, raised to each forgotten deletion), so that the index
 * of a key that is not there never goes below one answered before by this server.
 */
class KVIndexes {
  private readonly deleted = new Map<string, number>();
  private floor: number;

  constructor(private readonly store: StateStore) {
    this.floor = Math.max(1, store.tableIndex("kv"));
    store.subscribe((ev) => {
      for (const c of ev.changes) {
        if (c.table !== "kv") continue;
        if (c.op === "put") this.deleted.delete(c.key);
        else {
          this.deleted.delete(c.key);
          this.deleted.set(c.key, ev.index);
        }
      }
      while (this.deleted.size > TOMBSTONES_KEPT) {
        const [oldest, at] = this.deleted.entries().next().value as [string, number];
        this.deleted.delete(oldest);
        this.floor = Math.max(this.floor, at);
      }
    });
  }

  key(key: string): number {
    return this.store.kvGet(key)?.ModifyIndex ?? this.deleted.get(key) ?? this.floor;
  }

  prefix(prefix: string): number {
    let max = 0;
    for (const e of this.store.kvList(prefix)) max = Math.max(max, e.ModifyIndex);
    for (const [k, at] of this.deleted) if (k.startsWith(prefix)) max = Math.max(max, at);
    return max === 0 ? this.floor : max;
  }
}

/** What a KV or session read waits on: the entries, or the sessions. */
export type KVTable = "kv" | "sessions";

/** How a write of a key is guarded, and the flags it stores. */
export interface KVPutOptions {
  flags?: number;
  /** Write only if the entry's ModifyIndex is this (0: only if absent). */
  cas?: number;
  /** Take the key's lock for this session. */
  acquire?: string;
  /** Free the key's lock this session holds. */
  release?: string;
}

/** A write's index, and whether it was made (false: a compare or a lock refused it; nothing was written). */
export interface KVWritten {
  index: number;
  ok: boolean;
}

/** A transaction: every operation's result rows (null where there is nothing to show), or the operations that refused it, nothing written. */
export type TxnOutcome = { ok: true; index: number; results: (KVEntry[] | null)[] } | { ok: false; index: number; errors: TxnError[] };

/**
 * The KV store and its sessions, behind every API that offers them (Consul's HTTP routes
 * today): reads, blocking waits, and writes through one store transaction each, with
 * Consul's rules (kv.ts, sessions.ts). A refused compare or lock is a value (`ok: false`);
 * what stops a request is a `RucheError` — a missing key name or conflicting flags
 * (RUCHE_BAD_REQUEST), a value over the limit (RUCHE_TOO_LARGE), a session that does not
 * exist or has ended (RUCHE_NOT_FOUND).
 */
export class KVService {
  constructor(
    private readonly store: StateStore,
    private readonly opts: {
      now(): number;
      /** The store's lock delays, shared with the session reaper. */
      delays: LockDelays;
      /** The node a session is on when its request names none: the agent's own node ("ruche" when none is given). */
      nodeName?: string | (() => string);
      /**
       * The catalog a session's node and checks are looked up in: a session on a node or
       * check it does not have, or whose check is critical, is refused. Without one (a KV
       * with no catalog), sessions are bound to nothing.
       */
      catalog?: CatalogReader;
      /** The names of the cluster's live servers, nodes whose `serfHealth` passes even when they run no client. */
      servers?: () => readonly string[];
    },
  ) {
    this.indexes = new KVIndexes(store);
  }

  private readonly indexes: KVIndexes;

  /** The index of a key: its ModifyIndex, or when it was deleted (`KVIndexes`); never 0. */
  keyIndex(key: string): number {
    return this.indexes.key(key);
  }

  /** The index of the keys under a prefix: the highest of theirs and of those deleted under it; never 0. */
  prefixIndex(prefix: string): number {
    return this.indexes.prefix(prefix);
  }

  /**
   * A blocking query on part of a table: resolves once `current()` (a key's index, a
   * prefix's, a node's sessions') passes `minIndex`, or when the wait ends. Writes elsewhere
   * in the table do not answer it.
   */
  async waitPast(table: KVTable, current: () => number, minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    return Math.max(1, await waitPast(current, () => this.store.tableIndex(table), minIndex, timeoutMs, (since, ms) => this.store.waitFor([table], since, ms, signal)));
  }

  /** The index of the entries or of the sessions: never 0. */
  index(table: KVTable): number {
    return Math.max(1, this.store.tableIndex(table));
  }

  /** A blocking query: resolves with the table's index once it passes `minIndex`, or when the wait ends. */
  async wait(table: KVTable, minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    return Math.max(1, await this.store.waitFor([table], minIndex, timeoutMs, signal));
  }

  // --- keys ----------------------------------------------------------------------------

  /** A key's entry as Consul shows it (without etcd's version and lease: `consulEntry`). */
  get(key: string): KVEntry | undefined {
    const e = this.store.kvGet(key);
    return e === undefined ? undefined : consulEntry(e);
  }

  /** Every entry whose key starts with `prefix`, sorted by key, as Consul shows them. */
  list(prefix: string): KVEntry[] {
    return this.store.kvList(prefix).map(consulEntry);
  }

  /** The keys under `prefix`, each cut after the first `separator` past the prefix, deduplicated. */
  keys(prefix: string, separator = ""): string[] {
    return kvKeys(this.store.kvList(prefix), prefix, separator);
  }

  /**
   * Writes a key; an empty value is stored as no value (null), as Consul does. With `cas`,
   * `acquire` or `release`, only when the entry and its lock allow it (`ok: false` when not).
   */
  async put(key: string, value: Uint8Array, o: KVPutOptions = {}): Promise<KVWritten> {
    if (key === "") throw new RucheError(ErrorCode.BadRequest, "Missing key name");
    if (value.length > KV_MAX_VALUE_BYTES) {
      throw new RucheError(ErrorCode.TooLarge, `Request body(${value.length} bytes) too large, max size: ${KV_MAX_VALUE_BYTES} bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.`);
    }
    if (o.acquire !== undefined && o.release !== undefined) throw new RucheError(ErrorCode.BadRequest, "Conflicting flags: acquire and release");
    const op = {
      key,
      value: value.length === 0 ? null : Buffer.from(value.buffer, value.byteOffset, value.length).toString("base64"),
      flags: o.flags ?? 0,
      ...optional("cas", o.cas),
      ...optional("acquire", o.acquire),
      ...optional("release", o.release),
    };
    const { index, result } = await this.store.write((tx) => {
      const r = kvSet(tx, op, this.env());
      // Consul answers an acquire by a session that is not (or no longer) there with an error, not `false`.
      if (!r.ok && r.invalidSession === true) throw new RucheError(ErrorCode.NotFound, r.reason, { path: "acquire" });
      return r;
    });
    return { index, ok: result.ok };
  }

  /** Deletes a key, or with `recurse` every key under the prefix; with `cas`, only at that ModifyIndex. A missing key counts as deleted. */
  async delete(key: string, o: { recurse?: boolean; cas?: number } = {}): Promise<KVWritten> {
    const recurse = o.recurse === true;
    if (key === "" && !recurse) throw new RucheError(ErrorCode.BadRequest, "Missing key name");
    const { index, result } = await this.store.write((tx) => kvDelete(tx, key, { recurse, ...optional("cas", o.cas) }));
    return { index, ok: result.ok };
  }

  /** Runs the operations in order at one index, all or nothing. */
  async txn(ops: readonly TxnKVOp[]): Promise<TxnOutcome> {
    try {
      const { index, result } = await this.store.write((tx) => applyTxn(tx, ops, this.env()));
      return { ok: true, index, results: result };
    } catch (err) {
      if (!(err instanceof TxnAborted)) throw err;
      return { ok: false, index: this.store.index, errors: err.errors };
    }
  }

  // --- sessions ------------------------------------------------------------------------

  /**
   * Creates a session; throws RUCHE_BAD_REQUEST for a TTL, lock-delay or behavior out of
   * bounds, RUCHE_CONFLICT in Consul's words for a node or check the catalog does not have
   * or a check that is critical (`Missing node registration`, `Check 'x' is in critical state`).
   */
  async sessionCreate(req: SessionRequest): Promise<{ index: number; session: Session }> {
    const own = this.opts.nodeName;
    const s = newSession(req, (typeof own === "function" ? own() : own) ?? "ruche", this.opts.now());
    const problem = this.healthProblem(s);
    if (problem !== null) throw new RucheError(ErrorCode.Conflict, problem, { path: problem.startsWith("Missing node") ? "Node" : "NodeChecks" });
    const { index } = await this.store.write((tx) => {
      tx.put("sessions", s);
    });
    return { index, session: this.store.session(s.ID) ?? s };
  }

  /** Ends a session, releasing or deleting the keys it holds; `destroyed` is false when there was none. */
  async sessionDestroy(id: string): Promise<{ index: number; destroyed: boolean }> {
    const { index, result } = await this.store.write((tx) => destroySession(tx, id, this.opts.now(), this.opts.delays));
    return { index, destroyed: result };
  }

  /** Renews a session's TTL; throws RUCHE_NOT_FOUND when it is gone or has expired. */
  async sessionRenew(id: string): Promise<{ index: number; session: Session }> {
    const { index, result } = await this.store.write((tx) => {
      const s = renewSession(tx, id, this.opts.now());
      if (s === undefined) throw new RucheError(ErrorCode.NotFound, `Session id '${id}' not found`, { path: "id" });
      return s;
    });
    return { index, session: result };
  }

  /** A live session, or undefined when it is gone or has expired. */
  sessionInfo(id: string): Session | undefined {
    const s = this.store.session(id);
    return sessionLive(s, this.opts.now()) ? s : undefined;
  }

  /** Every live session. */
  sessionList(): Session[] {
    const now = this.opts.now();
    return this.store.sessions().filter((s) => sessionLive(s, now));
  }

  /** Every live session on a node (`/v1/session/node/:node`). */
  sessionsOnNode(node: string): Session[] {
    return this.sessionList().filter((s) => s.Node === node);
  }

  /** Why the catalog refuses a session (its node, a check), or null; null without a catalog. */
  private healthProblem(s: Session): string | null {
    const { catalog } = this.opts;
    if (catalog === undefined) return null;
    return sessionHealthProblem(s, sessionHealth(catalog, this.opts.servers?.() ?? []));
  }

  private env(): KVEnv {
    return { nowMs: this.opts.now(), delays: this.opts.delays };
  }
}

/** `{ k: v }` when v is defined, else `{}`: for exactOptionalPropertyTypes. */
function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}
