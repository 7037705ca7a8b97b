import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { LockDelays } from "../catalog/index.js";
import type { StateStore } from "../state/index.js";
import { AclPrefixKind, ALLOW_ALL, ErrorCode, RucheError, type Acl, type Logger } from "../structs/index.js";
import { Concurrency, type LeaderKey } from "./concurrency.js";
import { EtcdError } from "./errors.js";
import { int, KvApi, type Caller, type DeleteRangeRequest, type Header, type PutRequest, type RangeRequest, type TxnRequest } from "./kv.js";
import { Leases } from "./leases.js";
import { Mvcc } from "./mvcc.js";
import { WatchSession, type WatchRequest } from "./watch.js";

/** The etcd version Ruche's etcd API answers as (`/version`, Maintenance.Status): the v3 API of etcd 3.5. */
export const ETCD_VERSION = "3.5.0";
export const ETCD_CLUSTER_VERSION = "3.5.0";

/** What resolves a request's token to what it may do; absent: ACLs are off and every request may do everything. */
export interface EtcdAcl {
  resolve(token: string | undefined): { ok: true; acl: Acl } | { ok: false; reason: string };
}

export interface EtcdApiOptions {
  store: StateStore;
  delays: LockDelays;
  log: Logger;
  /** This member's name (the agent's node name) and its cluster's (the region): their hashes are the header's ids. */
  memberName: string;
  clusterName: string;
  /** The URL clients reach this listener at (MemberList's clientURLs); set once it listens. */
  clientUrl?: () => string;
  acl?: EtcdAcl;
  now?: () => number;
  /** Events kept for watches from the past (`mvcc.DEFAULT_HISTORY`). */
  historyEvents?: number;
  /** How often watches with progress_notify get one (ms; etcd: 10 minutes). */
  progressMs?: number;
}

/** One method of a service: a unary call, or a stream (server or both ways) that sends until its signal aborts. */
export type Method =
  | { kind: "unary"; run(c: Caller, req: unknown, signal: AbortSignal): unknown }
  | { kind: "stream"; open(c: Caller, send: (r: unknown) => void, signal: AbortSignal, fail: (err: unknown) => void): { request(req: unknown): void } };

/** An id from a name: the first 63 bits of its SHA-256, as a decimal uint64. */
function idOf(name: string): string {
  return (createHash("sha256").update(name).digest().readBigUInt64BE(0) >> 1n).toString();
}

/**
 * etcd's v3 API over Ruche's KV store, whatever face carries it (gRPC, the JSON gateway):
 * `methods` maps "etcdserverpb.KV/Range" and the like to their implementation. The etcd
 * token of a call is a Ruche ACL token (`caller`). What is not built answers UNIMPLEMENTED.
 */
export class EtcdApi {
  readonly mvcc: Mvcc;
  readonly leases: Leases;
  readonly kv: KvApi;
  readonly concurrency: Concurrency;
  readonly methods: ReadonlyMap<string, Method>;
  private readonly clusterId: string;
  private readonly memberId: string;

  constructor(private readonly opts: EtcdApiOptions) {
    const now = opts.now ?? Date.now;
    this.mvcc = new Mvcc(opts.store, { delays: opts.delays, now, ...(opts.historyEvents === undefined ? {} : { historyEvents: opts.historyEvents }) });
    this.leases = new Leases(this.mvcc, { now, log: opts.log });
    this.clusterId = idOf(`cluster:${opts.clusterName}`);
    this.memberId = idOf(`member:${opts.clusterName}:${opts.memberName}`);
    const header = (revision: number): Header => this.header(revision);
    this.kv = new KvApi(this.mvcc, this.leases, header);
    this.concurrency = new Concurrency(this.mvcc, this.leases, header);
    this.methods = this.table();
  }

  close(): void {
    this.leases.close();
    this.mvcc.close();
  }

  header(revision = this.mvcc.revision()): Header {
    return { cluster_id: this.clusterId, member_id: this.memberId, revision, raft_term: 1 };
  }

