import type { Options } from "./options.js";
import { parseIpStrategy, rangeSet, sourceIp, type IpStrategy } from "./ip.js";
import { answer, header, type Exchange, type Wrap } from "./types.js";

/** Traefik's `sourceCriterion`: requests grouped by the address an `ipStrategy` finds, by a request header, or by host. */
export type SourceCriterion = { kind: "ip"; ipStrategy: IpStrategy } | { kind: "header"; name: string } | { kind: "host" };

export function parseSourceCriterion(o: Options): SourceCriterion {
  const name = o.str("sourceCriterion.requestHeaderName");
  const host = o.bool("sourceCriterion.requestHost", false);
  const ip = parseIpStrategy(o, "sourceCriterion.ipStrategy");
  const asked = (name !== undefined ? 1 : 0) + (host ? 1 : 0) + (ip.depth > 0 || ip.excludedIPs.length > 0 ? 1 : 0);
  if (asked > 1) o.fail("sourceCriterion", "give one of ipStrategy, requestHeaderName and requestHost");
  if (name !== undefined) return { kind: "header", name };
  if (host) return { kind: "host" };
  return { kind: "ip", ipStrategy: ip };
}

/** The key requests are counted under; "" when the source is not found (Traefik then counts them together). */
export function sourceKey(c: SourceCriterion, excluded: ReturnType<typeof rangeSet> | null): (x: Exchange) => string {
  switch (c.kind) {
    case "ip":
      return (x) => sourceIp(x, c.ipStrategy, excluded);
    case "header":
      return (x) => header(x, c.name) ?? "";
    case "host":
      return (x) => x.host.toLowerCase();
    default: {
      const _: never = c;
      return _;
    }
  }
}

/** `rateLimit`: `average` requests per `period` for each source, bursts of up to `burst`. */
export interface RateLimitConfig {
  type: "rateLimit";
  /** 0: no limit. */
  average: number;
  periodMs: number;
  burst: number;
  sourceCriterion: SourceCriterion;
}

export function parseRateLimit(o: Options): RateLimitConfig {
  return { type: "rateLimit", average: o.int("average", 0, 0), periodMs: o.duration("period", 1000), burst: o.int("burst", 1, 1), sourceCriterion: parseSourceCriterion(o) };
}

/**
 * A token bucket (as Go's x/time/rate): `rate` tokens a millisecond up to `burst`. A request
 * takes one; when none is left, how long until one is (ms), the token then taken in advance.
 */
export interface Bucket {
  tokens: number;
  at: number;
}

/** The wait before a request may go (0: at once), the bucket updated as if it went. */
export function take(b: Bucket, now: number, rate: number, burst: number): number {
  b.tokens = Math.min(burst, b.tokens + (now - b.at) * rate);
  b.at = now;
  b.tokens -= 1;
  return b.tokens >= 0 ? 0 : -b.tokens / rate;
}

/**
 * Requests over the rate wait their turn when it comes soon (within half the time between two
 * requests at the rate, at most 500 ms, as Traefik); otherwise 429 Too Many Requests, with
 * `Retry-After` (seconds) and `X-Retry-In`. The buckets are this process's.
 */
export function rateLimit(c: RateLimitConfig, now: () => number = Date.now): Wrap {
  if (c.average === 0) return (next) => next;
  const rate = c.average / c.periodMs;
  const perSecond = rate * 1000;
  const maxDelay = perSecond < 1 ? 500 : 1000 / (2 * perSecond);
  const buckets = new Map<string, Bucket>();
  const key = sourceKey(c.sourceCriterion, c.sourceCriterion.kind === "ip" && c.sourceCriterion.ipStrategy.excludedIPs.length > 0 ? rangeSet(c.sourceCriterion.ipStrategy.excludedIPs) : null);
  return (next) => async (x) => {
    const t = now();
    const k = key(x);
    let b = buckets.get(k);
    if (b === undefined) {
      if (buckets.size >= 65_536) {
        // Full buckets are as good as new ones: forgotten.
        for (const [kk, bb] of buckets) if (bb.tokens + (t - bb.at) * rate >= c.burst) buckets.delete(kk);
      }
      b = { tokens: c.burst, at: t };
      buckets.set(k, b);
    }
    const wait = take(b, t, rate, c.burst);
    if (wait > maxDelay) {
      b.tokens += 1;
      return answer(429, "Too Many Requests\n", { "retry-after": String(Math.ceil(wait / 1000)), "x-retry-in": `${Math.round(wait)}ms` });
    }
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    return next(x);
  };
}

/** `inFlightReq`: at most `amount` requests of a source at a time; more get 429. */
export interface InFlightReqConfig {
  type: "inFlightReq";
  amount: number;
  sourceCriterion: SourceCriterion;
}

export function parseInFlightReq(o: Options): InFlightReqConfig {
  if (o.str("amount") === undefined) o.fail("amount", "must be given");
  return { type: "inFlightReq", amount: o.int("amount", 1, 1), sourceCriterion: parseSourceCriterion(o) };
}

export function inFlightReq(c: InFlightReqConfig): Wrap {
  const inflight = new Map<string, number>();
  const key = sourceKey(c.sourceCriterion, c.sourceCriterion.kind === "ip" && c.sourceCriterion.ipStrategy.excludedIPs.length > 0 ? rangeSet(c.sourceCriterion.ipStrategy.excludedIPs) : null);
  return (next) => async (x) => {
    const k = key(x);
    const n = inflight.get(k) ?? 0;
    if (n >= c.amount) return answer(429, "Too Many Requests\n");
    inflight.set(k, n + 1);
    try {
      return await next(x);
    } finally {
      const left = (inflight.get(k) ?? 1) - 1;
      if (left === 0) inflight.delete(k);
      else inflight.set(k, left);
    }
  };
}
