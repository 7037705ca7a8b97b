import { status } from "@grpc/grpc-js";
import { AclPrefixKind, type KVEntry } from "../structs/index.js";
import { EtcdError } from "./errors.js";
import { int, type Caller, type Header } from "./kv.js";
import type { Leases } from "./leases.js";
import { keyValue, storeKey, type KeyValue, type Mvcc } from "./mvcc.js";

export interface LeaderKey {
  name: Buffer;
  key: Buffer;
  rev: number;
  lease: number;
}

/**
 * etcd's v3lock and v3election services, as etcd builds them on its own KV (clientv3's
 * concurrency package): a holder or candidate is the key `<name>/<lease in hex>` written with
 * its lease; the oldest key under `<name>/` (by create revision) holds the lock or leads. A
 * waiter waits for the keys created before its own to go. A lease that ends deletes its key,
 * and the next in line takes over.
 */
export class Concurrency {
  constructor(
    private readonly mvcc: Mvcc,
    private readonly leases: Leases,
    private readonly header: (revision: number) => Header,
  ) {}

  async lock(c: Caller, name: Buffer, lease: number, signal: AbortSignal): Promise<{ header: Header; key: Buffer }> {
    const { key, rev } = await this.enqueue(c, name, lease, null, signal);
    return { header: this.header(rev), key: Buffer.from(key, "utf8") };
  }

  async unlock(c: Caller, key: Buffer): Promise<{ header: Header }> {
    const k = storeKey(key);
    if (!c.acl.prefix(AclPrefixKind.Key, k, "write")) throw EtcdError.denied();
    const { revision } = await this.mvcc.write((_tx, w) => { w.delete(k); });
    return { header: this.header(revision) };
  }

  async campaign(c: Caller, name: Buffer, lease: number, value: Buffer, signal: AbortSignal): Promise<{ header: Header; leader: LeaderKey }> {
    const { key, rev, created } = await this.enqueue(c, name, lease, value, signal);
    return { header: this.header(rev), leader: { name, key: Buffer.from(key, "utf8"), rev: created, lease } };
  }

  async proclaim(c: Caller, leader: LeaderKey | null | undefined, value: Buffer): Promise<{ header: Header }> {
    const l = leaderKey(leader);
    if (!c.acl.prefix(AclPrefixKind.Key, l.key, "write")) throw EtcdError.denied();
    const { revision } = await this.mvcc.write((_tx, w) => {
      const e = w.get(l.key);
      if (e?.CreateIndex !== l.rev) throw EtcdError.failedPrecondition("election: not leader");
      w.put(l.key, value, l.lease);
    });
    return { header: this.header(revision) };
  }

  leader(c: Caller, name: Buffer): { header: Header; kv: KeyValue } {
    const prefix = `${storeKey(name, "name")}/`;
    if (!c.acl.prefix(AclPrefixKind.Key, prefix, "read")) throw EtcdError.denied();
    const first = oldest(this.mvcc.store.kvList(prefix));
    if (first === undefined) throw EtcdError.notFound("election: no leader");
    return { header: this.header(this.mvcc.revision()), kv: keyValue(first) };
  }

  /** Calls `send` with the leader now (if any) and at every change of it or of its value, until the signal aborts. */
  observe(c: Caller, name: Buffer, send: (r: { header: Header; kv: KeyValue }) => void, signal: AbortSignal): void {
    const prefix = `${storeKey(name, "name")}/`;
    if (!c.acl.prefix(AclPrefixKind.Key, prefix, "read")) throw EtcdError.denied();
    let shown: { key: string; mod: number } | undefined;
    const check = (): void => {
      const first = oldest(this.mvcc.store.kvList(prefix));
      if (first === undefined || (shown?.key === first.Key && shown.mod === first.ModifyIndex)) return;
      shown = { key: first.Key, mod: first.ModifyIndex };
      send({ header: this.header(this.mvcc.revision()), kv: keyValue(first) });
    };
    check();
    const stop = this.mvcc.listen((r) => {
      if (r.events.some((e) => e.kv.key.toString("utf8").startsWith(prefix))) check();
    });
    signal.addEventListener("abort", stop, { once: true });
  }

  async resign(c: Caller, leader: LeaderKey | null | undefined): Promise<{ header: Header }> {
    const l = leaderKey(leader);
    if (!c.acl.prefix(AclPrefixKind.Key, l.key, "write")) throw EtcdError.denied();
    const { revision } = await this.mvcc.write((_tx, w) => {
      if (w.get(l.key)?.CreateIndex === l.rev) w.delete(l.key);
    });
    return { header: this.header(revision) };
  }

  /**
   * Writes the waiter's key if it is not there (with `value`, or re-proclaims it when
   * there), then waits until no key under the name is older. Returns the key, the revision
   * it was reached at and the key's create revision.
   */
  private async enqueue(c: Caller, name: Buffer, lease: number, value: Buffer | null, signal: AbortSignal): Promise<{ key: string; rev: number; created: number }> {
    const prefix = `${storeKey(name, "name")}/`;
    if (lease === 0 || !this.leases.has(lease)) throw EtcdError.notFound("etcdserver: requested lease not found");
    const key = prefix + lease.toString(16);
    if (!c.acl.prefix(AclPrefixKind.Key, key, "write") || !c.acl.prefix(AclPrefixKind.Key, prefix, "read")) throw EtcdError.denied();
    const { revision, result: created } = await this.mvcc.write((_tx, w) => {
      const e = w.get(key);
      if (e === undefined) {
        w.put(key, value ?? Buffer.alloc(0), lease);
        return 0;
      }
      if (value !== null) w.put(key, value, lease);
      return e.CreateIndex;
    });
    const mine = created === 0 ? revision : created;
    await new Promise<void>((resolve, reject) => {
      let stop = (): void => undefined;
      const done = (err?: Error): void => {
        stop();
        signal.removeEventListener("abort", onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const check = (): void => {
        const under = this.mvcc.store.kvList(prefix);
        if (!under.some((e) => e.Key === key)) { done(EtcdError.notFound("etcdserver: requested lease not found")); return; }
        if (!under.some((e) => e.CreateIndex < mine)) done();
      };
      const onAbort = (): void => {
        // A waiter that gives up takes its key back, as clientv3's Mutex does, unless it held it before.
        if (created === 0) this.mvcc.write((_tx, w) => { w.delete(key); }).catch(() => undefined);
        done(new EtcdError(status.CANCELLED, "context canceled"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      stop = this.mvcc.listen((r) => {
        if (r.events.some((e) => e.kv.key.toString("utf8").startsWith(prefix))) check();
      });
      check();
    });
    return { key, rev: this.mvcc.revision(), created: mine };
  }
}

function oldest(entries: KVEntry[]): KVEntry | undefined {
  let first: KVEntry | undefined;
  for (const e of entries) if (first === undefined || e.CreateIndex < first.CreateIndex) first = e;
  return first;
}

function leaderKey(l: LeaderKey | null | undefined): { key: string; rev: number; lease: number } {
  if (l == null) throw EtcdError.invalid("election: no leader key given");
  return { key: storeKey(l.key), rev: int(l.rev, "rev"), lease: int(l.lease, "lease") };
}