  /** The caller of a request with this token: refused (UNAUTHENTICATED) when ACLs are on and the token is not known. */
  caller(token: string | undefined): Caller {
    if (this.opts.acl === undefined) return { acl: ALLOW_ALL };
    const r = this.opts.acl.resolve(token);
    if (!r.ok) throw EtcdError.unauthenticated(`etcdserver: invalid auth token (the Ruche ACL token was ${r.reason === "expired" ? "expired" : "not found"})`);
    return { acl: r.acl };
  }

  /** What a failed call answers: an EtcdError as it is, the store's refusals in etcd's words. */
  static asEtcdError(err: unknown): EtcdError {
    if (err instanceof EtcdError) return err;
    if (err instanceof RucheError) {
      if (err.code === ErrorCode.NoLeader || err.code === ErrorCode.Unavailable) return new EtcdError(status.UNAVAILABLE, `etcdserver: no leader (${err.message})`);
      if (err.code === ErrorCode.TooLarge) return EtcdError.invalid("etcdserver: request is too large");
      if (err.code === ErrorCode.BadRequest) return EtcdError.invalid(`etcdserver: ${err.message}`);
      return new EtcdError(status.UNKNOWN, `etcdserver: ${err.message}`);
    }
    return new EtcdError(status.UNKNOWN, `etcdserver: ${err instanceof Error ? err.message : String(err)}`);
  }

