import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { sleep } from "../structs/index.js";

/**
 * Task output, laid out as Nomad lays it out: each stream of a task is the files
 * `<task>.<stream>.0`, `.1`, `.2`, … in the allocation's `alloc/logs/`. The driver's writer
 * fills the highest index and begins the next one when it is full, having removed the oldest
 * beyond `logs { max_files }`; nothing here renames, truncates or removes a file.
 */
export type LogStream = "stdout" | "stderr";

export function logPath(logDir: string, task: string, stream: LogStream, n = 0): string {
  return join(logDir, `${task}.${stream}.${n}`);
}

/** The indexes of the stream's files, oldest (lowest) first. */
async function logIndexes(logDir: string, task: string, stream: LogStream): Promise<number[]> {
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
    .sort((a, b) => a - b);
}

/** The stream's files, oldest first; the last is the one being written. */
export async function logFiles(logDir: string, task: string, stream: LogStream): Promise<string[]> {
  return (await logIndexes(logDir, task, stream)).map((i) => logPath(logDir, task, stream, i));
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

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

/**
 * Reads a task's output: its files oldest first, and with `follow` what is written after,
 * across rotations: a file is done once a newer one exists (the writer fills one file at a
 * time), so the follower reads what is left of it and moves on. A file removed before the
 * follower got to it (it fell behind by more than `max_files`) is skipped.
 */
export async function* readLogs(logDir: string, task: string, stream: LogStream, opts: ReadLogOptions): AsyncGenerator<Buffer> {
  const indexes = await logIndexes(logDir, task, stream);
  const sizes = await Promise.all(indexes.map(async (i) => (await sizeOf(logPath(logDir, task, stream, i))) ?? 0));
  let skip = opts.tailBytes === undefined ? 0 : Math.max(0, sizes.reduce((a, b) => a + b, 0) - opts.tailBytes);
  // Where the follower goes on: the newest file, from what was read of it.
  let current = indexes.at(-1) ?? 0;
  let offset = 0;
  for (let k = 0; k < indexes.length; k++) {
    const i = indexes[k] as number;
    const size = sizes[k] ?? 0;
    const from = Math.min(skip, size);
    skip -= from;
    // A file may grow while it is read: read up to its size now, follow the rest.
    if (size > from) yield* readRange(logPath(logDir, task, stream, i), from, size);
    offset = size;
  }
  if (!opts.follow) return;
  const poll = opts.pollMs ?? 250;
  while (!opts.signal.aborted) {
    const file = logPath(logDir, task, stream, current);
    const size = await sizeOf(file);
    if (size !== undefined && size > offset) {
      yield* readRange(file, offset, size);
      offset = size;
      continue;
    }
    const next = (await logIndexes(logDir, task, stream)).find((i) => i > current);
    if (next !== undefined) {
      // The writer has moved on: what it wrote here before it did is all there is.
      const last = await sizeOf(file);
      if (last !== undefined && last > offset) yield* readRange(file, offset, last);
      current = next;
      offset = 0;
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
    // Removed under us (the writer dropped the oldest file): what is left is in newer files.
  } finally {
    s.destroy();
  }
}
