import type { KVEntry } from "../structs/index.js";
import type { Txn } from "../state/index.js";
import { sessionLive, type LockDelays } from "./sessions.js";

/** Consul's default `kv_max_value_size`: 512 KiB. */
export const KV_MAX_VALUE_BYTES = 512 * 1024;

/** A KV write, as `PUT /v1/kv/:key` and the txn verbs ask for it. */
export interface KVSet {
  key: string;
  /** base64, or null for no value. */
  value: string | null;
  flags: number;
  /** Write only if the entry's ModifyIndex is this (0: only if absent). */
  cas?: number;
  acquire?: string;
  release?: string;
  /** The etcd lease the key is to live by; absent: none (a write through Consul's API detaches the key from its lease, as a put without one does in etcd). */
  lease?: number;
}

/** etcd's version of an entry: 1 for one written before versions were kept. */
export function kvVersion(e: KVEntry): number {
  return e.Version ?? 1;
}

/** An entry as Consul's API shows it: without etcd's version and lease. */
export function consulEntry(e: KVEntry): KVEntry {
  if (e.Version === undefined && e.Lease === undefined) return e;
  const { Version: _v, Lease: _l, ...rest } = e;
  return rest;
}

/**
 * An expected refusal of a KV write: a reason, not an exception. `invalidSession` marks an
 * acquire with a session that does not exist (or has ended), which Consul answers with an
 * error rather than `false`.
 */
export type KVResult = { ok: true } | { ok: false; reason: string; invalidSession?: true };

const refuse = (reason: string): KVResult => ({ ok: false, reason });

/** The shared context of the KV writes: the clock and the lock delays. */
export interface KVEnv {
  nowMs: number;
  delays: LockDelays;
}

/**
 * Writes a key inside a transaction with Consul's rules: `cas` compares ModifyIndex (0 =
 * only if absent); `acquire` takes the lock for a live session (LockIndex moves by one
 * unless that session already holds it) and is refused when another session holds it or
 * the key is in its lock-delay; `release` frees a lock the session holds. A plain write
 * keeps the lock as it is. Nothing is written when refused.
 */
export function kvSet(tx: Txn, op: KVSet, env: KVEnv): KVResult {
  const prev = tx.get("kv", op.key);
  if (op.cas !== undefined) {
    if (op.cas === 0 ? prev !== undefined : prev?.ModifyIndex !== op.cas) return refuse(`current modify index ${prev?.ModifyIndex ?? 0} is not ${op.cas}`);
  }
  let session = prev?.Session ?? "";
  let lockIndex = prev?.LockIndex ?? 0;
  if (op.acquire !== undefined) {
    if (!sessionLive(tx.get("sessions", op.acquire), env.nowMs)) return { ok: false, reason: `invalid session "${op.acquire}"`, invalidSession: true };
    if (session !== op.acquire) {
      if (session !== "") return refuse(`key is locked by session "${session}"`);
      if (env.delays.blocked(op.key, env.nowMs)) return refuse("key is in its lock-delay");
      lockIndex++;
      session = op.acquire;
    }
  } else if (op.release !== undefined) {
    if (session !== op.release) return refuse(`key is not locked by session "${op.release}"`);
    session = "";
  }
  const Version = prev === undefined ? 1 : kvVersion(prev) + 1;
  tx.put("kv", { Key: op.key, Value: op.value, Flags: op.flags, Session: session, LockIndex: lockIndex, CreateIndex: 0, ModifyIndex: 0, Version, ...(op.lease === undefined || op.lease === 0 ? {} : { Lease: op.lease }) });
  return { ok: true };
}

/**
 * Deletes a key (or, with `recurse`, every key under the prefix) inside a transaction.
 * With `cas` the key's ModifyIndex must match; a missing key counts as deleted.
 */
export function kvDelete(tx: Txn, key: string, opts: { recurse?: boolean; cas?: number }): KVResult {
  if (opts.recurse === true) {
    for (const e of tx.list("kv", key)) tx.delete("kv", e.Key);
    return { ok: true };
  }
  const prev = tx.get("kv", key);
  if (opts.cas !== undefined && prev !== undefined && prev.ModifyIndex !== opts.cas) return refuse(`current modify index ${prev.ModifyIndex} is not ${opts.cas}`);
  tx.delete("kv", key);
  return { ok: true };
}

