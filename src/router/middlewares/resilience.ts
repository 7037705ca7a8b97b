import { evaluate, parseExpression, type Expr } from "./expression.js";
import type { Options } from "./options.js";
import { answer, type Exchange, type Handler, type Reply, type Wrap } from "./types.js";

/** `retry`: a request whose backend could not be reached sent again, up to `attempts` in all, after `initialInterval` doubling. */
export interface RetryConfig {
  type: "retry";
  attempts: number;
  initialIntervalMs: number;
}

export function parseRetry(o: Options): RetryConfig {
  if (o.str("attempts") === undefined) o.fail("attempts", "must be given");
  return { type: "retry", attempts: o.int("attempts", 1, 1, 100), initialIntervalMs: o.duration("initialInterval", 100) };
}

/** Whether a request can be sent again: it has no body, or one read whole (a buffering middleware before). */
function replayable(x: Exchange): boolean {
  return x.body === null || Buffer.isBuffer(x.body);
}

export function retry(c: RetryConfig, sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms))): Wrap {
  return (next) => async (x) => {
    const url = x.url;
    const headers = x.headers;
    for (let attempt = 1; ; attempt++) {
      const r = await next(x);
      if (r.failure !== "network" || attempt >= c.attempts || !replayable(x)) return r;
      await sleep(c.initialIntervalMs * 2 ** (attempt - 1));
      // The next middlewares rewrite the request again from where this one had it.
      x.url = url;
      x.headers = [...headers];
    }
  };
}

/** The functions of a circuit breaker's expression. */
const BREAKER_FUNCTIONS = {
  NetworkErrorRatio: { args: 0, boolean: false },
  ResponseCodeRatio: { args: 4, boolean: false },
  LatencyAtQuantileMS: { args: 1, boolean: false },
} as const;

/** `circuitBreaker`: while `expression` holds over the last 10 s, requests are answered `responseCode` (503) for `fallbackDuration`, then let back in over `recoveryDuration`. */
export interface CircuitBreakerConfig {
  type: "circuitBreaker";
  expression: string;
  checkPeriodMs: number;
  fallbackDurationMs: number;
  recoveryDurationMs: number;
  responseCode: number;
}

export function parseCircuitBreaker(o: Options): CircuitBreakerConfig {
  const expression = o.str("expression");
  if (expression === undefined) o.fail("expression", "must be given");
  const e = parseExpression(expression, BREAKER_FUNCTIONS);
  if ("reason" in e) o.fail("expression", e.reason);
  return {
    type: "circuitBreaker",
    expression,
    checkPeriodMs: o.duration("checkPeriod", 100),
    fallbackDurationMs: o.duration("fallbackDuration", 10_000),
    recoveryDurationMs: o.duration("recoveryDuration", 10_000),
    responseCode: o.int("responseCode", 503, 100, 599),
  };
}

/** One second of outcomes. */
interface Second {
  at: number;
  total: number;
  network: number;
  codes: Map<number, number>;
  latencies: number[];
}

/** Outcomes over a rolling window of ten one-second buckets, as Traefik's. */
export class RollingStats {
  private readonly buckets: Second[] = [];

  constructor(private readonly windowMs = 10_000) {}

  record(now: number, status: number, network: boolean, latencyMs: number): void {
    const at = Math.floor(now / 1000) * 1000;
    let b = this.buckets[this.buckets.length - 1];
    if (b?.at !== at) {
      b = { at, total: 0, network: 0, codes: new Map(), latencies: [] };
      this.buckets.push(b);
    }
    this.prune(now);
    b.total++;
    if (network) b.network++;
    else b.codes.set(status, (b.codes.get(status) ?? 0) + 1);
    if (b.latencies.length < 10_000) b.latencies.push(latencyMs);
  }

  private prune(now: number): void {
    while (this.buckets.length > 0 && (this.buckets[0] as Second).at <= now - this.windowMs) this.buckets.shift();
  }

  reset(): void {
    this.buckets.length = 0;
  }

  value(now: number, name: string, args: number[]): number {
    this.prune(now);
    const total = this.buckets.reduce((n, b) => n + b.total, 0);
    switch (name) {
      case "NetworkErrorRatio":
        return total === 0 ? 0 : this.buckets.reduce((n, b) => n + b.network, 0) / total;
      case "ResponseCodeRatio": {
        const [from = 0, to = 0, dFrom = 0, dTo = 0] = args;
        let num = 0;
        let den = 0;
        for (const b of this.buckets) {
          for (const [code, n] of b.codes) {
            if (code >= from && code < to) num += n;
            if (code >= dFrom && code < dTo) den += n;
          }
        }
        return den === 0 ? 0 : num / den;
      }
      case "LatencyAtQuantileMS": {
        const all = this.buckets.flatMap((b) => b.latencies).sort((a, b) => a - b);
        if (all.length === 0) return 0;
        const q = Math.min(100, Math.max(0, args[0] ?? 50));
        return all[Math.min(all.length - 1, Math.max(0, Math.ceil((q / 100) * all.length) - 1))] as number;
      }
      default:
        return 0;
    }
  }
}

