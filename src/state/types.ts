import type { Allocation, Deployment, Evaluation, Job, KVEntry, Node, RegisteredService, Session } from "../structs/index.js";

/** The store's tables. Keys: jobs "ns/id"; jobVersions "ns/id/<version, 10 digits>"; kv the entry's Key; services "<node id>/<service id>"; the others the object's ID. */
export const TABLES = ["jobs", "jobVersions", "nodes", "allocs", "evals", "deployments", "kv", "sessions", "services"] as const;
export type TableName = (typeof TABLES)[number];

/** What a table holds. */
export interface Rows {
  jobs: Job;
  jobVersions: Job;
  nodes: Node;
  allocs: Allocation;
  evals: Evaluation;
  deployments: Deployment;
  kv: KVEntry;
  sessions: Session;
  services: RegisteredService;
}
export type Row = Rows[TableName];

/** One row written or removed. `value` is the row as stored (a put) or null (a delete). */
export interface Change {
  table: TableName;
  key: string;
  op: "put" | "delete";
  value: unknown;
}

/** One committed transaction, as the change feed delivers it. */
export interface CommitEvent {
  index: number;
  changes: Change[];
}

/** A transaction, handed to `StateStore.write`'s `mutate`. Valid only while `mutate` runs. */
export interface Txn {
  /** The index this transaction commits at. */
  readonly index: number;
  /** The store as it will be just before this transaction: committed rows, earlier writes of this transaction and of those batched before it. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the row type it reads
  get<T>(table: TableName, key: string): T | undefined;
  /**
   * Writes a row, its key derived from the value. The store keeps a frozen copy with
   * `CreateIndex` (on the first put of the key), `ModifyIndex` (= `index`) and, for
   * allocations, `AllocModifyIndex` (= `index`) set; `value` itself is not changed.
   */
  put(table: TableName, value: Row): void;
  /** Every row of `table` whose key starts with `prefix`, as `get` sees them, sorted by key. */
  list<T>(table: TableName, prefix: string): T[];
  /** Removes a row; removing a row that is not there is not an error. */
  delete(table: TableName, key: string): void;
}

/**
 * Where committed state lives. The store calls `load` once, then `commit` one batch at a
 * time (never two at once), then `close`.
 */
export interface Backend {
  /** Everything committed: the last index and every row. An empty backend has index 0. */
  load(): Promise<{ index: number; rows: { table: TableName; key: string; value: unknown }[] }>;
  /**
   * Durable when the promise resolves: after a crash, load() returns it. One call may carry
   * several transactions (group commit); `index` is the last of them and must be above the
   * backend's index (RUCHE_INDEX_CONFLICT otherwise). A batch is written whole or not at all.
   */
  commit(batch: { index: number; changes: Change[] }): Promise<void>;
  close(): Promise<void>;
}
