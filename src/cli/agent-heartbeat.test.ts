import { describe, expect, it } from "vitest";
import { heartbeatFlags } from "./commands/agent.js";
import { runCli, type IO } from "./index.js";

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env: {}, cwd: process.cwd() };
  const code = await runCli(argv, io);
  return { code, out, err };
}

function flags(given: Record<string, string>, server = true) {
  return heartbeatFlags((name) => given[name], server);
}

describe("ruche agent: the server's heartbeat settings", () => {
  it("reads Go durations and a rate; what is not given keeps its default", () => {
    expect(flags({})).toEqual({});
    expect(flags({ "min-heartbeat-ttl": "10s", "heartbeat-grace": "1m30s", "max-heartbeats-per-second": "12.5" })).toEqual({ minTTL: 10_000, grace: 90_000, maxPerSecond: 12.5 });
    expect(flags({ "heartbeat-grace": "0s", "min-heartbeat-ttl": "500ms" })).toEqual({ grace: 0, minTTL: 500 });
  });

  it("refuses what is not a duration, out of range, a rate not above 0, and the flags without the server role", () => {
    expect(() => flags({ "min-heartbeat-ttl": "10" })).toThrow('-min-heartbeat-ttl must be a duration such as "10s", "1m30s" or "500ms", got "10"');
    expect(() => flags({ "min-heartbeat-ttl": "50ms" })).toThrow('-min-heartbeat-ttl must be from 100ms to 24h, got "50ms"');
    expect(() => flags({ "heartbeat-grace": "25h" })).toThrow('-heartbeat-grace must be from 0s to 24h, got "25h"');
    expect(() => flags({ "heartbeat-grace": "-1s" })).toThrow(/-heartbeat-grace must be a duration/);
    expect(() => flags({ "max-heartbeats-per-second": "0" })).toThrow('-max-heartbeats-per-second must be a number above 0 (up to 1000000), got "0"');
    expect(() => flags({ "max-heartbeats-per-second": "fast" })).toThrow(/must be a number above 0/);
    expect(() => flags({ "heartbeat-grace": "5s" }, false)).toThrow("-heartbeat-grace is a server setting: it needs the server role (-dev or -server)");
  });

  it("a usage error names the flag, before anything starts", async () => {
    const r = await cli(["agent", "-dev", "-min-heartbeat-ttl", "soon"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('-min-heartbeat-ttl must be a duration such as "10s", "1m30s" or "500ms", got "soon"');
    const u = await cli(["agent", "-h"]);
    expect(u.out + u.err).toContain("-min-heartbeat-ttl DURATION");
  });
});
