/** A key/value entry, with the fields Consul clients read. */
export interface KVEntry {
  Key: string;
  /** Raw bytes; the HTTP edge encodes them as base64. */
  Value: Uint8Array | null;
  Flags: number;
  /** Session holding the lock on this key, if any. */
  Session: string;
  LockIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
}
