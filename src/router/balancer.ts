import type { Backend, Route, RouterConfig } from "./types.js";

/** What the router knows of one backend from the traffic it sent it (by origin, across tables). */
export interface BackendHealth {
  inflight: number;
  /** Failures in a row (no answer: refused, reset, unreachable). */
  failures: number;
  /** Set aside until then (ms since the epoch); 0 when not. */
  ejectedUntil: number;
  /** Ejections in a row: each doubles the next one's length, up to the maximum. */
  ejections: number;
  ejectionsTotal: number;
}

/**
 * Picks a backend for each request: smooth weighted round robin (plain round robin when
 * weights are equal) or least request by the power of two choices; skips backends already
 * tried for this request and those passively ejected after failing in a row. When every
 * backend is ejected, they are all tried anyway rather than failing the request outright:
 * the catalog's health checks are what remove an instance for good.
 */
export class Balancer {
  private readonly health = new Map<string, BackendHealth>();
  private readonly rr = new WeakMap<Route, number[]>();
  /** Backends the router's own health checks find failing (`loadbalancer.healthcheck`): never picked while they fail. */
  private readonly down = new Set<string>();

  constructor(
    private readonly ejection: RouterConfig["ejection"],
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  of(origin: string): BackendHealth {
    let h = this.health.get(origin);
    if (h === undefined) {
      h = { inflight: 0, failures: 0, ejectedUntil: 0, ejections: 0, ejectionsTotal: 0 };
      this.health.set(origin, h);
    }
    return h;
  }

  /** Forgets backends no longer in any route. */
  keepOnly(origins: ReadonlySet<string>): void {
    for (const o of this.health.keys()) if (!origins.has(o) && this.health.get(o)?.inflight === 0) this.health.delete(o);
  }

  /** Sets a backend failing (or passing again) its route's active health check. */
  setDown(origin: string, isDown: boolean): void {
    if (isDown) this.down.add(origin);
    else this.down.delete(origin);
  }

  isDown(origin: string): boolean {
    return this.down.size > 0 && this.down.has(origin);
  }

  /** Whether a request may go to the backend now: not failing its health check, not set aside (a sticky cookie's backend must be). */
  usable(b: Backend): boolean {
    return b.weight > 0 && !this.isDown(b.origin) && !this.isEjected(b.origin);
  }

  isEjected(origin: string): boolean {
    const h = this.health.get(origin);
    return h !== undefined && h.ejectedUntil > this.now();
  }

  /** The next backend for a request on this route, not one of `tried`; null when there is none left. */
  pick(route: Route, tried: ReadonlySet<Backend> | null): Backend | null {
    // Those failing the route's active health check are out, even when none is left (503, as Traefik).
    const all = this.down.size === 0 ? route.backends : route.backends.filter((b) => !this.down.has(b.origin));
    if (all.length === 0) return null;
    if (all.length === 1 && tried === null) return all[0] as Backend;
    const now = this.now();
    let eligible = all.filter((b) => (tried === null || !tried.has(b)) && b.weight > 0 && !(this.of(b.origin).ejectedUntil > now));
    if (eligible.length === 0) eligible = all.filter((b) => (tried === null || !tried.has(b)) && b.weight > 0);
    if (eligible.length === 0) eligible = all.filter((b) => tried === null || !tried.has(b));
    if (eligible.length === 0) return null;
    if (eligible.length === 1) return eligible[0] as Backend;
    return route.method === "p2c" ? this.leastRequest(eligible) : this.roundRobin(route, eligible);
  }

  /** Smooth weighted round robin over the route's backends (the state lives with the route, so a new table starts afresh). */
  private roundRobin(route: Route, eligible: Backend[]): Backend {
    let current = this.rr.get(route);
    if (current === undefined) {
      current = route.backends.map(() => 0);
      this.rr.set(route, current);
    }
    let total = 0;
    let best = -1;
    for (let i = 0; i < route.backends.length; i++) {
      const b = route.backends[i] as Backend;
      if (!eligible.includes(b)) continue;
      const w = b.weight > 0 ? b.weight : 1;
      total += w;
      current[i] = (current[i] as number) + w;
      if (best < 0 || (current[i] as number) > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    return route.backends[best] as Backend;
  }

  /** Two backends drawn at random (by weight), the one with fewer requests in flight per unit of weight. */
  private leastRequest(eligible: Backend[]): Backend {
    const a = this.draw(eligible, null);
    const b = this.draw(eligible, a);
    const la = this.of(a.origin).inflight / Math.max(a.weight, 1);
    const lb = this.of(b.origin).inflight / Math.max(b.weight, 1);
    return lb < la ? b : a;
  }

  private draw(list: Backend[], not: Backend | null): Backend {
    const pool = not === null ? list : list.filter((x) => x !== not);
    let total = 0;
    for (const x of pool) total += Math.max(x.weight, 1);
    let r = this.random() * total;
    for (const x of pool) {
      r -= Math.max(x.weight, 1);
      if (r < 0) return x;
    }
    return pool[pool.length - 1] as Backend;
  }

  /** The backend answered: its failures in a row end. */
  succeeded(origin: string): void {
    const h = this.of(origin);
    h.failures = 0;
    h.ejections = 0;
  }

  /**
   * The backend did not answer; after `ejection.failures` in a row (at once with `now`) it is
   * set aside for a while. True when it was just ejected.
   */
  failed(origin: string, now = false): boolean {
    const h = this.of(origin);
    h.failures = now ? Math.max(h.failures + 1, this.ejection.failures) : h.failures + 1;
    if (h.failures < this.ejection.failures) return false;
    const ms = Math.min(this.ejection.baseMs * 2 ** h.ejections, this.ejection.maxMs);
    h.ejectedUntil = this.now() + ms;
    h.ejections++;
    h.ejectionsTotal++;
    // Back from an ejection, one more failure sets it aside again.
    h.failures = this.ejection.failures - 1;
    return true;
  }
}