  private table(): Map<string, Method> {
    const m = new Map<string, Method>();
    const unary = (name: string, run: (c: Caller, req: never, signal: AbortSignal) => unknown): void => {
      m.set(name, { kind: "unary", run: run });
    };
    // --- KV
    unary("etcdserverpb.KV/Range", (c, req: RangeRequest) => this.kv.range(c, req));
    unary("etcdserverpb.KV/Put", (c, req: PutRequest) => this.kv.put(c, req));
    unary("etcdserverpb.KV/DeleteRange", (c, req: DeleteRangeRequest) => this.kv.deleteRange(c, req));
    unary("etcdserverpb.KV/Txn", (c, req: TxnRequest) => this.kv.txn(c, req));
    unary("etcdserverpb.KV/Compact", (c, req: { revision: string }) => {
      if (!c.acl.management) throw EtcdError.denied();
      return this.kv.compact(int(req.revision, "revision"));
    });
    // --- Watch
    m.set("etcdserverpb.Watch/Watch", {
      kind: "stream",
      open: (c, send, signal) => {
        const s = new WatchSession(this.mvcc, c, (r) => this.header(r), send, this.opts.progressMs);
        signal.addEventListener("abort", () => { s.close(); }, { once: true });
        return { request: (req) => { s.handle(req as WatchRequest); } };
      },
    });
    // --- Lease
    unary("etcdserverpb.Lease/LeaseGrant", (_c, req: { TTL: string; ID: string }) => {
      const l = this.leases.grant(int(req.TTL, "TTL"), int(req.ID, "ID"));
      return { header: this.header(), ID: l.id, TTL: l.ttl, error: "" };
    });
    unary("etcdserverpb.Lease/LeaseRevoke", async (c, req: { ID: string }) => {
      const id = int(req.ID, "ID");
      if (!this.mvcc.keysOfLease(id).every((k) => c.acl.prefix(AclPrefixKind.Key, k, "write"))) throw EtcdError.denied();
      const revision = await this.leases.revoke(id);
      return { header: this.header(revision) };
    });
    m.set("etcdserverpb.Lease/LeaseKeepAlive", {
      kind: "stream",
      open: (_c, send) => ({
        request: (req) => {
          const id = int((req as { ID: string }).ID, "ID");
          send({ header: this.header(), ID: id, TTL: this.leases.keepAlive(id) });
        },
      }),
    });
    unary("etcdserverpb.Lease/LeaseTimeToLive", (_c, req: { ID: string; keys: boolean }) => {
      const id = int(req.ID, "ID");
      const t = this.leases.timeToLive(id);
      return { header: this.header(), ID: id, TTL: t.ttl, grantedTTL: t.granted, keys: req.keys ? t.keys.map((k) => Buffer.from(k, "utf8")) : [] };
    });
    unary("etcdserverpb.Lease/LeaseLeases", () => ({ header: this.header(), leases: this.leases.ids().map((ID) => ({ ID })) }));
    // --- Cluster, Maintenance
    unary("etcdserverpb.Cluster/MemberList", () => ({ header: this.header(), members: [this.member()] }));
    unary("etcdserverpb.Maintenance/Status", () => {
      const rev = this.mvcc.revision();
      const size = this.dbSize();
      return { header: this.header(rev), version: ETCD_VERSION, dbSize: size, leader: this.memberId, raftIndex: this.opts.store.index, raftTerm: 1, raftAppliedIndex: this.opts.store.index, errors: [], dbSizeInUse: size, isLearner: false };
    });
    unary("etcdserverpb.Maintenance/Alarm", (_c, req: { action: string }) => {
      if (req.action !== "GET") throw EtcdError.unimplemented("raising or clearing an alarm (Ruche has no etcd alarms; `alarm list` answers none)");
      return { header: this.header(), alarms: [] };
    });
    // --- Auth: a Ruche ACL token is the etcd token.
    unary("etcdserverpb.Auth/AuthStatus", () => ({ header: this.header(), enabled: this.opts.acl !== undefined, authRevision: 1 }));
    unary("etcdserverpb.Auth/Authenticate", (_c, req: { name: string; password: string }) => {
      if (this.opts.acl === undefined) throw EtcdError.failedPrecondition("etcdserver: authentication is not enabled (Ruche's ACLs are off)");
      // etcd's users and passwords are not built: the password is a Ruche ACL token's SecretID, and the token etcd hands back is that secret.
      if (!this.opts.acl.resolve(req.password).ok) throw EtcdError.invalid("etcdserver: authentication failed, invalid user ID or password (Ruche takes a Ruche ACL token's SecretID as the password, with any user name)");
      return { header: this.header(), token: req.password };
    });
    // --- Lock and Election
    unary("v3lockpb.Lock/Lock", (c, req: { name: Buffer; lease: string }, signal) => this.concurrency.lock(c, req.name, int(req.lease, "lease"), signal));
    unary("v3lockpb.Lock/Unlock", (c, req: { key: Buffer }) => this.concurrency.unlock(c, req.key));
    unary("v3electionpb.Election/Campaign", (c, req: { name: Buffer; lease: string; value: Buffer }, signal) => this.concurrency.campaign(c, req.name, int(req.lease, "lease"), req.value, signal));
    unary("v3electionpb.Election/Proclaim", (c, req: { leader: LeaderKey | null; value: Buffer }) => this.concurrency.proclaim(c, req.leader, req.value));
    unary("v3electionpb.Election/Leader", (c, req: { name: Buffer }) => this.concurrency.leader(c, req.name));
    unary("v3electionpb.Election/Resign", (c, req: { leader: LeaderKey | null }) => this.concurrency.resign(c, req.leader));
    m.set("v3electionpb.Election/Observe", {
      kind: "stream",
      open: (c, send, signal, fail) => {
        let started = false;
        return {
          request: (req) => {
            if (started) return;
            started = true;
            try {
              this.concurrency.observe(c, (req as { name: Buffer }).name, send, signal);
            } catch (err) {
              fail(err);
            }
          },
        };
      },
    });
    return m;
  }

  private member(): { ID: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean } {
    const url = this.opts.clientUrl?.();
    return { ID: this.memberId, name: this.opts.memberName, peerURLs: [], clientURLs: url === undefined ? [] : [url], isLearner: false };
  }

  /** The KV's size in bytes (keys and values): Status's dbSize. */
  private dbSize(): number {
    let n = 0;
    for (const e of this.opts.store.kvList("")) n += e.Key.length + (e.Value === null ? 0 : Math.floor((e.Value.length * 3) / 4));
    return n;
  }
}
