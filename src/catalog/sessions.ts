import { randomUUID } from "node:crypto";
import { ErrorCode, NS, parseDuration, RucheError, type HealthStatus, type Session, type SessionBehavior, type SessionServiceCheck } from "../structs/index.js";
import type { StateStore, Txn } from "../state/index.js";
import { NODE_CHECK } from "./catalog.js";
import type { CatalogReader } from "./types.js";

/** Consul's bounds on a session TTL. */
export const SESSION_TTL_MIN_MS = 10_000;
export const SESSION_TTL_MAX_MS = 86_400_000;
/** Consul's default lock-delay: 15 s. */
export const DEFAULT_LOCK_DELAY_NS = 15 * NS.second;

/**
 * Keys that may not be acquired until a time (ms since the epoch): set when a session that
 * held them is invalidated. In memory only, as in Consul (a restart forgets them). One per
 * store, made by the agent and handed to the KV service (which refuses an acquire in its
 * delay) and to the session reaper (which sets delays as sessions expire); on every server,
 * `followLockDelays` sets them from the commits it applies, so that a server that comes to
 * lead has the delays of sessions that ended under the previous leader.
 */
export class LockDelays {
  private readonly until = new Map<string, number>();

  set(key: string, untilMs: number): void {
    if (untilMs > (this.until.get(key) ?? 0)) this.until.set(key, untilMs);
  }

  blocked(key: string, nowMs: number): boolean {
    const u = this.until.get(key);
    if (u === undefined) return false;
    if (u > nowMs) return true;
    this.until.delete(key);
    return false;
  }
}

/**
 * Sets lock delays from the store's change feed: a key whose holder ended in a commit
 * (released or deleted with its session) is delayed by that session's LockDelay, from the
 * time this server applies the commit. So does each Consul server's state store as it
 * applies a session's end from the Raft log (`deleteSessionTxn`, `lockDelay.SetExpiration`),
 * and the leader checks its own before a lock (`KVS.Apply`): lock delays outlive a change of
 * leader, not a restart. A follower gets a leader's commits grouped (one per group commit):
 * a key released and then its session destroyed, in one group, is delayed there though it
 * was free when the session ended — the safe side. Returns the unsubscribe.
 */
export function followLockDelays(store: StateStore, delays: LockDelays, now: () => number): () => void {
  /** Who holds each locked key, and each session's LockDelay (ns), as of the last commit seen. */
  const holder = new Map<string, string>();
  const delayNs = new Map<string, number>();
  for (const s of store.sessions()) delayNs.set(s.ID, s.LockDelay);
  for (const e of store.kvList("")) if (e.Session !== "") holder.set(e.Key, e.Session);
  return store.subscribe((ev) => {
    const ended = new Set<string>();
    for (const c of ev.changes) {
      if (c.table !== "sessions") continue;
      if (c.op === "delete") ended.add(c.key);
      else delayNs.set(c.key, c.value.LockDelay);
    }
    const at = now();
    for (const c of ev.changes) {
      if (c.table !== "kv") continue;
      const was = holder.get(c.key);
      const is = c.op === "put" ? c.value.Session : "";
      if (was !== undefined && was !== is && ended.has(was)) {
        const ns = delayNs.get(was) ?? 0;
        if (ns > 0) delays.set(c.key, at + ns / NS.millisecond);
      }
      if (is === "") holder.delete(c.key);
      else holder.set(c.key, is);
    }
    for (const id of ended) delayNs.delete(id);
  });
}

/** What `PUT /v1/session/create` may carry. */
export interface SessionRequest {
  Name?: string;
  Node?: string;
  TTL?: string;
  LockDelay?: string | number;
  Behavior?: string;
  /** Consul's older name for node checks (`nodeChecks` below says how the two combine). */
  Checks?: string[];
  NodeChecks?: string[];
  ServiceChecks?: { ID: string; Namespace?: string }[];
}

