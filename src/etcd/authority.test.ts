import { describe, expect, it } from "vitest";
import { AuthorityFixer, HpackDecoder } from "./authority.js";

/** The HPACK reader that lets etcdctl's `:authority: http://host:port` through (RFC 7541's own examples, then frames). */
describe("HpackDecoder", () => {
  it("reads RFC 7541 C.4's requests (Huffman, the dynamic table)", () => {
    const d = new HpackDecoder();
    expect(d.decode(Buffer.from("828684418cf1e3c2e5f23a6ba0ab90f4ff", "hex"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ]);
    expect(d.decode(Buffer.from("828684be5886a8eb10649cbf", "hex"))).toEqual([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ]);
  });
});

describe("AuthorityFixer", () => {
  const headersFrame = (block: Buffer): Buffer => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(block.length, 0, 3);
    h[3] = 1;
    h[4] = 0x4;
    h.writeUInt32BE(1, 5);
    return Buffer.concat([h, block]);
  };
  const literal = (n: string, v: string): Buffer => Buffer.concat([Buffer.from([0x40, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]);
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

  it("passes a connection through byte for byte while its :authority has no scheme", () => {
    const f = new AuthorityFixer();
    const bytes = Buffer.concat([preface, headersFrame(literal(":authority", "127.0.0.1:2379"))]);
    expect(f.take(bytes.subarray(0, 30))).toEqual(bytes.subarray(0, 24));
    expect(f.take(bytes.subarray(30))).toEqual(bytes.subarray(24));
  });

  it("cuts the scheme off an :authority that has one, as plain literals from then on", () => {
    const f = new AuthorityFixer();
    const out = f.take(Buffer.concat([preface, headersFrame(literal(":authority", "http://127.0.0.1:2379"))]));
    const block = out.subarray(24 + 9);
    expect(new HpackDecoder().decode(block)).toEqual([[":authority", "127.0.0.1:2379"]]);
    // The next block names the client's table entry: still read, and sent as a literal.
    const next = f.take(headersFrame(Buffer.from([0xbe])));
    expect(new HpackDecoder().decode(next.subarray(9))).toEqual([[":authority", "127.0.0.1:2379"]]);
  });
});
