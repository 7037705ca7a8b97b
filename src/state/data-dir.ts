import { constants } from "node:fs";
import { access, mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { ErrorCode, errorMessage, errorCode, RucheError } from "../structs/index.js";

/**
 * Makes the data dir (and its parents) if it is missing and checks that this process can
 * write in it. Fails with what is wrong in words, and the path: "the data dir's filesystem
 * is read-only: /var/lib/ruche" rather than the ENOENT that `mkdir -p` says under a
 * read-only filesystem.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
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
