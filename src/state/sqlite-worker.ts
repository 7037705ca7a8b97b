/**
 * The SQLite side of `sqliteBackend`, run in a worker thread so that a commit's fsync never
 * blocks the server's event loop: while one batch is on its way to the disk, the store
 * gathers the next. better-sqlite3 is synchronous; here that is what we want.
 */
import { closeSync, openSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

/** Rows travel as flat string triples: table, key, JSON value (null for a delete). */
export type WorkerRequest =
  | { id: number; op: "load" }
  | { id: number; op: "commit"; index: number; rows: (string | null)[] }
  | { id: number; op: "close" };

/**
 * A failure says what it was: `conflict` (the index check refused the commit), `refused` (a
 * commit SQLite undid whole: nothing of it is on the disk, checked by reading the stored
 * index back, and the connection takes the next commit), or `failed` (anything else: a
 * commit that failed may or may not be on the disk). `code` is SQLite's extended code
 * (`SQLITE_FULL`, `SQLITE_IOERR_WRITE`, ...) when the error has one.
 */
export type WorkerReply =
  | { id: number; ok: true; index: number; rows: string[] }
  | { id: number; ok: false; kind: "conflict" | "refused" | "failed"; code: string | null; message: string };

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS kv (tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tbl, key));
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value);
`;

class Conflict extends Error {}

function open(file: string) {
  // Made readable by its user alone before SQLite makes it 0644; its -wal and -shm take its
  // mode. One that exists is left as it is; one that cannot be made, SQLite says why.
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch {
    // It exists, or SQLite's own open below fails and says why.
  }
  const db = new Database(file);
  try {
    return prepare(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
}

function prepare(db: Database.Database, file: string) {
  // Rows are JSON of a few KB (an allocation carries its job): 16 KiB pages hold several, where
  // 4 KiB pages hold one each and half the page goes unused. Takes effect on a new database only.
  db.pragma("page_size = 16384");
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal") throw new Error(`could not switch ${file} to WAL mode (it is in ${String(mode)} mode)`);
  db.pragma("synchronous = FULL");
  db.exec(SCHEMA);
  const getIndex = db.prepare<[], number | null>("SELECT value FROM meta WHERE name = 'index'").pluck();
  const setIndex = db.prepare<[number]>("INSERT INTO meta (name, value) VALUES ('index', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value");
  const put = db.prepare<[string, string, string]>("INSERT INTO kv (tbl, key, value) VALUES (?, ?, ?) ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value");
  const del = db.prepare<[string, string]>("DELETE FROM kv WHERE tbl = ? AND key = ?");
  const all = db.prepare<[], [string, string, string]>("SELECT tbl, key, value FROM kv").raw();

  const storedIndex = (): number => getIndex.get() ?? 0;
  // One SQLite transaction per batch, taking the write lock up front: all of it or none.
  const tx = db.transaction((index: number, rows: (string | null)[]) => {
    const cur = storedIndex();
    if (index <= cur) throw new Conflict(`commit at index ${index}, but ${file} is already at ${cur}`);
    for (let i = 0; i + 2 < rows.length; i += 3) {
      const tbl = rows[i] as string;
      const key = rows[i + 1] as string;
      const value = rows[i + 2] ?? null;
      if (value === null) del.run(tbl, key);
      else put.run(tbl, key, value);
    }
    setIndex.run(index);
  });
  const commit = (index: number, rows: (string | null)[]): void => {
    tx.immediate(index, rows);
  };
  /**
   * After a commit failed: whether SQLite undid it whole. better-sqlite3 rolls back a
   * transaction that throws; a commit whose sync failed (SQLITE_IOERR_FSYNC) may still be
   * in the WAL with a valid commit frame, and is never taken as undone.
   */
  const undone = (index: number, code: string | null): boolean => {
    if (code === null || code.startsWith("SQLITE_IOERR_FSYNC") || code === "SQLITE_IOERR_DIR_FSYNC") return false;
    try {
      if (db.inTransaction) db.exec("ROLLBACK");
      return storedIndex() < index;
    } catch {
      return false;
    }
  };

  const load = (): { index: number; rows: string[] } => {
    const rows: string[] = [];
    for (const [tbl, key, value] of all.iterate()) rows.push(tbl, key, value);
    return { index: storedIndex(), rows };
  };
  return { db, commit, undone, load };
}

const port = parentPort;
if (port === null) throw new Error("sqlite-worker runs as a worker thread");
const { file } = workerData as { file: string };
let state: ReturnType<typeof open> | null = null;
let openError: unknown = null;
try {
  state = open(file);
} catch (err) {
  openError = err;
}

port.on("message", (req: WorkerRequest) => {
  try {
    if (state === null) throw openError;
    switch (req.op) {
      case "load": {
        const { index, rows } = state.load();
        port.postMessage({ id: req.id, ok: true, index, rows } satisfies WorkerReply);
        return;
      }
      case "commit":
        state.commit(req.index, req.rows);
        port.postMessage({ id: req.id, ok: true, index: req.index, rows: [] } satisfies WorkerReply);
        return;
      case "close":
        state.db.close();
        state = null;
        openError = new Error(`${file} is closed`);
        port.postMessage({ id: req.id, ok: true, index: 0, rows: [] } satisfies WorkerReply);
        port.close();
        return;
      default: {
        const never: never = req;
        throw new Error(`unknown request ${JSON.stringify(never)}`);
      }
    }
  } catch (err) {
    const code = err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : null;
    const message = err instanceof Error ? err.message : String(err);
    const kind = err instanceof Conflict ? "conflict" : req.op === "commit" && state?.undone(req.index, code) === true ? "refused" : "failed";
    port.postMessage({ id: req.id, ok: false, kind, code, message } satisfies WorkerReply);
  }
});
