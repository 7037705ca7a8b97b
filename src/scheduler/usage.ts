import { allocTerminal, type Allocation, type Node } from "../structs/index.js";
import type { StateView } from "./view.js";

/** What one node has handed out: existing allocations that still hold resources, and the plan's own. */
export interface NodeUsage {
  cpu: number;
  memory: number;
  disk: number;
  /** Host ports in use, reserved by the node's config included. */
  ports: Set<number>;
  /** `namespace/job` → allocations of that job on the node. */
  byJob: Map<string, number>;
  /** `namespace/job/group` → allocations of that group on the node. */
  byGroup: Map<string, number>;
}

export function jobKey(namespace: string, jobId: string): string {
  return `${namespace}/${jobId}`;
}
export function groupKey(namespace: string, jobId: string, group: string): string {
  return `${namespace}/${jobId}/${group}`;
}

/** Whether an allocation still holds its node's resources: it runs, or is meant to. */
export function holdsResources(a: Allocation): boolean {
  return !allocTerminal(a);
}

/** Parses a node's reserved host ports: "22,80,8000-8100". */
export function parsePortList(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const p = part.trim();
    if (p === "") continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (m === null) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let x = lo; x <= hi && x <= 65535; x++) out.push(x);
  }
  return out;
}

/**
 * Usage of every node, computed on first look from the state view and then kept up to date
 * as the plan stops and places allocations. Stops are applied before placements, so within
 * one placement pass a node's usage only grows.
 */
export class ClusterUsage {
  private readonly usage = new Map<string, NodeUsage>();
  private readonly stopped = new Set<string>();

  constructor(private readonly view: StateView) {}

  /** An allocation the plan stops: it no longer counts on its node. */
  markStopped(a: Allocation): void {
    if (this.stopped.has(a.ID)) return;
    this.stopped.add(a.ID);
    const u = this.usage.get(a.NodeID);
    if (u !== undefined && holdsResources(a)) this.apply(u, a, -1);
  }

  isStopped(allocId: string): boolean {
    return this.stopped.has(allocId);
  }

  of(node: Node): NodeUsage {
    let u = this.usage.get(node.ID);
    if (u !== undefined) return u;
    u = { cpu: node.Reserved.CPU, memory: node.Reserved.MemoryMB, disk: node.Reserved.DiskMB, ports: new Set(parsePortList(node.Reserved.ReservedHostPorts)), byJob: new Map(), byGroup: new Map() };
    for (const a of this.view.allocsByNode(node.ID)) {
      if (holdsResources(a) && !this.stopped.has(a.ID)) this.apply(u, a, 1);
    }
    this.usage.set(node.ID, u);
    return u;
  }

  /** A placement of the plan now holds these resources. */
  add(node: Node, a: Allocation): void {
    this.apply(this.of(node), a, 1);
  }

  private apply(u: NodeUsage, a: Allocation, sign: 1 | -1): void {
    u.cpu += sign * a.Resources.CPU;
    u.memory += sign * a.Resources.MemoryMB;
    u.disk += sign * a.Resources.DiskMB;
    for (const n of a.Resources.Networks) {
      for (const p of [...n.ReservedPorts, ...n.DynamicPorts]) {
        if (p.Value <= 0) continue;
        if (sign > 0) u.ports.add(p.Value);
        else u.ports.delete(p.Value);
      }
    }
    bump(u.byJob, jobKey(a.Namespace, a.JobID), sign);
    bump(u.byGroup, groupKey(a.Namespace, a.JobID, a.TaskGroup), sign);
  }
}

function bump(m: Map<string, number>, k: string, by: number): void {
  const v = (m.get(k) ?? 0) + by;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
}
