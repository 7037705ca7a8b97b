import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Router, startHttp, type RunningHttp } from "../api/http.js";
import { kvRoutes } from "../api/routes/kv.js";
import { memoryBackend, sqliteBackend, StateStore } from "../state/index.js";
import { ErrorCode, RucheError, silentLogger, type KVEntry } from "../structs/index.js";
import { kvDelete } from "./kv.js";
import { KVService } from "./kv-service.js";
import { LockDelays, newSession, SessionReaper } from "./sessions.js";

// Real HTTP on 127.0.0.1:0 against a memory-backed store; the clock is ours so TTLs and
// lock-delays can pass without sleeping.
let store: StateStore;
let http: RunningHttp;
let now: number;
let base: string;
/** The lock delays of the store, shared by the KV service and the reapers, as the agent wires them. */
let delays: LockDelays;
let kv: KVService;

beforeEach(async () => {
  now = 1_700_000_000_000;
  store = await StateStore.open(memoryBackend());
  delays = new LockDelays();
  kv = new KVService(store, { now: () => now, delays });
  const router = new Router();
  kvRoutes(router, kv);
  http = await startHttp({ host: "127.0.0.1", port: 0, router, authorize: () => undefined, log: silentLogger });
  base = `http://127.0.0.1:${http.port}`;
});
afterEach(async () => {
  await http.close();
  await store.close();
});

async function call(method: string, path: string, body?: string | Buffer | object): Promise<{ status: number; json: unknown; text: string; index: number; bytes: Buffer }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await fetch(base + path, init);
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, index: Number(res.headers.get("x-consul-index")), bytes };
}
const put = (path: string, body?: string | Buffer | object) => call("PUT", path, body);
const get = (path: string) => call("GET", path);
const entries = async (path: string): Promise<KVEntry[]> => (await get(path)).json as KVEntry[];
const value = (e: KVEntry | undefined): string | null => (e?.Value == null ? null : Buffer.from(e.Value, "base64").toString("utf8"));