/**
 * The breaker: standing by, it checks its expression at most once a `checkPeriod`; when it holds,
 * it trips, and every request gets `responseCode` for `fallbackDuration`; then it recovers,
 * letting a growing share of requests through over `recoveryDuration` (tripping again if the
 * expression holds), then stands by again.
 */
export function circuitBreaker(c: CircuitBreakerConfig, now: () => number = Date.now, random: () => number = Math.random): Wrap {
  const expr = parseExpression(c.expression, BREAKER_FUNCTIONS) as Expr;
  const stats = new RollingStats();
  let state: "standby" | "tripped" | "recovering" = "standby";
  let since = 0;
  let lastCheck = 0;
  const holds = (t: number): boolean => Boolean(evaluate(expr, (name, args) => stats.value(t, name, args)));
  const tripped = (): Reply => answer(c.responseCode, c.responseCode === 503 ? "Service Unavailable\n" : `${c.responseCode}\n`);
  return (next: Handler): Handler =>
    async (x) => {
      const t = now();
      if (state === "tripped") {
        if (t - since < c.fallbackDurationMs) return tripped();
        // Recovering from the end of the fallback, whenever the next request comes.
        state = "recovering";
        since += c.fallbackDurationMs;
        stats.reset();
      }
      if (state === "recovering") {
        const share = (t - since) / c.recoveryDurationMs;
        if (share >= 1) state = "standby";
        else if (random() > share) return tripped();
      }
      const r = await next(x);
      const end = now();
      stats.record(end, r.status, r.failure !== null, end - t);
      if (end - lastCheck >= c.checkPeriodMs) {
        lastCheck = end;
        // Another request may have tripped it meanwhile.
        if ((state as string) !== "tripped" && holds(end)) {
          state = "tripped";
          since = end;
        }
      }
      return r;
    };
}

/** The functions of buffering's `retryExpression`. */
const RETRY_FUNCTIONS = {
  IsNetworkError: { args: 0, boolean: true },
  Attempts: { args: 0, boolean: false },
  ResponseCode: { args: 0, boolean: false },
} as const;

/** `buffering`: the request body read whole (413 over `maxRequestBodyBytes`), the response too (500 over `maxResponseBodyBytes`); 0: no limit. */
export interface BufferingConfig {
  type: "buffering";
  maxRequestBodyBytes: number;
  memRequestBodyBytes: number;
  maxResponseBodyBytes: number;
  memResponseBodyBytes: number;
  /** Sent again while it holds (`IsNetworkError() && Attempts() < 2`), or "". */
  retryExpression: string;
}

export function parseBuffering(o: Options): BufferingConfig {
  const retryExpression = o.str("retryExpression") ?? "";
  if (retryExpression !== "") {
    const e = parseExpression(retryExpression, RETRY_FUNCTIONS);
    if ("reason" in e) o.fail("retryExpression", e.reason);
  }
  return {
    type: "buffering",
    maxRequestBodyBytes: o.int("maxRequestBodyBytes", 0, 0),
    memRequestBodyBytes: o.int("memRequestBodyBytes", 1_048_576, 0),
    maxResponseBodyBytes: o.int("maxResponseBodyBytes", 0, 0),
    memResponseBodyBytes: o.int("memResponseBodyBytes", 1_048_576, 0),
    retryExpression,
  };
}

/** Reads a body whole; null when it is over `max` (0: no limit). */
async function readAll(body: Buffer | AsyncIterable<Buffer>, max: number): Promise<Buffer | null> {
  if (Buffer.isBuffer(body)) return max > 0 && body.length > max ? null : body;
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += chunk.length;
    if (max > 0 && n > max) return null;
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

export function buffering(c: BufferingConfig): Wrap {
  const expr = c.retryExpression === "" ? null : (parseExpression(c.retryExpression, RETRY_FUNCTIONS) as Expr);
  return (next) => async (x) => {
    if (x.body !== null) {
      const body = await readAll(x.body, c.maxRequestBodyBytes);
      if (body === null) return answer(413, "Request Entity Too Large\n", { connection: "close" });
      x.body = body;
      x.headers = x.headers.filter((_v, i, all) => i % 2 === 0 ? all[i]?.toLowerCase() !== "transfer-encoding" : all[i - 1]?.toLowerCase() !== "transfer-encoding");
    }
    const url = x.url;
    const headers = x.headers;
    for (let attempt = 1; ; attempt++) {
      const r = await next(x);
      const again = attempt < 10 && expr !== null && Boolean(evaluate(expr, (name) => (name === "IsNetworkError" ? r.failure === "network" : name === "Attempts" ? attempt : r.status)));
      if (again) {
        // The answer not taken is read to its end (its connection goes back to the pool).
        if (!Buffer.isBuffer(r.body)) {
          const it = r.body[Symbol.asyncIterator]();
          while ((await it.next()).done !== true) {
            // read and let go
          }
        }
        x.url = url;
        x.headers = [...headers];
        continue;
      }
      const body = await readAll(r.body, c.maxResponseBodyBytes);
      if (body === null) return answer(500, "Internal Server Error\n");
      const out: Reply = { ...r, body };
      if (r.headers["content-length"] === undefined && x.method !== "HEAD" && r.status !== 204 && r.status !== 304) out.headers = { ...r.headers, "content-length": String(body.length) };
      return out;
    }
  };
}
