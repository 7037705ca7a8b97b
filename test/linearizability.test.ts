/**
 * The linearizability checker of test/e2e/linearizability.ts, on histories written by hand
 * and on histories generated from executions that are linearizable by construction. It sits
 * here, not beside the checker, because test/e2e/ is the system project and this is a unit
 * test: Node alone.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rng } from "./e2e/kv-history.js";
import { checkKvHistory, describeCheck, OUTCOMES, withStaleRead, type CheckResult, type KvOp, type KvOperation, type Outcome } from "./e2e/linearizability.js";

/** One operation on key "k" (or `key`), by `client`, from `call` to `ret`. */
function op(client: number, call: number, ret: number, o: KvOp, outcome: Outcome = OUTCOMES.Ok, key = "k"): KvOperation {
  return { client, key, call, return: ret, outcome, op: o };
}
const get = (result: string | null): KvOp => ({ type: "get", result });
const put = (value: string): KvOp => ({ type: "put", value });
const cas = (expected: string | null, value: string, result: boolean): KvOp => ({ type: "cas", expected, value, result });

/** Asserts a violation on `key` and returns it. */
function violation(r: CheckResult, key = "k"): Extract<CheckResult, { verdict: "violation" }> {
  if (r.ok || r.verdict !== "violation") throw new Error(`expected a violation, got: ${describeCheck(r)}`);
  expect(r.key).toBe(key);
  return r;
}
const ok = (r: CheckResult): void => {
  expect(r.ok, describeCheck(r)).toBe(true);
};

describe("sequential histories", () => {
  it("an empty history is linearizable", () => {
    expect(checkKvHistory([])).toEqual({ ok: true, keys: 0, operations: 0, steps: 0 });
  });

  it("reads see the last write; cas applies when the key holds what it expects", () => {
    ok(checkKvHistory([op(1, 0, 1, get(null)), op(1, 2, 3, put("a")), op(1, 4, 5, get("a")), op(1, 6, 7, cas("a", "b", true)), op(1, 8, 9, get("b")), op(1, 10, 11, cas("a", "c", false)), op(1, 12, 13, get("b"))]));
  });

  it("a stale read after an acknowledged write is a violation, and the report names it", () => {
    const r = violation(checkKvHistory([op(1, 0, 1, put("a")), op(2, 2, 3, put("b")), op(3, 4, 5, get("a"))]));
    expect(r.linearized.map((o) => o.op)).toEqual([put("a"), put("b")]);
    expect(r.state).toBe("b");
    expect(r.stuck).toEqual([{ op: op(3, 4, 5, get("a")), why: 'it read "a" but the key holds "b"' }]);
    const text = describeCheck(r);
    expect(text).toContain('NOT LINEARIZABLE: key "k"');
    expect(text).toContain('c3 get = "a" [4.000, 5.000]: it read "a" but the key holds "b"');
  });

  it("a lost acknowledged write is a violation", () => {
    violation(checkKvHistory([op(1, 0, 1, put("a")), op(2, 2, 3, get(null))]));
    violation(checkKvHistory([op(1, 0, 1, put("a")), op(1, 2, 3, cas("a", "b", true)), op(2, 4, 5, get("a"))]));
  });

  it("a cas that fails although the key holds what it expects is a violation, as is one that succeeds although it does not", () => {
    const r = violation(checkKvHistory([op(1, 0, 1, put("a")), op(1, 2, 3, cas("a", "b", false))]));
    expect(r.stuck[0]?.why).toBe('it failed although the key holds "a", what it expected');
    violation(checkKvHistory([op(1, 0, 1, put("a")), op(1, 2, 3, cas(null, "b", true))]));
    ok(checkKvHistory([op(1, 0, 1, cas(null, "a", true)), op(1, 2, 3, cas(null, "b", false)), op(2, 4, 5, get("a"))]));
  });

  it("a key's value at the start can be given", () => {
    ok(checkKvHistory([op(1, 0, 1, get("x")), op(1, 2, 3, cas("x", "y", true))], { initial: { k: "x" } }));
    violation(checkKvHistory([op(1, 0, 1, get(null))], { initial: { k: "x" } }));
  });
});

