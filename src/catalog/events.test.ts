import { describe, expect, it } from "vitest";
import { memoryBackend, StateStore } from "../state/index.js";
import { eventIndex, USER_EVENTS_KEPT, UserEvents } from "./events.js";

const fire = (ev: UserEvents, Name: string): ReturnType<UserEvents["fire"]> => ev.fire({ Name, Payload: null, NodeFilter: "", ServiceFilter: "", TagFilter: "" });

describe("UserEvents", () => {
  it("turns an event's ID into Consul's index (uuidToUint64: the two halves XORed)", () => {
    expect(eventIndex("00000000-0000-0001-0000-000000000003")).toBe(2n);
    expect(eventIndex("ffffffff-ffff-ffff-0000-000000000000")).toBe(0xffffffffffffffffn);
    expect(eventIndex("not a uuid")).toBe(0n);
  });

  it("keeps the last 256 in the store with growing LTimes; the index is the last event's", async () => {
    const store = await StateStore.open(memoryBackend());
    const ev = new UserEvents(store);
    expect(ev.index()).toBe(0n);
    let last = await fire(ev, "a");
    for (let i = 0; i < USER_EVENTS_KEPT + 10; i++) last = await fire(ev, `e${i}`);
    expect(ev.list()).toHaveLength(USER_EVENTS_KEPT);
    expect(store.userEvents()).toHaveLength(USER_EVENTS_KEPT);
    expect(ev.list()[0]?.Name).toBe("e10");
    expect(ev.list()[0]).not.toHaveProperty("ModifyIndex");
    expect(last.LTime).toBe(USER_EVENTS_KEPT + 11);
    expect(ev.index()).toBe(eventIndex(last.ID));
    // Another reader of the same store (another server's) sees them all.
    expect(new UserEvents(store).list().map((e) => e.ID)).toEqual(ev.list().map((e) => e.ID));
    await store.close();
  });

  it("wakes a wait when an event is fired, and only then", async () => {
    const store = await StateStore.open(memoryBackend());
    const ev = new UserEvents(store);
    const t = Date.now();
    setTimeout(() => void fire(ev, "x"), 50);
    await ev.wait(5000);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(ev.list()).toHaveLength(1);
    const t2 = Date.now();
    await ev.wait(150);
    expect(Date.now() - t2).toBeGreaterThanOrEqual(140);
    await store.close();
  });
});
