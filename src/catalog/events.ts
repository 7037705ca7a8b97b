import { randomUUID } from "node:crypto";

/** One of Consul's user events (`/v1/event/fire/:name`), as `/v1/event/list` answers it. */
export interface UserEvent {
  ID: string;
  Name: string;
  /** The payload, base64, or null without one (Go's []byte). */
  Payload: string | null;
  /** Regular expressions on the node name, service and tag of the agents the event is for; "" for every one. */
  NodeFilter: string;
  ServiceFilter: string;
  TagFilter: string;
  Version: number;
  /** Consul's Lamport time of the event: one more than the last event this agent saw. */
  LTime: number;
}

/** How many events an agent keeps, as Consul's agent (its eventBuf). */
export const USER_EVENTS_KEPT = 256;

/**
 * The user events this agent has seen, the last 256, in the order they were fired, and the
 * blocking wait of `/v1/event/list`, whose index is the last event's ID turned into a number
 * (Consul's `uuidToUint64`). Consul spreads events by gossip to every agent; Ruche keeps them
 * on the agent they were fired on.
 */
export class UserEvents {
  private readonly events: UserEvent[] = [];
  private ltime = 0;
  private waiters = new Set<() => void>();

  fire(e: Pick<UserEvent, "Name" | "Payload" | "NodeFilter" | "ServiceFilter" | "TagFilter">): UserEvent {
    const ev: UserEvent = { ID: randomUUID(), ...e, Version: 1, LTime: ++this.ltime };
    this.events.push(ev);
    if (this.events.length > USER_EVENTS_KEPT) this.events.shift();
    const ws = this.waiters;
    this.waiters = new Set();
    for (const w of ws) w();
    return ev;
  }

  list(): readonly UserEvent[] {
    return this.events;
  }

  /** The list's index: the last event's ID as a number, as Consul computes it; 0 with no events. */
  index(): bigint {
    const last = this.events.at(-1);
    return last === undefined ? 0n : eventIndex(last.ID);
  }

  /** Resolves once the index is other than `index` (an event was fired), or when the wait ends. */
  async wait(index: bigint, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.index() !== index) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done);
      this.waiters.add(done);
    });
  }
}

/** Consul's `uuidToUint64`: the UUID's two halves, as 64-bit numbers, XORed. */
export function eventIndex(id: string): bigint {
  const hex = id.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return 0n;
  return BigInt(`0x${hex.slice(0, 16)}`) ^ BigInt(`0x${hex.slice(16)}`);
}
