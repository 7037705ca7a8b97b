import { ErrorCode, RucheError } from "../structs/index.js";
import type { Backend, RawChange, TableName } from "./types.js";

/**
 * A backend for tests: nothing is durable, nothing touches the disk. Rows are kept as JSON,
 * so what does not survive JSON fails here as it would in SQLite. It outlives `close()`: a
 * test opens a new store on the same backend to play a restart.
 */
export function memoryBackend(): Backend {
  const rows = new Map<TableName, Map<string, string>>();
  let index = 0;
  return {
    load() {
      const out: { table: TableName; key: string; value: unknown }[] = [];
      for (const [table, t] of rows) for (const [key, json] of t) out.push({ table, key, value: JSON.parse(json) });
      return Promise.resolve({ index, rows: out });
    },
    commit(batch) {
      if (batch.index <= index) {
        return Promise.reject(new RucheError(ErrorCode.IndexConflict, `state: commit at index ${batch.index}, but the backend is already at ${index}`));
      }
      let writes: { c: RawChange; json: string | null }[];
      try {
        // Serialise everything first: a batch is written whole or not at all.
        writes = batch.changes.map((c) => ({ c, json: c.op === "put" ? JSON.stringify(c.value) : null }));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      for (const { c, json } of writes) {
        let t = rows.get(c.table);
        if (t === undefined) {
          t = new Map();
          rows.set(c.table, t);
        }
        if (json === null) t.delete(c.key);
        else t.set(c.key, json);
      }
      index = batch.index;
      return Promise.resolve();
    },
    close() {
      return Promise.resolve();
    },
  };
}
