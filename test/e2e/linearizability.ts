/**
 * A linearizability checker for histories of Consul KV operations, as Porcupine checks them:
 * Wing & Gong's search for a total order that respects real time and a sequential model,
 * with Lowe's memoisation of (set of operations linearized, model state), one key at a time
 * (P-compositionality: a history is linearizable when each key's sub-history is).
 *
 * The model of one key is a register whose versions are its values: every write puts a value
 * no other write puts, so "the value read with ModifyIndex M" names the version M, and a
 * Consul `?cas=M` becomes `cas(expected value, new value)` (M = 0, the key absent: expected
 * `null`). Test code only; nothing in src/ depends on it.
 */

/** What one operation asked and, when `outcome` is "ok", what it was answered. */
export type KvOp =
  /** A read with default consistency; `result` is the value, `null` when the key was absent. */
  | { type: "get"; result: string | null }
  /** A write without cas: always applies. */
  | { type: "put"; value: string }
  /** A write with `?cas=`: applies when the key still holds `expected`; `result` is Consul's true/false. */
  | { type: "cas"; expected: string | null; value: string; result: boolean };

export const OUTCOMES = {
  /** Answered: it took effect between `call` and `return`, with the result recorded. */
  Ok: "ok",
  /** No answer (timeout, dropped connection, a 5xx): a write may have taken effect at any time after `call`, or never; a read tells nothing. */
  Unknown: "unknown",
  /** Certainly not applied (refused before anything was committed): it is left out. */
  Refused: "refused",
} as const;
export type Outcome = (typeof OUTCOMES)[keyof typeof OUTCOMES];

export interface KvOperation {
  /** Who issued it: one client issues one operation at a time. */
  client: number;
  key: string;
  /** Monotonic times (`performance.now()`, ms) when it was sent and when its answer was read (or it was given up). */
  call: number;
  return: number;
  outcome: Outcome;
  op: KvOp;
  /** Which server answered, for the report. */
  server?: string;
  /** What failed it when it got no usable answer ("503 RUCHE_NO_LEADER", "ECONNREFUSED"...), for the report. */
  failure?: string;
}

export interface CheckOptions {
  /** Each key's value before the history began; a key not named was absent (`null`). */
  initial?: Readonly<Record<string, string | null>>;
  /** The search's bound, in steps over all keys; past it the answer is "unknown". Default 20 million. */
  maxSteps?: number;
}

export type CheckResult =
  | { ok: true; keys: number; operations: number; steps: number }
  | {
      ok: false;
      verdict: "violation";
      key: string;
      /** The longest order found that respects real time and the model, and the key's value after it. */
      linearized: KvOperation[];
      state: string | null;
      /** The operations that could come next after `linearized` (invoked before the earliest pending answer), each with why it cannot. */
      stuck: { op: KvOperation; why: string }[];
      /** Where times in `describeCheck` count from. */
      origin: number;
      steps: number;
    }
  | { ok: false; verdict: "unknown"; key: string; operations: number; steps: number; maxSteps: number };

const DEFAULT_MAX_STEPS = 20_000_000;

/**
 * Checks a history. Operations refused for certain and reads whose outcome is unknown are
 * left out; a write whose outcome is unknown gets an answer time of +infinity, so it may
 * take effect anywhere after its call or (placed last) not at all. Throws when the history
 * breaks the model's premise: two writes of one value to one key.
 */
export function checkKvHistory(history: readonly KvOperation[], opts: CheckOptions = {}): CheckResult {
  const maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
  const byKey = new Map<string, KvOperation[]>();
  let operations = 0;
  for (const o of history) {
    if (o.outcome === OUTCOMES.Refused) continue;
    if (o.outcome === OUTCOMES.Unknown && o.op.type === "get") continue;
    let ops = byKey.get(o.key);
    if (ops === undefined) byKey.set(o.key, (ops = []));
    ops.push(o);
    operations++;
  }
  let steps = 0;
  for (const [key, ops] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // Numbered in call order (the cache's sets are then compact); the sort is stable.
    ops.sort((a, b) => a.call - b.call);
    const r = checkKey(key, ops, opts.initial?.[key] ?? null, maxSteps - steps);
    steps += r.steps;
    if (r.verdict === "violation") return { ok: false, verdict: "violation", key, linearized: r.linearized, state: r.state, stuck: r.stuck, origin: origin(history), steps };
    if (r.verdict === "unknown") return { ok: false, verdict: "unknown", key, operations: ops.length, steps, maxSteps };
  }
  return { ok: true, keys: byKey.size, operations, steps };
}

