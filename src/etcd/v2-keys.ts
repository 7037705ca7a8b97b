import { posix } from "node:path";
import { kvDelete, kvSet, type KVEnv } from "../catalog/index.js";
import type { Txn } from "../state/index.js";
import type { KVEntry, KVExpiry } from "../structs/index.js";

/**
 * etcd's v2 keys API over Ruche's KV store: the mapping of v2's paths onto the store's keys,
 * the nodes (files and directories) as v2 shows them, and its writes inside one store
 * transaction. No I/O and no clock of its own: the HTTP face (`v2.ts`) passes both in.
 *
 * The mapping: a v2 key is a path; `/a/b` is the store's key `a/b` (no leading slash, as
 * Consul's keys have none: `etcdctl set /foo` is read by `consul kv get foo`). A directory
 * `/a` made with `dir=true` is the entry `a/` (as Consul's UI makes a folder); a directory
 * also exists, without an entry of its own, while any key is under it (`a/b/c` makes `/a` and
 * `/a/b` directories, as `consul kv put a/b/c` does in Consul's UI). The root `/` is the whole
 * store.
 */

// --- errors ------------------------------------------------------------------------------

/** etcd v2's error codes (`etcd/error`), with their messages and HTTP statuses. */
export const V2Code = {
  KeyNotFound: 100,
  TestFailed: 101,
  NotFile: 102,
  NotDir: 104,
  NodeExist: 105,
  RootROnly: 107,
  DirNotEmpty: 108,
  Unauthorized: 110,
  PrevValueRequired: 201,
  TTLNaN: 202,
  IndexNaN: 203,
  InvalidField: 209,
  InvalidForm: 210,
  RefreshValue: 211,
  RefreshTTLRequired: 212,
  RaftInternal: 300,
  EventIndexCleared: 401,
} as const;
export type V2Code = (typeof V2Code)[keyof typeof V2Code];

const MESSAGES: Record<V2Code, string> = {
  100: "Key not found",
  101: "Compare failed",
  102: "Not a file",
  104: "Not a directory",
  105: "Key already exists",
  107: "Root is read only",
  108: "Directory not empty",
  110: "The request requires user authentication",
  201: "PrevValue is Required in POST form",
  202: "The given TTL in POST form is not a number",
  203: "The given index in POST form is not a number",
  209: "Invalid field",
  210: "Invalid POST form",
  211: "Value provided on refresh",
  212: "A TTL must be provided on refresh",
  300: "Raft Internal Error",
  401: "The event in requested index is outdated and cleared",
};

/** etcd's `errorStatus`: the codes that are not a 400. */
const STATUS: Partial<Record<V2Code, number>> = { 100: 404, 101: 412, 102: 403, 105: 412, 108: 403, 110: 401, 300: 500 };

/** A refusal as etcd v2 answers it: `{ errorCode, message, cause, index }` with etcd's HTTP status. */
export class V2Error extends Error {
  constructor(
    readonly errorCode: V2Code,
    readonly v2Cause: string,
    /** The store's index when refused; 0 for a request refused before the store was read (etcd's form errors). */
    readonly index = 0,
  ) {
    super(`${errorCode}: ${MESSAGES[errorCode]} (${v2Cause})`);
  }

  get status(): number {
    return STATUS[this.errorCode] ?? 400;
  }

  body(): { errorCode: number; message: string; cause: string; index: number } {
    return { errorCode: this.errorCode, message: MESSAGES[this.errorCode], cause: this.v2Cause, index: this.index };
  }
}

// --- keys --------------------------------------------------------------------------------

/** A v2 key as etcd cleans it (`path.Clean("/" + key)`): one leading slash, none trailing, no `.`/`..`/`//`. */
export function cleanKey(raw: string): string {
  return posix.normalize(`/${raw}`).replace(/(.)\/+$/, "$1");
}

/** The store's key of a v2 file: `/a/b` → `a/b`. */
export function storeKey(v2Key: string): string {
  return v2Key.slice(1);
}

/** The store's prefix of everything under a v2 directory: `/a` → `a/`, `/` → "". */
export function dirPrefix(v2Key: string): string {
  return v2Key === "/" ? "" : `${storeKey(v2Key)}/`;
}

/** A segment starting with `_` is hidden: left out of listings and recursive watches, as in etcd. */
export function hiddenUnder(v2Dir: string, v2Key: string): boolean {
  const rest = v2Dir === "/" ? v2Key.slice(1) : v2Key.slice(v2Dir.length + 1);
  return rest.split("/").some((s) => s.startsWith("_"));
}

