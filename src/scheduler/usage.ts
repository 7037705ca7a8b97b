import { DYNAMIC_PORT_RANGE, EMPTY_USAGE, forEachPort, holdsResources, PORTS_PER_ADDRESS, type AllocKeyPair, type Allocation, type Node, type UsageSnapshot } from "../structs/index.js";
import type { EvalContext } from "./context.js";

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

/** No ports: a node that reserves none. */
export const NO_PORTS: ReadonlySet<number> = new Set();

/**
 * One node's usage during an evaluation: the snapshot's, the node's reservations, and the
 * plan's own stops and placements on top, without copying the snapshot.
 */
export class NodeUsage {
  nodeId = "";
  cpu = 0;
  memory = 0;
  disk = 0;
  private base: UsageSnapshot = EMPTY_USAGE;
  private reserved: ReadonlySet<number> = NO_PORTS;
  private added: Set<number> | null = null;
  private removed: Set<number> | null = null;
  /**
   * What the plan changed of the counts by job and by group: key, count, key, count...
   * An evaluation is about one job, so these hold an entry or two: a list beats a Map.
   */
  private jobDelta: (string | number)[] | null = null;
  private groupDelta: (string | number)[] | null = null;

  /**
   * Makes this the usage of another node, as its snapshot has it, with the host ports the
   * node keeps for itself. For a new object, or a reader's scratch one; never for one the
   * plan has changed.
   */
  reset(node: Node, base: UsageSnapshot, reserved: ReadonlySet<number>): this {
    this.nodeId = node.ID;
    this.base = base;
    this.cpu = base.cpu + node.Reserved.CPU;
    this.memory = base.memory + node.Reserved.MemoryMB;
    this.disk = base.disk + node.Reserved.DiskMB;
    this.reserved = reserved;
    this.rangeCount = -1;
    return this;
  }

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

  /**
   * Ports in use within [min, max] on another address than the node's own (`addressKey`):
   * counted afresh each time, from the ports the node holds, for a group that asks for
   * dynamic ports on a host network.
   */
  portsInRangeOn(address: number, min: number, max: number): number {
    const lo = address * PORTS_PER_ADDRESS + min;
    const hi = address * PORTS_PER_ADDRESS + max;
    const seen = new Set<number>();
    const count = (k: number): void => {
      if (k >= lo && k <= hi && this.hasPort(k)) seen.add(k);
    };
    for (const k of this.base.ports) count(k);
    for (const k of this.reserved) count(k);
    if (this.added !== null) for (const k of this.added) count(k);
    return seen.size;
  }

  private rangeMin = 0;
  private rangeMax = 0;
  private rangeCount = -1;

  jobCount(jk: string): number {
    return (this.base.byJob.get(jk) ?? 0) + deltaOf(this.jobDelta, jk);
  }

  groupCount(gk: string): number {
    return (this.base.byGroup.get(gk) ?? 0) + deltaOf(this.groupDelta, gk);
  }

  apply(a: Allocation, keys: AllocKeyPair, sign: 1 | -1): void {
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
    const { jk, gk } = keys;
    addDelta((this.jobDelta ??= []), jk, sign);
    addDelta((this.groupDelta ??= []), gk, sign);
  }
}

function deltaOf(list: (string | number)[] | null, key: string): number {
  if (list === null) return 0;
  for (let i = 0; i < list.length; i += 2) if (list[i] === key) return list[i + 1] as number;
  return 0;
}

function addDelta(list: (string | number)[], key: string, by: number): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === key) {
      list[i + 1] = (list[i + 1] as number) + by;
      return;
    }
  }
  list.push(key, by);
}

/**
 * Usage of every node during one evaluation: the view's snapshot, and for the nodes the
 * plan changes, a `NodeUsage` kept up to date as the plan stops and places allocations.
 * Stops are applied before placements, so within one placement pass a node's usage only
 * grows. An evaluation looks at thousands of nodes and changes a few: an unchanged
 * node's usage is read straight from the view (see `GroupPlacer`).
 */
export class ClusterUsage {
  private readonly changed = new Map<string, NodeUsage>();
  private readonly changedList: NodeUsage[] = [];
  private readonly stopped = new Set<string>();

  constructor(private readonly ctx: EvalContext) {}

  /** An allocation the plan stops: it no longer counts on its node. */
  markStopped(a: Allocation): void {
    if (this.stopped.has(a.ID)) return;
    this.stopped.add(a.ID);
    if (!holdsResources(a)) return;
    const node = this.ctx.view.node(a.NodeID);
    if (node !== undefined) this.of(node).apply(a, this.ctx.keys.of(a), -1);
  }

  isStopped(allocId: string): boolean {
    return this.stopped.has(allocId);
  }

  /**
   * The nodes the plan changed, in the order it first changed each. Only grows: a reader
   * keeps its place in it and catches up (see `GroupPlacer`); any other node's usage is
   * the view's snapshot.
   */
  get changedNodes(): readonly NodeUsage[] {
    return this.changedList;
  }

  /** The node's own usage object, made when the plan first changes the node. */
  private of(node: Node): NodeUsage {
    let u = this.changed.get(node.ID);
    if (u === undefined) {
      u = new NodeUsage().reset(node, this.ctx.view.nodeUsage(node.ID), this.ctx.memo.reservedPorts(node));
      this.changed.set(node.ID, u);
      this.changedList.push(u);
    }
    return u;
  }

  /** A placement of the plan now holds these resources. */
  add(node: Node, a: Allocation): void {
    this.of(node).apply(a, this.ctx.keys.of(a), 1);
  }
}