describe("KV", () => {
  it("puts raw bytes and reads them back base64, raw, with flags and indexes", async () => {
    expect((await put("/v1/kv/app/config?flags=42", "not json {")).json).toBe(true);
    const r = await get("/v1/kv/app/config");
    expect(r.status).toBe(200);
    expect(r.index).toBeGreaterThan(0);
    const [e] = r.json as KVEntry[];
    expect(e).toMatchObject({ Key: "app/config", Flags: 42, LockIndex: 0 });
    expect(e).not.toHaveProperty("Session"); // Consul's DirEntry: Session omitted while no session holds the key
    expect(value(e)).toBe("not json {");
    expect(e?.CreateIndex).toBe(e?.ModifyIndex);
    const raw = await get("/v1/kv/app/config?raw");
    expect(raw.text).toBe("not json {");
    const bin = Buffer.from([0, 255, 1, 2]);
    await put("/v1/kv/bin", bin);
    expect((await get("/v1/kv/bin?raw")).bytes.equals(bin)).toBe(true);
  });

  it("answers 404 with an empty body for a missing key, with an index", async () => {
    const r = await get("/v1/kv/nope");
    expect(r.status).toBe(404);
    expect(r.text).toBe("");
    expect(r.index).toBeGreaterThan(0);
  });

  it("compares and sets: cas=0 only when absent, cas=N only at ModifyIndex N", async () => {
    expect((await put("/v1/kv/k?cas=0", "a")).json).toBe(true);
    expect((await put("/v1/kv/k?cas=0", "b")).json).toBe(false);
    const [e] = await entries("/v1/kv/k");
    expect((await put(`/v1/kv/k?cas=${(e?.ModifyIndex ?? 0) + 100}`, "c")).json).toBe(false);
    expect(value((await entries("/v1/kv/k"))[0])).toBe("a");
    expect((await put(`/v1/kv/k?cas=${e?.ModifyIndex ?? 0}`, "d")).json).toBe(true);
    const [after] = await entries("/v1/kv/k");
    expect(value(after)).toBe("d");
    expect(after?.CreateIndex).toBe(e?.CreateIndex);
    expect(after?.ModifyIndex).toBeGreaterThan(e?.ModifyIndex ?? 0);
  });

  it("lists with recurse, keys and separator, and deletes a tree", async () => {
    for (const k of ["web/a", "web/b/c", "web/b/d", "webx", "db/x"]) await put(`/v1/kv/${k}`, k);
    expect((await entries("/v1/kv/web/?recurse")).map((e) => e.Key)).toEqual(["web/a", "web/b/c", "web/b/d"]);
    expect((await get("/v1/kv/web?keys")).json).toEqual(["web/a", "web/b/c", "web/b/d", "webx"]);
    expect((await get("/v1/kv/web/?keys&separator=/")).json).toEqual(["web/a", "web/b/"]);
    expect((await get("/v1/kv/?keys&separator=/")).json).toEqual(["db/", "web/", "webx"]);
    expect((await call("DELETE", "/v1/kv/web/?recurse")).json).toBe(true);
    expect((await get("/v1/kv/?keys")).json).toEqual(["db/x", "webx"]);
    expect((await get("/v1/kv/web/?recurse")).status).toBe(404);
  });

  it("deletes with cas", async () => {
    await put("/v1/kv/d", "1");
    const [e] = await entries("/v1/kv/d");
    expect((await call("DELETE", "/v1/kv/d?cas=1")).json).toBe(false);
    expect((await get("/v1/kv/d")).status).toBe(200);
    expect((await call("DELETE", `/v1/kv/d?cas=${e?.ModifyIndex ?? 0}`)).json).toBe(true);
    expect((await get("/v1/kv/d")).status).toBe(404);
  });

  it("refuses a value over 512 KiB with 413 and writes nothing", async () => {
    const r = await put("/v1/kv/big", Buffer.alloc(512 * 1024 + 1, 1));
    expect(r.status).toBe(413);
    expect(r.text).toContain("too large, max size: 524288 bytes");
    expect((await get("/v1/kv/big")).status).toBe(404);
    expect((await put("/v1/kv/big", Buffer.alloc(512 * 1024, 1))).json).toBe(true);
  });

  it("wakes a blocking query on a put to the KV table", async () => {
    const first = await get("/v1/kv/watched");
    const started = Date.now();
    const pending = get(`/v1/kv/watched?index=${first.index}&wait=10s`);
    await expect.poll(() => store.blockingQueries("kv")).toBe(1);
    await put("/v1/kv/watched", "now");
    const r = await pending;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.index).toBeGreaterThan(first.index);
    expect(value((r.json as KVEntry[])[0])).toBe("now");
  });

  it("returns at the wait with the same index when nothing changes", async () => {
    const first = await get("/v1/kv/quiet");
    const r = await get(`/v1/kv/quiet?index=${first.index}&wait=200ms`);
    expect(r.status).toBe(404);
    expect(r.index).toBe(first.index);
  });
});

async function session(body: object = {}): Promise<string> {
  const r = await put("/v1/session/create", body);
  expect(r.status).toBe(200);
  return (r.json as { ID: string }).ID;
}

