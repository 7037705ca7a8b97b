/**
 * Data that stays current without a reload. Reads of Ruche's own objects follow the event
 * stream: `useLive` reads again when an event of its topics passes what it read (reads
 * that events wake while one is under way become one more read); `useLiveList` applies
 * the events' payloads to the list it read, so a list of a thousand allocations is not
 * read again for each change. The catalog and the KV, which the stream does not carry,
 * follow blocking queries (`useBlocking`).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get } from "./api.js";
import { hub, type StreamEvent, type Topic } from "./events.js";

export interface Live<T> {
  data: T | undefined;
  /** The last read's failure; the data of the read before it, if any, stays. */
  error: unknown;
  /** Read again now (after a write whose answer the stream will bring anyway, say). */
  reload(): void;
}

interface LiveState<T> {
  data: T | undefined;
  error: unknown;
}

/**
 * A read of `path` (none when null), read again on every event of `topics` past it that
 * `relevant` (by default, every one) says concerns it.
 */
export function useLive<T>(path: string | null, topics: readonly Topic[], relevant?: (e: StreamEvent) => boolean): Live<T> {
  const [state, setState] = useState<LiveState<T>>({ data: undefined, error: undefined });
  const reload = useRef<() => void>(() => undefined);
  const topicKey = topics.join(",");
  const relevantRef = useRef(relevant);
  relevantRef.current = relevant;
  useEffect(() => {
    setState({ data: undefined, error: undefined });
    if (path === null) return undefined;
    const abort = new AbortController();
    let index = 0;
    let generation = -1;
    let inflight = false;
    let again = false;
    const load = (): void => {
      if (inflight) {
        again = true;
        return;
      }
      inflight = true;
      again = false;
      generation = hub.liveGeneration();
      void get<T>(path, { signal: abort.signal })
        .then(
          (a) => {
            if (abort.signal.aborted) return;
            index = a.index;
            setState({ data: a.body, error: undefined });
          },
          (err: unknown) => {
            if (!abort.signal.aborted) setState((s) => ({ data: s.data, error: err }));
          },
        )
        .finally(() => {
          inflight = false;
          if (again && !abort.signal.aborted) load();
        });
    };
    reload.current = load;
    const unsubscribe = hub.subscribe({
      topics,
      events: (events, at) => {
        const concerns = relevantRef.current;
        if (at > index && (concerns === undefined || events.some(concerns))) load();
      },
      resync: (g) => {
        if (g !== generation) load();
      },
    });
    load();
    return () => {
      abort.abort();
      unsubscribe();
    };
    // topics is keyed by its contents: a new array of the same topics is the same read.
  }, [path, topicKey]);
  return { ...state, reload: () => { reload.current(); } };
}

/**
 * A list read from `path` and kept current from the payloads of `topic`'s events: an
 * updated object replaces its row (or leaves the list when `keep` says it is not one of
 * it), a deleted one leaves. Renders at most once a frame however many events come.
 */
export function useLiveList<T extends { ID: string }>(path: string | null, topic: Topic, fromPayload: (p: unknown) => T, keep: (row: T) => boolean = () => true): Live<T[]> {
  const [state, setState] = useState<LiveState<T[]>>({ data: undefined, error: undefined });
  const reload = useRef<() => void>(() => undefined);
  const fns = useRef({ fromPayload, keep });
  fns.current = { fromPayload, keep };
  useEffect(() => {
    setState({ data: undefined, error: undefined });
    if (path === null) return undefined;
    const abort = new AbortController();
    let rows: Map<string, T> | null = null;
    let index = 0;
    let generation = -1;
    let pending: StreamEvent[] = [];
    let loading = false;
    let frame = 0;
    const show = (): void => {
      if (frame !== 0) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        if (rows !== null && !abort.signal.aborted) setState({ data: [...rows.values()], error: undefined });
      });
    };
    const apply = (events: StreamEvent[]): void => {
      if (rows === null) return;
      for (const e of events) {
        if (e.Index <= index) continue;
        const row = e.Type.endsWith("Deleted") ? null : fns.current.fromPayload(e.Payload);
        if (row !== null && fns.current.keep(row)) rows.set(row.ID, row);
        else rows.delete(e.Key);
      }
      show();
    };
    const load = (): void => {
      if (loading) return;
      loading = true;
      generation = hub.liveGeneration();
      pending = [];
      void get<T[]>(path, { signal: abort.signal })
        .then(
          (a) => {
            if (abort.signal.aborted) return;
            rows = new Map(a.body.map((r) => [r.ID, r]));
            index = a.index;
            apply(pending);
            show();
          },
          (err: unknown) => {
            if (!abort.signal.aborted) setState((s) => ({ data: s.data, error: err }));
          },
        )
        .finally(() => {
          loading = false;
          pending = [];
        });
    };
    reload.current = load;
    const unsubscribe = hub.subscribe({
      topics: [topic],
      events: (events) => {
        if (loading) pending.push(...events);
        else apply(events);
      },
      resync: (g) => {
        if (g !== generation) load();
      },
    });
    load();
    return () => {
      abort.abort();
      cancelAnimationFrame(frame);
      unsubscribe();
    };
  }, [path, topic]);
  return { ...state, reload: () => { reload.current(); } };
}

