import { createReadStream } from "node:fs";
import { copyFile, readdir, rename, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { sleep } from "../structs/index.js";

/**
 * Task output: each stream goes straight from the task into `<task>.<stream>.0` in the
 * allocation's `alloc/logs/` (the task keeps writing while the agent restarts). When the
 * file passes its size limit it is rotated copy-truncate style: `.0` is copied to `.1`
 * (older copies shift up, the oldest past `maxFiles` is dropped) and truncated in place,
 * where the task's append-mode descriptor goes on writing.
 */
export type LogStream = "stdout" | "stderr";

export function logPath(logDir: string, task: string, stream: LogStream, n = 0): string {
  return join(logDir, `${task}.${stream}.${n}`);
}

/** Rotates one stream's file if it grew past `maxBytes`. Returns whether it did. */
export async function rotateIfNeeded(logDir: string, task: string, stream: LogStream, maxBytes: number, maxFiles: number): Promise<boolean> {
  const cur = logPath(logDir, task, stream);
  let size: number;
  try {
    size = (await stat(cur)).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  const keep = Math.max(1, maxFiles - 1);
  await unlink(logPath(logDir, task, stream, keep)).catch(() => undefined);
  for (let i = keep - 1; i >= 1; i--) await rename(logPath(logDir, task, stream, i), logPath(logDir, task, stream, i + 1)).catch(() => undefined);
  await copyFile(cur, logPath(logDir, task, stream, 1));
  await truncate(cur, 0);
  return true;
}

/** The stream's files, oldest first (`.N` … `.1`, then `.0`). */
export async function logFiles(logDir: string, task: string, stream: LogStream): Promise<string[]> {
  const prefix = `${task}.${stream}.`;
  let names: string[];
  try {
    names = await readdir(logDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => Number(n.slice(prefix.length)))
    .sort((a, b) => b - a)
    .map((i) => logPath(logDir, task, stream, i));
}

export interface ReadLogOptions {
  /** Keep reading as the task writes, until the signal aborts. */
  follow: boolean;
  /** Start this many bytes before the end (like `tail -c`); undefined for the whole log. */
  tailBytes?: number;
  signal: AbortSignal;
  /** How often a follower looks for new output. */
  pollMs?: number;
}

/**
 * Reads a task's output: the rotated files then the current one, and with `follow` what
 * is written after, across rotations.
 */
export async function* readLogs(logDir: string, task: string, stream: LogStream, opts: ReadLogOptions): AsyncGenerator<Buffer> {
  const files = await logFiles(logDir, task, stream);
  const sizes = await Promise.all(files.map(async (f) => (await stat(f).catch(() => ({ size: 0 }))).size));
  let skip = opts.tailBytes === undefined ? 0 : Math.max(0, sizes.reduce((a, b) => a + b, 0) - opts.tailBytes);
  const current = logPath(logDir, task, stream);
  let offset = 0;
  for (let i = 0; i < files.length; i++) {
    const f = files[i] as string;
    const size = sizes[i] ?? 0;
    if (skip >= size) {
      skip -= size;
      if (f === current) offset = size;
      continue;
    }
    const from = skip;
    skip = 0;
    if (f === current) {
      // The current file may grow while it is read: read up to its size now, follow the rest.
      if (size > from) yield* readRange(f, from, size);
      offset = size;
    } else if (size > from) yield* readRange(f, from, size);
  }
  if (!opts.follow) return;
  const poll = opts.pollMs ?? 250;
  while (!opts.signal.aborted) {
    let size: number;
    try {
      size = (await stat(current)).size;
    } catch {
      size = 0;
    }
    if (size < offset) {
      // Rotated: what was written between our offset and the copy is at the end of `.1`.
      const older = logPath(logDir, task, stream, 1);
      const olderSize = (await stat(older).catch(() => ({ size: 0 }))).size;
      if (olderSize > offset) yield* readRange(older, offset, olderSize);
      offset = 0;
    }
    if (size > offset) {
      yield* readRange(current, offset, size);
      offset = size;
      continue;
    }
    await sleep(poll, opts.signal);
  }
}

async function* readRange(file: string, start: number, end: number): AsyncGenerator<Buffer> {
  const s = createReadStream(file, { start, end: end - 1 });
  try {
    for await (const chunk of s) yield chunk as Buffer;
  } catch {
    // The file was rotated away under us: what is left is in the next file.
  } finally {
    s.destroy();
  }
}
