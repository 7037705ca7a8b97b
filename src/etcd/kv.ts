import { AclPrefixKind, type Acl, type KVEntry } from "../structs/index.js";
import { EtcdError } from "./errors.js";
import { entriesIn, inRange, keyValue, storeKey, type KeyRange, type KeyValue, type Mvcc, type Writer } from "./mvcc.js";
import type { Leases } from "./leases.js";

/** etcd's response header. */
export interface Header {
  cluster_id: string;
  member_id: string;
  revision: number;
  raft_term: number;
}

/** What a request may do: the Ruche ACL its token resolves to. */
export interface Caller {
  acl: Acl;
}

// --- the request and response shapes (proto-loader's objects: keepCase, int64 as strings, bytes as Buffers) ---

type Int = string | number;
export interface RangeRequest {
  key: Buffer;
  range_end: Buffer;
  limit: Int;
  revision: Int;
  sort_order: string;
  sort_target: string;
  keys_only: boolean;
  count_only: boolean;
  min_mod_revision: Int;
  max_mod_revision: Int;
  min_create_revision: Int;
  max_create_revision: Int;
}
export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease: Int;
  prev_kv: boolean;
  ignore_value: boolean;
  ignore_lease: boolean;
}
export interface DeleteRangeRequest {
  key: Buffer;
  range_end: Buffer;
  prev_kv: boolean;
}
export interface Compare {
  result: string;
  target: string;
  key: Buffer;
  range_end: Buffer;
  target_union?: string;
  version?: Int;
  create_revision?: Int;
  mod_revision?: Int;
  value?: Buffer;
  lease?: Int;
}
/** One operation of a transaction: the oneof's member that is set; the others are absent or null. */
export interface RequestOp {
  request?: string;
  request_range?: RangeRequest | null;
  request_put?: PutRequest | null;
  request_delete_range?: DeleteRangeRequest | null;
  request_txn?: TxnRequest | null;
}
export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

interface RangeBody {
  kvs: KeyValue[];
  more: boolean;
  count: number;
}
interface PutBody {
  prev_kv?: KeyValue;
}
interface DeleteBody {
  deleted: number;
  prev_kvs: KeyValue[];
}
interface TxnBody {
  succeeded: boolean;
  responses: ResponseOp[];
}
type ResponseOp = { response_range: RangeBody & { header: Header } } | { response_put: PutBody & { header: Header } } | { response_delete_range: DeleteBody & { header: Header } } | { response_txn: TxnBody & { header: Header } };

/** An int64 field as a number; one beyond 2^53 is refused rather than rounded. */
export function int(v: Int | undefined, what: string): number {
  if (v === undefined || v === "") return 0;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw EtcdError.invalid(`etcdserver: ${what} ${String(v)} is out of the range Ruche keeps (integers up to 2^53)`);
  return n;
}

export function rangeOf(key: Buffer, rangeEnd: Buffer): KeyRange {
  return { key, rangeEnd };
}

/** Whether the caller may `level` every key the range can hold: the key's prefix for a range, the key alone otherwise. */
function mayRange(c: Caller, r: KeyRange, level: "read" | "write"): boolean {
  const key = r.key.toString("utf8");
  return c.acl.prefix(AclPrefixKind.Key, key, level);
}

/** etcd's KV service (Range, Put, DeleteRange, Txn, Compact) over Mvcc, with Ruche's ACLs on keys. */
export class KvApi {
  constructor(
    readonly mvcc: Mvcc,
    private readonly leases: Leases,
    private readonly header: (revision: number) => Header,
  ) {}

  range(c: Caller, req: RangeRequest): RangeBody & { header: Header } {
    const r = rangeOf(req.key, req.range_end);
    if (r.key.length === 0) throw EtcdError.invalid("etcdserver: key is not provided");
    const revision = int(req.revision, "revision");
    const entries = this.mvcc.rangeAt(r, revision);
    return { header: this.header(this.mvcc.revision()), ...shapeRange(c, entries, req) };
  }

  async put(c: Caller, req: PutRequest): Promise<PutBody & { header: Header }> {
    this.checkPut(c, req);
    const { revision, result } = await this.mvcc.write((_tx, w) => this.putIn(w, req));
    return { header: this.header(revision), ...result };
  }

  async deleteRange(c: Caller, req: DeleteRangeRequest): Promise<DeleteBody & { header: Header }> {
    const r = rangeOf(req.key, req.range_end);
    if (r.key.length === 0) throw EtcdError.invalid("etcdserver: key is not provided");
    const { revision, result } = await this.mvcc.write((_tx, w) => this.deleteIn(c, w, req));
    return { header: this.header(revision), ...result };
  }

