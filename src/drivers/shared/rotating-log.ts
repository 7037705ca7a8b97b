import { mkdir, open, readdir, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { LogLimits } from "../driver.js";

/**
 * A task's output stream on disk, as Nomad lays it out: `<task>.stdout.0`, `.1`, `.2`, …;
 * the highest index is the file being written, and only the newest `maxFiles` are kept.
 * `first` is the stream's first file (`TaskSpec.stdoutPath`, ending in `.0`).
 */
export function streamPrefix(first: string): string {
  if (!first.endsWith(".0")) throw new RucheError(ErrorCode.Internal, `a task's first output file ends in ".0", not ${first}`);
  return first.slice(0, -2);
}

/** The indexes of a stream's files present in its directory, lowest first. */
export async function streamIndexes(prefix: string): Promise<number[]> {
  const start = `${basename(prefix)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(prefix));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(start) && /^\d+$/.test(n.slice(start.length)))
    .map((n) => Number(n.slice(start.length)))
    .sort((a, b) => a - b);
}

/** Removes a stream's files that are not among the `keep` newest when `newest` is the newest. */
async function purge(prefix: string, newest: number, keep: number): Promise<void> {
  for (const i of await streamIndexes(prefix)) {
    if (i <= newest - keep) await rm(`${prefix}.${i}`, { force: true });
  }
}

/**
 * The writer of one stream (the docker driver's, which copies a container's output): it
 * rotates by size as the bytes arrive, so the stream never holds more than
 * `maxFiles × maxFileBytes`. A write that does not fit the current file is split at the
 * limit, and the rest goes on in the next one. A writer started on a stream that already
 * has files (a restarted task, an agent restarted) appends to the newest.
 */
export class RotatingLog {
  private constructor(
    private readonly prefix: string,
    private readonly limits: LogLimits,
    private file: FileHandle,
    private index: number,
    private size: number,
  ) {}

  static async open(first: string, limits: LogLimits): Promise<RotatingLog> {
    const prefix = streamPrefix(first);
    await mkdir(dirname(prefix), { recursive: true });
    const index = (await streamIndexes(prefix)).at(-1) ?? 0;
    await purge(prefix, index, limits.maxFiles);
    const file = await open(`${prefix}.${index}`, "a");
    try {
      return new RotatingLog(prefix, limits, file, index, (await file.stat()).size);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** The file being written. */
  get path(): string {
    return join(dirname(this.prefix), `${basename(this.prefix)}.${this.index}`);
  }

  async write(data: Buffer | string): Promise<void> {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) {
      if (this.size >= this.limits.maxFileBytes) await this.next();
      const take = Math.min(buf.length - off, this.limits.maxFileBytes - this.size);
      await this.file.write(buf, off, take);
      off += take;
      this.size += take;
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }

  /** Moves on to the next file; the oldest beyond `maxFiles` goes first, so the bound holds at every moment. */
  private async next(): Promise<void> {
    await this.file.close();
    this.index += 1;
    await purge(this.prefix, this.index, this.limits.maxFiles);
    this.file = await open(`${this.prefix}.${this.index}`, "a");
    this.size = (await this.file.stat()).size;
  }
}
