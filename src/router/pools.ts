import { Pool } from "undici";

/** Keep-alive connection pools to backends, one per origin, kept across routing tables. */
export class Pools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly opts: { connectTimeoutMs: number; keepAliveMs: number }) {}

  get(origin: string): Pool {
    let p = this.pools.get(origin);
    if (p === undefined) {
      p = new Pool(origin, {
        connect: { timeout: this.opts.connectTimeoutMs },
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
