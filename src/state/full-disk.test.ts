/**
 * The embedded backend on a real small filesystem (a tmpfs this test mounts: it runs as
 * root): full, then with space again; and read-only at open.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode, errorMessage, RucheError, type KVEntry, type Logger } from "../structs/index.js";
import { sqliteBackend } from "./sqlite.js";
import { StateStore } from "./store.js";
import { mountSmallFs, type SmallFs } from "./testing.js";

interface Line {
  level: string;
  msg: string;
}

function recordingLogger(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      const err = fields.err;
      lines.push({ level, msg: err instanceof Error ? `${msg} ${err.message}` : msg });
    };
  return { log: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

function entry(key: string, bytes: number): KVEntry {
  return { Key: key, Value: Buffer.alloc(bytes, 0x61).toString("base64"), Flags: 0, Session: "", LockIndex: 0, CreateIndex: 0, ModifyIndex: 0 };
}

async function refusal(p: Promise<unknown>): Promise<RucheError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof RucheError)) throw new Error(`expected the write to be refused with a RucheError, got ${err === null ? "success" : errorMessage(err)}`);
  return err;
}

describe("sqlite backend on a small real filesystem", () => {
  let fs: SmallFs;
  let opened: StateStore[] = [];
  /** A store on `dir`, closed after the test (before the unmount) whatever happens. */
  const open = async (dir: string, opts: { log?: Logger } = {}): Promise<StateStore> => {
    const s = await StateStore.open(sqliteBackend(dir), opts);
    opened.push(s);
    return s;
  };
  beforeEach(async () => {
    fs = await mountSmallFs(2 * 1024 * 1024);
  });
  afterEach(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    opened = [];
    await fs.unmount();
  });

  it("refuses writes on a full disk with 507 naming the data dir, logs it once, takes writes again once there is space, and loses nothing acknowledged", async () => {
    const dir = join(fs.dir, "data");
    const { log, lines } = recordingLogger();
    const store = await open(dir, { log });
    const put = (key: string, bytes: number) =>
      store.write((tx) => {
        tx.put("kv", entry(key, bytes));
      });
    const acked = new Map<string, number>();
    for (let i = 0; i < 5; i++) acked.set(`acked-${i}`, (await put(`acked-${i}`, 2000)).index);
    const seen: number[] = [];
    store.subscribe((e) => seen.push(e.index));
    const full = `the data dir's filesystem is full: ${dir}`;
    const fullLines = (): Line[] => lines.filter((l) => l.level === "error" && l.msg.includes(full));
    const againLines = (): Line[] => lines.filter((l) => l.level === "warn" && l.msg.includes("writes succeed again"));

    await fs.fill();
    const before = store.index;
    for (let i = 0; i < 3; i++) {
      const err = await refusal(put(`refused-${i}`, 100_000));
      expect(err.code).toBe(ErrorCode.InsufficientStorage);
      expect(err.status).toBe(507);
      expect(err.message).toContain(full);
      expect(err.logged).toBe(true);
    }
    // Writers batched together are refused together, and the batch leaves nothing behind.
    const batch = await Promise.allSettled([
      put("refused-a", 50_000),
      put("refused-b", 10),
      store.write((tx) => {
        tx.delete("kv", "acked-0");
      }),
    ]);
    expect(batch.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(store.index).toBe(before);
    expect(seen).toEqual([]);
    for (const key of ["refused-0", "refused-1", "refused-2", "refused-a", "refused-b"]) expect(store.kvGet(key), key).toBeUndefined();
    expect(store.kvGet("acked-0")?.ModifyIndex).toBe(acked.get("acked-0"));
    expect(fullLines()).toHaveLength(1);
    expect(againLines()).toHaveLength(0);

    await fs.unfill();
    const after = await put("after-space", 100_000);
    expect(after.index).toBe(before + 1);
    acked.set("after-space", after.index);
    expect(store.kvGet("after-space")?.ModifyIndex).toBe(after.index);
    expect(seen).toEqual([after.index]);
    expect(againLines()).toHaveLength(1);

    // A second episode is logged again, once.
    await fs.fill();
    await refusal(put("refused-again", 100_000));
    await refusal(put("refused-again", 100_000));
    expect(fullLines()).toHaveLength(2);
    await fs.unfill();
    acked.set("last", (await put("last", 100_000)).index);
    expect(againLines()).toHaveLength(2);
    await store.close();

    const again = await open(dir);
    for (const [key, index] of acked) expect(again.kvGet(key)?.ModifyIndex, key).toBe(index);
    expect(again.kvList("refused")).toEqual([]);
    expect(again.index).toBe(acked.get("last"));
  });

  it("says the data dir's filesystem is read-only, and its path, when the store opens on one", async () => {
    const withState = join(fs.dir, "with-state");
    const s = await open(withState);
    await s.write((tx) => {
      tx.put("kv", entry("k", 10));
    });
    await s.close();
    const empty = join(fs.dir, "empty");
    await mkdir(empty);
    await fs.readOnly();
    for (const dir of [withState, empty, join(fs.dir, "missing", "data")]) {
      const err = await refusal(StateStore.open(sqliteBackend(dir)));
      expect(err.message).toBe(`the data dir's filesystem is read-only: ${dir}`);
      expect(err.code).toBe(ErrorCode.InsufficientStorage);
    }
  });
});
