import {
  allocTerminal,
  clientTerminal,
  computeNodeClass,
  disconnectOf,
  isParameterized,
  isPeriodic,
  needsToReconnect,
  runsOnEveryNode,
  NS,
  ErrorCode,
  RucheError,
  type Allocation,
  type AllocUpdate,
  type DrainStrategy,
  type Evaluation,
  type Job,
  type Logger,
  type Node,
} from "../structs/index.js";
import { jobRowKey, type StateStore, type Txn } from "../state/index.js";
import { newEval } from "./evals.js";

export interface HeartbeatOptions {
  /** Shortest time-to-live of a heartbeat (ms). */
  minTTL: number;
  /** Heartbeats per second the servers want at most: the TTL grows with the cluster to keep under it. */
  maxPerSecond: number;
  /** Added to the TTL before a node is declared down (ms). */
  grace: number;
  /**
   * Added once more to every node's first TTL when a server starts leading (ms): its nodes
   * reach it only after their own failover to a server that answers, and none is marked down
   * for the time the leadership changed hands (Nomad's failover heartbeat TTL). 0 on a single
   * server (its restart is the only change of hands); the agent sets 10 s for several.
   */
  failoverGrace: number;
}

export const DEFAULT_HEARTBEAT: HeartbeatOptions = { minTTL: 2000, maxPerSecond: 50, grace: 1000, failoverGrace: 0 };


/**
 * Node lifecycle: registration, heartbeats with a TTL that grows with the cluster, a node
 * that stops heartbeating declared disconnected (its allocations are `unknown` and replaced,
 * and kept or stopped when it comes back, as their group's `disconnect` block says) or down
 * when none of its allocations allow that (they are lost and replaced), allocation
 * status from the clients, drains that move work away max_parallel at a time, eligibility.
 * Heartbeats live in memory: only a change of status is written.
 */
export class NodeLifecycle {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly opts: HeartbeatOptions;

  constructor(
    private readonly store: StateStore,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly onCapacity: () => void,
    opts: Partial<HeartbeatOptions> = {},
  ) {
    this.opts = { ...DEFAULT_HEARTBEAT, ...opts };
  }

