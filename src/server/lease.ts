import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Etcd3 } from "etcd3";
import { errorMessage } from "../structs/index.js";

/** A server's etcd lease, kept alive until released, revoked, or lost. */
export interface KeptLease {
  /** Grants it; resolves with its ID. */
  grant(): Promise<string>;
  /** One renewal now; rejects when etcd refuses it (the lease is gone) or does not answer. */
  keepaliveOnce(): Promise<void>;
  /** Ends it on etcd's side (and the keys on it); stops the renewals. */
  revoke(): Promise<void>;
  /** Stops renewing it: etcd ends it within its TTL. */
  release(): void;
  /** When etcd last acknowledged a renewal (or the grant), in this host's milliseconds; 0 before. */
  lastRenewed(): number;
  /** Called once, when the renewals fail for good (the lease expired or was revoked). */
  onLost(fn: (err: Error) => void): void;
}

/** Where a server's leases come from. */
export interface Leases {
  lease(ttlSeconds: number): KeptLease;
  close(): Promise<void>;
}

/** Leases renewed on this thread by the client's own keepalives: what tests and a quiet server need. */
export function inProcessLeases(client: Etcd3): Leases {
  return {
    lease(ttl) {
      const lease = client.lease(ttl, { autoKeepAlive: true });
      let renewed = 0;
      lease.on("keepaliveSucceeded", () => {
        renewed = Date.now();
      });
      return {
        grant: async () => {
          const id = await lease.grant();
          renewed = Date.now();
          return id;
        },
        keepaliveOnce: async () => {
          await lease.keepaliveOnce();
          renewed = Date.now();
        },
        revoke: () => lease.revoke(),
        release: () => {
          lease.release();
        },
        lastRenewed: () => renewed,
        onLost: (fn) => {
          lease.on("lost", fn);
        },
      };
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The worker's code (CommonJS, evaluated): one etcd client, the leases it is asked for, each
 * renewal's time written to the lease's shared clock as it is acknowledged.
 */
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { Etcd3 } = require(workerData.etcd3);
const tls = workerData.tls;
const credentials = tls ? { credentials: { rootCertificate: Buffer.from(tls.ca), ...(tls.cert && tls.key ? { certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) } : {}) } } : {};
const client = new Etcd3({ hosts: workerData.hosts, dialTimeout: workerData.dialTimeoutMs, ...credentials });
const leases = new Map();
const clocks = new Map();
const tick = (ref) => { const c = clocks.get(ref); if (c) Atomics.store(c, 0, BigInt(Date.now())); };
const message = (err) => (err && err.message) || String(err);
parentPort.on("message", async (m) => {
  try {
    let value;
    if (m.op === "grant") {
      const lease = client.lease(m.ttl, { autoKeepAlive: true });
      leases.set(m.ref, lease);
      clocks.set(m.ref, new BigInt64Array(m.clock));
      lease.on("keepaliveSucceeded", () => tick(m.ref));
      lease.on("lost", (err) => parentPort.postMessage({ ref: m.ref, lost: message(err) }));
      value = await lease.grant();
      tick(m.ref);
    } else if (m.op === "keepaliveOnce") {
      await leases.get(m.ref).keepaliveOnce();
      tick(m.ref);
    } else if (m.op === "revoke") {
      const lease = leases.get(m.ref);
      leases.delete(m.ref);
      if (lease) await lease.revoke();
    } else if (m.op === "release") {
      // Kept a while for a revoke that may follow; then forgotten.
      const lease = leases.get(m.ref);
      if (lease) lease.release();
      setTimeout(() => { if (leases.get(m.ref) === lease) { leases.delete(m.ref); clocks.delete(m.ref); } }, 30000).unref();
    } else if (m.op === "close") {
      for (const lease of leases.values()) lease.release();
      client.close();
    }
    parentPort.postMessage({ id: m.id, value });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: message(err) });
  }
});
`;

/**
 * Leases renewed on a thread of their own, with a client of their own. The leader's lease
 * must not depend on its main thread: scheduling ten thousand allocations, or committing
 * them, holds that thread for seconds, longer than the lease's 2 s TTL, and a lease renewed
 * there would end (and with it the term) every time the leader has the most to do. A process
 * that is paused or dies stops both threads: the lease ends as before, and its fence with it.
 * With `tls` (PEM: the CAs trusted, the certificate and key shown, if any), the thread's
 * client speaks TLS to etcd, with that client certificate when it has one.
 */
export function threadLeases(opts: { hosts: string[]; dialTimeoutMs?: number; tls?: { ca: string; cert?: string; key?: string } }): Leases {
  let worker: Worker | undefined;
  let nextId = 0;
  let nextRef = 0;
  const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const lost = new Map<number, (err: Error) => void>();
  const start = (): Worker => {
    if (worker !== undefined) return worker;
    const w = new Worker(WORKER, { eval: true, workerData: { etcd3: createRequire(import.meta.url).resolve("etcd3"), hosts: opts.hosts, dialTimeoutMs: opts.dialTimeoutMs ?? 2000, tls: opts.tls === undefined ? null : { ca: opts.tls.ca, cert: opts.tls.cert ?? null, key: opts.tls.key ?? null } } });
    w.unref();
    w.on("message", (m: { id?: number; value?: unknown; error?: string; ref?: number; lost?: string }) => {
      if (m.lost !== undefined && m.ref !== undefined) {
        lost.get(m.ref)?.(new Error(m.lost));
        lost.delete(m.ref);
        return;
      }
      const call = m.id === undefined ? undefined : calls.get(m.id);
      if (call === undefined || m.id === undefined) return;
      calls.delete(m.id);
      if (m.error !== undefined) call.reject(new Error(m.error));
      else call.resolve(m.value);
    });
    // A worker that stops takes every lease with it: each one is lost.
    const fail = (why: string): void => {
      worker = undefined;
      for (const c of calls.values()) c.reject(new Error(why));
      calls.clear();
      for (const fn of lost.values()) fn(new Error(why));
      lost.clear();
    };
    w.on("error", (err) => {
      fail(`the leases' thread failed: ${errorMessage(err)}`);
    });
    w.on("exit", (code) => {
      if (worker === w) fail(`the leases' thread exited (${code})`);
    });
    worker = w;
    return w;
  };
  const call = (msg: Record<string, unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      calls.set(id, { resolve, reject });
      start().postMessage({ ...msg, id });
    });
  return {
    lease(ttl) {
      const ref = ++nextRef;
      const shared = new SharedArrayBuffer(8);
      const clock = new BigInt64Array(shared);
      return {
        grant: async () => String(await call({ op: "grant", ref, ttl, clock: shared })),
        keepaliveOnce: async () => {
          await call({ op: "keepaliveOnce", ref });
        },
        revoke: async () => {
          lost.delete(ref);
          await call({ op: "revoke", ref });
        },
        release: () => {
          lost.delete(ref);
          void call({ op: "release", ref }).catch(() => undefined);
        },
        lastRenewed: () => Number(Atomics.load(clock, 0)),
        onLost: (fn) => {
          lost.set(ref, fn);
        },
      };
    },
    close: async () => {
      const w = worker;
      if (w === undefined) return;
      await call({ op: "close" }).catch(() => undefined);
      worker = undefined;
      await w.terminate();
    },
  };
}
