/** A key/value entry, with the fields Consul clients read. */
export interface KVEntry {
  Key: string;
  /** The value's bytes, base64-encoded (as Consul's API carries them, and JSON-safe on disk); null for no value. */
  Value: string | null;
  Flags: number;
  /** Session holding the lock on this key, or "" when none does. */
  Session: string;
  LockIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
  /**
   * etcd's version of the key: 1 when written where there was none, +1 at each write
   * (`catalog.kvSet`); absent on an entry written before it was kept (read as 1). Not
   * part of Consul's answers (`catalog.consulEntry`).
   */
  Version?: number;
  /** The etcd lease the key lives by (deleted when it ends); absent or 0: none. Not part of Consul's answers. */
  Lease?: number;
}

/**
 * A KV entry's time to live, as etcd's v2 keys API sets it (`ttl=`): the entry (and, for a
 * directory's entry `dir/`, every key under it) is deleted at `ExpiresAt`. It holds only while
 * the entry is as it was written with it: its `ModifyIndex` is the entry's (a write of the key
 * through any API, which moves the entry's ModifyIndex, ends it). Kept beside the entry, in
 * table `kvExpiry` by `Key`, so that Consul's KV shapes stay as Consul's.
 */
export interface KVExpiry {
  Key: string;
  /** Seconds, as it was asked. */
  TTL: number;
  /** When it expires, in ms since the epoch. */
  ExpiresAt: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** What happens to a session's locks when it ends. */
export type SessionBehavior = "release" | "delete";

/** A service check a session is bound to (Consul's `structs.ServiceCheck`). */
export interface SessionServiceCheck {
  ID: string;
  Namespace: string;
}

/** A Consul session: the holder of KV locks. */
export interface Session {
  ID: string;
  Name: string;
  Node: string;
  /** Nanoseconds, as Consul reports it. */
  LockDelay: number;
  Behavior: SessionBehavior;
  /** "" for none, else a duration such as "15s". */
  TTL: string;
  /** Checks of the session's node that must not go critical (Consul's default: `serfHealth`). */
  NodeChecks: string[];
  /** Service checks of the session's node that must not go critical; null for none, as Consul shows it. */
  ServiceChecks: SessionServiceCheck[] | null;
  /** Milliseconds since the epoch after which the session is invalid; 0 for no TTL. Not shown by the API. */
  ExpiresAt: number;
  CreateIndex: number;
  ModifyIndex: number;
}