/** `?keys&separator=/`: the keys under `prefix`, each cut after the first separator past the prefix, deduplicated. */
export function kvKeys(entries: readonly KVEntry[], prefix: string, separator: string): string[] {
  const out: string[] = [];
  for (const e of entries) {
    let k = e.Key;
    if (separator !== "") {
      const at = k.indexOf(separator, prefix.length);
      if (at !== -1) k = k.slice(0, at + separator.length);
    }
    if (out.at(-1) !== k) out.push(k);
  }
  return out;
}

// --- /v1/txn -------------------------------------------------------------------------

export const TXN_KV_VERBS = ["set", "get", "get-tree", "delete", "delete-tree", "cas", "delete-cas", "lock", "unlock", "check-index", "check-session", "check-not-exists"] as const;
export type TxnKVVerb = (typeof TXN_KV_VERBS)[number];

/** One KV operation of a transaction, checked. Value is base64. */
export interface TxnKVOp {
  Verb: TxnKVVerb;
  Key: string;
  Value: string | null;
  Flags: number;
  Index: number;
  Session: string;
}

export interface TxnError {
  OpIndex: number;
  What: string;
}

/** Thrown inside a transaction's mutate to drop all of it: the errors of its operations. */
export class TxnAborted extends Error {
  constructor(readonly errors: TxnError[]) {
    super("transaction rolled back");
  }
}

/**
 * Runs the operations in order inside one store transaction; the first refusals make it
 * throw TxnAborted, so nothing is written. Returns each operation's result rows (null for a
 * delete or a check that has nothing to show). Rows written here carry ModifyIndex =
 * `tx.index`, as they will once committed.
 */
export function applyTxn(tx: Txn, ops: readonly TxnKVOp[], env: KVEnv): (KVEntry[] | null)[] {
  const results: (KVEntry[] | null)[] = [];
  const errors: TxnError[] = [];
  ops.forEach((op, i) => {
    const fail = (what: string): void => {
      errors.push({ OpIndex: i, What: what });
    };
    const get = (): KVEntry | undefined => tx.get("kv", op.Key);
    const stored = (): KVEntry[] => {
      const e = get();
      return e === undefined ? [] : [consulEntry(e)];
    };
    const set = (extra: Partial<KVSet>): void => {
      const r = kvSet(tx, { key: op.Key, value: op.Value, flags: op.Flags, ...extra }, env);
      if (r.ok) results.push(stored());
      else fail(`failed to set key "${op.Key}": ${r.reason}`);
    };
    switch (op.Verb) {
      case "set":
        set({});
        break;
      case "cas":
        set({ cas: op.Index });
        break;
      case "lock":
        set({ acquire: op.Session });
        break;
      case "unlock":
        set({ release: op.Session });
        break;
      case "get": {
        const e = get();
        if (e === undefined) fail(`key "${op.Key}" doesn't exist`);
        else results.push([consulEntry(e)]);
        break;
      }
      case "get-tree":
        results.push(tx.list("kv", op.Key).map(consulEntry));
        break;
      case "delete":
        kvDelete(tx, op.Key, {});
        results.push(null);
        break;
      case "delete-tree":
        kvDelete(tx, op.Key, { recurse: true });
        results.push(null);
        break;
      case "delete-cas": {
        const e = get();
        if (e?.ModifyIndex !== op.Index) fail(`failed to delete key "${op.Key}", index is stale`);
        else {
          kvDelete(tx, op.Key, {});
          results.push(null);
        }
        break;
      }
      case "check-index": {
        const e = get();
        if (e === undefined) fail(`key "${op.Key}" doesn't exist`);
        else if (e.ModifyIndex !== op.Index) fail(`current modify index ${e.ModifyIndex} != ${op.Index}`);
        else results.push([consulEntry(e)]);
        break;
      }
      case "check-session": {
        const e = get();
        if (e === undefined) fail(`key "${op.Key}" doesn't exist`);
        else if (e.Session !== op.Session) fail(`current session ${e.Session} != ${op.Session}`);
        else results.push([consulEntry(e)]);
        break;
      }
      case "check-not-exists":
        if (get() !== undefined) fail(`key "${op.Key}" exists`);
        else results.push(null);
        break;
      default: {
        const never: never = op.Verb;
        fail(`unknown KV verb "${String(never)}"`);
      }
    }
  });
  if (errors.length > 0) throw new TxnAborted(errors);
  return results;
}