  async txn(c: Caller, req: TxnRequest): Promise<TxnBody & { header: Header }> {
    this.checkTxn(c, req);
    if (!writes(req)) {
      // A transaction that writes nothing reads the committed state and moves no revision, as in etcd.
      const rev = this.mvcc.revision();
      const store = this.mvcc.store;
      const read = { list: (p: string) => store.kvList(p), get: (k: string) => store.kvGet(k) };
      return { header: this.header(rev), ...this.readOnlyTxn(c, req, read, rev) };
    }
    const { revision, result } = await this.mvcc.write((tx, w) => this.txnIn(c, w, req, tx.index));
    return { header: this.header(revision), ...result };
  }

  compact(revision: number): { header: Header } {
    this.mvcc.compact(revision);
    return { header: this.header(this.mvcc.revision()) };
  }

  // --- inside a write ------------------------------------------------------------------

  private checkPut(c: Caller, req: PutRequest): void {
    const key = storeKey(req.key);
    if (key === "") throw EtcdError.invalid("etcdserver: key is not provided");
    if (!c.acl.prefix(AclPrefixKind.Key, key, "write")) throw EtcdError.denied();
    const lease = int(req.lease, "lease");
    if (req.ignore_lease && lease !== 0) throw EtcdError.invalid("etcdserver: lease is provided");
    if (req.ignore_value && req.value.length > 0) throw EtcdError.invalid("etcdserver: value is provided");
    if (lease !== 0 && !this.leases.has(lease)) throw EtcdError.notFound("etcdserver: requested lease not found");
  }

  private putIn(w: Writer, req: PutRequest): PutBody {
    const key = storeKey(req.key);
    const prev = w.get(key);
    if ((req.ignore_value || req.ignore_lease) && prev === undefined) throw EtcdError.invalid("etcdserver: key not found");
    const value = req.ignore_value && prev !== undefined ? keyValue(prev).value : req.value;
    const lease = req.ignore_lease ? (prev?.Lease ?? 0) : int(req.lease, "lease");
    w.put(key, value, lease);
    return req.prev_kv && prev !== undefined ? { prev_kv: keyValue(prev) } : {};
  }

  private deleteIn(c: Caller, w: Writer, req: DeleteRangeRequest): DeleteBody {
    const entries = w.range(rangeOf(req.key, req.range_end));
    if (!entries.every((e) => c.acl.prefix(AclPrefixKind.Key, e.Key, "write"))) throw EtcdError.denied();
    for (const e of entries) w.delete(e.Key);
    return { deleted: entries.length, prev_kvs: req.prev_kv ? entries.map(keyValue) : [] };
  }

  private checkTxn(c: Caller, req: TxnRequest): void {
    checkDuplicates(req.success);
    checkDuplicates(req.failure);
    for (const cmp of req.compare) {
      if (!mayRange(c, rangeOf(cmp.key, cmp.range_end), "read")) throw EtcdError.denied();
    }
    for (const op of [...req.success, ...req.failure]) {
      if (op.request_put) this.checkPut(c, op.request_put);
      else if (op.request_delete_range) {
        if (!mayRange(c, rangeOf(op.request_delete_range.key, op.request_delete_range.range_end), "write")) throw EtcdError.denied();
      } else if (op.request_txn) this.checkTxn(c, op.request_txn);
    }
  }

  private txnIn(c: Caller, w: Writer, req: TxnRequest, revision: number): TxnBody {
    const succeeded = req.compare.every((cmp) => compare(cmp, w.range(rangeOf(cmp.key, cmp.range_end))));
    const ops = succeeded ? req.success : req.failure;
    const header = this.header(revision);
    const responses = ops.map((op): ResponseOp => {
      if (op.request_range) return { response_range: { header, ...shapeRange(c, w.range(rangeOf(op.request_range.key, op.request_range.range_end)), op.request_range) } };
      if (op.request_put) return { response_put: { header, ...this.putIn(w, op.request_put) } };
      if (op.request_delete_range) return { response_delete_range: { header, ...this.deleteIn(c, w, op.request_delete_range) } };
      if (op.request_txn) return { response_txn: { header, ...this.txnIn(c, w, op.request_txn, revision) } };
      throw EtcdError.invalid("etcdserver: a transaction's operation names no request");
    });
    return { succeeded, responses };
  }

  private readOnlyTxn(c: Caller, req: TxnRequest, read: { list: (p: string) => KVEntry[]; get: (k: string) => KVEntry | undefined }, revision: number): TxnBody {
    const inRange = (r: KeyRange): KVEntry[] =>
      entriesIn(
        (p) => read.list(p),
        (k) => read.get(k),
        r,
      );
    const succeeded = req.compare.every((cmp) => compare(cmp, inRange(rangeOf(cmp.key, cmp.range_end))));
    const header = this.header(revision);
    const responses = (succeeded ? req.success : req.failure).map((op): ResponseOp => {
      if (op.request_range) return { response_range: { header, ...shapeRange(c, inRange(rangeOf(op.request_range.key, op.request_range.range_end)), op.request_range) } };
      if (op.request_txn) return { response_txn: { header, ...this.readOnlyTxn(c, op.request_txn, read, revision) } };
      throw EtcdError.invalid("etcdserver: a transaction's operation names no request");
    });
    return { succeeded, responses };
  }
}

