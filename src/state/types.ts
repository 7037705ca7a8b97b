import type { HostVolume, AclBootstrap, AclPolicy, AclToken, Allocation, Deployment, Evaluation, Job, JoinToken, KVEntry, KVExpiry, Namespace, Node, PeriodicLaunch, NodeCoordinate, PreparedQuery, RegisteredService, Session, SigningKey, StoredVariable, StoredUserEvent, StoredSchedulerConfig } from "../structs/index.js";

/**
 * The store's tables. Keys: jobs "ns/id"; jobVersions "ns/id/<version, 10 digits>"; kv the
 * entry's Key; services "<node id>/<service id>"; aclPolicies the policy's Name; aclTokens the
 * token's AccessorID; aclBootstrap "bootstrap"; periodicLaunches "ns/id" (the periodic parent's);
 * namespaces the namespace's Name; variables "<namespace>/<path>"; preparedQueries the query's ID;
 * kvExpiry the KV entry's Key; coordinates the node's name (Consul's Node); userEvents the event's ID;
 * hostVolumes "<namespace>/<id>" (a dynamic host volume's); schedulerConfig "scheduler" (its one row);
 * the others the object's ID.
 */
export const TABLES = ["jobs", "jobVersions", "nodes", "allocs", "evals", "deployments", "kv", "sessions", "services", "aclPolicies", "aclTokens", "aclBootstrap", "joinTokens", "signingKeys", "periodicLaunches", "namespaces", "variables", "preparedQueries", "kvExpiry", "coordinates", "userEvents", "hostVolumes", "schedulerConfig"] as const;
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
  aclPolicies: AclPolicy;
  aclTokens: AclToken;
  aclBootstrap: AclBootstrap;
  joinTokens: JoinToken;
  signingKeys: SigningKey;
  periodicLaunches: PeriodicLaunch;
  namespaces: Namespace;
  variables: StoredVariable;
  preparedQueries: PreparedQuery;
  kvExpiry: KVExpiry;
  coordinates: NodeCoordinate;
  userEvents: StoredUserEvent;
  hostVolumes: HostVolume;
  schedulerConfig: StoredSchedulerConfig;
}
export type Row = Rows[TableName];

/** One row of table `T` written (`value`: the row as stored) or removed (`value`: null). */
export type TableChange<T extends TableName> = { table: T; key: string; op: "put"; value: Rows[T] } | { table: T; key: string; op: "delete"; value: null };

/** One row written or removed, in any table: testing `table` (and `op`) gives `value` its type. */
export type Change = { [T in TableName]: TableChange<T> }[TableName];

/** A change as a backend keeps it: the row is opaque to the backend (every `Change` is one). */
export interface RawChange {
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

/**
 * A transaction, handed to `StateStore.write`'s `mutate`. Valid only while `mutate` runs.
 * Each method takes the row type from the table (`Rows`): `put("jobs", alloc)` does not
 * type-check, and a caller never names a row type.
 */
export interface Txn {
  /** The index this transaction commits at. */
  readonly index: number;
  /** The store as it will be just before this transaction: committed rows, earlier writes of this transaction and of those batched before it. */
  get<T extends TableName>(table: T, key: string): Rows[T] | undefined;
  /**
   * Writes a row, its key derived from the value. The store keeps a frozen copy with
   * `CreateIndex` (on the first put of the key), `ModifyIndex` (= `index`) and, for
   * allocations, `AllocModifyIndex` (= `index`) set; `value` itself is not changed.
   */
  put<T extends TableName>(table: T, value: Rows[T]): void;
  /** Every row of `table` whose key starts with `prefix`, as `get` sees them, sorted by key. */
  list<T extends TableName>(table: T, prefix: string): Rows[T][];
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
   * Rejects with a `CommitRefused` when none of it was written and the backend takes the next
   * commit (a full disk); any other rejection leaves unknown whether it was written.
   */
  commit(batch: { index: number; changes: readonly RawChange[] }): Promise<void>;
  close(): Promise<void>;
  /**
   * A backend several servers share (etcd): after `load`, `apply` gets every commit another
   * server made, in index order, each at most once. The store applies each as one commit.
   */
  follow?(apply: (batch: RemoteBatch) => void): void;
  /**
   * A shared backend's index, read linearizably: every commit acknowledged anywhere before
   * the call is at or below it (`StateStore.barrier`).
   */
  readIndex?(): Promise<number>;
}

/** A commit another server made, as a shared backend delivers it: its last index and its rows. */
export interface RemoteBatch {
  index: number;
  changes: readonly RawChange[];
  /**
   * The backend's whole state at `index` (a reload, when its feed fell behind): `changes`
   * puts every row, and a row the store holds that is not among them is gone. The store
   * applies only the difference from its memory, as one commit.
   */
  whole?: true;
}
