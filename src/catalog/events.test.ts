import { describe, expect, it } from "vitest";
import { eventIndex, USER_EVENTS_KEPT, UserEvents } from "./events.js";

describe("UserEvents", () => {
  it("turns an event's ID into Consul's index (uuidToUint64: the two halves XORed)", () => {
    expect(eventIndex("00000000-0000-0001-0000-000000000003")).toBe(2n);
    expect(eventIndex("ffffffff-ffff-ffff-0000-000000000000")).toBe(0xffffffffffffffffn);
    expect(eventIndex("not a uuid")).toBe(0n);
  });

  it("keeps the last 256 with growing LTimes; the index is the last event's", () => {
    const ev = new UserEvents();
    expect(ev.index()).toBe(0n);
    let last = ev.fire({ Name: "a", Payload: null, NodeFilter: "", ServiceFilter: "", TagFilter: "" });
    for (let i = 0; i < USER_EVENTS_KEPT + 10; i++) last = ev.fire({ Name: `e${i}`, Payload: null, NodeFilter: "", ServiceFilter: "", TagFilter: "" });
    expect(ev.list()).toHaveLength(USER_EVENTS_KEPT);
    expect(ev.list()[0]?.Name).toBe("e10");
    expect(last.LTime).toBe(USER_EVENTS_KEPT + 11);
    expect(ev.index()).toBe(eventIndex(last.ID));
  });

  it("wakes a wait on the index it has when an event is fired, and at once for another index", async () => {
    const ev = new UserEvents();
    const t = Date.now();
    setTimeout(() => ev.fire({ Name: "x", Payload: null, NodeFilter: "", ServiceFilter: "", TagFilter: "" }), 50);
    await ev.wait(0n, 5000);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(ev.list()).toHaveLength(1);
    const t2 = Date.now();
    await ev.wait(123n, 5000);
    expect(Date.now() - t2).toBeLessThan(100);
  });
});