/** etcd's refusal of a branch that puts a key twice, or puts a key it also deletes. */
function checkDuplicates(ops: RequestOp[]): void {
  const puts = new Set<string>();
  const deletes: KeyRange[] = [];
  for (const op of ops) {
    if (op.request_put) {
      const k = op.request_put.key.toString("hex");
      if (puts.has(k)) throw EtcdError.invalid("etcdserver: duplicate key given in txn request");
      puts.add(k);
    } else if (op.request_delete_range) deletes.push(rangeOf(op.request_delete_range.key, op.request_delete_range.range_end));
  }
  for (const k of puts) if (deletes.some((r) => inRange(Buffer.from(k, "hex"), r))) throw EtcdError.invalid("etcdserver: duplicate key given in txn request");
}

/** Whether a transaction (either branch, nested ones too) writes. */
function writes(req: TxnRequest): boolean {
  return [...req.success, ...req.failure].some((op) => Boolean(op.request_put) || Boolean(op.request_delete_range) || (op.request_txn ? writes(op.request_txn) : false));
}

/** A range's answer: readable entries, filtered, sorted and limited as the request asks. */
function shapeRange(c: Caller, all: KVEntry[], req: RangeRequest): RangeBody {
  const minMod = int(req.min_mod_revision, "min_mod_revision");
  const maxMod = int(req.max_mod_revision, "max_mod_revision");
  const minCreate = int(req.min_create_revision, "min_create_revision");
  const maxCreate = int(req.max_create_revision, "max_create_revision");
  // A range leaves out the keys the token may not read, as Consul's tree reads do.
  let kvs = all
    .filter((e) => c.acl.prefix(AclPrefixKind.Key, e.Key, "read"))
    .map(keyValue)
    .filter((kv) => (minMod === 0 || kv.mod_revision >= minMod) && (maxMod === 0 || kv.mod_revision <= maxMod) && (minCreate === 0 || kv.create_revision >= minCreate) && (maxCreate === 0 || kv.create_revision <= maxCreate));
  let order = req.sort_order;
  const target = req.sort_target;
  if (order === "NONE" && target !== "KEY") order = "ASCEND";
  if (order !== "NONE") {
    const by = (a: KeyValue, b: KeyValue): number => {
      switch (target) {
        case "VERSION":
          return a.version - b.version;
        case "CREATE":
          return a.create_revision - b.create_revision;
        case "MOD":
          return a.mod_revision - b.mod_revision;
        case "VALUE":
          return Buffer.compare(a.value, b.value);
        default:
          return Buffer.compare(a.key, b.key);
      }
    };
    kvs = [...kvs].sort((a, b) => (order === "DESCEND" ? by(b, a) : by(a, b)));
  }
  const count = kvs.length;
  const limit = int(req.limit, "limit");
  const more = limit > 0 && count > limit;
  if (limit > 0) kvs = kvs.slice(0, limit);
  if (req.count_only) return { kvs: [], more, count };
  if (req.keys_only) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
  return { kvs, more, count };
}

/** etcd's compare of a transaction: every key of its range must hold it; a missing key compares as zeros, and never on its value. */
function compare(cmp: Compare, entries: KVEntry[]): boolean {
  if (entries.length === 0) {
    if (cmp.target === "VALUE") return false;
    return compareOne(cmp, { key: cmp.key, create_revision: 0, mod_revision: 0, version: 0, value: Buffer.alloc(0), lease: 0 });
  }
  return entries.every((e) => compareOne(cmp, keyValue(e)));
}

function compareOne(cmp: Compare, kv: KeyValue): boolean {
  let d: number;
  switch (cmp.target) {
    case "VALUE":
      d = Buffer.compare(kv.value, cmp.value ?? Buffer.alloc(0));
      break;
    case "CREATE":
      d = kv.create_revision - int(cmp.create_revision, "create_revision");
      break;
    case "MOD":
      d = kv.mod_revision - int(cmp.mod_revision, "mod_revision");
      break;
    case "LEASE":
      d = kv.lease - int(cmp.lease, "lease");
      break;
    default:
      d = kv.version - int(cmp.version, "version");
  }
  switch (cmp.result) {
    case "GREATER":
      return d > 0;
    case "LESS":
      return d < 0;
    case "NOT_EQUAL":
      return d !== 0;
    default:
      return d === 0;
  }
}
