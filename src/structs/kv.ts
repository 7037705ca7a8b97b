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
}

/** What happens to a session's locks when it ends. */
export type SessionBehavior = "release" | "delete";

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
  NodeChecks: string[];
  ServiceChecks: null;
  /** Milliseconds since the epoch after which the session is invalid; 0 for no TTL. Not shown by the API. */
  ExpiresAt: number;
  CreateIndex: number;
  ModifyIndex: number;
}
