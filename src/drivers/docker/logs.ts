import { Readable } from "node:stream";
import type Dockerode from "dockerode";
import { sleep, type Logger } from "../../structs/index.js";
import type { TaskSpec } from "../driver.js";
import { RotatingLog } from "../shared/index.js";
import { engineMessage, engineStatus } from "./errors.js";
import { FrameReader, LineReader, sinceParam, splitTimestamp, timestampNanos, type Frame, type FrameStream } from "./frames.js";

export interface LogFollowerOptions {
  container: Dockerode.Container;
  /** Timestamp of the last message already written (the handle's `lastLogTime`); "" for none. */
  after: string;
  /** Called after each message is written, with the newest timestamp written so far. */
  progress(ts: string): void;
  log: Logger;
  /** Pause before following again after the stream broke while the container ran. */
  retryMs?: number;
  /** The container has a terminal (`tty = true`): its log comes unframed, all of it stdout. */
  tty?: boolean;
}

/** The task's output streams, each rotated by size as it is written (`RotatingLog`). */
export interface LogFiles {
  stdout: RotatingLog;
  stderr: RotatingLog;
}

/**
 * Copies a container's output into the task's stdout and stderr files, rotating them by
 * size as it writes (Nomad's `<task>.stdout.N`), which the client serves. It follows the
 * engine's log endpoint with timestamps and remembers each stream's newest timestamp
 * written, so a read that starts again (after the stream broke, or after an agent restart,
 * from the handle's `lastLogTime`) drops what the engine repeats at the boundary (its
 * `since` is inclusive). Messages with exactly the boundary's timestamp that were not yet
 * written are lost: best effort, at nanosecond resolution.
 *
 * What one chunk from the engine holds is written in one write per stream. A follower that
 * falls behind a chatty container loses what the engine's own log files (json-file, see
 * `engineLogConfig`) rotate away before it is read: the engine serves its log endpoint at
 * about 100,000 lines a second here, and a container can write faster.
 *
 * When the container has exited and the engine ended the follow, what the engine still
 * holds is read again until nothing new comes (`catchUp`): the engine may end a follow at
 * the exit before it sent the last lines. The follower ends by itself then, and when
 * stopped (the driver closing, or a destroy of a container still running; see `drained`).
 */
export class LogFollower {
  /** Resolves when the follower has ended; never rejects. */
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  /** Each stream's newest message written: a stream's messages come in order, the two streams' not. */
  private readonly last: Record<FrameStream, bigint | null>;
  /**
   * How many messages of each stream carry exactly `last`'s timestamp, written: podman's
   * timestamps are whole seconds, so one second holds many messages, and a pass resumed from
   * that second skips only as many of them as were written (none known after an agent
   * restart: all of that second's are taken as written).
   */
  private readonly lastCount: Record<FrameStream, number>;
  /** In the current pass, how many messages of each stream with `last`'s timestamp came by. */
  private passSeen: Record<FrameStream, number> = { stdout: 0, stderr: 0 };
  /** The newest message written of either stream: the handle's resume point. */
  private newest: bigint | null;
  private failures = 0;
  /** Bumped at each write: `drained` tells a follower still copying from one that is stuck. */
  private writes = 0;
  private ended = false;

