import { allocTerminal, type Allocation, type Node } from "../structs/index.js";
import type { StateView } from "./view.js";

export function jobKey(namespace: string, jobId: string): string {
  return namespace === "default" ? jobId : `${namespace}/${jobId}`;
}
export function groupKey(namespace: string, jobId: string, group: string): string {
  return `${jobKey(namespace, jobId)}\u0000${group}`;
}

// Placements come in runs of one group: remembering the last key saves building it each time.
let lastAlloc = { ns: "", job: "", group: "", jk: "", gk: "" };
function keysOf(a: Allocation): { jk: string; gk: string } {
  const l = lastAlloc;
  if (l.job === a.JobID && l.group === a.TaskGroup && l.ns === a.Namespace) return l;
  const jk = jobKey(a.Namespace, a.JobID);
  lastAlloc = { ns: a.Namespace, job: a.JobID, group: a.TaskGroup, jk, gk: `${jk}\u0000${a.TaskGroup}` };
  return lastAlloc;
}

/** Whether an allocation still holds its node's resources: it runs, or is meant to. */
export function holdsResources(a: Allocation): boolean {
  return !allocTerminal(a);
}

/** What the allocations on one node that still hold resources add up to. */
export interface UsageSnapshot {
  readonly cpu: number;
  readonly memory: number;
  readonly disk: number;
  readonly ports: ReadonlySet<number>;
  /** jobKey → allocations of that job on the node. */
  readonly byJob: ReadonlyMap<string, number>;
  /** groupKey → allocations of that group on the node. */
  readonly byGroup: ReadonlyMap<string, number>;
}

export const EMPTY_USAGE: UsageSnapshot = { cpu: 0, memory: 0, disk: 0, ports: new Set(), byJob: new Map(), byGroup: new Map() };

/**
 * A running total of a node's usage, kept by whoever holds the allocations (the state
 * store, a MemoryView) as allocations come and go, so the scheduler reads a node's usage
 * in constant time instead of summing its allocations on every evaluation.
 */
export class UsageTally implements UsageSnapshot {
  cpu = 0;
  memory = 0;
  disk = 0;
  readonly ports = new Set<number>();
  readonly byJob = new Map<string, number>();
  readonly byGroup = new Map<string, number>();

  add(a: Allocation): void {
    this.apply(a, 1);
  }
  remove(a: Allocation): void {
    this.apply(a, -1);
  }

  private apply(a: Allocation, sign: 1 | -1): void {
    this.cpu += sign * a.Resources.CPU;
    this.memory += sign * a.Resources.MemoryMB;
    this.disk += sign * a.Resources.DiskMB;
    forEachPort(a, (p) => (sign > 0 ? this.ports.add(p) : this.ports.delete(p)));
    const { jk, gk } = keysOf(a);
    bump(this.byJob, jk, sign);
    bump(this.byGroup, gk, sign);
  }
}

function forEachPort(a: Allocation, f: (port: number) => void): void {
  for (const n of a.Resources.Networks) {
    for (const p of n.ReservedPorts) if (p.Value > 0) f(p.Value);
    for (const p of n.DynamicPorts) if (p.Value > 0) f(p.Value);
  }
}

