import { mkdir, open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import type Dockerode from "dockerode";
import { sleep, type Logger } from "../../structs/index.js";
import { engineMessage, engineStatus } from "./errors.js";
import { FrameReader, sinceParam, splitTimestamp, timestampNanos, type Frame } from "./frames.js";

export interface LogFollowerOptions {
  container: Dockerode.Container;
  /** Timestamp of the last message already written (the handle's `lastLogTime`); "" for none. */
  after: string;
  /** Called after each message is written, with the newest timestamp written so far. */
  progress(ts: string): void;
  log: Logger;
  /** Pause before following again after the stream broke while the container ran. */
  retryMs?: number;
}

/** The task's output files, open for appending. */
export interface LogFiles {
  stdout: FileHandle;
  stderr: FileHandle;
}

/**
 * Copies a container's output into the task's stdout and stderr files, the ones the client
 * rotates and serves. It follows the engine's log endpoint with timestamps and remembers
 * the newest timestamp written, so a follower started after an agent restart asks only for
 * what came after it and drops what the engine repeats at the boundary (its `since` is
 * inclusive). Messages with exactly the boundary's timestamp that were not yet written are
 * lost: best effort, at nanosecond resolution.
 *
 * The files are opened for appending: when the client truncates one after copying it, the
 * next write lands at the new end rather than leaving a hole.
 *
 * It ends by itself once the container has exited and its output is all written, and when
 * stopped (destroy, or the driver closing).
 */
export class LogFollower {
  /** Resolves when the follower has ended; never rejects. */
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private lastNanos: bigint | null;
  private failures = 0;

  private constructor(
    private readonly o: LogFollowerOptions,
    files: LogFiles,
  ) {
    this.lastNanos = o.after === "" ? null : timestampNanos(o.after);
    this.done = this.run(files);
  }

  /**
   * Starts following into `files` (from `openLogFiles`), which the follower closes when it
   * ends. Start it once the container runs: the engine ends a follow at once for a
   * container that is not running, which would read as "exited".
   */
  static follow(o: LogFollowerOptions, files: LogFiles): LogFollower {
    return new LogFollower(o, files);
  }

  /** Stops following (the files keep what was written). */
  stop(): void {
    this.abort.abort();
  }

  /** A method, not a getter: the answer changes across awaits, and narrowing must not assume otherwise. */
  private stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(files: LogFiles): Promise<void> {
    try {
      while (!this.stopped()) {
        const clean = await this.pass(files);
        if (this.stopped()) break;
        const state = await this.containerState();
        if (state === "gone" || (state === "exited" && clean)) break;
        // The stream broke (the engine restarted?) or the container still runs: follow again
        // from the last message written; an exited container's remaining output comes at once.
        await sleep(this.o.retryMs ?? 1000, this.abort.signal);
      }
    } finally {
      await closeLogFiles(files);
    }
  }

  /** Follows once; true when the engine ended the stream (the container exited), false when it broke. */
  private async pass(files: LogFiles): Promise<boolean> {
    const resumeFrom = this.lastNanos;
    const opts: Dockerode.ContainerLogsOptions & { follow: true } = { follow: true, stdout: true, stderr: true, timestamps: true, abortSignal: this.abort.signal };
    if (resumeFrom !== null) opts.since = sinceParam(resumeFrom);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.o.container.logs(opts);
    } catch (err) {
      if (!this.stopped() && engineStatus(err) !== 404) this.failed(err);
      return false;
    }
    const destroy = (): void => {
      if (stream instanceof Readable) stream.destroy();
    };
    this.abort.signal.addEventListener("abort", destroy, { once: true });
    const frames = new FrameReader();
    try {
      for await (const chunk of stream) {
        for (const f of frames.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)) await this.write(files, f, resumeFrom);
      }
      this.failures = 0;
      return true;
    } catch (err) {
      if (!this.stopped()) this.failed(err);
      return false;
    } finally {
      this.abort.signal.removeEventListener("abort", destroy);
    }
  }

  private async write(files: LogFiles, f: Frame, resumeFrom: bigint | null): Promise<void> {
    const m = splitTimestamp(f.payload);
    if (m.ts !== null && resumeFrom !== null && m.nanos <= resumeFrom) return;
    await (f.stream === "stderr" ? files.stderr : files.stdout).appendFile(m.text);
    // stdout and stderr are copied by separate engine goroutines and may arrive slightly out
    // of order; the newest timestamp is the resume point.
    if (m.ts !== null && (this.lastNanos === null || m.nanos > this.lastNanos)) {
      this.lastNanos = m.nanos;
      this.o.progress(m.ts);
    }
  }

  private async containerState(): Promise<"running" | "exited" | "gone" | "unknown"> {
    try {
      const info = await this.o.container.inspect();
      const s = info.State;
      return s.Running || s.Paused || s.Restarting ? "running" : "exited";
    } catch (err) {
      if (engineStatus(err) === 404) return "gone";
      this.failed(err);
      return "unknown";
    }
  }

  /** Warns once per outage; the retries that follow are debug noise. */
  private failed(err: unknown): void {
    const fields = { container: this.o.container.id, err: engineMessage(err) };
    if (this.failures++ === 0) this.o.log.warn(fields, "following the container's output failed; retrying");
    else this.o.log.debug(fields, "following the container's output failed again");
  }
}

/**
 * Opens the task's output files for appending, creating them. Opened before the container
 * starts, so a start fails with a clear error when they cannot be written.
 */
export async function openLogFiles(stdoutPath: string, stderrPath: string): Promise<LogFiles> {
  await mkdir(dirname(stdoutPath), { recursive: true });
  await mkdir(dirname(stderrPath), { recursive: true });
  const stdout = await open(stdoutPath, "a");
  try {
    return { stdout, stderr: await open(stderrPath, "a") };
  } catch (err) {
    await stdout.close();
    throw err;
  }
}

/** Closes files a follower never took over. */
export async function closeLogFiles(files: LogFiles): Promise<void> {
  await Promise.allSettled([files.stdout.close(), files.stderr.close()]);
}