describe("sessions and locks", () => {
  it("acquires, refuses another session, releases; LockIndex counts acquisitions", async () => {
    const a = await session({ Name: "a" });
    const b = await session({ Name: "b" });
    expect((await put(`/v1/kv/lock?acquire=${a}`, "a")).json).toBe(true);
    let [e] = await entries("/v1/kv/lock");
    expect(e).toMatchObject({ Session: a, LockIndex: 1 });
    expect((await put(`/v1/kv/lock?acquire=${a}`, "a2")).json).toBe(true);
    [e] = await entries("/v1/kv/lock");
    expect(e).toMatchObject({ Session: a, LockIndex: 1 });
    expect(value(e)).toBe("a2");
    expect((await put(`/v1/kv/lock?acquire=${b}`, "b")).json).toBe(false);
    expect((await put(`/v1/kv/lock?release=${b}`)).json).toBe(false);
    expect(value((await entries("/v1/kv/lock"))[0])).toBe("a2");
    expect((await put(`/v1/kv/lock?release=${a}`, "free")).json).toBe(true);
    [e] = await entries("/v1/kv/lock");
    expect(e).toMatchObject({ LockIndex: 1 });
    expect(e).not.toHaveProperty("Session");
    expect((await put(`/v1/kv/lock?acquire=${b}`, "b")).json).toBe(true);
    expect((await entries("/v1/kv/lock"))[0]).toMatchObject({ Session: b, LockIndex: 2 });
    // A session that does not exist is an error, as Consul answers it, not a refused lock.
    const invalid = await put("/v1/kv/lock?acquire=no-such-session", "x");
    expect(invalid.status).toBe(500);
    expect(invalid.text).toBe('invalid session "no-such-session"');
  });

  it("shows, lists, renews and destroys sessions", async () => {
    const id = await session({ Name: "n", TTL: "10s", Behavior: "delete" });
    const info = await get(`/v1/session/info/${id}`);
    expect(info.json).toEqual([expect.objectContaining({ ID: id, Name: "n", TTL: "10s", Behavior: "delete", LockDelay: 15e9 })]);
    expect((info.json as object[])[0]).not.toHaveProperty("ExpiresAt");
    expect(((await get("/v1/session/list")).json as { ID: string }[]).map((s) => s.ID)).toEqual([id]);
    now += 8000;
    expect((await put(`/v1/session/renew/${id}`)).status).toBe(200);
    now += 8000; // 16 s after creation, 8 s after the renewal: still alive
    expect((await get(`/v1/session/info/${id}`)).json).toHaveLength(1);
    expect((await put(`/v1/session/destroy/${id}`)).json).toBe(true);
    expect((await get(`/v1/session/info/${id}`)).json).toEqual([]);
    expect((await put(`/v1/session/renew/${id}`)).status).toBe(404);
    expect((await put("/v1/session/create", { TTL: "5s" })).status).toBe(400);
    expect((await put("/v1/session/create", { Behavior: "explode" })).status).toBe(400);
  });

  it("expires a TTL session: release behaviour frees its keys, and lock-delay blocks re-acquiring", async () => {
    const a = await session({ TTL: "10s", LockDelay: "5s" });
    const b = await session();
    await put(`/v1/kv/leader?acquire=${a}`, "a");
    const reaper = new SessionReaper(store, { now: () => now, delays });
    expect(await reaper.reapOnce()).toBe(0);
    now += 10_001;
    expect(await reaper.reapOnce()).toBe(1);
    const [e] = await entries("/v1/kv/leader");
    expect(e).toMatchObject({ LockIndex: 1 });
    expect(e).not.toHaveProperty("Session");
    expect(value(e)).toBe("a");
    expect((await get(`/v1/session/info/${a}`)).json).toEqual([]);
    expect((await put(`/v1/kv/leader?acquire=${b}`, "b")).json).toBe(false);
    now += 5000;
    expect((await put(`/v1/kv/leader?acquire=${b}`, "b")).json).toBe(true);
  });

  it("expires a TTL session with delete behaviour: its keys go, others stay", async () => {
    const a = await session({ TTL: "10s", Behavior: "delete" });
    await put(`/v1/kv/held?acquire=${a}`, "x");
    await put("/v1/kv/other", "y");
    const reaper = new SessionReaper(store, { now: () => now, delays, intervalMs: 20 });
    reaper.start();
    now += 10_001;
    await expect.poll(async () => (await get("/v1/kv/held")).status, { timeout: 3000 }).toBe(404);
    await reaper.stop();
    expect((await get("/v1/kv/other")).status).toBe(200);
  });

  it("a stopped reaper expires nothing", async () => {
    const a = await session({ TTL: "10s" });
    let sweeps = 0;
    const clock = (): number => {
      sweeps++;
      return now;
    };
    const reaper = new SessionReaper(store, { now: clock, delays, intervalMs: 10 });
    reaper.start();
    await reaper.stop();
    const swept = sweeps;
    now += 60_000;
    // A witness: a live reaper of the same interval, started after it, whose clock says that
    // nothing has expired. Once it has swept twice, the stopped one would have swept too.
    let witnessed = 0;
    const witness = new SessionReaper(store, {
      now: () => {
        witnessed++;
        return 0;
      },
      delays,
      intervalMs: 10,
    });
    witness.start();
    await expect.poll(() => witnessed).toBeGreaterThanOrEqual(2);
    await witness.stop();
    expect(sweeps, "sweeps of the stopped reaper").toBe(swept);
    expect(store.session(a)).toBeDefined();
  });
});

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("/v1/txn", () => {
  it("applies every operation at one index and returns the reads", async () => {
    const r = await put("/v1/txn", [
      { KV: { Verb: "set", Key: "t/a", Value: b64("1"), Flags: 3 } },
      { KV: { Verb: "set", Key: "t/b", Value: b64("2") } },
      { KV: { Verb: "get", Key: "t/a" } },
    ]);
    expect(r.status).toBe(200);
    const body = r.json as { Results: { KV: KVEntry }[]; Errors: null };
    expect(body.Errors).toBeNull();
    expect(body.Results.map((x) => x.KV.Key)).toEqual(["t/a", "t/b", "t/a"]);
    const [a] = await entries("/v1/kv/t/a");
    const [b] = await entries("/v1/kv/t/b");
    expect(a?.ModifyIndex).toBe(b?.ModifyIndex);
    expect(a?.Flags).toBe(3);
    expect(value(a)).toBe("1");
  });

  it("rolls back everything on one failure and answers 409 with the failing op", async () => {
    await put("/v1/kv/t/keep", "old");
    const [keep] = await entries("/v1/kv/t/keep");
    const r = await put("/v1/txn", [
      { KV: { Verb: "check-index", Key: "t/keep", Index: keep?.ModifyIndex } },
      { KV: { Verb: "set", Key: "t/new", Value: b64("n") } },
      { KV: { Verb: "delete", Key: "t/keep" } },
      { KV: { Verb: "cas", Key: "t/x", Value: b64("x"), Index: 999 } },
    ]);
    expect(r.status).toBe(409);
    const body = r.json as { Results: null; Errors: { OpIndex: number; What: string }[] };
    expect(body.Errors.map((e) => e.OpIndex)).toEqual([3]);
    expect((await get("/v1/kv/t/new")).status).toBe(404);
    expect(value((await entries("/v1/kv/t/keep"))[0])).toBe("old");
  });

  it("locks and unlocks with a session and checks the holder", async () => {
    const s = await session();
    const ok = await put("/v1/txn", [
      { KV: { Verb: "lock", Key: "t/l", Value: b64("v"), Session: s } },
      { KV: { Verb: "check-session", Key: "t/l", Session: s } },
    ]);
    expect(ok.status).toBe(200);
    expect((await entries("/v1/kv/t/l"))[0]).toMatchObject({ Session: s, LockIndex: 1 });
    expect((await put("/v1/txn", [{ KV: { Verb: "unlock", Key: "t/l", Session: "other" } }])).status).toBe(409);
    expect((await put("/v1/txn", [{ KV: { Verb: "unlock", Key: "t/l", Session: s } }])).status).toBe(200);
    expect((await entries("/v1/kv/t/l"))[0]).toMatchObject({ LockIndex: 1 });
    expect((await entries("/v1/kv/t/l"))[0]).not.toHaveProperty("Session");
  });

  it("refuses a malformed body with 400", async () => {
    expect((await put("/v1/txn", [{ KV: { Verb: "explode", Key: "k" } }])).status).toBe(400);
    expect((await put("/v1/txn", "{not json")).status).toBe(400);
  });
});