/**
 * A read of `path` kept current with blocking queries (`?index=N&wait=5m`): each answer
 * asks for the next change. A 404 is `absent` when given (an empty KV folder), else an
 * error; after an error it asks again after a pause that grows to 30 s.
 */
export function useBlocking<T>(path: string | null, absent?: T): Live<T> {
  const [state, setState] = useState<LiveState<T>>({ data: undefined, error: undefined });
  const [attempt, setAttempt] = useState(0);
  const absentRef = useRef(absent);
  absentRef.current = absent;
  useEffect(() => {
    setState({ data: undefined, error: undefined });
    if (path === null) return undefined;
    const abort = new AbortController();
    const pause = (ms: number): Promise<void> =>
      new Promise((resolve) => {
        const t = setTimeout(resolve, ms);
        abort.signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        });
      });
    const stopped = (): boolean => abort.signal.aborted;
    const follow = async (): Promise<void> => {
      let index = 0;
      let backoff = 1000;
      while (!stopped()) {
        try {
          const a = await get<T>(path, { signal: abort.signal, query: index > 0 ? { index: String(index), wait: "5m" } : {} });
          // An index that went back (a restarted server) starts over, as Consul's clients do.
          index = a.index < index ? 0 : a.index;
          setState({ data: a.body, error: undefined });
          backoff = 1000;
          if (a.index === 0) await pause(5000);
        } catch (err) {
          if (stopped()) return;
          if (err instanceof ApiError && err.status === 404 && absentRef.current !== undefined && err.index > 0) {
            index = err.index;
            setState({ data: absentRef.current, error: undefined });
            continue;
          }
          setState((s) => ({ data: s.data, error: err }));
          await pause(backoff);
          backoff = Math.min(backoff * 2, 30_000);
        }
      }
    };
    void follow();
    return () => {
      abort.abort();
    };
  }, [path, attempt]);
  return {
    ...state,
    reload: () => {
      setAttempt((n) => n + 1);
    },
  };
}

/**
 * What `read` answers, read again every `everyMs` (for what neither the event stream nor a
 * blocking query follows: the federation's members). A new `key` starts over; after a
 * failure the data read before stays, with the error.
 */
export function usePolled<T>(key: string, read: (signal: AbortSignal) => Promise<T>, everyMs: number): Live<T> {
  const [state, setState] = useState<LiveState<T>>({ data: undefined, error: undefined });
  const [attempt, setAttempt] = useState(0);
  const readRef = useRef(read);
  readRef.current = read;
  useEffect(() => {
    setState({ data: undefined, error: undefined });
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const once = (): void => {
      void readRef.current(abort.signal)
        .then(
          (data) => {
            if (!abort.signal.aborted) setState({ data, error: undefined });
          },
          (err: unknown) => {
            if (!abort.signal.aborted) setState((s) => ({ data: s.data, error: err }));
          },
        )
        .finally(() => {
          if (!abort.signal.aborted) timer = setTimeout(once, everyMs);
        });
    };
    once();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [key, everyMs, attempt]);
  return {
    ...state,
    reload: () => {
      setAttempt((n) => n + 1);
    },
  };
}
