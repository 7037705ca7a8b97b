import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KVService, LockDelays } from "../catalog/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { V2Events } from "./v2-events.js";
import { V2Error, v2Put } from "./v2-keys.js";

/** The v2 event history over a store: what watchers with a waitIndex get back. */
let store: StateStore;
let kv: KVService;
let events: V2Events;
const delays = new LockDelays();

beforeEach(async () => {
  store = await StateStore.open(memoryBackend());
  kv = new KVService(store, { now: Date.now, delays });
  events = new V2Events(store, { max: 3 });
});

afterEach(async () => {
  events.close();
  await store.close();
});

const put = (key: string, value: string): Promise<unknown> =>
  events.write((tx) => v2Put(tx, { nowMs: Date.now(), delays }, { key, value, dir: false, ttl: undefined, refresh: false, prevExist: undefined, prevValue: undefined, prevIndex: undefined }));

describe("V2Events", () => {
  it("keeps the last events; a waitIndex before them is etcd's 401 naming where the history starts", async () => {
    const first = store.index + 1;
    for (const v of ["1", "2", "3", "4"]) await put("/k", v);
    const refused = ((): unknown => {
      try {
        return events.scan("/k", false, first);
      } catch (err) {
        return err;
      }
    })();
    expect(refused).toBeInstanceOf(V2Error);
    expect((refused as V2Error).body()).toMatchObject({ errorCode: 401, cause: `the requested history has been cleared [${first + 1}/${first}]` });
    expect(events.scan("/k", false, first + 1)?.event).toMatchObject({ action: "set", node: { value: "2" }, prevNode: { value: "1" } });
    expect(events.scan("/k", false, store.index + 1)).toBeUndefined();
  });

  it("sees another API's writes as set and delete, with the node they replaced", async () => {
    await kv.put("dir/a", Buffer.from("one"));
    await kv.put("dir/a", Buffer.from("two"));
    await kv.delete("dir/a");
    const from = store.index - 2;
    expect(events.scan("/dir", true, from)?.event).toMatchObject({ action: "set", node: { key: "/dir/a", value: "one" } });
    expect(events.scan("/dir/a", false, from + 1)?.event).toMatchObject({ action: "set", node: { value: "two" }, prevNode: { value: "one" } });
    expect(events.scan("/dir/a", false, from + 2)?.event).toMatchObject({ action: "delete", node: { key: "/dir/a", modifiedIndex: from + 2 }, prevNode: { value: "two" } });
    // Not under /other, and not for a watch on /dir alone.
    expect(events.scan("/other", true, from)).toBeUndefined();
    expect(events.scan("/dir", false, from)).toBeUndefined();
  });

  it("wakes a waiting watch with the next event on its key, and ends it when its client goes", async () => {
    const ac = new AbortController();
    const next = events.next("/w", false, ac.signal);
    await put("/elsewhere", "x");
    await put("/w", "y");
    expect((await next).event).toMatchObject({ action: "set", node: { key: "/w", value: "y" } });
    const gone = new AbortController();
    const waiting = events.next("/w", false, gone.signal);
    expect(events.watchers).toBe(1);
    gone.abort();
    await expect(waiting).rejects.toThrow();
    expect(events.watchers).toBe(0);
  });
});
