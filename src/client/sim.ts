import { clientTerminal, mock, sleep, type Allocation, type Node } from "../structs/index.js";
import type { ClientTransport } from "./transport.js";


export interface SimOptions {
  /** Report an allocation of a deployment healthy this long after it starts (ms). */
  healthyAfterMs?: number;
  /** Allocations for which this returns true fail instead of running (and are unhealthy). */
  fail?: (a: Allocation) => boolean;
}

/**
 * A simulated node: it registers, heartbeats, and "runs" what the servers allocate to it at
 * once (the mock driver), reporting running, healthy, and complete when told to stop. For
 * tests and benchmarks of the control plane; the real agent is `client/`.
 */
export class SimulatedNode {
  readonly node: Node;
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private ttl = 1000;
  private readonly reported = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private answered = false;

  constructor(
    private readonly transport: ClientTransport,
    node: Node | Parameters<typeof mock.node>[0] = {},
    private readonly opts: SimOptions = {},
  ) {
    this.node = "SecretID" in (node) ? (node) : mock.node(node);
  }

  async start(): Promise<void> {
    const r = await this.transport.register(this.node);
    this.ttl = r.HeartbeatTTL;
    this.answered = true;
    this.loops = [this.heartbeats(), this.follow()];
  }

  /** Whether it registered (and has not been killed since). */
  get started(): boolean {
    return this.loops.length > 0 && !this.stopped();
  }

  /** Whether its registration or last heartbeat was answered: the servers hold it ready. */
  get ready(): boolean {
    return this.answered && !this.stopped();
  }

  /** How many allocations it runs (reported running, not since stopped). */
  running(): number {
    let n = 0;
    for (const v of this.reported.values()) if (v === "running") n++;
    return n;
  }

  /** Stops heartbeating and following at once, as a machine that dies (its allocations are not told anything). */
  kill(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    return Promise.allSettled(this.loops).then(() => undefined);
  }

  private stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async heartbeats(): Promise<void> {
    const signal = this.abort.signal;
    while (!this.stopped()) {
      // After a failed beat the next comes sooner, before the TTL runs out.
      await sleep(Math.max(50, this.answered ? this.ttl / 2 : Math.min(1000, this.ttl / 4)), signal);
      if (this.stopped()) return;
      try {
        this.ttl = (await this.transport.heartbeat(this.node.ID, this.node.SecretID)).HeartbeatTTL;
        this.answered = true;
      } catch {
        // The servers are away: try again at the next beat.
        this.answered = false;
      }
    }
  }

  private async follow(): Promise<void> {
    const signal = this.abort.signal;
    let index = 0;
    while (!this.stopped()) {
      let got: { index: number; allocs: readonly Allocation[] };
      try {
        got = await this.transport.allocations(this.node.ID, this.node.SecretID, index, 30_000, signal);
      } catch {
        if (this.stopped()) return;
        await sleep(200, signal);
        continue;
      }
      index = got.index;
      await this.reconcile(got.allocs);
    }
  }

  private async reconcile(allocs: readonly Allocation[]): Promise<void> {
    const updates: Parameters<ClientTransport["updateAllocs"]>[2] = [];
    for (const a of allocs) {
      const done = clientTerminal(a.ClientStatus);
      if (a.DesiredStatus !== "run") {
        if (!done && this.reported.get(a.ID) !== "complete") {
          updates.push({ ID: a.ID, ClientStatus: "complete", ClientDescription: "stopped by the servers" });
          this.reported.set(a.ID, "complete");
        }
        continue;
      }
      if (a.ClientStatus === "unknown") {
        // Marked unknown while this node was away: it still "runs" here, as a real agent finds its tasks again.
        updates.push({ ID: a.ID, ClientStatus: "running" });
        this.reported.set(a.ID, "running");
        continue;
      }
      if (a.ClientStatus !== "pending" || this.reported.has(a.ID)) continue;
      if (this.opts.fail?.(a) === true) {
        updates.push({ ID: a.ID, ClientStatus: "failed", ClientDescription: "task failed", DeploymentStatus: a.DeploymentID === "" ? null : { Healthy: false, Timestamp: Date.now(), Canary: a.DeploymentStatus?.Canary ?? false, ModifyIndex: 0 } });
        this.reported.set(a.ID, "failed");
        continue;
      }
      updates.push({ ID: a.ID, ClientStatus: "running" });
      this.reported.set(a.ID, "running");
      if (a.DeploymentID !== "") this.reportHealthy(a);
    }
    if (updates.length > 0) await this.send(updates);
  }

  private reportHealthy(a: Allocation): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.abort.signal.aborted) return;
      void this.send([{ ID: a.ID, ClientStatus: "running", DeploymentStatus: { Healthy: true, Timestamp: Date.now(), Canary: a.DeploymentStatus?.Canary ?? false, ModifyIndex: 0 } }]);
    }, this.opts.healthyAfterMs ?? 0);
    this.timers.add(t);
  }

  private async send(updates: Parameters<ClientTransport["updateAllocs"]>[2]): Promise<void> {
    try {
      await this.transport.updateAllocs(this.node.ID, this.node.SecretID, updates);
    } catch {
      // Not reported (the servers away, or the node disconnected meanwhile): the next answer
      // of the watch (at the latest when its wait ends) reports them again.
      for (const u of updates) this.reported.delete(u.ID);
    }
  }
}
