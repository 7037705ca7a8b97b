import { randomUUID } from "node:crypto";
import type { StateStore } from "../state/index.js";
import { USER_EVENTS_KEPT, type UserEvent } from "../structs/index.js";

export { USER_EVENTS_KEPT, type UserEvent };

/**
 * Consul's user events, kept in the store (`userEvents`): the last 256 fired anywhere in the
 * region, so that `/v1/event/list` on any server shows them (Consul spreads them by gossip to
 * every agent, each keeping its last 256). `LTime` is one more than the highest kept, in the
 * transaction that writes the event. The blocking wait of `/v1/event/list` is on the table;
 * its index is the last event's ID turned into a number (Consul's `uuidToUint64`).
 */
export class UserEvents {
  constructor(private readonly store: StateStore) {}

  async fire(e: Pick<UserEvent, "Name" | "Payload" | "NodeFilter" | "ServiceFilter" | "TagFilter">): Promise<UserEvent> {
    const ev: UserEvent = { ID: randomUUID(), ...e, Version: 1, LTime: 0 };
    await this.store.write((tx) => {
      const kept = tx.list("userEvents", "").sort((a, b) => a.LTime - b.LTime);
      ev.LTime = (kept.at(-1)?.LTime ?? 0) + 1;
      tx.put("userEvents", { ...ev, CreateIndex: 0, ModifyIndex: 0 });
      for (const old of kept.slice(0, Math.max(0, kept.length + 1 - USER_EVENTS_KEPT))) tx.delete("userEvents", old.ID);
    });
    return ev;
  }

  /** The events kept, oldest first, in Consul's shape (without the store's indexes). */
  list(): UserEvent[] {
    return this.store.userEvents().map(({ CreateIndex: _c, ModifyIndex: _m, ...e }) => e);
  }

  /** The list's index: the last event's ID as a number, as Consul computes it; 0 with no events. */
  index(): bigint {
    const last = this.store.userEvents().at(-1);
    return last === undefined ? 0n : eventIndex(last.ID);
  }

  /** Resolves once an event was fired or dropped after now (the table changed), or when the wait ends. */
  async wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.store.waitFor(["userEvents"], this.store.tableIndex("userEvents"), timeoutMs, signal);
  }
}

/** Consul's `uuidToUint64`: the UUID's two halves, as 64-bit numbers, XORed. */
export function eventIndex(id: string): bigint {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return 0n;
  return BigInt(`0x${hex.slice(0, 16)}`) ^ BigInt(`0x${hex.slice(16)}`);
}
