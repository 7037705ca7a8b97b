import { constants, type Stats } from "node:fs";
import { access, chmod, lstat, mkdir, readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ErrorCode, errorMessage, errorCode, RucheError } from "../structs/index.js";

/**
 * Makes the data dir (and its parents) if it is missing and checks that this process can
 * write in it. Fails with what is wrong in words, and the path: "the data dir's filesystem
 * is read-only: /var/lib/ruche" rather than the ENOENT that `mkdir -p` says under a
 * read-only filesystem.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  try {
    // Private from the start: made by no one but this process's user (see `secureDataDir`).
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
  } catch (err) {
    throw await dataDirError(dir, err);
  }
}

async function dataDirError(dir: string, err: unknown): Promise<RucheError> {
  const code = errorCode(err);
  // The nearest directory that exists says what stops us: access(W_OK) answers EROFS on a
  // read-only filesystem (or read-only bind mount), whoever asks, root included.
  let existing = dir;
  while (!(await stat(existing).then(() => true, () => false))) {
    const up = dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  const why = code === "EROFS" || code === "ENOENT" ? await access(existing, constants.W_OK).then(() => code, (e: unknown) => errorCode(e)) : code;
  switch (why) {
    case "EROFS":
      return new RucheError(ErrorCode.InsufficientStorage, `the data dir's filesystem is read-only: ${dir}`, { cause: err });
    case "ENOSPC":
      return new RucheError(ErrorCode.InsufficientStorage, `the data dir's filesystem is full: ${dir}`, { cause: err });
    case "EACCES":
    case "EPERM":
      return new RucheError(ErrorCode.InsufficientStorage, `the data dir is not writable by this process: ${dir} (${errorMessage(err)})`, { cause: err });
    default:
      return new RucheError(ErrorCode.Internal, `cannot use the data dir ${dir}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * What a SQLite error code (better-sqlite3's extended code) says about the data dir, or null
 * when the storage is not what failed.
 */
export function storageProblem(code: string | null, dir: string): string | null {
  if (code === null) return null;
  if (code === "SQLITE_FULL") return `the data dir's filesystem is full: ${dir}`;
  // DBMOVED: the file was replaced or removed under the agent, not a read-only disk.
  if (code.startsWith("SQLITE_READONLY") && code !== "SQLITE_READONLY_DBMOVED") return `the data dir is read-only: ${dir}`;
  if (code.startsWith("SQLITE_IOERR")) return `the data dir's disk failed: ${dir}`;
  return null;
}

/** A path the agent found more open than it should be, and closed: its mode before and after. */
export interface Tightened {
  path: string;
  was: number;
  now: number;
}

/**
 * Checks, at the agent's start, that the data dir and the secrets in it are the agent's
 * user's alone, and closes what is not: the dir `0700` (`0711` on a client, set so: a task
 * running as another user reaches its allocation's directory through it, and can list nothing),
 * the state (`state.db` and its `-wal` and `-shm`, every file at the top of the dir) and the
 * node's identity (`client/`, `0700`, its files) `0600`, a private key under `tls/` `0600`.
 * Returns what it changed, for the agent to warn about. A dir or file another user owns is
 * refused: its owner can open it again at any time or put a file of theirs in its place, so
 * closing it would protect nothing.
 */
export async function secureDataDir(dir: string, o: { traversable: boolean }): Promise<Tightened[]> {
  const changed: Tightened[] = [];
  const uid = process.getuid?.();
  const check = async (path: string, st: Stats, mode: number, exact = false): Promise<void> => {
    if (uid !== undefined && st.uid !== uid) {
      throw new RucheError(
        ErrorCode.Forbidden,
        `${path} belongs to user ${st.uid}, not to the agent's user ${uid}: another user may read or replace the agent's state and secrets there. ` +
          `Give it to the agent's user (chown -R ${uid} ${dir}) or use another data dir.`,
        { path },
      );
    }
    const was = st.mode & 0o777;
    const now = exact ? mode : was & mode;
    if (now === was) return;
    await chmod(path, now);
    // Said when something was closed; a client's dir opened for traversal alone is not news.
    if ((was & ~mode) !== 0) changed.push({ path, was, now });
  };
  const entries = async (d: string): Promise<{ path: string; st: Stats }[]> => {
    const names = await readdir(d).catch((err: unknown) => {
      if (errorCode(err) === "ENOENT") return [];
      throw err;
    });
    return Promise.all(names.map(async (n) => ({ path: join(d, n), st: await lstat(join(d, n)) })));
  };
  await check(dir, await lstat(dir), o.traversable ? 0o711 : 0o700, true);
  for (const e of await entries(dir)) {
    // A link is not followed: what it points at is not the agent's to change.
    if (e.st.isFile()) await check(e.path, e.st, 0o600);
    else if (e.st.isDirectory() && (e.path === join(dir, "client") || e.path === join(dir, "tls"))) await check(e.path, e.st, 0o700);
  }
  for (const e of await entries(join(dir, "client"))) if (e.st.isFile()) await check(e.path, e.st, 0o600);
  for (const e of await entries(join(dir, "tls"))) if (e.st.isFile() && /key/i.test(basename(e.path))) await check(e.path, e.st, 0o600);
  return changed;
}
