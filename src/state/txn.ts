import { ErrorCode, RucheError } from "../structs/index.js";
import { isTableName, rowKey } from "./rows.js";
import type { Change, Row, TableName, Txn } from "./types.js";

type Read = (table: TableName, key: string) => Row | undefined;
type List = (table: TableName, prefix: string) => Iterable<[string, Row]>;

/**
 * What the transactions of one batch that have succeeded so far wrote, over the committed
 * state: the next transaction of the batch reads through it.
 */
export class BatchOverlay {
  private readonly layer = new Map<TableName, Map<string, Row | null>>();

  constructor(
    private readonly committed: Read,
    private readonly committedList: List = () => [],
  ) {}

  /** Rows whose key starts with `prefix`: the committed ones with this batch's writes over them. */
  list(table: TableName, prefix: string): Map<string, Row> {
    const out = new Map<string, Row>(this.committedList(table, prefix));
    for (const [k, v] of this.layer.get(table) ?? []) {
      if (!k.startsWith(prefix)) continue;
      if (v === null) out.delete(k);
      else out.set(k, v);
    }
    return out;
  }

  get(table: TableName, key: string): Row | undefined {
    const v = this.layer.get(table)?.get(key);
    if (v === null) return undefined;
    return v ?? this.committed(table, key);
  }

  absorb(changes: readonly Change[]): void {
    for (const c of changes) {
      let t = this.layer.get(c.table);
      if (t === undefined) {
        t = new Map();
        this.layer.set(c.table, t);
      }
      t.set(c.key, c.op === "put" ? (c.value as Row) : null);
    }
  }
}

/** One transaction of a batch: its own writes over the batch's, usable only while `mutate` runs. */
export class BatchTxn implements Txn {
  private readonly writes = new Map<TableName, Map<string, Change>>();
  private open = true;

  constructor(
    readonly index: number,
    private readonly below: BatchOverlay,
  ) {}

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the row type it reads (Txn's contract)
  get<T>(table: TableName, key: string): T | undefined {
    this.check(table);
    const c = this.writes.get(table)?.get(key);
    if (c !== undefined) return (c.op === "put" ? c.value : undefined) as T | undefined;
    return this.below.get(table, key) as T | undefined;
  }

  list<T>(table: TableName, prefix: string): T[] {
    this.check(table);
    const rows = this.below.list(table, prefix);
    for (const [k, c] of this.writes.get(table) ?? []) {
      if (!k.startsWith(prefix)) continue;
      if (c.op === "put") rows.set(k, c.value as Row);
      else rows.delete(k);
    }
    return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v as T);
  }

  put(table: TableName, value: Row): void {
    this.check(table);
    const key = rowKey(table, value);
    const prev = this.get<Row>(table, key);
    const CreateIndex = prev?.CreateIndex ?? this.index;
    const copy: Row =
      table === "allocs" ? { ...value, CreateIndex, ModifyIndex: this.index, AllocModifyIndex: this.index } : { ...value, CreateIndex, ModifyIndex: this.index };
    this.tableWrites(table).set(key, { table, key, op: "put", value: Object.freeze(copy) });
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
    for (const t of this.writes.values()) for (const c of t.values()) out.push(c);
    return out;
  }

  private tableWrites(table: TableName): Map<string, Change> {
    let t = this.writes.get(table);
    if (t === undefined) {
      t = new Map();
      this.writes.set(table, t);
    }
    return t;
  }

  private check(table: TableName): void {
    if (!this.open) throw new RucheError(ErrorCode.Internal, "state: a transaction was used after its mutate function returned");
    if (!isTableName(table)) throw new RucheError(ErrorCode.Internal, `state: no such table ${JSON.stringify(table)}`);
  }
}
