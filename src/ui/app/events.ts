/**
 * One connection to `/v1/event/stream` for the whole page, shared by every view. It is
 * read with fetch rather than EventSource so that it carries the ACL token. When it
 * drops, it connects again (after a pause that grows while the API stays away) and tells
 * every view to read afresh, since events may have been missed meanwhile. It follows the
 * page's region (`?region=`): when the page changes region it is made anew, and what a stream
 * of the region before still brings is dropped.
 */
import { send } from "./api.js";
import { currentRegion } from "./region.js";

export const TOPICS = ["Job", "Node", "Allocation", "Evaluation", "Deployment"] as const;
export type Topic = (typeof TOPICS)[number];

export interface StreamEvent {
  Topic: Topic;
  Type: string;
  Key: string;
  Index: number;
  Payload: unknown;
}

export interface Subscriber {
  topics: readonly Topic[];
  /** Events of the subscriber's topics, one commit's worth. */
  events(events: StreamEvent[], index: number): void;
  /** The stream (re)connected, for the `generation`th time: what was read before it may be stale. */
  resync(generation: number): void;
}

export type StreamState = "connecting" | "live" | "down";

/** Parses server-sent events from text chunks: calls `onData` with each event's data. */
export class SseParser {
  private buf = "";
  constructor(private readonly onData: (data: string) => void) {}

  push(chunk: string): void {
    this.buf += chunk.replace(/\r\n?/g, "\n");
    for (let end = this.buf.indexOf("\n\n"); end >= 0; end = this.buf.indexOf("\n\n")) {
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(l.startsWith("data: ") ? 6 : 5));
      if (data.length > 0) this.onData(data.join("\n"));
    }
  }
}

class EventHub {
  private readonly subs = new Set<Subscriber>();
  private readonly stateListeners = new Set<(s: StreamState) => void>();
  private abort: AbortController | null = null;
  private retryMs = 500;
  private timer: ReturnType<typeof setTimeout> | undefined;
  state: StreamState = "connecting";
  /** How many times the stream went live; a read begun while it is live misses nothing after. */
  generation = 0;

  /** The generation a read begun now is followed by; -1 while the stream is not live. */
  liveGeneration(): number {
    return this.state === "live" ? this.generation : -1;
  }

  subscribe(s: Subscriber): () => void {
    this.subs.add(s);
    if (this.abort === null && this.timer === undefined) this.connect();
    return () => {
      this.subs.delete(s);
    };
  }

  onState(fn: (s: StreamState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Drops the connection and makes a new one at once (a new token, say). */
  reconnect(): void {
    this.abort?.abort();
    this.abort = null;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.retryMs = 500;
    this.connect();
  }

  private setState(s: StreamState): void {
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private connect(): void {
    const abort = new AbortController();
    this.abort = abort;
    this.setState("connecting");
    this.run(abort.signal).then(
      () => {
        this.retry(abort);
      },
      () => {
        this.retry(abort);
      },
    );
  }

  private retry(abort: AbortController): void {
    if (this.abort !== abort || abort.signal.aborted) return;
    this.abort = null;
    this.setState("down");
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const region = currentRegion();
    const res = await send("GET", "/v1/event/stream", undefined, { signal, accept: "text/event-stream" });
    if (res.body === null) return;
    this.retryMs = 500;
    this.generation++;
    this.setState("live");
    for (const s of this.subs) s.resync(this.generation);
    const parser = new SseParser((data) => {
      if (region === currentRegion()) this.dispatch(data);
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        parser.push(value);
      }
    } finally {
      reader.releaseLock();
    }
  }

  private dispatch(data: string): void {
    let batch: { Index: number; Events: StreamEvent[] };
    try {
      batch = JSON.parse(data) as { Index: number; Events: StreamEvent[] };
    } catch {
      return;
    }
    for (const s of this.subs) {
      const mine = batch.Events.filter((e) => s.topics.includes(e.Topic));
      if (mine.length > 0) s.events(mine, batch.Index);
    }
  }
}

export const hub = new EventHub();