describe("concurrent histories", () => {
  it("a read overlapping a write may see either value, but never the old one after the new", () => {
    ok(checkKvHistory([op(1, 0, 10, put("a")), op(2, 1, 2, get(null)), op(2, 3, 4, get("a"))]));
    ok(checkKvHistory([op(1, 0, 10, put("a")), op(2, 1, 2, get("a"))]));
    const r = violation(checkKvHistory([op(1, 0, 10, put("a")), op(2, 1, 2, get("a")), op(2, 3, 4, get(null))]));
    expect(r.stuck.map((s) => s.op.op)).toEqual([get(null)]);
  });

  it("two overlapping writes may land in either order; a later read then sees one of them, not neither", () => {
    const writes = [op(1, 0, 10, put("a")), op(2, 1, 9, put("b"))];
    ok(checkKvHistory([...writes, op(3, 11, 12, get("a"))]));
    ok(checkKvHistory([...writes, op(3, 11, 12, get("b"))]));
    ok(checkKvHistory([...writes, op(3, 11, 12, get("b")), op(3, 13, 14, get("b"))]));
    violation(checkKvHistory([...writes, op(3, 11, 12, get(null))]));
    // Once a later read has seen "a", "b" came first: reading it afterwards is stale.
    violation(checkKvHistory([...writes, op(3, 11, 12, get("a")), op(3, 13, 14, get("b"))]));
  });

  it("of two overlapping cas from the same version, only one can win", () => {
    ok(checkKvHistory([op(1, 0, 10, cas(null, "a", true)), op(2, 1, 9, cas(null, "b", false)), op(3, 11, 12, get("a"))]));
    violation(checkKvHistory([op(1, 0, 10, cas(null, "a", true)), op(2, 1, 9, cas(null, "b", true))]));
    // The loser's "false" needs the winner first, so the read must see the winner.
    violation(checkKvHistory([op(1, 0, 10, cas(null, "a", true)), op(2, 1, 9, cas(null, "b", false)), op(3, 11, 12, get(null))]));
  });

  it("keys are checked apart, and a violation names its key", () => {
    const r = checkKvHistory([op(1, 0, 1, put("a"), OUTCOMES.Ok, "x"), op(1, 2, 3, put("a"), OUTCOMES.Ok, "y"), op(2, 4, 5, get("a"), OUTCOMES.Ok, "x"), op(2, 6, 7, get(null), OUTCOMES.Ok, "y")]);
    violation(r, "y");
  });
});

describe("operations without an answer", () => {
  it("a write without an answer may have applied at any time after its call", () => {
    ok(checkKvHistory([op(1, 0, 1, put("a"), OUTCOMES.Unknown), op(2, 50, 51, get("a"))]));
    // ...late: first absent, then there
    ok(checkKvHistory([op(1, 0, 1, put("a"), OUTCOMES.Unknown), op(2, 50, 51, get(null)), op(2, 60, 61, get("a"))]));
    // ...or never.
    ok(checkKvHistory([op(1, 0, 1, put("a"), OUTCOMES.Unknown), op(2, 50, 51, get(null))]));
    // But not before it was sent, and not undone once seen.
    violation(checkKvHistory([op(2, 0, 1, get("a")), op(1, 2, 3, put("a"), OUTCOMES.Unknown)]));
    violation(checkKvHistory([op(1, 0, 1, put("a"), OUTCOMES.Unknown), op(2, 50, 51, get("a")), op(2, 60, 61, get(null))]));
  });

  it("a cas without an answer applies only if the key held what it expected", () => {
    ok(checkKvHistory([op(1, 0, 1, put("a")), op(1, 2, 3, cas("a", "b", false), OUTCOMES.Unknown), op(2, 10, 11, get("b"))]));
    ok(checkKvHistory([op(1, 0, 1, put("a")), op(1, 2, 3, cas("a", "b", false), OUTCOMES.Unknown), op(2, 10, 11, get("a"))]));
    violation(checkKvHistory([op(1, 0, 1, put("a")), op(1, 2, 3, put("c")), op(1, 4, 5, cas("a", "b", true), OUTCOMES.Unknown), op(2, 10, 11, get("b"))]));
  });

  it("a write refused for certain did not apply; a read without an answer tells nothing", () => {
    ok(checkKvHistory([op(1, 0, 1, put("a"), OUTCOMES.Refused), op(2, 10, 11, get(null))]));
    violation(checkKvHistory([op(1, 0, 1, put("a"), OUTCOMES.Refused), op(2, 10, 11, get("a"))]));
    ok(checkKvHistory([op(1, 0, 1, put("a")), op(2, 10, 11, get("nonsense"), OUTCOMES.Unknown)]));
  });
});

