import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { errorMessage, type Logger } from "../structs/index.js";
import type { Balancer } from "./balancer.js";
import type { ActiveCheck, Backend, RoutingTable } from "./types.js";

/** What one probe found: healthy, or why not. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

/** Redirects a probe follows at most (Go's HTTP client stops after 10). */
const MAX_REDIRECTS = 10;

/**
 * One probe of a backend as Traefik's health check makes it: `method path` on the backend's
 * address (the check's port and scheme when it gives them), with its Host and headers,
 * answered within `timeoutMs` by the check's status, or by any from 200 to 399. Redirects
 * are followed (`followRedirects`) while they stay on the probe's own address, port and
 * scheme; one elsewhere is taken as the answer (the router probes only its backends).
 */
export async function probe(b: Backend, c: ActiveCheck, lookup: (port: number) => LookupFunction, signal: AbortSignal): Promise<ProbeResult> {
  const scheme = c.scheme ?? (b.origin.startsWith("https:") ? "https" : "http");
  const port = c.port ?? b.port;
  const host = c.hostname !== "" ? c.hostname : b.address.includes(":") ? `[${b.address}]:${port}` : `${b.address}:${port}`;
  const base = urlOr(`${scheme}://${host}/`);
  const deadline = Date.now() + c.timeoutMs;
  let path = c.path;
  for (let hop = 0; ; hop++) {
    const r = await once(b, c, scheme, port, host, path, Math.max(1, deadline - Date.now()), lookup, signal);
    if (!r.ok) return r;
    const st = r.status;
    if (c.followRedirects && base !== null && st >= 300 && st < 400 && r.location !== null && hop < MAX_REDIRECTS) {
      const next = urlOr(r.location, new URL(path, base));
      if (next !== null && next.protocol === base.protocol && next.host === base.host) {
        path = next.pathname + next.search;
        continue;
      }
    }
    const good = c.status !== 0 ? st === c.status : st >= 200 && st < 400;
    return good ? { ok: true } : { ok: false, reason: `answered ${st}${c.status !== 0 ? `, not ${c.status}` : ""}` };
  }
}

/** A URL, or null when the text is not one. */
function urlOr(text: string, base?: URL): URL | null {
  try {
    return new URL(text, base);
  } catch {
    return null;
  }
}

/** One request of a probe: its status and Location, or why it has none. */
function once(b: Backend, c: ActiveCheck, scheme: string, port: number, host: string, path: string, timeoutMs: number, lookup: (port: number) => LookupFunction, signal: AbortSignal): Promise<{ ok: true; status: number; location: string | null } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const end = (r: { ok: true; status: number; location: string | null } | { ok: false; reason: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = (scheme === "https" ? httpsRequest : httpRequest)({
      host: b.address,
      port,
      path,
      method: c.method,
      headers: { ...c.headers, host, "user-agent": "Ruche-HealthCheck", connection: "close" },
      lookup: lookup(port),
      signal,
      ...(scheme === "https" && c.hostname !== "" ? { servername: c.hostname } : {}),
    });
    const timer = setTimeout(() => {
      end({ ok: false, reason: `no answer within ${c.timeoutMs} ms` });
    }, timeoutMs);
    req.on("response", (res) => {
      res.resume();
      end({ ok: true, status: res.statusCode ?? 0, location: res.headers.location ?? null });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      end({ ok: false, reason: err.code ?? err.message });
    });
    req.end();
  });
}

interface Probe {
  backend: Backend;
  check: ActiveCheck;
  timer: NodeJS.Timeout | null;
  stop: AbortController;
  /** Failing since its last probe. */
  failing: boolean;
}

/**
 * The router's own health checks (`loadbalancer.healthcheck.*` tags), on top of the
 * catalog's: each backend of a route that asks is probed at once, then every `intervalMs`
 * (`unhealthyIntervalMs` while it fails);
 * while its last probe failed, the balancer leaves it out (no request reaches it, a route
 * with none left answers 503), and it is back after its first good probe. `update` follows
 * each routing table (new backends probed, gone ones forgotten); `close` stops every probe.
 * With `-router-workers`, each worker probes for itself.
 */
export class ActiveHealth {
  /** By backend origin and check: a backend checked alike by several routes is probed once. */
  private readonly probes = new Map<string, Probe>();
  private closed = false;

  constructor(
    private readonly balancer: Balancer,
    private readonly lookup: (port: number) => LookupFunction,
    private readonly log: Logger,
  ) {}

  /** Probes what `table` asks, stops what it no longer asks. */
  update(table: RoutingTable): void {
    if (this.closed) return;
    const want = new Map<string, { backend: Backend; check: ActiveCheck }>();
    for (const r of table.routes) {
      if (r.healthCheck === null) continue;
      for (const b of r.backends) want.set(`${b.origin} ${JSON.stringify(r.healthCheck)}`, { backend: b, check: r.healthCheck });
    }
    for (const [key, p] of this.probes) {
      if (want.has(key)) continue;
      this.probes.delete(key);
      this.stopProbe(p);
      this.recount(p.backend.origin);
    }
    for (const [key, w] of want) {
      if (this.probes.has(key)) continue;
      const p: Probe = { ...w, timer: null, stop: new AbortController(), failing: false };
      this.probes.set(key, p);
      this.run(p);
    }
  }

  close(): void {
    this.closed = true;
    for (const p of this.probes.values()) {
      this.stopProbe(p);
      this.balancer.setDown(p.backend.origin, false);
    }
    this.probes.clear();
  }

  private stopProbe(p: Probe): void {
    p.stop.abort();
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
  }

  private run(p: Probe): void {
    const next = (r: ProbeResult): void => {
      if (p.stop.signal.aborted || this.closed) return;
      const failing = !r.ok;
      if (failing !== p.failing) {
        p.failing = failing;
        if (!r.ok) this.log.warn({ backend: p.backend.origin, path: p.check.path, reason: r.reason }, "router: backend fails its health check; left out until it passes");
        else this.log.info({ backend: p.backend.origin, path: p.check.path }, "router: backend passes its health check again");
        this.recount(p.backend.origin);
      }
      p.timer = setTimeout(() => {
        this.run(p);
      }, p.failing ? p.check.unhealthyIntervalMs : p.check.intervalMs);
    };
    probe(p.backend, p.check, this.lookup, p.stop.signal).then(next, (err: unknown) => {
      next({ ok: false, reason: errorMessage(err) });
    });
  }

  /** A backend is out while any of its probes fails. */
  private recount(origin: string): void {
    let down = false;
    for (const p of this.probes.values()) if (p.backend.origin === origin && p.failing) down = true;
    this.balancer.setDown(origin, down);
  }
}
