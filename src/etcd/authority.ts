import { Duplex } from "node:stream";
import type { Socket } from "node:net";

/**
 * etcdctl's per-endpoint clients (`endpoint status`, `endpoint health`, `defrag`) dial
 * `http://host:port` as a gRPC target of its own and send that whole URL as HTTP/2's
 * `:authority`, which Node's HTTP/2 (nghttp2) refuses as a protocol error before any handler
 * sees the call. etcd (Go) takes it. So the gRPC side reads what a client sends through this
 * stream: it follows the client's HPACK state (RFC 7541) and passes every frame on as it is,
 * until a header block names an `:authority` with a scheme; that block and every one after are
 * sent again as plain literals (no index, nothing added to the server's table) with the scheme
 * cut off. A block it cannot read while passing frames through leaves the connection as it is.
 */
export function authorityFixer(socket: Socket): Duplex {
  const fixer = new AuthorityFixer();
  const out = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  socket.on("data", (d: Buffer) => {
    let frames: Buffer;
    try {
      frames = fixer.take(d);
    } catch (err) {
      out.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (frames.length > 0 && !out.push(frames)) socket.pause();
  });
  socket.on("end", () => out.push(null));
  socket.on("error", (err) => out.destroy(err));
  socket.on("close", () => out.destroy());
  return out;
}

const PREFACE_LENGTH = 24;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const MAX_FRAME = 16_384;

/** The frame-level rewriter: bytes in, bytes out (whole frames). */
export class AuthorityFixer {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceLeft = PREFACE_LENGTH;
  private readonly hpack = new HpackDecoder();
  /** Header block frames held until the block ends. */
  private block: Buffer[] = [];
  private blockFrames: Buffer[] = [];
  private blockStream = 0;
  private blockFlags = 0;
  /** true once a block was rewritten: from then on every block is. */
  private rewriting = false;
  /** false once a block could not be read (passing through): nothing is rewritten after. */
  private following = true;

  take(d: Buffer): Buffer {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    const out: Buffer[] = [];
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, this.buf.length);
      out.push(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      this.prefaceLeft -= n;
    }
    while (this.prefaceLeft === 0 && this.buf.length >= 9) {
      const length = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + length) break;
      const frame = this.buf.subarray(0, 9 + length);
      this.buf = this.buf.subarray(9 + length);
      const type = frame[3] ?? 0;
      if (!this.following || (type !== HEADERS && type !== CONTINUATION)) {
        out.push(frame);
        continue;
      }
      const flags = frame[4] ?? 0;
      let payload = frame.subarray(9);
      if (type === HEADERS) {
        this.blockStream = frame.readUInt32BE(5) & 0x7fffffff;
        this.blockFlags = flags;
        let pad = 0;
        if ((flags & PADDED) !== 0) {
          pad = payload[0] ?? 0;
          payload = payload.subarray(1);
        }
        if ((flags & PRIORITY) !== 0) payload = payload.subarray(5);
        payload = payload.subarray(0, payload.length - pad);
      }
      this.block.push(payload);
      this.blockFrames.push(frame);
      if ((flags & END_HEADERS) === 0) continue;
      out.push(this.endBlock());
    }
    return Buffer.concat(out);
  }

  private endBlock(): Buffer {
    const block = Buffer.concat(this.block);
    const original = Buffer.concat(this.blockFrames);
    this.block = [];
    this.blockFrames = [];
    let headers: [string, string][];
    try {
      headers = this.hpack.decode(block);
    } catch (err) {
      if (this.rewriting) throw err;
      this.following = false;
      return original;
    }
    const authority = headers.find(([n]) => n === ":authority");
    if (!this.rewriting && (authority === undefined || !authority[1].includes("://"))) return original;
    this.rewriting = true;
    const fixed = headers.map(([n, v]): [string, string] => (n === ":authority" ? [n, v.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/\/.*$/, "")] : [n, v]));
    return frames(this.blockStream, this.blockFlags & END_STREAM, encodeLiterals(fixed));
  }
}

/** A header block as HEADERS (+ CONTINUATION) frames. */
function frames(stream: number, endStream: number, block: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  let first = true;
  do {
    const part = block.subarray(at, at + MAX_FRAME);
    at += part.length;
    const h = Buffer.alloc(9);
    h.writeUIntBE(part.length, 0, 3);
    h[3] = first ? HEADERS : CONTINUATION;
    h[4] = (first ? endStream : 0) | (at >= block.length ? END_HEADERS : 0);
    h.writeUInt32BE(stream, 5);
    out.push(h, part);
    first = false;
  } while (at < block.length);
  return Buffer.concat(out);
}

/** Headers as HPACK literals without indexing, names and values as they are (no Huffman). */
function encodeLiterals(headers: [string, string][]): Buffer {
  const out: Buffer[] = [];
  for (const [n, v] of headers) out.push(Buffer.from([0]), hpackString(n), hpackString(v));
  return Buffer.concat(out);
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, "latin1");
  return Buffer.concat([hpackInt(bytes.length, 7, 0), bytes]);
}

