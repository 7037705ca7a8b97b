/**
 * Docker's multiplexed output (logs and exec without a TTY): each frame is an 8-byte
 * header — stream (1 stdout, 2 stderr), three zero bytes, payload length (uint32 BE) —
 * then the payload. The engine writes one log message per frame, which is what lets the
 * log follower read each message's timestamp.
 */
export type FrameStream = "stdout" | "stderr";

export interface Frame {
  stream: FrameStream;
  payload: Buffer;
}

const HEADER = 8;

/** Cuts a byte stream into frames; feed it chunks as they arrive. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= HEADER) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < HEADER + size) break;
      // Stream 0 (stdin) never carries output; treat anything but stderr as stdout.
      const stream: FrameStream = this.buf[0] === 2 ? "stderr" : "stdout";
      out.push({ stream, payload: this.buf.subarray(HEADER, HEADER + size) });
      this.buf = this.buf.subarray(HEADER + size);
    }
    return out;
  }

  /** Bytes of an incomplete frame still held. */
  get pending(): number {
    return this.buf.length;
  }

  /** At the stream's end: an incomplete frame is not a message. */
  end(): Frame[] {
    return [];
  }
}

/**
 * A container with a terminal (`tty = true`) has one output stream, the terminal's, and the
 * engine sends its log unframed: each message (a line, with its timestamp first) as
 * written. Cut at each newline, all of it stdout (as `docker logs` shows it).
 */
export class LineReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    for (let nl = this.buf.indexOf(0x0a); nl >= 0; nl = this.buf.indexOf(0x0a)) {
      out.push({ stream: "stdout", payload: this.buf.subarray(0, nl + 1) });
      this.buf = this.buf.subarray(nl + 1);
    }
    return out;
  }

  /** At the stream's end: what came after the last newline is a message too. */
  end(): Frame[] {
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest.length === 0 ? [] : [{ stream: "stdout", payload: rest }];
  }
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/**
 * An RFC 3339 timestamp with up to nanoseconds ("2024-05-01T10:00:00.123456789Z") as
 * nanoseconds since the epoch; null when it is not one. Docker stamps log messages to the
 * nanosecond, more than a Date holds, and resuming without duplicates compares them exactly.
 */
export function timestampNanos(ts: string): bigint | null {
  const m = TIMESTAMP.exec(ts);
  if (m === null) return null;
  const [, whole = "", frac = "", zone = ""] = m;
  const ms = Date.parse(`${whole}${zone}`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, "0"));
}

/** Nanoseconds as the logs endpoint's `since` ("1714557600.123456789"). */
export function sinceParam(nanos: bigint): string {
  const sec = nanos / 1_000_000_000n;
  const frac = nanos % 1_000_000_000n;
  return `${sec}.${frac.toString().padStart(9, "0")}`;
}

/**
 * A log message with `timestamps=true`: "<RFC 3339 timestamp> <bytes as written>". The
 * timestamp is null if the payload does not start with one (then all of it is the text).
 */
export function splitTimestamp(payload: Buffer): { ts: string; nanos: bigint; text: Buffer } | { ts: null; text: Buffer } {
  const space = payload.indexOf(0x20);
  if (space > 0 && space <= 40) {
    const ts = payload.subarray(0, space).toString("latin1");
    const nanos = timestampNanos(ts);
    if (nanos !== null) return { ts, nanos, text: payload.subarray(space + 1) };
  }
  return { ts: null, text: payload };
}