/** A result as a test failure prints it: the violation's neighbourhood, with times in ms from the history's first call. */
export function describeCheck(r: CheckResult, context = 10): string {
  if (r.ok) return `linearizable: ${r.operations} operations on ${r.keys} keys (${r.steps} steps)`;
  if (r.verdict === "unknown") return `NOT CHECKED: the search gave up on key ${JSON.stringify(r.key)} (${r.operations} operations) after ${r.steps} steps (bound ${r.maxSteps}); the history is not known to be linearizable`;
  const shown = r.linearized.slice(-context);
  const lines = [
    `NOT LINEARIZABLE: key ${JSON.stringify(r.key)}: no order of its operations respects both real time and the register's rules.`,
    `The longest order found (${r.linearized.length} operations) ends with${r.linearized.length > shown.length ? ` (the last ${shown.length})` : ""}:`,
    ...(shown.length === 0 ? ["  (nothing)"] : shown.map((o) => `  ${formatOp(o, r.origin)}`)),
    `after which the key holds ${show(r.state)}, and none of these can come next:`,
    ...r.stuck.map((s) => `  ${formatOp(s.op, r.origin)}: ${s.why}`),
  ];
  return lines.join("\n");
}

/** One operation on one line: `c3 cas("a" → "b") = true [12.100, 14.800] via 127.0.0.1:8500` (`= ?` and `→∞` when unanswered). */
export function formatOp(o: KvOperation, origin = 0): string {
  const t = (x: number): string => (x === Infinity ? "∞" : (x - origin).toFixed(3));
  const what = (() => {
    const op = o.op;
    switch (op.type) {
      case "get":
        return `get = ${o.outcome === OUTCOMES.Ok ? show(op.result) : "?"}`;
      case "put":
        return `put(${show(op.value)})${o.outcome === OUTCOMES.Ok ? "" : " = ?"}`;
      case "cas":
        return `cas(${show(op.expected)} → ${show(op.value)}) = ${o.outcome === OUTCOMES.Ok ? String(op.result) : "?"}`;
      default: {
        const _: never = op;
        return _;
      }
    }
  })();
  return `c${o.client} ${what} [${t(o.call)}, ${o.outcome === OUTCOMES.Ok ? t(o.return) : `${t(o.return)}→∞`}]${o.outcome === OUTCOMES.Refused ? " refused" : ""}${o.server === undefined ? "" : ` via ${o.server}`}`;
}

const show = (v: string | null): string => (v === null ? "(absent)" : JSON.stringify(v));

function origin(history: readonly KvOperation[]): number {
  let m = Infinity;
  for (const o of history) m = Math.min(m, o.call);
  return m === Infinity ? 0 : m;
}

// --- one key: Wing & Gong with Lowe's cache ----------------------------------------------

