import { randomInt } from "node:crypto";
import type { Logger } from "../structs/index.js";
import { EtcdError } from "./errors.js";
import type { Mvcc } from "./mvcc.js";

/** etcd's shortest lease (its `minLeaseTTL` with the default election timeout, rounded up): a shorter TTL is raised to it. */
export const MIN_LEASE_TTL = 2;
/** etcd's longest lease (`MaxLeaseTTL`). */
export const MAX_LEASE_TTL = 9_000_000_000;
/** The TTL a lease found on keys at start is given again (its own was in the memory of the agent before). */
export const RECOVERED_LEASE_TTL = 60;

interface Lease {
  id: number;
  /** Seconds, as granted. */
  granted: number;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

/**
 * etcd's leases: a TTL that keep-alives renew; when it runs out, or the lease is revoked,
 * every key written with it is deleted (one commit). Leases live in the memory of the agent
 * that serves them; the keys carry their lease in the KV store (`KVEntry.Lease`), so that a
 * lease found on keys when the agent starts is given again for `RECOVERED_LEASE_TTL`: its
 * holder keeps it alive as before, or its keys go.
 */
export class Leases {
  private readonly leases = new Map<number, Lease>();

  constructor(
    private readonly mvcc: Mvcc,
    private readonly opts: { now(): number; log?: Logger },
  ) {
    for (const id of mvcc.leasesInUse()) this.start(id, RECOVERED_LEASE_TTL);
  }

  has(id: number): boolean {
    return this.leases.has(id);
  }

  grant(ttl: number, id: number): { id: number; ttl: number } {
    if (ttl > MAX_LEASE_TTL) throw EtcdError.outOfRange("etcdserver: too large lease TTL");
    if (id < 0) throw EtcdError.invalid("etcdserver: lease ID must be positive");
    if (id !== 0 && this.leases.has(id)) throw EtcdError.failedPrecondition("etcdserver: lease already exists");
    let chosen = id;
    while (chosen === 0 || this.leases.has(chosen)) chosen = randomInt(1, 2 ** 48);
    const l = this.start(chosen, Math.max(MIN_LEASE_TTL, ttl));
    return { id: l.id, ttl: l.granted };
  }

  /** Renews a lease to its granted TTL; returns it, or 0 when the lease is gone (etcd's keep-alive answer). */
  keepAlive(id: number): number {
    const l = this.leases.get(id);
    if (l === undefined) return 0;
    this.start(id, l.granted);
    return l.granted;
  }

  /** Seconds left (-1 when none), the granted TTL, and the keys the lease holds. */
  timeToLive(id: number): { ttl: number; granted: number; keys: string[] } {
    const l = this.leases.get(id);
    if (l === undefined) return { ttl: -1, granted: 0, keys: [] };
    return { ttl: Math.max(0, Math.ceil((l.expiresAt - this.opts.now()) / 1000)), granted: l.granted, keys: this.mvcc.keysOfLease(id) };
  }

  ids(): number[] {
    return [...this.leases.keys()];
  }

  /** Ends a lease and deletes its keys; refused when there is none. */
  async revoke(id: number): Promise<number> {
    const l = this.leases.get(id);
    if (l === undefined) throw EtcdError.notFound("etcdserver: requested lease not found");
    clearTimeout(l.timer);
    this.leases.delete(id);
    return this.deleteKeys(id);
  }

  close(): void {
    for (const l of this.leases.values()) clearTimeout(l.timer);
    this.leases.clear();
  }

  private start(id: number, ttl: number): Lease {
    const prev = this.leases.get(id);
    if (prev !== undefined) clearTimeout(prev.timer);
    const timer = setTimeout(() => {
      this.leases.delete(id);
      this.deleteKeys(id).catch((err: unknown) => this.opts.log?.warn({ err, lease: id }, "the keys of an expired lease could not be deleted"));
    }, ttl * 1000);
    timer.unref();
    const l = { id, granted: ttl, expiresAt: this.opts.now() + ttl * 1000, timer };
    this.leases.set(id, l);
    return l;
  }

  /** Deletes the keys that still carry the lease, in one commit; returns the revision. */
  private async deleteKeys(id: number): Promise<number> {
    const keys = this.mvcc.keysOfLease(id);
    if (keys.length === 0) return this.mvcc.revision();
    const { revision } = await this.mvcc.write((_tx, w) => {
      for (const k of keys) if (w.get(k)?.Lease === id) w.delete(k);
    });
    return revision;
  }
}