  private constructor(
    private readonly o: LogFollowerOptions,
    files: LogFiles,
  ) {
    const after = o.after === "" ? null : timestampNanos(o.after);
    this.last = { stdout: after, stderr: after };
    this.lastCount = { stdout: Number.POSITIVE_INFINITY, stderr: Number.POSITIVE_INFINITY };
    this.newest = after;
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

  /**
   * For a container that has exited: resolves once the follower has ended, or has written
   * nothing for `idleMs` (the engine does not answer). A chatty container's output takes as
   * long as it takes to copy, and stopping the follower before it is copied would lose its
   * last lines. For a container still running (destroyed while it runs), at once.
   */
  async drained(idleMs: number): Promise<void> {
    if (this.hasEnded() || (await this.containerState()) === "running") return;
    let seen = -1;
    while (!this.hasEnded() && seen !== this.writes) {
      seen = this.writes;
      await Promise.race([this.done, sleep(idleMs)]);
    }
  }

  /** A method, not a getter: the answer changes across awaits, and narrowing must not assume otherwise. */
  private stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /** Likewise a method. */
  private hasEnded(): boolean {
    return this.ended;
  }

  private async run(files: LogFiles): Promise<void> {
    try {
      while (!this.stopped()) {
        const followed = await this.pass(files, true);
        if (this.stopped()) break;
        const state = await this.containerState();
        if (state === "gone") break;
        if (state === "exited" && followed.ended && (await this.catchUp(files))) break;
        // The stream broke (the engine restarted?) or the container still runs: follow again
        // from the last message written; an exited container's remaining output comes at once.
        await sleep(this.o.retryMs ?? 1000, this.abort.signal);
      }
    } finally {
      this.ended = true;
      await closeLogFiles(files);
    }
  }

  /**
   * The engine may end a follow at the container's exit before it sent all the container
   * wrote (a chatty task's last lines): reads what the engine kept, from each stream's last
   * message written, until a read brings nothing new. False when a read broke.
   */
  private async catchUp(files: LogFiles): Promise<boolean> {
    for (;;) {
      const r = await this.pass(files, false);
      if (this.stopped() || !r.ended) return r.ended;
      if (r.written === 0) return true;
    }
  }

  /**
   * Reads the engine's log once (following it or not) from the older of the two streams'
   * resume points; `ended` when the engine ended the stream, false when it broke.
   */
  private async pass(files: LogFiles, follow: boolean): Promise<{ ended: boolean; written: number }> {
    const { stdout, stderr } = this.last;
    const resumeFrom = stdout === null || stderr === null ? null : stdout < stderr ? stdout : stderr;
    const opts: Dockerode.ContainerLogsOptions = { follow, stdout: true, stderr: true, timestamps: true, abortSignal: this.abort.signal };
    if (resumeFrom !== null) opts.since = sinceParam(resumeFrom);
    this.passSeen = { stdout: 0, stderr: 0 };
    let written = 0;
    let stream: AsyncIterable<Buffer | string>;
    try {
      stream = await this.logs(opts);
    } catch (err) {
      if (!this.stopped() && engineStatus(err) !== 404) this.failed(err);
      return { ended: false, written };
    }
    const destroy = (): void => {
      if (stream instanceof Readable) stream.destroy();
    };
    this.abort.signal.addEventListener("abort", destroy, { once: true });
    const frames = this.o.tty === true ? new LineReader() : new FrameReader();
    try {
      for await (const chunk of stream) {
        written += await this.write(files, frames.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk));
      }
      written += await this.write(files, frames.end());
      this.failures = 0;
      return { ended: true, written };
    } catch (err) {
      if (!this.stopped()) this.failed(err);
      return { ended: false, written };
    } finally {
      this.abort.signal.removeEventListener("abort", destroy);
    }
  }

  /**
   * Writes the new messages of one chunk, one write per stream, and moves the streams'
   * resume points; returns how many it wrote. A message of a stream no newer than the last
   * one written of it was written before (the engine's `since` is inclusive; of one with
   * the same timestamp, as many as were written of that timestamp: see `lastCount`).
   */
  private async write(files: LogFiles, frames: Frame[]): Promise<number> {
    const text: Record<FrameStream, Buffer[]> = { stdout: [], stderr: [] };
    let newest: { ts: string; nanos: bigint } | null = null;
    for (const f of frames) {
      const m = splitTimestamp(f.payload);
      const last = this.last[f.stream];
      if (m.ts !== null && last !== null && m.nanos < last) continue;
      if (m.ts !== null && last !== null && m.nanos === last && ++this.passSeen[f.stream] <= this.lastCount[f.stream]) continue;
      text[f.stream].push(m.text);
      if (m.ts === null) continue;
      if (last !== null && m.nanos === last) this.lastCount[f.stream]++;
      else {
        this.last[f.stream] = m.nanos;
        this.lastCount[f.stream] = 1;
        this.passSeen[f.stream] = 1;
      }
      if (newest === null || m.nanos > newest.nanos) newest = { ts: m.ts, nanos: m.nanos };
    }
    if (text.stdout.length > 0) await files.stdout.write(Buffer.concat(text.stdout));
    if (text.stderr.length > 0) await files.stderr.write(Buffer.concat(text.stderr));
    this.writes++;
    // The handle keeps the newest of the two: resuming after an agent restart is best effort.
    if (newest !== null && (this.newest === null || newest.nanos > this.newest)) {
      this.newest = newest.nanos;
      this.o.progress(newest.ts);
    }
    return text.stdout.length + text.stderr.length;
  }

  /** The engine's answer as chunks: dockerode answers a follow with a stream, and a read without one with a buffer. */
  private async logs(opts: Dockerode.ContainerLogsOptions): Promise<AsyncIterable<Buffer | string>> {
    const res: unknown = await this.o.container.logs(opts as Dockerode.ContainerLogsOptions & { follow: true });
    if (Buffer.isBuffer(res)) return [res].values() as unknown as AsyncIterable<Buffer>;
    return res as AsyncIterable<Buffer | string>;
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
 * Opens the task's output streams, each at its newest file (created if none). Opened before
 * the container starts, so a start fails with a clear error when they cannot be written.
 */
export async function openLogFiles(spec: Pick<TaskSpec, "stdoutPath" | "stderrPath" | "logLimits">): Promise<LogFiles> {
  const stdout = await RotatingLog.open(spec.stdoutPath, spec.logLimits);
  try {
    return { stdout, stderr: await RotatingLog.open(spec.stderrPath, spec.logLimits) };
  } catch (err) {
    await stdout.close();
    throw err;
  }
}

/** Closes files a follower never took over. */
export async function closeLogFiles(files: LogFiles): Promise<void> {
  await Promise.allSettled([files.stdout.close(), files.stderr.close()]);
}
