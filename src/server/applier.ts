import {
  allocTerminal,
  clientTerminal,
  deploymentActive,
  forEachPort,
  holdsResources,
  nodeIsSchedulable,
  type Allocation,
  type Deployment,
  type Node,
  type Plan,
} from "../structs/index.js";
import type { StateStore, Txn } from "../state/index.js";

export interface ApplyResult {
  index: number;
  /** Nodes whose placements were refused: the state moved since the scheduler looked. */
  refused: string[];
  placed: Allocation[];
}

/**
 * The plan applier: one at a time, each plan is checked against the newest state and what
 * still fits is committed. A node that has gone away, become ineligible, or no longer has
 * room (another plan took it first) has its part refused; the evaluation is retried. So
 * concurrent workers never over-commit a node.
 */
export class PlanApplier {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: StateStore,
    private readonly now: () => number,
  ) {}

  apply(plan: Plan, extra: (tx: Txn, result: ApplyResult) => void = () => undefined): Promise<ApplyResult> {
    const run = this.queue.then(() => this.commit(plan, extra));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async commit(plan: Plan, extra: (tx: Txn, result: ApplyResult) => void): Promise<ApplyResult> {
    const now = this.now();
    const { index, result } = await this.store.write((tx) => {
      const res: ApplyResult = { index: tx.index, refused: [], placed: [] };
      for (const stops of Object.values(plan.NodeUpdate)) {
        for (const s of stops) {
          const cur = tx.get("allocs", s.ID);
          if (cur === undefined) continue;
          tx.put("allocs", {
            ...cur,
            DesiredStatus: s.DesiredStatus,
            DesiredDescription: s.DesiredDescription,
            ClientStatus: s.ClientStatus === "lost" && !clientTerminal(cur.ClientStatus) ? "lost" : cur.ClientStatus,
            ModifyTime: now,
          });
        }
      }
      for (const m of plan.ClientStatusMarks ?? []) {
        const cur = tx.get("allocs", m.AllocID);
        if (cur === undefined || allocTerminal(cur)) continue;
        // Unknown: only while nothing newer came from the client; back: the status it reported is recorded.
        if (m.ClientStatus === "unknown" && cur.ClientStatus === "unknown") continue;
        const value = m.ClientStatus ?? cur.ClientStatus;
        const desc = m.ClientStatus === "unknown" ? "the node stopped heartbeating; the allocation's state is unknown until it reconnects" : cur.ClientDescription;
        tx.put("allocs", { ...cur, ClientStatus: value, ClientDescription: desc, AllocStates: [...(cur.AllocStates ?? []), { Field: "ClientStatus", Value: value, Time: m.Time }], ModifyTime: now });
      }
      for (const [nodeId, allocs] of Object.entries(plan.NodeAllocation)) {
        const node = tx.get("nodes", nodeId);
        const fresh = allocs.filter((a) => tx.get("allocs", a.ID) === undefined);
        if (fresh.length > 0 && !this.fits(node, fresh, plan.NodeUpdate[nodeId] ?? [])) {
          res.refused.push(nodeId);
          continue;
        }
        for (const a of allocs) {
          const cur = tx.get("allocs", a.ID);
          if (cur !== undefined) {
            // In place: the client keeps running it; only the job it follows changes.
            tx.put("allocs", { ...cur, Job: a.Job, DeploymentID: a.DeploymentID, ModifyTime: now });
            continue;
          }
          tx.put("allocs", { ...a, CreateTime: now, ModifyTime: now });
          res.placed.push(a);
          if (a.PreviousAllocation !== "") {
            const prev = tx.get("allocs", a.PreviousAllocation);
            if (prev !== undefined) tx.put("allocs", { ...prev, NextAllocation: a.ID });
          }
        }
      }
      if (plan.Deployment !== null) {
        const d: Deployment = { ...plan.Deployment, TaskGroups: { ...plan.Deployment.TaskGroups } };
        const prior = tx.get("deployments", d.ID);
        for (const [group, s] of Object.entries(d.TaskGroups)) {
          const placedHere = res.placed.filter((a) => a.TaskGroup === group && a.DeploymentID === d.ID);
          const before = prior?.TaskGroups[group];
          d.TaskGroups[group] = {
            ...s,
            PlacedAllocs: (before?.PlacedAllocs ?? 0) + placedHere.length,
            PlacedCanaries: [...(before?.PlacedCanaries ?? []), ...placedHere.filter((a) => a.DeploymentStatus?.Canary === true).map((a) => a.ID)],
            HealthyAllocs: before?.HealthyAllocs ?? s.HealthyAllocs,
            UnhealthyAllocs: before?.UnhealthyAllocs ?? s.UnhealthyAllocs,
            Promoted: before?.Promoted ?? s.Promoted,
          };
        }
        if (prior === undefined || deploymentActive(prior)) tx.put("deployments", d);
      }
      for (const u of plan.DeploymentUpdates) {
        const d = tx.get("deployments", u.DeploymentID);
        if (d !== undefined && deploymentActive(d)) tx.put("deployments", { ...d, Status: u.Status as Deployment["Status"], StatusDescription: u.StatusDescription });
      }
      extra(tx, res);
      return res;
    });
    return { ...result, index };
  }

  /** Whether the node still takes these new allocations beside what it runs now. */
  private fits(node: Node | undefined, fresh: Allocation[], stops: Allocation[]): boolean {
    if (node === undefined || !nodeIsSchedulable(node)) return false;
    const u = this.store.nodeUsage(node.ID);
    let cpu = u.cpu + node.Reserved.CPU;
    let mem = u.memory + node.Reserved.MemoryMB;
    const ports = new Set(u.ports);
    for (const s of stops) {
      const cur = this.store.alloc(s.ID);
      if (cur === undefined || !holdsResources(cur)) continue;
      cpu -= cur.Resources.CPU;
      mem -= cur.Resources.MemoryMB;
      forEachPort(cur, (p) => ports.delete(p));
    }
    const wanted: number[] = [];
    for (const a of fresh) {
      cpu += a.Resources.CPU;
      mem += a.Resources.MemoryMB;
      forEachPort(a, (p) => wanted.push(p));
    }
    for (const p of wanted) {
      if (ports.has(p)) return false;
      ports.add(p);
    }
    return cpu <= node.Resources.CPU && mem <= node.Resources.MemoryMB;
  }
}