// --- nodes -------------------------------------------------------------------------------

/** etcd v2's `Node` as its JSON carries it, fields in etcd's order. */
export interface V2Node {
  key?: string;
  value?: string;
  dir?: true;
  expiration?: string;
  ttl?: number;
  nodes?: V2Node[];
  modifiedIndex?: number;
  createdIndex?: number;
}

/** What reads see of the store: the committed store or a transaction. */
export interface KVView {
  get(key: string): KVEntry | undefined;
  list(prefix: string): KVEntry[];
  expiry(key: string): KVExpiry | undefined;
}

export function txnView(tx: Txn): KVView {
  return { get: (k) => tx.get("kv", k), list: (p) => tx.list("kv", p), expiry: (k) => tx.get("kvExpiry", k) };
}

/** A directory's contents, built from the entries under it. */
interface Tree {
  children: Map<string, Tree>;
  file?: KVEntry;
  /** The directory's own entry (`a/`), when it was made as one. */
  self?: KVEntry;
}

function tree(entries: readonly KVEntry[], prefix: string): Tree {
  const root: Tree = { children: new Map() };
  for (const e of entries) {
    const rest = e.Key.slice(prefix.length);
    if (rest === "") continue;
    const segs = rest.split("/");
    const last = segs.length - 1;
    // `a//b` and the like name no v2 key: left out.
    if (segs.some((s, i) => s === "" && i !== last)) continue;
    let t = root;
    for (let i = 0; i < last; i++) {
      const s = segs[i] as string;
      let c = t.children.get(s);
      if (c === undefined) {
        c = { children: new Map() };
        t.children.set(s, c);
      }
      t = c;
    }
    const leaf = segs[last] as string;
    if (leaf === "") t.self = e;
    else {
      let c = t.children.get(leaf);
      if (c === undefined) {
        c = { children: new Map() };
        t.children.set(leaf, c);
      }
      c.file = e;
    }
  }
  return root;
}

/** A found directory's tree, with its own entry. */
function dirTree(key: string, f: Extract<Found, { kind: "dir" }>): Tree {
  const t = tree(f.under, dirPrefix(key));
  if (f.self !== undefined) t.self = f.self;
  return t;
}

/** The lowest CreateIndex in a tree: a directory without an entry of its own was made with its first key. */
function firstIndex(t: Tree): number {
  let min = t.self?.CreateIndex ?? t.file?.CreateIndex ?? Number.MAX_SAFE_INTEGER;
  for (const c of t.children.values()) min = Math.min(min, firstIndex(c));
  return min;
}

/** The entry's time to live, when it still holds (the entry is as it was written with it). */
export function liveExpiry(view: KVView, e: KVEntry): KVExpiry | undefined {
  const x = view.expiry(e.Key);
  return x !== undefined && x.ModifyIndex === e.ModifyIndex ? x : undefined;
}

function ttlFields(x: KVExpiry | undefined, nowMs: number): Pick<V2Node, "expiration" | "ttl"> {
  if (x === undefined) return {};
  // etcd's TTL is the seconds left, rounded up.
  return { expiration: new Date(x.ExpiresAt).toISOString(), ttl: Math.max(0, Math.ceil((x.ExpiresAt - nowMs) / 1000)) };
}

/** A value as v2 shows it: text. */
export function valueText(e: KVEntry): string {
  return e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8");
}

export function fileNode(view: KVView, key: string, e: KVEntry, nowMs: number): V2Node {
  return { key, value: valueText(e), ...ttlFields(liveExpiry(view, e), nowMs), modifiedIndex: e.ModifyIndex, createdIndex: e.CreateIndex };
}

interface Render {
  view: KVView;
  nowMs: number;
  /** Descend into every directory (`recursive=true`), or show the first level only. */
  recursive: boolean;
  /** Whether a store key may be shown (ACLs). */
  readable: (storeKey: string) => boolean;
}

