import type { LookupFunction } from "node:net";
import { Pool } from "undici";

/** Keep-alive connection pools to backends, one per origin, kept across routing tables. */
export class Pools {
  private readonly pools = new Map<string, Pool>();

  /** `lookup`: how a backend named by a name is resolved (and refused when it is Ruche's own: see backend-guard.ts). */
  constructor(private readonly opts: { connectTimeoutMs: number; keepAliveMs: number; lookup?: (port: number) => LookupFunction }) {}

  get(origin: string): Pool {
    let p = this.pools.get(origin);
    if (p === undefined) {
      p = new Pool(origin, {
        connect: { timeout: this.opts.connectTimeoutMs, ...(this.opts.lookup === undefined ? {} : { lookup: this.opts.lookup(portOf(origin)) }) },
        keepAliveTimeout: this.opts.keepAliveMs,
        keepAliveMaxTimeout: this.opts.keepAliveMs,
        // Each request is its own: one in flight per connection, as backends expect.
        pipelining: 1,
      });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** Closes the pools of origins no longer in the table; their requests in flight finish first. */
  keepOnly(origins: ReadonlySet<string>): void {
    for (const [o, p] of this.pools) {
      if (origins.has(o)) continue;
      this.pools.delete(o);
      p.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.destroy().catch(() => undefined)));
  }
}

function portOf(origin: string): number {
  const u = new URL(origin);
  return u.port === "" ? (u.protocol === "https:" ? 443 : 80) : Number(u.port);
}
