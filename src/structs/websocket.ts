import type { Duplex } from "node:stream";

/**
 * The WebSocket protocol (RFC 6455) as Nomad's streaming exec speaks it: text messages of
 * JSON, pings answered, a close frame with a status code. The frame codec is pure; a
 * `WsConnection` runs it over a socket already upgraded (the API's side, or the CLI's).
 */
export const WsOp = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;
export type WsOp = (typeof WsOp)[keyof typeof WsOp];

/** The GUID RFC 6455 appends to the client's key for `Sec-WebSocket-Accept`. */
export const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Messages past this are refused (close 1009), as a frame of that size is no terminal's input. */
export const WS_MAX_MESSAGE = 16 * 1024 * 1024;

/** One frame's bytes: FIN set, masked with `mask` (4 bytes: a client's frames) or not (a server's). */
export function encodeWsFrame(op: WsOp, payload: Buffer, mask?: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask === undefined ? 0 : 4));
  head[0] = 0x80 | op;
  head[1] = (mask === undefined ? 0 : 0x80) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (mask === undefined) return Buffer.concat([head, payload]);
  mask.copy(head, 2 + ext);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([head, body]);
}

/** A whole message (fragments joined) or a control frame. */
export interface WsMessage {
  op: WsOp;
  data: Buffer;
}

/** Why a peer's bytes are not WebSocket frames, with the close code to answer. */
export class WsProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads frames from a byte stream; `push` returns the messages completed so far. */
export class WsFrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOp: WsOp | undefined;

  /** `masked`: what the peer must do (a server requires masked frames from its clients). */
  constructor(private readonly masked: boolean) {}

  push(chunk: Buffer): WsMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: WsMessage[] = [];
    for (;;) {
      const f = this.frame();
      if (f === undefined) return out;
      const m = this.message(f);
      if (m !== undefined) out.push(m);
    }
  }

  private frame(): { fin: boolean; op: number; data: Buffer } | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    const b0 = b[0] as number;
    const b1 = b[1] as number;
    if ((b0 & 0x70) !== 0) throw new WsProtocolError(1002, "reserved bits set in a frame");
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.masked) throw new WsProtocolError(1002, this.masked ? "a client's frame must be masked" : "a server's frame must not be masked");
    let len = b1 & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(WS_MAX_MESSAGE)) throw new WsProtocolError(1009, "a frame is too large");
      len = Number(big);
      at = 10;
    }
    if (len > WS_MAX_MESSAGE) throw new WsProtocolError(1009, "a frame is too large");
    const maskAt = at;
    if (masked) at += 4;
    if (b.length < at + len) return undefined;
    const data = Buffer.from(b.subarray(at, at + len));
    if (masked) for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) ^ (b[maskAt + (i % 4)] as number);
    this.buf = b.subarray(at + len);
    return { fin: (b0 & 0x80) !== 0, op: b0 & 0x0f, data };
  }

  private message(f: { fin: boolean; op: number; data: Buffer }): WsMessage | undefined {
    if (f.op >= 8) {
      if (!f.fin || f.data.length > 125) throw new WsProtocolError(1002, "a control frame must be whole and short");
      if (f.op !== WsOp.Close && f.op !== WsOp.Ping && f.op !== WsOp.Pong) throw new WsProtocolError(1002, `unknown opcode ${f.op}`);
      return { op: f.op, data: f.data };
    }
    if (f.op === WsOp.Continuation) {
      if (this.fragmentOp === undefined) throw new WsProtocolError(1002, "a continuation frame with no message to continue");
    } else if (f.op === WsOp.Text || f.op === WsOp.Binary) {
      if (this.fragmentOp !== undefined) throw new WsProtocolError(1002, "a new message before the last one ended");
      this.fragmentOp = f.op;
    } else {
      throw new WsProtocolError(1002, `unknown opcode ${f.op}`);
    }
    this.fragments.push(f.data);
    if (this.fragments.reduce((n, x) => n + x.length, 0) > WS_MAX_MESSAGE) throw new WsProtocolError(1009, "a message is too large");
    if (!f.fin) return undefined;
    const m = { op: this.fragmentOp, data: Buffer.concat(this.fragments) };
    this.fragments = [];
    this.fragmentOp = undefined;
    return m;
  }
}

/**
 * A WebSocket over an upgraded socket: text messages in and out, pings answered, the
 * closing handshake. `mask` makes the frames we send masked (the client's side).
 */
export class WsConnection {
  private readonly decoder: WsFrameDecoder;
  private closed = false;
  private readonly onText: ((text: string) => void)[] = [];
  private readonly onClose: ((code: number, reason: string) => void)[] = [];

  constructor(
    private readonly socket: Duplex,
    private readonly side: "server" | "client",
    head?: Buffer,
    private readonly randomMask: () => Buffer = () => Buffer.alloc(4),
  ) {
    this.decoder = new WsFrameDecoder(side === "server");
    socket.on("data", (chunk: Buffer) => {
      this.feed(chunk);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.ended(1006);
    });
    if (head !== undefined && head.length > 0) queueMicrotask(() => { this.feed(head); });
  }

  message(fn: (text: string) => void): void {
    this.onText.push(fn);
  }

  /** Called once when the connection ends, with the close code and reason (the peer's, or ours when we closed first; 1006: it went away without one). */
  closing(fn: (code: number, reason: string) => void): void {
    this.onClose.push(fn);
  }

  /** Whether the connection is still open (no close sent or received). */
  isOpen(): boolean {
    return !this.closed;
  }

  send(text: string): void {
    if (this.closed) return;
    this.write(WsOp.Text, Buffer.from(text, "utf8"));
  }

  /** Sends a close frame and ends our side; the peer closes the connection. */
  close(code = 1000, reason = ""): void {
    if (this.closed) return;
    const body = Buffer.alloc(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2);
    this.write(WsOp.Close, body.subarray(0, Math.min(body.length, 125)));
    this.ended(code, reason);
    this.socket.end();
    // A peer that never closes its side is not waited for.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private write(op: WsOp, payload: Buffer): void {
    if (this.socket.writableEnded || this.socket.destroyed) return;
    this.socket.write(encodeWsFrame(op, payload, this.side === "client" ? this.randomMask() : undefined));
  }

  private feed(chunk: Buffer): void {
    let messages: WsMessage[];
    try {
      messages = this.decoder.push(chunk);
    } catch (err) {
      this.close(err instanceof WsProtocolError ? err.code : 1002, err instanceof Error ? err.message : "");
      return;
    }
    for (const m of messages) {
      if (m.op === WsOp.Ping) this.write(WsOp.Pong, m.data);
      else if (m.op === WsOp.Close) {
        const code = m.data.length >= 2 ? m.data.readUInt16BE(0) : 1005;
        if (!this.closed) {
          this.write(WsOp.Close, m.data.subarray(0, 2));
          this.ended(code, m.data.subarray(2).toString("utf8"));
          this.socket.end();
        }
      } else if (m.op === WsOp.Text || m.op === WsOp.Binary) {
        if (this.closed) continue;
        const text = m.data.toString("utf8");
        for (const fn of this.onText) fn(text);
      }
    }
  }

  private ended(code: number, reason = ""): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.onClose) fn(code, reason);
  }
}