function dirNode(key: string, t: Tree, r: Render, depth: number): V2Node {
  const idx = t.self === undefined ? firstIndex(t) : undefined;
  const head: V2Node = key === "/" ? { dir: true } : { key, dir: true, ...(t.self === undefined ? {} : ttlFields(liveExpiry(r.view, t.self), r.nowMs)) };
  if (depth === 0 || r.recursive) {
    const nodes: V2Node[] = [];
    for (const name of [...t.children.keys()].sort()) {
      if (name.startsWith("_")) continue;
      const c = t.children.get(name) as Tree;
      const childKey = key === "/" ? `/${name}` : `${key}/${name}`;
      if (c.file !== undefined) {
        if (r.readable(c.file.Key)) nodes.push(fileNode(r.view, childKey, c.file, r.nowMs));
      } else if (hasReadable(c, r)) nodes.push(dirNode(childKey, c, r, depth + 1));
    }
    // etcd leaves `nodes` out of an empty directory.
    if (nodes.length > 0) head.nodes = nodes;
  }
  if (key === "/") return head;
  return { ...head, modifiedIndex: t.self?.ModifyIndex ?? (idx as number), createdIndex: t.self?.CreateIndex ?? (idx as number) };
}

function hasReadable(t: Tree, r: Render): boolean {
  if (t.self !== undefined && r.readable(t.self.Key)) return true;
  if (t.file !== undefined && r.readable(t.file.Key)) return true;
  for (const c of t.children.values()) if (hasReadable(c, r)) return true;
  return false;
}

/** What is at a v2 key: a file (its entry), a directory (its own entry, if any, and what is under it), or nothing. */
export type Found = { kind: "file"; entry: KVEntry } | { kind: "dir"; self: KVEntry | undefined; under: KVEntry[] } | { kind: "none" };

export function find(view: KVView, key: string): Found {
  if (key === "/") return { kind: "dir", self: undefined, under: view.list("") };
  const file = view.get(storeKey(key));
  if (file !== undefined) return { kind: "file", entry: file };
  const prefix = dirPrefix(key);
  const under = view.list(prefix);
  if (under.length === 0) return { kind: "none" };
  return { kind: "dir", self: view.get(prefix), under: under.filter((e) => e.Key !== prefix) };
}

/** A found node as v2 shows it; a directory with its children (all levels with `recursive`). */
export function nodeOf(key: string, f: Exclude<Found, { kind: "none" }>, r: Render): V2Node {
  if (f.kind === "file") return fileNode(r.view, key, f.entry, r.nowMs);
  return dirNode(key, dirTree(key, f), r, 0);
}

/** A node as a prevNode or a deleted node shows it: a directory without its children. */
function bareNode(view: KVView, key: string, f: Exclude<Found, { kind: "none" }>, nowMs: number): V2Node {
  if (f.kind === "file") return fileNode(view, key, f.entry, nowMs);
  const t = dirTree(key, f);
  const idx = firstIndex(t);
  return { key, dir: true, ...(f.self === undefined ? {} : ttlFields(liveExpiry(view, f.self), nowMs)), modifiedIndex: f.self?.ModifyIndex ?? idx, createdIndex: f.self?.CreateIndex ?? idx };
}

// --- writes ------------------------------------------------------------------------------

/** etcd v2's actions. */
export type V2Action = "get" | "set" | "create" | "update" | "compareAndSwap" | "delete" | "compareAndDelete" | "expire";

/** A change as v2 answers a write and as its watchers see it. */
export interface V2Event {
  action: V2Action;
  node: V2Node;
  prevNode?: V2Node;
}

/** A write's answer: the event, and whether it made the node (etcd's 201). */
export interface V2Written {
  event: V2Event;
  created: boolean;
  /** A TTL's refresh: no event for watchers, as in etcd (so that heartbeats wake nobody). */
  quiet?: true;
}

/** A PUT or POST as checked at the edge. */
export interface V2Put {
  key: string;
  /** The value to write; undefined for a directory or a refresh. */
  value: string | undefined;
  dir: boolean;
  /** Seconds; undefined: none (the key lives until deleted); a refresh needs one. */
  ttl: number | undefined;
  refresh: boolean;
  prevExist: boolean | undefined;
  prevValue: string | undefined;
  prevIndex: number | undefined;
}

/** A DELETE as checked at the edge. */
export interface V2Delete {
  key: string;
  dir: boolean;
  recursive: boolean;
  prevValue: string | undefined;
  prevIndex: number | undefined;
}

function compareCause(e: KVEntry, prevValue: string | undefined, prevIndex: number | undefined): string | null {
  const valueBad = prevValue !== undefined && prevValue !== valueText(e);
  const indexBad = prevIndex !== undefined && prevIndex !== e.ModifyIndex;
  if (valueBad && indexBad) return `[${prevValue} != ${valueText(e)}] [${prevIndex} != ${e.ModifyIndex}]`;
  if (valueBad) return `[${prevValue} != ${valueText(e)}]`;
  if (indexBad) return `[${prevIndex} != ${e.ModifyIndex}]`;
  return null;
}

