import { describe, expect, it } from "vitest";
import { FrameReader, LineReader, sinceParam, splitTimestamp, timestampNanos } from "./frames.js";

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

describe("FrameReader", () => {
  it("reassembles frames cut anywhere across chunks", () => {
    const bytes = Buffer.concat([frame(1, "out one\n"), frame(2, "err\n"), frame(1, "out two\n")]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = new FrameReader();
      const got = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))].map((f) => `${f.stream}:${f.payload.toString()}`);
      expect(got).toEqual(["stdout:out one\n", "stderr:err\n", "stdout:out two\n"]);
      expect(r.pending).toBe(0);
    }
  });
});

describe("timestamps", () => {
  it("keeps docker's nanoseconds exactly", () => {
    const n = timestampNanos("2024-05-01T10:00:00.123456789Z");
    expect(n).toBe(1714557600123456789n);
    expect(sinceParam(n ?? 0n)).toBe("1714557600.123456789");
    expect(timestampNanos("2024-05-01T12:00:00.5+02:00")).toBe(1714557600500000000n);
    expect(timestampNanos("yesterday")).toBeNull();
  });

  it("splits a message's timestamp from its bytes, and leaves a message without one whole", () => {
    const m = splitTimestamp(Buffer.from("2024-05-01T10:00:00.000000001Z hello world\n"));
    expect(m.ts).toBe("2024-05-01T10:00:00.000000001Z");
    expect(m.text.toString()).toBe("hello world\n");
    const raw = splitTimestamp(Buffer.from("no stamp here\n"));
    expect(raw.ts).toBeNull();
    expect(raw.text.toString()).toBe("no stamp here\n");
  });

  it("reads a terminal's unframed log line by line, all of it stdout, the unfinished last line at the end", () => {
    const r = new LineReader();
    const text = (fs: { stream: string; payload: Buffer }[]): string[] => fs.map((f) => `${f.stream}:${f.payload.toString()}`);
    expect(text(r.push(Buffer.from("2024-05-01T10:00:00Z one\r\n2024-05-01T10:00:01Z tw")))).toEqual(["stdout:2024-05-01T10:00:00Z one\r\n"]);
    expect(text(r.push(Buffer.from("o\r\n2024-05-01T10:00:02Z prompt> ")))).toEqual(["stdout:2024-05-01T10:00:01Z two\r\n"]);
    expect(text(r.end())).toEqual(["stdout:2024-05-01T10:00:02Z prompt> "]);
    expect(r.end()).toEqual([]);
  });
});