function hpackInt(n: number, prefix: number, first: number): Buffer {
  const max = (1 << prefix) - 1;
  if (n < max) return Buffer.from([first | n]);
  const out = [first | max];
  let rest = n - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** RFC 7541's static table (Appendix A). */
const STATIC: [string, string][] = [
  [":authority", ""], [":method", "GET"], [":method", "POST"], [":path", "/"], [":path", "/index.html"], [":scheme", "http"], [":scheme", "https"],
  [":status", "200"], [":status", "204"], [":status", "206"], [":status", "304"], [":status", "400"], [":status", "404"], [":status", "500"],
  ["accept-charset", ""], ["accept-encoding", "gzip, deflate"], ["accept-language", ""], ["accept-ranges", ""], ["accept", ""],
  ["access-control-allow-origin", ""], ["age", ""], ["allow", ""], ["authorization", ""], ["cache-control", ""], ["content-disposition", ""],
  ["content-encoding", ""], ["content-language", ""], ["content-length", ""], ["content-location", ""], ["content-range", ""], ["content-type", ""],
  ["cookie", ""], ["date", ""], ["etag", ""], ["expect", ""], ["expires", ""], ["from", ""], ["host", ""], ["if-match", ""], ["if-modified-since", ""],
  ["if-none-match", ""], ["if-range", ""], ["if-unmodified-since", ""], ["last-modified", ""], ["link", ""], ["location", ""], ["max-forwards", ""],
  ["proxy-authenticate", ""], ["proxy-authorization", ""], ["range", ""], ["referer", ""], ["refresh", ""], ["retry-after", ""], ["server", ""],
  ["set-cookie", ""], ["strict-transport-security", ""], ["transfer-encoding", ""], ["user-agent", ""], ["vary", ""], ["via", ""], ["www-authenticate", ""],
];

/** The client's side of HPACK: its dynamic table, as the server's decoder keeps it. */
export class HpackDecoder {
  private table: [string, string][] = [];
  private size = 0;
  private max = 4096;

  decode(b: Buffer): [string, string][] {
    const out: [string, string][] = [];
    let at = 0;
    const int = (prefix: number): number => {
      const max = (1 << prefix) - 1;
      let n = (b[at++] ?? 0) & max;
      if (n < max) return n;
      let shift = 0;
      for (;;) {
        if (at >= b.length) throw new Error("hpack: truncated integer");
        const c = b[at++] ?? 0;
        n += (c & 127) * 2 ** shift;
        shift += 7;
        if ((c & 128) === 0) return n;
        if (shift > 28) throw new Error("hpack: integer too large");
      }
    };
    const str = (): string => {
      const huffman = ((b[at] ?? 0) & 0x80) !== 0;
      const len = int(7);
      if (at + len > b.length) throw new Error("hpack: truncated string");
      const raw = b.subarray(at, at + len);
      at += len;
      return (huffman ? huffmanDecode(raw) : raw).toString("latin1");
    };
    const entry = (i: number): [string, string] => {
      const e = i <= STATIC.length ? STATIC[i - 1] : this.table[i - STATIC.length - 1];
      if (e === undefined || i === 0) throw new Error(`hpack: no entry ${i}`);
      return e;
    };
    while (at < b.length) {
      const c = b[at] ?? 0;
      if ((c & 0x80) !== 0) out.push(entry(int(7)));
      else if ((c & 0x40) !== 0) {
        const i = int(6);
        const name = i === 0 ? str() : entry(i)[0];
        const h: [string, string] = [name, str()];
        out.push(h);
        this.add(h);
      } else if ((c & 0x20) !== 0) {
        this.max = int(5);
        this.evict(0);
      } else {
        const i = int(4);
        const name = i === 0 ? str() : entry(i)[0];
        out.push([name, str()]);
      }
    }
    return out;
  }

  private add(h: [string, string]): void {
    const n = h[0].length + h[1].length + 32;
    this.evict(n);
    if (n > this.max) return;
    this.table.unshift(h);
    this.size += n;
  }

  private evict(room: number): void {
    while (this.size + room > this.max && this.table.length > 0) {
      const e = this.table.pop();
      if (e !== undefined) this.size -= e[0].length + e[1].length + 32;
    }
  }
}

/** RFC 7541 Appendix B: each byte's Huffman code and its length in bits. */
const CODES = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3, 0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3, 0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
];
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];
/** code length → (code → byte). */
const BY_LENGTH = new Map<number, Map<number, number>>();
CODES.forEach((code, sym) => {
  const len = LENGTHS[sym] ?? 0;
  let m = BY_LENGTH.get(len);
  if (m === undefined) {
    m = new Map();
    BY_LENGTH.set(len, m);
  }
  m.set(code, sym);
});

function huffmanDecode(src: Buffer): Buffer {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of src) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const sym = BY_LENGTH.get(len)?.get(code);
      if (sym !== undefined) {
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > 30) throw new Error("hpack: bad Huffman code");
    }
  }
  // What is left must be the EOS code's first bits (all ones), under 8 of them.
  if (len > 7 || code !== 2 ** len - 1) throw new Error("hpack: bad Huffman padding");
  return Buffer.from(out);
}