/** A call or a return in the time-ordered doubly linked list the search lifts operations out of. */
interface Entry {
  isCall: boolean;
  /** The operation's number in the key's list. */
  id: number;
  time: number;
  /** A call's return. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * One operation as the model sees it: values interned as numbers (0: absent). `kind`:
 * 0 get, 1 put, 2 cas answered true, 3 cas answered false, 4 cas with unknown answer.
 */
interface Step {
  kind: 0 | 1 | 2 | 3 | 4;
  /** get: the value read; put and cas: the value written. */
  value: number;
  /** cas: the value expected. */
  expected: number;
}

const FAIL = -1;

/** The model: the register's next state after `s` from state `state`, or FAIL. */
function apply(s: Step, state: number): number {
  switch (s.kind) {
    case 0:
      return s.value === state ? state : FAIL;
    case 1:
      return s.value;
    case 2:
      return s.expected === state ? s.value : FAIL;
    case 3:
      return s.expected !== state ? state : FAIL;
    case 4:
      return s.expected === state ? s.value : state;
  }
}

type KeyResult =
  | { verdict: "ok"; steps: number }
  | { verdict: "violation"; steps: number; linearized: KvOperation[]; state: string | null; stuck: { op: KvOperation; why: string }[] }
  | { verdict: "unknown"; steps: number };

function checkKey(key: string, ops: readonly KvOperation[], initial: string | null, maxSteps: number): KeyResult {
  // Values as small numbers: 0 is "absent".
  const names: (string | null)[] = [null];
  const ids = new Map<string, number>();
  const intern = (v: string | null): number => {
    if (v === null) return 0;
    let id = ids.get(v);
    if (id === undefined) {
      id = names.length;
      names.push(v);
      ids.set(v, id);
    }
    return id;
  };
  const written = new Set<string>();
  if (initial !== null) written.add(initial);
  const steps: Step[] = ops.map((o) => {
    const op = o.op;
    if (op.type !== "get") {
      if (written.has(op.value)) throw new Error(`key ${JSON.stringify(key)}: the value ${JSON.stringify(op.value)} is written twice (or was there at the start); the checker needs every write to put a value of its own`);
      written.add(op.value);
    }
    switch (op.type) {
      case "get":
        return { kind: 0, value: intern(op.result), expected: 0 };
      case "put":
        return { kind: 1, value: intern(op.value), expected: 0 };
      case "cas":
        return { kind: o.outcome === OUTCOMES.Unknown ? 4 : op.result ? 2 : 3, value: intern(op.value), expected: intern(op.expected) };
      default: {
        const _: never = op;
        return _;
      }
    }
  });

  // The entries in time order; at equal times a call comes first (the operations overlap).
  const entries: Entry[] = [];
  ops.forEach((o, id) => {
    const ret: Entry = { isCall: false, id, time: o.outcome === OUTCOMES.Ok ? o.return : Infinity, match: null, prev: null, next: null };
    entries.push({ isCall: true, id, time: o.call, match: ret, prev: null, next: null }, ret);
  });
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Entry = { isCall: false, id: -1, time: -Infinity, match: null, prev: null, next: null };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  const lift = (e: Entry): void => {
    e.prev!.next = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next !== null) m.next.prev = m.prev;
  };
  const unlift = (e: Entry): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next !== null) m.next.prev = m;
    e.prev!.next = e;
    if (e.next !== null) e.next.prev = e;
  };

  // Lowe's cache: (linearized set, state) pairs already explored, under an incremental Zobrist
  // hash. Operations are numbered in call order, so a set is mostly "all below some id" and a
  // few above: the cache keeps the index of its first word not full and the words from there
  // to its last word not empty, not the whole set (which would cost n²/32 words).
  const n = ops.length;
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  /** Every word below `low` is full; every word from `high` on is empty. */
  let low = 0;
  let high = 0;
  const zobrist = new Uint32Array(n);
  let seed = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    // xorshift32: fixed, so a history is always searched the same way.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    zobrist[i] = seed >>> 0;
  }
  let hash = 0;
  const set = (id: number): void => {
    const w = id >>> 5;
    bits[w] = bits[w]! | (1 << (id & 31));
    if (w >= high) high = w + 1;
    while (low < words && bits[low] === 0xffffffff) low++;
    hash = (hash ^ zobrist[id]!) >>> 0;
  };
  const clear = (id: number): void => {
    const w = id >>> 5;
    bits[w] = bits[w]! & ~(1 << (id & 31));
    if (w < low) low = w;
    while (high > 0 && bits[high - 1] === 0) high--;
    hash = (hash ^ zobrist[id]!) >>> 0;
  };
  const cache = new Map<number, { low: number; tail: Uint32Array; state: number }[]>();
  /** Whether (the linearized set, `state`) was explored already; if not, it is from now on. */
  const explored = (state: number): boolean => {
    const h = hash * 0x100000 + ((Math.imul(state, 0x9e3779b1) >>> 12) & 0xfffff);
    const bucket = cache.get(h);
    if (bucket !== undefined) {
      for (const c of bucket) {
        if (c.state !== state || c.low !== low || c.tail.length !== high - low) continue;
        let same = true;
        for (let i = 0; i < c.tail.length && same; i++) same = c.tail[i] === bits[low + i];
        if (same) return true;
      }
    }
    const e = { low, tail: bits.slice(low, high), state };
    if (bucket === undefined) cache.set(h, [e]);
    else bucket.push(e);
    return false;
  };

  const calls: { entry: Entry; state: number }[] = [];
  let state = intern(initial);
  // The deepest point reached, for the report: kept as it is reached, copying only what
  // changed since the last time (calls[0, kept) is still best.order's beginning).
  const best = { order: [] as number[], state, frontier: [] as number[] };
  let kept = 0;
  let entry = head.next;
  let count = 0;
  while (head.next !== null) {
    if (++count > maxSteps) return { verdict: "unknown", steps: count };
    if (entry === null) throw new Error("linearizability: ran off the end of the list (a bug in the checker)");
    if (entry.isCall) {
      const next = apply(steps[entry.id]!, state);
      if (next === FAIL) {
        entry = entry.next;
        continue;
      }
      set(entry.id);
      if (explored(next)) {
        clear(entry.id);
        entry = entry.next;
        continue;
      }
      calls.push({ entry, state });
      state = next;
      lift(entry);
      entry = head.next;
    } else {
      // A return reached: its operation cannot be placed here. Note the deepest point, then backtrack.
      // (An empty frontier: not taken yet; once taken it never is, a return being preceded by its call.)
      if (calls.length > best.order.length || best.frontier.length === 0) {
        best.order.length = kept;
        for (let i = kept; i < calls.length; i++) best.order.push(calls[i]!.entry.id);
        kept = calls.length;
        best.state = state;
        best.frontier = [];
        for (let e: Entry | null = head.next; e !== null && e.isCall; e = e.next) best.frontier.push(e.id);
      }
      const top = calls.pop();
      if (top === undefined) return violation(best);
      kept = Math.min(kept, calls.length);
      state = top.state;
      clear(top.entry.id);
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { verdict: "ok", steps: count };

  function violation(b: { order: number[]; state: number; frontier: number[] }): KeyResult {
    const why = (id: number): string => {
      const s = steps[id]!;
      const held = show(names[b.state] ?? null);
      switch (s.kind) {
        case 0:
          if (apply(s, b.state) === FAIL) return `it read ${show(names[s.value] ?? null)} but the key holds ${held}`;
          break;
        case 2:
          if (apply(s, b.state) === FAIL) return `it succeeded expecting ${show(names[s.expected] ?? null)} but the key holds ${held}`;
          break;
        case 3:
          if (apply(s, b.state) === FAIL) return `it failed although the key holds ${held}, what it expected`;
          break;
        case 1:
        case 4:
          break;
      }
      return "it fits here, but then the rest cannot be ordered";
    };
    return { verdict: "violation", steps: count, linearized: b.order.map((id) => ops[id]!), state: names[b.state] ?? null, stuck: b.frontier.map((id) => ({ op: ops[id]!, why: why(id) })) };
  }
}

// --- for testing the checker ----------------------------------------------------------

/**
 * The history with one answered read made stale for certain, to see the checker flag it: on
 * some key, an answered write W1 ended before another answered write W2 began, W2 ended
 * before an answered read R began, and R is made to return W1's value, which no later write
 * can put back (no value is written twice). Undefined when no read is placed so.
 */
export function withStaleRead(history: readonly KvOperation[]): { history: KvOperation[]; read: KvOperation } | undefined {
  const answered = history.filter((o) => o.outcome === OUTCOMES.Ok);
  const writes = answered.filter((o) => o.op.type === "put" || (o.op.type === "cas" && o.op.result));
  for (const key of new Set(writes.map((w) => w.key))) {
    const ws = writes.filter((w) => w.key === key);
    const w1 = ws.reduce((a, b) => (b.return < a.return ? b : a));
    const w2 = ws.filter((w) => w.call > w1.return).reduce<KvOperation | undefined>((a, b) => (a === undefined || b.return < a.return ? b : a), undefined);
    if (w2 === undefined || w1.op.type === "get") continue;
    const read = answered.find((o) => o.key === key && o.op.type === "get" && o.call > w2.return);
    if (read === undefined) continue;
    const stale: KvOperation = { ...read, op: { type: "get", result: w1.op.value } };
    return { history: history.map((o) => (o === read ? stale : o)), read: stale };
  }
  return undefined;
}