/** Refuses a key whose parent directories include a file: etcd's "Not a directory", naming that file. */
function checkParents(view: KVView, key: string, index: number): void {
  const segs = key.split("/").slice(1, -1);
  let at = "";
  for (const s of segs) {
    at += `/${s}`;
    if (view.get(storeKey(at)) !== undefined) throw new V2Error(V2Code.NotDir, at, index);
  }
}

/** Writes the entry and its TTL (or none) in the transaction; returns the entry as stored. */
function writeEntry(tx: Txn, env: KVEnv, storeKeyName: string, value: string | null, flags: number, ttl: number | undefined): KVEntry {
  const r = kvSet(tx, { key: storeKeyName, value, flags }, env);
  // A plain write (no cas, acquire or release) is never refused.
  if (!r.ok) throw new V2Error(V2Code.RaftInternal, r.reason, tx.index);
  if (ttl === undefined) {
    if (tx.get("kvExpiry", storeKeyName) !== undefined) tx.delete("kvExpiry", storeKeyName);
  } else {
    tx.put("kvExpiry", { Key: storeKeyName, TTL: ttl, ExpiresAt: env.nowMs + ttl * 1000, CreateIndex: 0, ModifyIndex: 0 });
  }
  return tx.get("kv", storeKeyName) as KVEntry;
}

const b64 = (s: string): string | null => (s === "" ? null : Buffer.from(s, "utf8").toString("base64"));

/**
 * A PUT in one transaction, with etcd v2's rules: `prevExist=false` creates (105 if there),
 * `prevExist=true` updates (100 if not), `prevValue`/`prevIndex` compare and swap (101),
 * otherwise set. A file never becomes a directory's parent (104), a directory is never
 * written over as a file or made twice (102). `refresh` keeps the value and sets the TTL.
 */
export function v2Put(tx: Txn, env: KVEnv, op: V2Put): V2Written {
  const view = txnView(tx);
  const at = tx.index - 1;
  if (op.key === "/") throw new V2Error(V2Code.RootROnly, "/", at);
  checkParents(view, op.key, at);
  const found = find(view, op.key);
  const compare = op.prevValue !== undefined || op.prevIndex !== undefined;
  if (op.prevExist === false && found.kind !== "none") throw new V2Error(V2Code.NodeExist, op.key, at);
  if ((op.prevExist === true || compare || op.refresh) && found.kind === "none") throw new V2Error(V2Code.KeyNotFound, op.key, at);
  if (compare) {
    if (found.kind === "dir") throw new V2Error(V2Code.NotFile, op.key, at);
    if (found.kind === "file") {
      const cause = compareCause(found.entry, op.prevValue, op.prevIndex);
      if (cause !== null) throw new V2Error(V2Code.TestFailed, cause, at);
    }
  }
  // A directory is updated only as a directory (its TTL); it is never set again nor made a file.
  if (found.kind === "dir" && !(op.dir && op.prevExist === true) && !op.refresh) throw new V2Error(V2Code.NotFile, op.key, at);
  if (found.kind === "file" && op.dir && op.prevExist === true) throw new V2Error(V2Code.NotDir, op.key, at);
  const prevNode = found.kind === "none" ? undefined : bareNode(view, op.key, found, env.nowMs);
  const action: V2Action = op.prevExist === false ? "create" : compare ? "compareAndSwap" : op.prevExist === true ? "update" : "set";
  let node: V2Node;
  if (op.dir || found.kind === "dir") {
    const prefix = dirPrefix(op.key);
    // A directory made by the keys under it gets an entry of its own when it is given a TTL.
    const self = writeEntry(tx, env, prefix, null, 0, op.ttl);
    // A file made a directory (etcd's set with dir=true) is replaced.
    if (found.kind === "file") kvDelete(tx, storeKey(op.key), {});
    node = { key: op.key, dir: true, ...ttlFields(liveExpiry(txnView(tx), self), env.nowMs), modifiedIndex: self.ModifyIndex, createdIndex: self.CreateIndex };
  } else {
    const prev = found.kind === "file" ? found.entry : undefined;
    const value = op.refresh ? (prev?.Value ?? null) : b64(op.value ?? "");
    const e = writeEntry(tx, env, storeKey(op.key), value, prev?.Flags ?? 0, op.ttl);
    node = fileNode(txnView(tx), op.key, e, env.nowMs);
  }
  return { event: { action, node, ...(prevNode === undefined ? {} : { prevNode }) }, created: found.kind === "none", ...(op.refresh ? { quiet: true as const } : {}) };
}