/** Checks a session request and builds the session (indexes are the store's). Throws RUCHE_BAD_REQUEST. */
export function newSession(req: SessionRequest, nodeName: string, nowMs: number, id: string = randomUUID()): Session {
  const bad = (msg: string, path: string): never => {
    throw new RucheError(ErrorCode.BadRequest, msg, { path });
  };
  const behavior = req.Behavior ?? "release";
  if (behavior !== "release" && behavior !== "delete") bad(`Behavior must be "release" or "delete", got "${behavior}"`, "Behavior");
  let ttlMs = 0;
  const ttl = req.TTL ?? "";
  if (ttl !== "") {
    const ns = parseDuration(ttl);
    if (ns === undefined) return bad(`TTL "${ttl}" is not a duration`, "TTL");
    ttlMs = ns / NS.millisecond;
    if (ttlMs !== 0 && (ttlMs < SESSION_TTL_MIN_MS || ttlMs > SESSION_TTL_MAX_MS)) bad(`Invalid Session TTL '${ttlMs * NS.millisecond}', must be between [10s=24h0m0s]`, "TTL");
  }
  let lockDelay = DEFAULT_LOCK_DELAY_NS;
  if (typeof req.LockDelay === "string") {
    const ns = parseDuration(req.LockDelay);
    if (ns === undefined) return bad(`LockDelay "${req.LockDelay}" is not a duration`, "LockDelay");
    lockDelay = ns;
  } else if (typeof req.LockDelay === "number") {
    if (!Number.isFinite(req.LockDelay) || req.LockDelay < 0) bad("LockDelay must be a duration >= 0", "LockDelay");
    // Consul reads a small number as seconds, a large one as nanoseconds.
    lockDelay = req.LockDelay < 1000 ? req.LockDelay * NS.second : req.LockDelay;
  }
  if (lockDelay > 60 * NS.second) bad("LockDelay may be at most 60s", "LockDelay");
  return {
    ID: id,
    Name: req.Name ?? "",
    Node: req.Node === undefined || req.Node === "" ? nodeName : req.Node,
    LockDelay: lockDelay,
    Behavior: behavior as SessionBehavior,
    TTL: ttlMs === 0 ? "" : ttl,
    NodeChecks: nodeChecks(req),
    ServiceChecks: req.ServiceChecks === undefined || req.ServiceChecks.length === 0 ? null : req.ServiceChecks.map((c): SessionServiceCheck => ({ ID: c.ID, Namespace: c.Namespace ?? "" })),
    ExpiresAt: ttlMs === 0 ? 0 : nowMs + ttlMs,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

/**
 * A session's node checks, as Consul's HTTP endpoint sets them (`fixupEmptySessionChecks`):
 * both `NodeChecks` and the older `Checks` default to `serfHealth`; an empty `Checks` binds
 * the session to no check, `Checks` of `serfHealth` alone defers to `NodeChecks`, an empty
 * `NodeChecks` binds it to none, and otherwise it is bound to both lists.
 */
function nodeChecks(req: SessionRequest): string[] {
  const serf = NODE_CHECK.CheckID;
  const checks = req.Checks ?? [serf];
  const node = req.NodeChecks ?? [serf];
  if (checks.length === 0) return [];
  if (checks.length === 1 && checks[0] === serf) return [...new Set(node)];
  if (node.length === 0) return [];
  return [...new Set([...node, ...checks])];
}

/**
 * The health a session is bound to, as the catalog has it: which nodes exist, and each
 * check's status by node and check ID. Servers of the cluster count as nodes whose
 * `serfHealth` passes while they are alive (a Consul server is a node of its catalog; a
 * Ruche server that runs no client is not one of the catalog's).
 */
export interface SessionHealth {
  nodes: ReadonlySet<string>;
  /** `${node}\0${checkID}` → status. */
  checks: ReadonlyMap<string, HealthStatus>;
}

/** Reads a catalog's nodes and checks once, for any number of sessions. */
export function sessionHealth(catalog: CatalogReader, servers: readonly string[] = []): SessionHealth {
  const nodes = new Set<string>();
  const checks = new Map<string, HealthStatus>();
  const listed = catalog.checks?.();
  for (const c of listed ?? []) checks.set(`${c.Node}\0${c.CheckID}`, c.Status);
  for (const n of catalog.nodes()) {
    nodes.add(n.Node);
    // A reader that does not list checks: a node's serfHealth is there, passing, while the node is listed.
    // (One that does lists it with its status; an external node, registered through the catalog, has none.)
    if (listed === undefined) checks.set(`${n.Node}\0${NODE_CHECK.CheckID}`, "passing");
  }
  for (const name of servers) {
    if (nodes.has(name)) continue;
    nodes.add(name);
    checks.set(`${name}\0${NODE_CHECK.CheckID}`, "passing");
  }
  return { nodes, checks };
}

/**
 * Why a session may not be created, or must end: its node is not registered, one of its
 * checks is not, or one is critical — in the words of Consul's state store
 * (`sessionCreateTxn`, `validateSessionChecksTxn`). Null when it holds.
 */
export function sessionHealthProblem(s: Pick<Session, "Node" | "NodeChecks" | "ServiceChecks">, health: SessionHealth): string | null {
  if (!health.nodes.has(s.Node)) return "Missing node registration";
  for (const id of [...s.NodeChecks, ...(s.ServiceChecks ?? []).map((c) => c.ID)]) {
    const status = health.checks.get(`${s.Node}\0${id}`);
    if (status === undefined) return `Missing check '${id}' registration`;
    if (status === "critical") return `Check '${id}' is in ${status} state`;
  }
  return null;
}

/** The session's TTL in ms, 0 for none. */
export function ttlMs(s: Session): number {
  return s.TTL === "" ? 0 : (parseDuration(s.TTL) ?? 0) / NS.millisecond;
}

/** Whether the session exists and has not outlived its TTL. */
export function sessionLive(s: Session | undefined, nowMs: number): s is Session {
  return s !== undefined && (s.ExpiresAt === 0 || s.ExpiresAt > nowMs);
}

/**
 * Ends a session inside a transaction: removes it and, per its Behavior, releases or
 * deletes every key it holds (released keys get its lock-delay), and deletes the prepared
 * queries bound to it. Returns false if there was
 * no such session.
 */
export function destroySession(tx: Txn, id: string, nowMs: number, delays: LockDelays): boolean {
  const s = tx.get("sessions", id);
  if (s === undefined) return false;
  const delayMs = s.LockDelay / NS.millisecond;
  for (const e of tx.list("kv", "")) {
    if (e.Session !== id) continue;
    if (s.Behavior === "delete") tx.delete("kv", e.Key);
    else tx.put("kv", { ...e, Session: "" });
    if (delayMs > 0) delays.set(e.Key, nowMs + delayMs);
  }
  // Consul's prepared queries bound to the session end with it.
  for (const q of tx.list("preparedQueries", "")) if (q.Session === id) tx.delete("preparedQueries", q.ID);
  tx.delete("sessions", id);
  return true;
}

/** Renews a TTL session inside a transaction; returns it, or undefined if it is gone or expired. */
export function renewSession(tx: Txn, id: string, nowMs: number): Session | undefined {
  const s = tx.get("sessions", id);
  if (!sessionLive(s, nowMs)) return undefined;
  const ttl = ttlMs(s);
  if (ttl === 0) return s;
  const next = { ...s, ExpiresAt: nowMs + ttl };
  tx.put("sessions", next);
  return tx.get("sessions", id);
}

/** A session as the API shows it: without the store's ExpiresAt. */
export function sessionView(s: Session): Omit<Session, "ExpiresAt"> {
  const { ExpiresAt: _, ...rest } = s;
  return rest;
}

/**
 * Ends sessions that no longer hold: whose TTL has passed, every `intervalMs` (Consul waits
 * up to twice the TTL; this waits the TTL, plus at most one interval), and, given the
 * catalog, whose node or one of whose checks is gone or critical — looked at as soon as a
 * commit changes nodes, allocations or registered services, as Consul's state store
 * invalidates a session in the same write that makes its check critical.
 */
export class SessionReaper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  /** A sweep was asked for while one ran: run one more after it. */
  private again = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly opts: {
      now(): number;
      delays: LockDelays;
      intervalMs?: number;
      onError?: (err: unknown) => void;
      /** The catalog sessions' nodes and checks are read from; without it only TTLs end sessions. */
      catalog?: CatalogReader;
      /** The cluster's live servers (`sessionHealth`). */
      servers?: () => readonly string[];
    },
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.sweep();
    }, this.opts.intervalMs ?? 1000);
    if (this.opts.catalog !== undefined) {
      this.unsubscribe = this.store.subscribe((ev) => {
        if (ev.changes.some((c) => c.table === "nodes" || c.table === "allocs" || c.table === "services")) setImmediate(() => {
            this.sweep();
          });
      });
    }
  }

  /** Stops the loop and waits for a sweep under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.again = false;
    await this.running;
  }

  private sweep(): void {
    if (this.timer === undefined) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.reapOnce()
      .then(() => undefined, (err: unknown) => this.opts.onError?.(err))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.sweep();
        }
      });
  }

  /** One sweep: destroys every expired session, and every one whose node or check fails; resolves with how many. */
  async reapOnce(): Promise<number> {
    const now = this.opts.now();
    const sessions = this.store.sessions();
    if (sessions.length === 0) return 0;
    const { catalog } = this.opts;
    const health = catalog === undefined ? undefined : sessionHealth(catalog, this.opts.servers?.() ?? []);
    const failing = (s: Session): boolean => health !== undefined && sessionHealthProblem(s, health) !== null;
    const ending = sessions.filter((s) => (s.ExpiresAt !== 0 && s.ExpiresAt <= now) || failing(s));
    if (ending.length === 0) return 0;
    const { delays } = this.opts;
    const { result } = await this.store.write((tx) => {
      let n = 0;
      for (const s of ending) {
        const cur = tx.get("sessions", s.ID);
        // Renewed since the sweep looked, and still healthy: keep it.
        if (cur === undefined || (sessionLive(cur, now) && !failing(cur))) continue;
        if (destroySession(tx, s.ID, now, delays)) n++;
      }
      return n;
    });
    return result;
  }
}
