import { DYNAMIC_PORT_RANGE, forEachPort, holdsResources, keysOf, type Allocation, type Node, type UsageSnapshot } from "../structs/index.js";
import type { StateView } from "./view.js";

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
const NO_PORTS: ReadonlySet<number> = new Set();
function reservedOf(node: Node): ReadonlySet<number> {
  if (node.Reserved.ReservedHostPorts === "") return NO_PORTS;
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
    if (this.removed === null && min === DYNAMIC_PORT_RANGE.min && max === DYNAMIC_PORT_RANGE.max) n = this.base.dynamicPorts;
    else for (const p of this.base.ports) if (p >= min && p <= max && this.removed?.has(p) !== true) n++;
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
    const jd = (this.jobDelta ??= new Map<string, number>());
    jd.set(jk, (jd.get(jk) ?? 0) + sign);
    const gd = (this.groupDelta ??= new Map<string, number>());
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