describe("the KV service (what every API of the KV calls)", () => {
  /** Rejects with a RucheError of this code. */
  const refused = async (p: Promise<unknown>, code: ErrorCode): Promise<void> => {
    const err: unknown = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RucheError);
    expect(err).toMatchObject({ code });
  };

  it("answers writes with their index and whether they were made; a refused compare writes nothing", async () => {
    const first = await kv.put("svc/a", Buffer.from("1"), { flags: 9, cas: 0 });
    expect(first.ok).toBe(true);
    expect(kv.get("svc/a")).toMatchObject({ Key: "svc/a", Value: b64("1"), Flags: 9, ModifyIndex: first.index });
    const second = await kv.put("svc/a", Buffer.from("2"), { cas: 0 });
    expect(second.ok).toBe(false);
    expect(kv.get("svc/a")?.ModifyIndex).toBe(first.index);
    await kv.put("svc/b/c", Buffer.alloc(0));
    expect(kv.get("svc/b/c")?.Value).toBeNull();
    expect(kv.keys("svc/", "/")).toEqual(["svc/a", "svc/b/"]);
    expect((await kv.delete("svc/", { recurse: true })).ok).toBe(true);
    expect(kv.list("svc/")).toEqual([]);
  });

  it("refuses what stops a request with a RucheError and its code, writing nothing", async () => {
    const before = store.index;
    await refused(kv.put("", Buffer.from("x")), ErrorCode.BadRequest);
    await refused(kv.put("k", Buffer.alloc(512 * 1024 + 1)), ErrorCode.TooLarge);
    await refused(kv.put("k", Buffer.from("x"), { acquire: "a", release: "a" }), ErrorCode.BadRequest);
    await refused(kv.put("k", Buffer.from("x"), { acquire: "no-such-session" }), ErrorCode.NotFound);
    await refused(kv.delete(""), ErrorCode.BadRequest);
    await refused(kv.sessionRenew("no-such-session"), ErrorCode.NotFound);
    await refused(kv.sessionCreate({ TTL: "1s" }), ErrorCode.BadRequest);
    expect(kv.get("k")).toBeUndefined();
    expect(store.index).toBe(before);
  });

  it("runs a transaction all or nothing, and answers a refusal as a value", async () => {
    const ok = await kv.txn([{ Verb: "set", Key: "t/a", Value: b64("a"), Flags: 0, Index: 0, Session: "" }]);
    expect(ok).toMatchObject({ ok: true, results: [[{ Key: "t/a" }]] });
    const rolledBack = await kv.txn([
      { Verb: "set", Key: "t/b", Value: b64("b"), Flags: 0, Index: 0, Session: "" },
      { Verb: "check-not-exists", Key: "t/a", Value: null, Flags: 0, Index: 0, Session: "" },
    ]);
    expect(rolledBack).toMatchObject({ ok: false, errors: [{ OpIndex: 1 }] });
    expect(kv.get("t/b")).toBeUndefined();
  });

  it("keeps the lock delays on the object it is handed: the reaper's delays are its delays", async () => {
    const { session: holder } = await kv.sessionCreate({ TTL: "10s", LockDelay: "5s" });
    const { session: other } = await kv.sessionCreate({});
    expect((await kv.put("leader", Buffer.from("a"), { acquire: holder.ID })).ok).toBe(true);
    now += 10_001;
    expect(await new SessionReaper(store, { now: () => now, delays }).reapOnce()).toBe(1);
    expect(kv.sessionInfo(holder.ID)).toBeUndefined();
    // The same store under other lock delays knows nothing of this one: nothing is shared behind the objects' backs.
    const elsewhere = new KVService(store, { now: () => now, delays: new LockDelays() });
    expect((await kv.put("leader", Buffer.from("b"), { acquire: other.ID })).ok).toBe(false);
    expect((await elsewhere.put("leader", Buffer.from("b"), { acquire: other.ID })).ok).toBe(true);
  });

  it("sets the lock delay when a session is destroyed", async () => {
    const { session: holder } = await kv.sessionCreate({ LockDelay: "5s" });
    const { session: other } = await kv.sessionCreate({});
    await kv.put("l", Buffer.from("a"), { acquire: holder.ID });
    expect((await kv.sessionDestroy(holder.ID)).destroyed).toBe(true);
    expect((await kv.sessionDestroy(holder.ID)).destroyed).toBe(false);
    expect(kv.sessionList().map((s) => s.ID)).toEqual([other.ID]);
    expect((await kv.put("l", Buffer.from("b"), { acquire: other.ID })).ok).toBe(false);
    now += 5000;
    expect((await kv.put("l", Buffer.from("b"), { acquire: other.ID })).ok).toBe(true);
  });
});

