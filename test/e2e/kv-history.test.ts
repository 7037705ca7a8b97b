/**
 * The KV history recorder and the linearizability checker against a real server's Consul
 * API: 8 clients reading, writing and compare-and-setting 3 keys for 10 s over HTTP, and the
 * history they saw checked. One server on its embedded store here; the cluster tests run the
 * same against three servers on etcd under faults.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, startAgentProcess } from "./harness.js";
import { recordKvHistory, type KvHistory } from "./kv-history.js";
import { checkKvHistory, describeCheck, withStaleRead } from "./linearizability.js";

let agent: AgentProcess;
let dir = "";
/** What the first test recorded; the second reuses it. */
let history: KvHistory | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-kv-history-"));
  agent = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", join(dir, "server"), "-http-port", "0", "-consul-port", "0", "-dns-port", "-1"]);
}, 60_000);

afterAll(async () => {
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("a history of concurrent KV operations on one server", () => {
  it("8 clients for 10 s: every request answered, cas both won and lost, and the history linearizable", async () => {
    const keys = ["lin/a", "lin/b", "lin/c"];
    const h = await recordKvHistory({ addresses: [agent.consulAddress], keys, clients: 8, durationMs: 10_000, opTimeoutMs: 5_000 });
    history = h;
    expect(h.initial).toEqual({ "lin/a": null, "lin/b": null, "lin/c": null });
    expect(h.stats.failures).toEqual({});
    expect(h.stats).toMatchObject({ unknown: 0, refused: 0 });
    expect(h.stats.casApplied).toBeGreaterThan(0);
    expect(h.stats.casRefused).toBeGreaterThan(0);
    expect(new Set(h.ops.map((o) => o.key))).toEqual(new Set(keys));
    const r = checkKvHistory(h.ops, { initial: h.initial });
    expect(r.ok, `seed ${h.seed}: ${describeCheck(r)}`).toBe(true);
  }, 60_000);

  it("the same history with one read made stale is flagged, on that read's key", () => {
    if (history === undefined) throw new Error("no history was recorded (the test before this one failed)");
    const stale = withStaleRead(history.ops);
    if (stale === undefined) throw new Error("the recorded history has no read that can be made stale");
    const r = checkKvHistory(stale.history, { initial: history.initial });
    expect(r).toMatchObject({ ok: false, verdict: "violation", key: stale.read.key });
    expect(describeCheck(r)).toContain("NOT LINEARIZABLE");
  });
});