describe("limits", () => {
  it("two writes of one value break the model's premise and are refused loudly", () => {
    expect(() => checkKvHistory([op(1, 0, 1, put("a")), op(2, 2, 3, put("a"))])).toThrow(/"a" is written twice/);
  });

  it("a search past its bound answers 'unknown', which is not ok", () => {
    const { history } = simulate(7, { clients: 8, ops: 400, keys: 1 });
    const r = checkKvHistory(history, { maxSteps: 100 });
    expect(r).toMatchObject({ ok: false, verdict: "unknown", key: "k0", steps: 101, maxSteps: 100 });
    expect(describeCheck(r)).toMatch(/^NOT CHECKED: the search gave up on key "k0"/);
  });
});

describe("generated histories", () => {
  it("a few thousand concurrent operations, some without an answer, check in a bounded number of steps", () => {
    for (const keys of [1, 4]) {
      const { history } = simulate(42, { clients: 8, ops: 4000, keys, unknown: 0.02 });
      const r = checkKvHistory(history);
      ok(r);
      // About 50 steps an operation on one key with 8 clients (the list is walked past the
      // overlapping calls); a bound in steps, not in time, so that it cannot flake.
      if (r.ok) expect(r.steps).toBeLessThan(100 * history.length);
    }
  });

  it("the same with one read made stale is a violation on that read's key", () => {
    const stale = withStaleRead(simulate(43, { clients: 8, ops: 3000, keys: 4 }).history);
    if (stale === undefined) throw new Error("the generated history has no read that can be made stale");
    const r = violation(checkKvHistory(stale.history), stale.read.key);
    expect(r.stuck.map((s) => s.op)).toContain(stale.read);
    expect(r.steps).toBeLessThan(100 * stale.history.length);
  });

  it("any execution of a register is linearizable; with a read made stale it is not", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), (seed, clients, keys) => {
        const { history } = simulate(seed, { clients, ops: 120, keys, unknown: 0.05 });
        const r = checkKvHistory(history);
        expect(r.ok, describeCheck(r)).toBe(true);
        const stale = withStaleRead(history);
        if (stale !== undefined) violation(checkKvHistory(stale.history), stale.read.key);
      }),
      { numRuns: 200 },
    );
  });
});

