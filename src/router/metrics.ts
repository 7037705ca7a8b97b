/** Upper bounds (seconds) of the request duration histogram. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds of history behind a request rate. */
const RATE_WINDOW = 10;

interface RouteStats {
  codes: Map<number, number>;
  buckets: number[];
  sum: number;
  count: number;
  retries: number;
  /** Requests per second over the last RATE_WINDOW seconds: counts by second, in a ring. */
  ring: number[];
  ringSecond: number;
}

interface BackendStats {
  route: string;
  origin: string;
  requests: number;
  failures: number;
}

/** The router's counters: per route (status codes, durations, retries, rate) and per backend (requests, failures). */
export class RouterMetrics {
  private readonly routes = new Map<string, RouteStats>();
  /** By route, then by origin: a request finds its counters without building a key. */
  private readonly backends = new Map<string, Map<string, BackendStats>>();
  private ejections = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private route(name: string): RouteStats {
    let s = this.routes.get(name);
    if (s === undefined) {
      s = { codes: new Map(), buckets: BUCKETS.map(() => 0), sum: 0, count: 0, retries: 0, ring: new Array<number>(RATE_WINDOW).fill(0), ringSecond: 0 };
      this.routes.set(name, s);
    }
    return s;
  }

  /** One request answered on a route (`""` when no route matched). */
  request(route: string, status: number, seconds: number, retries: number): void {
    const s = this.route(route);
    s.codes.set(status, (s.codes.get(status) ?? 0) + 1);
    s.count++;
    s.sum += seconds;
    s.retries += retries;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= (BUCKETS[i] as number)) s.buckets[i] = (s.buckets[i] as number) + 1;
    const sec = Math.floor(this.now() / 1000);
    this.advance(s, sec);
    const slot = sec % RATE_WINDOW;
    s.ring[slot] = (s.ring[slot] as number) + 1;
  }

  private advance(s: RouteStats, sec: number): void {
    if (s.ringSecond === sec) return;
    const gap = Math.min(sec - s.ringSecond, RATE_WINDOW);
    for (let i = 1; i <= gap; i++) s.ring[(s.ringSecond + i) % RATE_WINDOW] = 0;
    s.ringSecond = sec;
  }

  /** A request sent to a backend, and whether it answered. */
  backend(route: string, origin: string, ok: boolean): void {
    let byOrigin = this.backends.get(route);
    if (byOrigin === undefined) this.backends.set(route, (byOrigin = new Map<string, BackendStats>()));
    let b = byOrigin.get(origin);
    if (b === undefined) {
      b = { route, origin, requests: 0, failures: 0 };
      byOrigin.set(origin, b);
    }
    b.requests++;
    if (!ok) b.failures++;
  }

  ejected(): void {
    this.ejections++;
  }

  /** Requests per second on a route over the last seconds. */
  rate(route: string): number {
    const s = this.routes.get(route);
    if (s === undefined) return 0;
    const sec = Math.floor(this.now() / 1000);
    this.advance(s, sec);
    // The current second is not over: average over the full seconds before it.
    let n = 0;
    for (let i = 1; i < RATE_WINDOW; i++) n += s.ring[(sec - i + RATE_WINDOW * 2) % RATE_WINDOW] as number;
    return n / (RATE_WINDOW - 1);
  }

  totals(route: string): { requests: number; errors: number } {
    const s = this.routes.get(route);
    if (s === undefined) return { requests: 0, errors: 0 };
    let errors = 0;
    for (const [code, n] of s.codes) if (code >= 500) errors += n;
    return { requests: s.count, errors };
  }

  backendTotals(route: string, origin: string): { requests: number; failures: number } {
    const b = this.backends.get(route)?.get(origin);
    return { requests: b?.requests ?? 0, failures: b?.failures ?? 0 };
  }

  /** Prometheus text format. `up` lists each route's backends and whether the router sends them traffic. */
  render(up: { route: string; origin: string; up: boolean }[]): string {
    const l: string[] = [];
    const q = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
    l.push("# HELP ruche_router_requests_total Requests answered by the router, by route and status code.", "# TYPE ruche_router_requests_total counter");
    for (const [name, s] of this.routes) for (const [code, n] of s.codes) l.push(`ruche_router_requests_total{route="${q(name)}",code="${code}"} ${n}`);
    l.push("# HELP ruche_router_request_duration_seconds Time from a request's arrival to the end of its response, by route.", "# TYPE ruche_router_request_duration_seconds histogram");
    for (const [name, s] of this.routes) {
      BUCKETS.forEach((b, i) => l.push(`ruche_router_request_duration_seconds_bucket{route="${q(name)}",le="${b}"} ${s.buckets[i] ?? 0}`));
      l.push(`ruche_router_request_duration_seconds_bucket{route="${q(name)}",le="+Inf"} ${s.count}`);
      l.push(`ruche_router_request_duration_seconds_sum{route="${q(name)}"} ${s.sum.toFixed(6)}`, `ruche_router_request_duration_seconds_count{route="${q(name)}"} ${s.count}`);
    }
    l.push("# HELP ruche_router_retries_total Requests sent again to another backend after one failed to answer.", "# TYPE ruche_router_retries_total counter");
    for (const [name, s] of this.routes) l.push(`ruche_router_retries_total{route="${q(name)}"} ${s.retries}`);
    l.push("# HELP ruche_router_backend_requests_total Requests sent to a backend, by route and backend.", "# TYPE ruche_router_backend_requests_total counter");
    for (const byOrigin of this.backends.values()) for (const b of byOrigin.values()) l.push(`ruche_router_backend_requests_total{route="${q(b.route)}",backend="${q(b.origin)}"} ${b.requests}`);
    l.push("# HELP ruche_router_backend_failures_total Requests a backend did not answer (refused, reset, unreachable).", "# TYPE ruche_router_backend_failures_total counter");
    for (const byOrigin of this.backends.values()) for (const b of byOrigin.values()) l.push(`ruche_router_backend_failures_total{route="${q(b.route)}",backend="${q(b.origin)}"} ${b.failures}`);
    l.push("# HELP ruche_router_backend_up Whether the router sends a backend traffic (passing and not ejected).", "# TYPE ruche_router_backend_up gauge");
    for (const u of up) l.push(`ruche_router_backend_up{route="${q(u.route)}",backend="${q(u.origin)}"} ${u.up ? 1 : 0}`);
    l.push("# HELP ruche_router_ejections_total Backends set aside after failing in a row.", "# TYPE ruche_router_ejections_total counter", `ruche_router_ejections_total ${this.ejections}`);
    return `${l.join("\n")}\n`;
  }
}