  start(): void {
    // Nodes known from before a restart get a fresh TTL to check in.
    // A disconnected one gets the same chance before it is down (its allocations' own lost_after is in their evaluations).
    for (const n of this.store.nodes()) if (n.Status === "ready" || n.Status === "disconnected") this.arm(n.ID, this.opts.failoverGrace);
    this.drainTimer = setInterval(() => {
      this.drainTick().catch((err: unknown) => {
        this.log.warn({ err }, "drain step failed");
      });
    }, 250);
    this.drainTimer.unref();
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.drainTimer !== undefined) clearInterval(this.drainTimer);
  }

  /** The heartbeat TTL for the cluster's size. */
  ttl(): number {
    const nodes = this.store.nodes().length;
    return Math.max(this.opts.minTTL, Math.ceil((nodes / this.opts.maxPerSecond) * 1000));
  }

  private arm(nodeId: string, extra = 0): void {
    const old = this.timers.get(nodeId);
    if (old !== undefined) clearTimeout(old);
    const t = setTimeout(() => {
      this.timers.delete(nodeId);
      this.markDown(nodeId).catch((err: unknown) => {
        this.log.warn({ nodeId, err }, "could not mark a node down");
      });
    }, this.ttl() + this.opts.grace + extra);
    t.unref();
    this.timers.set(nodeId, t);
  }

  async register(node: Node): Promise<{ HeartbeatTTL: number; Index: number }> {
    const { index } = await this.store.write((tx) => {
      const cur = tx.get("nodes", node.ID);
      // Nomad's Node.Register: a node ID is its first registrant's; another secret for it is refused, in Nomad's words.
      if (cur !== undefined && cur.SecretID !== node.SecretID) throw new RucheError(ErrorCode.BadRequest, `node secret ID does not match. Not registering node: node "${node.ID}" is registered with another secret`);
      const next: Node = {
        ...node,
        Status: "ready",
        StatusDescription: "",
        SchedulingEligibility: cur?.SchedulingEligibility ?? node.SchedulingEligibility,
        DrainStrategy: cur?.DrainStrategy ?? null,
        LastHeartbeat: this.now(),
        ComputedClass: "",
      };
      next.ComputedClass = computeNodeClass(next);
      tx.put("nodes", next);
      for (const ev of this.evalsForNode(next, "node-update")) tx.put("evals", ev);
    });
    this.arm(node.ID);
    this.onCapacity();
    this.log.info({ nodeId: node.ID, name: node.Name }, "node registered");
    return { HeartbeatTTL: this.ttl(), Index: index };
  }

  authenticate(nodeId: string, secret: string): Node {
    const n = this.store.node(nodeId);
    if (n === undefined) throw new RucheError(ErrorCode.NodeNotRegistered, `node "${nodeId}" is not registered`);
    if (n.SecretID !== secret) throw new RucheError(ErrorCode.Forbidden, "the node secret does not match");
    return n;
  }

  async heartbeat(nodeId: string, secret: string): Promise<{ HeartbeatTTL: number }> {
    const n = this.authenticate(nodeId, secret);
    this.arm(nodeId);
    if (n.Status !== "ready") {
      await this.store.write((tx) => {
        const cur = tx.get("nodes", nodeId);
        if (cur === undefined) return;
        const next: Node = { ...cur, Status: "ready", StatusDescription: "", LastHeartbeat: this.now() };
        tx.put("nodes", next);
        const evs = this.evalsForNode(next, "node-update");
        for (const ev of evs) tx.put("evals", ev);
        return evs;
      });
      this.onCapacity();
    }
    return { HeartbeatTTL: this.ttl() };
  }

  /**
   * Missed heartbeats: the node is disconnected while one of its allocations allows it
   * (`lost_after` > 0), and down once the longest `lost_after` of them has passed too;
   * down at once otherwise. Either way its jobs are evaluated.
   */
  private async markDown(nodeId: string): Promise<void> {
    const lostAfterMs = Math.max(
      0,
      ...this.store
        .allocsByNode(nodeId)
        .filter((a) => !allocTerminal(a))
        .map((a) => disconnectOf(a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)).LostAfter / NS.millisecond),
    );
    const wrote = await this.store.write((tx) => {
      const cur = tx.get("nodes", nodeId);
      if (cur === undefined || cur.Status === "down") return null;
      const status = cur.Status !== "disconnected" && lostAfterMs > 0 ? "disconnected" : "down";
      const next: Node = { ...cur, Status: status, StatusDescription: status === "down" ? "missed heartbeats" : "missed heartbeats; its allocations are unknown until it reconnects" };
      tx.put("nodes", next);
      for (const ev of this.evalsForNode(next, "node-update")) tx.put("evals", ev);
      return status;
    });
    if (wrote.result === null) return;
    if (wrote.result === "disconnected") {
      this.log.warn({ nodeId, lostAfterMs }, "node missed its heartbeats: disconnected; its allocations are unknown, replaced, and kept or stopped if it comes back");
      const t = setTimeout(() => {
        this.timers.delete(nodeId);
        this.markDown(nodeId).catch((err: unknown) => {
          this.log.warn({ nodeId, err }, "could not mark a node down");
        });
      }, lostAfterMs + this.opts.grace);
      t.unref();
      this.timers.set(nodeId, t);
    } else this.log.warn({ nodeId }, "node missed its heartbeats: down; its allocations are lost and will be replaced");
    this.onCapacity();
  }

  /** Evaluations a node change calls for: every job with allocations there, and every system job. */
  private evalsForNode(node: Node, trigger: Evaluation["TriggeredBy"]): Evaluation[] {
    const jobs = new Map<string, Job>();
    for (const a of this.store.allocsByNode(node.ID)) {
      if (allocTerminal(a)) continue;
      const j = this.store.job(a.Namespace, a.JobID);
      if (j !== null) jobs.set(`${j.Namespace}/${j.ID}`, j);
    }
    for (const j of this.store.jobs()) if (runsOnEveryNode(j.Type) && !j.Stop && !isParameterized(j) && !isPeriodic(j)) jobs.set(`${j.Namespace}/${j.ID}`, j);
    return [...jobs.values()].map((j) => newEval(j, trigger, this.now(), { NodeID: node.ID }));
  }


  /** Status from a client for its own allocations; another node's allocation is refused. */
  async updateAllocs(nodeId: string, secret: string, updates: AllocUpdate[]): Promise<{ Index: number }> {
    const node = this.authenticate(nodeId, secret);
    // As Nomad: a node the servers hold disconnected or down heartbeats first; its agent then reports again.
    if (node.Status === "down" || node.Status === "disconnected") {
      throw new RucheError(ErrorCode.Conflict, `node "${nodeId}" is ${node.Status}: it must heartbeat before it reports its allocations`);
    }
    const created: Evaluation[] = [];
    const state = { freed: false };
    const evalOnce = (tx: Txn, job: Job | undefined, trigger: Evaluation["TriggeredBy"]): void => {
      if (job === undefined || created.some((e) => e.JobID === job.ID && e.Namespace === job.Namespace)) return;
      const ev = newEval(job, trigger, this.now());
      tx.put("evals", ev);
      created.push(ev);
    };
    const { index } = await this.store.write((tx) => {
      for (const u of updates) {
        const cur = tx.get("allocs", u.ID);
        if (cur === undefined) throw new RucheError(ErrorCode.BadRequest, `allocation "${u.ID}" not found`);
        if (cur.NodeID !== nodeId) throw new RucheError(ErrorCode.Forbidden, `allocation "${u.ID}" belongs to another node`);
        if (u.ClientStatus === "unknown") throw new RucheError(ErrorCode.BadRequest, `allocation "${u.ID}": a client cannot report the status "unknown"; only the servers set it`);
        const next: Allocation = {
          ...cur,
          ClientStatus: u.ClientStatus,
          ClientDescription: u.ClientDescription ?? cur.ClientDescription,
          TaskStates: u.TaskStates ?? cur.TaskStates,
          DeploymentStatus: u.DeploymentStatus === undefined ? cur.DeploymentStatus : u.DeploymentStatus,
          ModifyTime: this.now(),
        };
        if (u.Checks !== undefined) next.Checks = u.Checks;
        if (u.NetworkStatus !== undefined) next.NetworkStatus = u.NetworkStatus;
        tx.put("allocs", next);
        if (clientTerminal(next.ClientStatus) && !clientTerminal(cur.ClientStatus)) {
          state.freed = true;
          if (next.DesiredStatus === "run") evalOnce(tx, tx.get("jobs", jobRowKey(cur.Namespace, cur.JobID)), next.ClientStatus === "failed" ? "alloc-failure" : "alloc-stop");
        } else if (cur.ClientStatus === "unknown" && needsToReconnect(cur) && next.DesiredStatus === "run") {
          // Heard from again: the scheduler keeps it or its replacement.
          evalOnce(tx, tx.get("jobs", jobRowKey(cur.Namespace, cur.JobID)), "reconnect");
        }
      }
    });
    if (state.freed) this.onCapacity();
    return { Index: index };
  }

  async setEligibility(nodeId: string, eligible: boolean): Promise<{ Index: number }> {
    const { index } = await this.store.write((tx) => {
      const cur = tx.get("nodes", nodeId);
      if (cur === undefined) throw new RucheError(ErrorCode.NotFound, `node "${nodeId}" not found`);
      if (eligible && cur.DrainStrategy !== null) throw new RucheError(ErrorCode.BadRequest, `node "${nodeId}" is draining; stop the drain first`);
      tx.put("nodes", { ...cur, SchedulingEligibility: eligible ? "eligible" : "ineligible" });
    });
    if (eligible) this.onCapacity();
    return { Index: index };
  }

  /** Starts (spec) or stops (null) a drain. Deadline in ns: 0 none, -1 now. */
  async drain(nodeId: string, spec: { Deadline: number; IgnoreSystemJobs: boolean } | null, markEligible = false): Promise<{ Index: number }> {
    const now = this.now();
    const { index } = await this.store.write((tx) => {
      const cur = tx.get("nodes", nodeId);
      if (cur === undefined) throw new RucheError(ErrorCode.NotFound, `node "${nodeId}" not found`);
      const strategy: DrainStrategy | null =
        spec === null
          ? null
          : { Deadline: spec.Deadline, IgnoreSystemJobs: spec.IgnoreSystemJobs, StartedAt: now, ForceDeadline: spec.Deadline > 0 ? now + spec.Deadline / NS.millisecond : spec.Deadline < 0 ? now : 0 };
      tx.put("nodes", {
        ...cur,
        DrainStrategy: strategy,
        SchedulingEligibility: spec !== null ? "ineligible" : markEligible ? "eligible" : cur.SchedulingEligibility,
      });
    });
    await this.drainTick();
    return { Index: index };
  }

  /**
   * One step of every drain: allocations are marked to migrate, per group no more at a time
   * than its migrate max_parallel allows (all at once past the deadline), system jobs last;
   * a node with nothing left to move has finished draining.
   */
  private async drainTick(): Promise<void> {
    const draining = this.store.nodes().filter((n) => n.DrainStrategy !== null);
    if (draining.length === 0) return;
    const now = this.now();
    const marks: Allocation[] = [];
    const done: string[] = [];
    const jobs = new Map<string, Job>();
    for (const node of draining) {
      const s = node.DrainStrategy as DrainStrategy;
      const force = s.ForceDeadline !== 0 && now >= s.ForceDeadline;
      const live = this.store.allocsByNode(node.ID).filter((a) => !allocTerminal(a));
      const service = live.filter((a) => !runsOnEveryNode(a.Job.Type));
      const system = live.filter((a) => runsOnEveryNode(a.Job.Type));
      const movable = service.length > 0 ? service : s.IgnoreSystemJobs ? [] : system;
      if (movable.length === 0) {
        done.push(node.ID);
        continue;
      }
      const byGroup = new Map<string, Allocation[]>();
      for (const a of movable) {
        const k = `${a.Namespace}/${a.JobID}/${a.TaskGroup}`;
        byGroup.set(k, [...(byGroup.get(k) ?? []), a]);
      }
      for (const allocs of byGroup.values()) {
        const first = allocs[0] as Allocation;
        const tg = first.Job.TaskGroups.find((g) => g.Name === first.TaskGroup);
        const maxParallel = force ? Number.MAX_SAFE_INTEGER : Math.max(1, tg?.Migrate?.MaxParallel ?? 1);
        // In flight: marked but not yet stopped, or replacements not yet healthy.
        const group = this.store.allocsByJob(first.Namespace, first.JobID).filter((a) => a.TaskGroup === first.TaskGroup);
        const inFlight =
          allocs.filter((a) => a.DesiredTransition.Migrate).length +
          group.filter((a) => a.PreviousAllocation !== "" && !allocTerminal(a) && a.ClientStatus !== "running" && draining.every((d) => d.ID !== a.NodeID)).length;
        let room = maxParallel - inFlight;
        for (const a of allocs) {
          if (room <= 0) break;
          if (a.DesiredTransition.Migrate) continue;
          marks.push(a);
          room--;
          const j = this.store.job(a.Namespace, a.JobID);
          if (j !== null) jobs.set(`${j.Namespace}/${j.ID}`, j);
        }
      }
    }
    if (marks.length === 0 && done.length === 0) return;
    const evs = [...jobs.values()].map((j) => newEval(j, "node-drain", now));
    await this.store.write((tx) => {
      for (const a of marks) {
        const cur = tx.get("allocs", a.ID);
        if (cur !== undefined) tx.put("allocs", { ...cur, DesiredTransition: { ...cur.DesiredTransition, Migrate: true } });
      }
      for (const id of done) {
        const cur = tx.get("nodes", id);
        if (cur !== undefined && cur.DrainStrategy !== null) tx.put("nodes", { ...cur, DrainStrategy: null });
      }
      for (const ev of evs) tx.put("evals", ev);
    });
    for (const id of done) this.log.info({ nodeId: id }, "node drain complete");
  }
}