describe("against an exhaustive search", () => {
  it("small random histories, linearizable or not, get the verdict of trying every order", () => {
    const arbOp = (i: number): fc.Arbitrary<KvOperation> =>
      fc
        .record({
          client: fc.integer({ min: 0, max: 3 }),
          call: fc.integer({ min: 0, max: 8 }),
          len: fc.integer({ min: 0, max: 6 }),
          type: fc.constantFrom("get", "put", "cas"),
          read: fc.constantFrom(null, "w0", "w1", "w2", "w3"),
          result: fc.boolean(),
          outcome: fc.constantFrom<Outcome>(OUTCOMES.Ok, OUTCOMES.Ok, OUTCOMES.Ok, OUTCOMES.Unknown, OUTCOMES.Refused),
        })
        .map(({ client, call, len, type, read, result, outcome }) => op(client, call, call + len, type === "get" ? get(read) : type === "put" ? put(`w${i}`) : cas(read, `w${i}`, result), outcome));
    const arbHistory = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbOp(i))));
    let violations = 0;
    fc.assert(
      fc.property(arbHistory, (history) => {
        const expected = bruteForce(history);
        const r = checkKvHistory(history);
        if (!r.ok) violations++;
        expect(r.ok, describeCheck(r)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
    // Both verdicts were exercised.
    expect(violations).toBeGreaterThan(100);
    expect(violations).toBeLessThan(2900);
  });
});

/**
 * Linearizability by trying every order of one key's operations: refused writes and reads
 * without an answer left out, writes without an answer answered at +infinity (placed last,
 * they did not apply), orders kept only when an operation answered before another was called
 * comes first.
 */
function bruteForce(history: readonly KvOperation[]): boolean {
  const ops = history.filter((o) => o.outcome !== OUTCOMES.Refused && !(o.outcome === OUTCOMES.Unknown && o.op.type === "get"));
  const ret = (o: KvOperation): number => (o.outcome === OUTCOMES.Ok ? o.return : Infinity);
  const used = new Array<boolean>(ops.length).fill(false);
  const search = (placed: number, state: string | null): boolean => {
    if (placed === ops.length) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const o = ops[i]!;
      // Every operation still to place must not have answered before this one was called.
      if (ops.some((p, j) => !used[j] && j !== i && ret(p) < o.call)) continue;
      const k = o.op;
      let next: string | null;
      if (k.type === "get") {
        if (k.result !== state) continue;
        next = state;
      } else if (k.type === "put") next = k.value;
      else if (o.outcome === OUTCOMES.Unknown) next = k.expected === state ? k.value : state;
      else if (k.result !== (k.expected === state)) continue;
      else next = k.result ? k.value : state;
      used[i] = true;
      if (search(placed + 1, next)) return true;
      used[i] = false;
    }
    return false;
  };
  return search(0, null);
}

/**
 * A linearizable history by construction: `clients` clients, each issuing operations one
 * after another with random durations, each operation taking effect at a random instant
 * between its call and return, on a register per key. A write marked unknown took effect
 * or not, at random. A cas expects the current value or a former one, at random.
 */
function simulate(seed: number, o: { clients: number; ops: number; keys: number; unknown?: number }): { history: KvOperation[] } {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  interface Planned {
    o: KvOperation;
    at: number;
    applies: boolean;
  }
  const planned: Planned[] = [];
  const clock = Array.from({ length: o.clients }, () => rand() * 5);
  for (let i = 0; i < o.ops; i++) {
    const client = i % o.clients;
    const call = clock[client]! + rand() * 2;
    const ret = call + 0.1 + rand() * 10;
    clock[client] = ret;
    const unknown = rand() < (o.unknown ?? 0);
    const r = rand();
    const kind = r < 0.4 ? "get" : r < 0.7 ? "put" : "cas";
    const value = `v${i}`;
    const kvop: KvOp = kind === "get" ? get(null) : kind === "put" ? put(value) : cas(null, value, false);
    if (kind === "get" && unknown) continue;
    planned.push({ o: op(client, call, ret, kvop, unknown ? OUTCOMES.Unknown : OUTCOMES.Ok, pick(keys)), at: call + rand() * (ret - call), applies: !unknown || rand() < 0.5 });
  }
  planned.sort((a, b) => a.at - b.at);
  const state = new Map<string, string | null>();
  const seen = new Map<string, (string | null)[]>();
  for (const p of planned) {
    const cur = state.get(p.o.key) ?? null;
    const history = seen.get(p.o.key) ?? [null];
    seen.set(p.o.key, history);
    const k = p.o.op;
    if (k.type === "get") p.o.op = get(cur);
    else if (k.type === "put") {
      if (p.applies) state.set(p.o.key, k.value);
    } else {
      const expected = rand() < 0.6 ? cur : pick(history);
      const won = expected === cur;
      p.o.op = cas(expected, k.value, won);
      if (won && p.applies) state.set(p.o.key, k.value);
    }
    const now = state.get(p.o.key) ?? null;
    if (history[history.length - 1] !== now) history.push(now);
  }
  return { history: planned.map((p) => p.o).sort((a, b) => a.call - b.call) };
}
