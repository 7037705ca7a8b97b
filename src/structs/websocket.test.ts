import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { encodeWsFrame, WsConnection, WsFrameDecoder, WsOp, WsProtocolError } from "./websocket.js";

const MASK = Buffer.from([1, 2, 3, 4]);

describe("WebSocket frames (RFC 6455)", () => {
  it("decodes a client's masked frames of each length form, split anywhere", () => {
    for (const size of [0, 5, 125, 126, 65_535, 65_536, 200_000]) {
      const payload = Buffer.alloc(size, "x");
      const bytes = encodeWsFrame(WsOp.Text, payload, MASK);
      const d = new WsFrameDecoder(true);
      const out = [...d.push(bytes.subarray(0, 3)), ...d.push(bytes.subarray(3, 11)), ...d.push(bytes.subarray(11))];
      expect(out).toHaveLength(1);
      expect(out[0]?.op).toBe(WsOp.Text);
      expect(out[0]?.data.equals(payload)).toBe(true);
    }
  });

  it("joins fragments, passes control frames between them, and refuses what breaks the protocol", () => {
    const first = encodeWsFrame(WsOp.Text, Buffer.from("he"), MASK);
    first[0] = (first[0] as number) & 0x7f; // FIN off
    const ping = encodeWsFrame(WsOp.Ping, Buffer.from("p"), MASK);
    const last = encodeWsFrame(WsOp.Continuation, Buffer.from("llo"), MASK);
    const d = new WsFrameDecoder(true);
    const out = d.push(Buffer.concat([first, ping, last]));
    expect(out.map((m) => [m.op, m.data.toString()])).toEqual([
      [WsOp.Ping, "p"],
      [WsOp.Text, "hello"],
    ]);
    expect(() => new WsFrameDecoder(true).push(encodeWsFrame(WsOp.Text, Buffer.from("x")))).toThrow(WsProtocolError);
    expect(() => new WsFrameDecoder(false).push(encodeWsFrame(WsOp.Text, Buffer.from("x"), MASK))).toThrow("must not be masked");
    expect(() => new WsFrameDecoder(true).push(encodeWsFrame(WsOp.Continuation, Buffer.from("x"), MASK))).toThrow("no message to continue");
  });

  it("a connection answers pings, echoes a close and reports the peer's code and reason", async () => {
    const socket = new PassThrough();
    const written: Buffer[] = [];
    const sink = new PassThrough();
    const duplex = Object.assign(socket, { write: (b: Buffer) => { written.push(b); return true; }, end: () => sink.end() }) as unknown as PassThrough;
    const ws = new WsConnection(duplex, "server");
    const texts: string[] = [];
    ws.message((t) => texts.push(t));
    const closed = new Promise<[number, string]>((resolve) => {
      ws.closing((code, reason) => {
        resolve([code, reason]);
      });
    });
    const reason = Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from("bye")]);
    socket.emit("data", Buffer.concat([encodeWsFrame(WsOp.Text, Buffer.from('{"stdin":{}}'), MASK), encodeWsFrame(WsOp.Ping, Buffer.from("hb"), MASK), encodeWsFrame(WsOp.Close, reason, MASK)]));
    expect(await closed).toEqual([4000, "bye"]);
    expect(texts).toEqual(['{"stdin":{}}']);
    const d = new WsFrameDecoder(false);
    const sent = d.push(Buffer.concat(written));
    expect(sent.map((m) => m.op)).toEqual([WsOp.Pong, WsOp.Close]);
    expect(sent[0]?.data.toString()).toBe("hb");
    expect(ws.isOpen()).toBe(false);
  });
});