describe("the kv and sessions tables", () => {
  it("survive a restart on the SQLite backend", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ruche-kv-"));
    try {
      const s1 = await StateStore.open(sqliteBackend(dir));
      const sess = newSession({ TTL: "10s" }, "n1", now);
      await s1.write((tx) => {
        tx.put("sessions", sess);
        tx.put("kv", { Key: "a/b", Value: b64("v"), Flags: 7, Session: sess.ID, LockIndex: 1, CreateIndex: 0, ModifyIndex: 0 });
      });
      await s1.close();
      const s2 = await StateStore.open(sqliteBackend(dir));
      expect(s2.kvGet("a/b")).toMatchObject({ Key: "a/b", Value: b64("v"), Flags: 7, Session: sess.ID, LockIndex: 1 });
      expect(s2.session(sess.ID)).toMatchObject({ TTL: "10s", ExpiresAt: now + 10_000 });
      await s2.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a recursive delete sees keys written earlier in the same batch", async () => {
    const first = store.write((tx) => {
      tx.put("kv", { Key: "p/new", Value: null, Flags: 0, Session: "", LockIndex: 0, CreateIndex: 0, ModifyIndex: 0 });
    });
    const second = store.write((tx) => kvDelete(tx, "p/", { recurse: true }));
    await Promise.all([first, second]);
    expect(store.kvGet("p/new")).toBeUndefined();
  });
});
