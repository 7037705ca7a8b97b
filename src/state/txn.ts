import { ErrorCode, RucheError } from "../structs/index.js";
import { isTableName, rowKey } from "./rows.js";
import type { Change, Rows, TableChange, TableName, Txn } from "./types.js";

type Read = <T extends TableName>(table: T, key: string) => Rows[T] | undefined;
type List = <T extends TableName>(table: T, prefix: string) => Iterable<[string, Rows[T]]>;

/**
 * What the transactions of one batch that have succeeded so far wrote, over the committed
 * state: the next transaction of the batch reads through it.
 */
export class BatchOverlay {
  /** Per table, the rows written (null: deleted). */
  private readonly layer: { [T in TableName]?: Map<string, Rows[T] | null> } = {};

  constructor(
    private readonly committed: Read,
    private readonly committedList: List = () => [],
  ) {}

  /** Rows whose key starts with `prefix`: the committed ones with this batch's writes over them. */
  list<T extends TableName>(table: T, prefix: string): Map<string, Rows[T]> {
    const out = new Map(this.committedList(table, prefix));
    for (const [k, v] of this.layer[table] ?? []) {
      if (!k.startsWith(prefix)) continue;
      if (v === null) out.delete(k);
      else out.set(k, v);
    }
    return out;
  }

  get<T extends TableName>(table: T, key: string): Rows[T] | undefined {
    const v = this.layer[table]?.get(key);
    if (v === null) return undefined;
    return v ?? this.committed(table, key);
  }

  absorb(changes: readonly Change[]): void {
    for (const c of changes) this.tableLayer(c.table).set(c.key, c.op === "put" ? c.value : null);
  }

  private tableLayer<T extends TableName>(table: T): Map<string, Rows[T] | null> {
    let t = this.layer[table];
    if (t === undefined) {
      t = new Map();
      this.layer[table] = t;
    }
    return t;
  }
}

/** One transaction of a batch: its own writes over the batch's, usable only while `mutate` runs. */
export class BatchTxn implements Txn {
  /** Per table, this transaction's writes by key, in the order of each table's first write. */
  private readonly writes: { [T in TableName]?: Map<string, TableChange<T>> } = {};
  private open = true;

  constructor(
    readonly index: number,
    private readonly below: BatchOverlay,
  ) {}

  get<T extends TableName>(table: T, key: string): Rows[T] | undefined {
    this.check(table);
    const c = this.writes[table]?.get(key);
    if (c !== undefined) return c.op === "put" ? c.value : undefined;
    return this.below.get(table, key);
  }

  list<T extends TableName>(table: T, prefix: string): Rows[T][] {
    this.check(table);
    const rows = this.below.list(table, prefix);
    for (const [k, c] of this.writes[table] ?? []) {
      if (!k.startsWith(prefix)) continue;
      if (c.op === "put") rows.set(k, c.value);
      else rows.delete(k);
    }
    return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  put<T extends TableName>(table: T, value: Rows[T]): void {
    this.check(table);
    const key = rowKey(table, value);
    const CreateIndex = this.get(table, key)?.CreateIndex ?? this.index;
    const copy: Rows[T] =
      table === "allocs" ? { ...value, CreateIndex, ModifyIndex: this.index, AllocModifyIndex: this.index } : { ...value, CreateIndex, ModifyIndex: this.index };
    Object.freeze(copy);
    this.tableWrites(table).set(key, { table, key, op: "put", value: copy });
  }

  delete(table: TableName, key: string): void {
    this.check(table);
    const writes = this.tableWrites(table);
    // A row only this transaction created leaves no trace; one that exists below is deleted.
    if (this.below.get(table, key) === undefined) writes.delete(key);
    else writes.set(key, { table, key, op: "delete", value: null });
  }

  /** Ends the transaction: later calls throw. Returns what it changed. */
  finish(): Change[] {
    this.open = false;
    const out: Change[] = [];
    for (const t of Object.values(this.writes)) for (const c of t.values()) out.push(c);
    return out;
  }

  private tableWrites<T extends TableName>(table: T): Map<string, TableChange<T>> {
    let t = this.writes[table];
    if (t === undefined) {
      t = new Map();
      this.writes[table] = t;
    }
    return t;
  }

  private check(table: TableName): void {
    if (!this.open) throw new RucheError(ErrorCode.Internal, "state: a transaction was used after its mutate function returned");
    if (!isTableName(table)) throw new RucheError(ErrorCode.Internal, `state: no such table ${JSON.stringify(table)}`);
  }
}