function bump(m: Map<string, number>, k: string, by: number): void {
  const v = (m.get(k) ?? 0) + by;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
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

const reservedPorts = new WeakMap<Node, ReadonlySet<number>>();
function reservedOf(node: Node): ReadonlySet<number> {
  let s = reservedPorts.get(node);
  if (s === undefined) {
    s = new Set(parsePortList(node.Reserved.ReservedHostPorts));
    reservedPorts.set(node, s);
  }
  return s;
}

/**
 * One node's usage during an evaluation: the snapshot's, the node's reservations, and the
 * plan's own stops and placements on top, without copying the snapshot.
 */
export class NodeUsage {
  cpu: number;
  memory: number;
  disk: number;
  private added: Set<number> | null = null;
  private removed: Set<number> | null = null;
  private jobDelta: Map<string, number> | null = null;
  private groupDelta: Map<string, number> | null = null;

  constructor(
    node: Node,
    private readonly base: UsageSnapshot,
  ) {
    this.cpu = base.cpu + node.Reserved.CPU;
    this.memory = base.memory + node.Reserved.MemoryMB;
    this.disk = base.disk + node.Reserved.DiskMB;
    this.reserved = reservedOf(node);
  }

  private readonly reserved: ReadonlySet<number>;

  hasPort(p: number): boolean {
    if (this.added?.has(p) === true || this.reserved.has(p)) return true;
    return this.base.ports.has(p) && this.removed?.has(p) !== true;
  }

  /** Ports in use within [min, max] (a node has one range: counted once, then kept up to date). */
  portsInRange(min: number, max: number): number {
    if (this.rangeCount >= 0 && this.rangeMin === min && this.rangeMax === max) return this.rangeCount;
    let n = 0;
    for (const p of this.base.ports) if (p >= min && p <= max && this.removed?.has(p) !== true) n++;
    for (const p of this.reserved) if (p >= min && p <= max && !this.base.ports.has(p)) n++;
    if (this.added !== null) for (const p of this.added) if (p >= min && p <= max) n++;
    this.rangeMin = min;
    this.rangeMax = max;
    this.rangeCount = n;
    return n;
  }

  private rangeMin = 0;
  private rangeMax = 0;
  private rangeCount = -1;

  jobCount(jk: string): number {
    return (this.base.byJob.get(jk) ?? 0) + (this.jobDelta?.get(jk) ?? 0);
  }

  groupCount(gk: string): number {
    return (this.base.byGroup.get(gk) ?? 0) + (this.groupDelta?.get(gk) ?? 0);
  }

  apply(a: Allocation, sign: 1 | -1): void {
    this.cpu += sign * a.Resources.CPU;
    this.memory += sign * a.Resources.MemoryMB;
    this.disk += sign * a.Resources.DiskMB;
    forEachPort(a, (p) => {
      if (this.rangeCount >= 0 && p >= this.rangeMin && p <= this.rangeMax && this.hasPort(p) !== sign > 0) this.rangeCount += sign;
      if (sign > 0) {
        this.removed?.delete(p);
        if (!this.base.ports.has(p)) (this.added ??= new Set()).add(p);
      } else {
        this.added?.delete(p);
        if (this.base.ports.has(p)) (this.removed ??= new Set()).add(p);
      }
    });
    const { jk, gk } = keysOf(a);
    const jd = (this.jobDelta ??= new Map());
    jd.set(jk, (jd.get(jk) ?? 0) + sign);
    const gd = (this.groupDelta ??= new Map());
    gd.set(gk, (gd.get(gk) ?? 0) + sign);
  }
}

/**
 * Usage of every node during one evaluation: read from the view on first look, then kept
 * up to date as the plan stops and places allocations. Stops are applied before
 * placements, so within one placement pass a node's usage only grows.
 */
export class ClusterUsage {
  private readonly usage = new Map<string, NodeUsage>();
  private readonly stopped = new Set<string>();
  private readonly pendingStops = new Map<string, Allocation[]>();

  constructor(private readonly view: StateView) {}

  /** An allocation the plan stops: it no longer counts on its node. */
  markStopped(a: Allocation): void {
    if (this.stopped.has(a.ID)) return;
    this.stopped.add(a.ID);
    if (!holdsResources(a)) return;
    const u = this.usage.get(a.NodeID);
    if (u !== undefined) u.apply(a, -1);
    else {
      const l = this.pendingStops.get(a.NodeID) ?? [];
      l.push(a);
      this.pendingStops.set(a.NodeID, l);
    }
  }

  isStopped(allocId: string): boolean {
    return this.stopped.has(allocId);
  }

  of(node: Node): NodeUsage {
    let u = this.usage.get(node.ID);
    if (u !== undefined) return u;
    u = new NodeUsage(node, this.view.nodeUsage(node.ID));
    for (const a of this.pendingStops.get(node.ID) ?? []) u.apply(a, -1);
    this.usage.set(node.ID, u);
    return u;
  }

  /** A placement of the plan now holds these resources. */
  add(node: Node, a: Allocation): void {
    this.of(node).apply(a, 1);
  }
}