/** A POST: a new key in the directory, named by the write's index in 20 digits (etcd's in-order keys). */
export function v2Post(tx: Txn, env: KVEnv, op: Pick<V2Put, "key" | "value" | "ttl" | "dir">): V2Written {
  const key = `${op.key === "/" ? "" : op.key}/${String(tx.index).padStart(20, "0")}`;
  return v2Put(tx, env, { key, value: op.value, dir: op.dir, ttl: op.ttl, refresh: false, prevExist: false, prevValue: undefined, prevIndex: undefined });
}

/** Deletes every entry (and its TTL) at and under a directory's prefix, and the directory's file key if it has one. */
function deleteTree(tx: Txn, key: string): void {
  const prefix = dirPrefix(key);
  for (const e of tx.list("kv", prefix)) kvDelete(tx, e.Key, {});
  for (const x of tx.list("kvExpiry", prefix)) tx.delete("kvExpiry", x.Key);
}

/**
 * A DELETE in one transaction, with etcd v2's rules: a directory needs `dir=true` (empty) or
 * `recursive=true` (102, 108); `prevValue`/`prevIndex` compare and delete a file (101).
 */
export function v2Delete(tx: Txn, env: KVEnv, op: V2Delete): V2Written {
  const view = txnView(tx);
  const at = tx.index - 1;
  if (op.key === "/") throw new V2Error(V2Code.RootROnly, "/", at);
  const found = find(view, op.key);
  if (found.kind === "none") throw new V2Error(V2Code.KeyNotFound, op.key, at);
  const compare = op.prevValue !== undefined || op.prevIndex !== undefined;
  if (compare) {
    if (found.kind === "dir") throw new V2Error(V2Code.NotFile, op.key, at);
    const cause = compareCause(found.entry, op.prevValue, op.prevIndex);
    if (cause !== null) throw new V2Error(V2Code.TestFailed, cause, at);
  }
  if (found.kind === "dir" && !op.recursive) {
    if (!op.dir) throw new V2Error(V2Code.NotFile, op.key, at);
    if (found.under.length > 0) throw new V2Error(V2Code.DirNotEmpty, op.key, at);
  }
  const prevNode = bareNode(view, op.key, found, env.nowMs);
  if (found.kind === "file") {
    kvDelete(tx, found.entry.Key, {});
    if (tx.get("kvExpiry", found.entry.Key) !== undefined) tx.delete("kvExpiry", found.entry.Key);
  } else deleteTree(tx, op.key);
  const node: V2Node = { key: op.key, ...(found.kind === "dir" ? { dir: true as const } : {}), modifiedIndex: tx.index, createdIndex: prevNode.createdIndex as number };
  return { event: { action: compare ? "compareAndDelete" : "delete", node, prevNode }, created: false };
}

/**
 * Deletes an entry whose TTL has passed, in one transaction: the key, or a directory's entry
 * and everything under it. Nothing when the entry was written again since (its TTL no longer
 * holds) or is gone; the TTL's row goes either way. Returns the `expire` event, or undefined.
 */
export function v2Expire(tx: Txn, x: KVExpiry, nowMs: number): V2Event | undefined {
  const view = txnView(tx);
  const e = tx.get("kv", x.Key);
  const current = tx.get("kvExpiry", x.Key);
  // Given a new TTL since, or not due yet: left as it is.
  if (current === undefined || current.ModifyIndex !== x.ModifyIndex || current.ExpiresAt > nowMs) return undefined;
  tx.delete("kvExpiry", x.Key);
  if (e === undefined || e.ModifyIndex !== x.ModifyIndex) return undefined;
  const isDir = x.Key.endsWith("/");
  const key = `/${isDir ? x.Key.slice(0, -1) : x.Key}`;
  const found = find(view, key);
  if (found.kind === "none") return undefined;
  const prevNode = bareNode(view, key, found, nowMs);
  if (isDir) deleteTree(tx, key);
  else kvDelete(tx, x.Key, {});
  return { action: "expire", node: { key, ...(isDir ? { dir: true as const } : {}), modifiedIndex: tx.index, createdIndex: prevNode.createdIndex as number }, prevNode };
}
