import { clientTerminal, type Allocation } from "./allocation.js";

/**
 * What a node's allocations hold, as running totals: the state store keeps one per node as
 * allocations come and go, and the scheduler reads a node's usage in constant time.
 */
export function jobKey(namespace: string, jobId: string): string {
  return namespace === "default" ? jobId : `${namespace}/${jobId}`;
}
export function groupKey(namespace: string, jobId: string, group: string): string {
  return `${jobKey(namespace, jobId)}\u0000${group}`;
}

/** An allocation's job and group keys, as the usage counts are keyed. */
export interface AllocKeyPair {
  readonly jk: string;
  readonly gk: string;
}

/**
 * Builds allocations' keys, remembering the last: allocations come and go in runs of one
 * group, and the same key string (its hash computed once) is faster to look up than a new
 * one. One per owner of usage counts (a state store, a view, an evaluation).
 */
export class AllocKeys {
  private last = { ns: "", job: "", group: "", jk: "", gk: "" };

  of(a: Allocation): AllocKeyPair {
    const l = this.last;
    if (l.job === a.JobID && l.group === a.TaskGroup && l.ns === a.Namespace) return l;
    const jk = jobKey(a.Namespace, a.JobID);
    this.last = { ns: a.Namespace, job: a.JobID, group: a.TaskGroup, jk, gk: `${jk}\u0000${a.TaskGroup}` };
    return this.last;
  }
}

/**
 * Whether an allocation still holds its node's resources: until its client is done with it.
 * One the servers told to stop keeps its ports, CPU and memory until its client reports it
 * stopped — its task may take its kill timeout to exit, and a port is free only once the
 * task that held it is gone. (Within one plan, the plan's own stops free what they hold for
 * its placements, as Nomad's `ProposedAllocs` has it.)
 */
export function holdsResources(a: Pick<Allocation, "ClientStatus">): boolean {
  return !clientTerminal(a.ClientStatus);
}

/** What the allocations on one node that still hold resources add up to. */
export interface UsageSnapshot {
  readonly cpu: number;
  readonly memory: number;
  readonly disk: number;
  readonly ports: ReadonlySet<number>;
  /** How many of `ports` fall in the default dynamic range. */
  readonly dynamicPorts: number;
  /** jobKey → allocations of that job on the node. */
  readonly byJob: ReadonlyMap<string, number>;
  /** groupKey → allocations of that group on the node. */
  readonly byGroup: ReadonlyMap<string, number>;
}

/** Where dynamic host ports are chosen unless a node says otherwise. */
export const DYNAMIC_PORT_RANGE = { min: 20_000, max: 32_000 } as const;

export const EMPTY_USAGE: UsageSnapshot = { cpu: 0, memory: 0, disk: 0, ports: new Set(), dynamicPorts: 0, byJob: new Map(), byGroup: new Map() };

/**
 * A running total of a node's usage, kept by whoever holds the allocations (the state
 * store, a MemoryView) as allocations come and go, so the scheduler reads a node's usage
 * in constant time instead of summing its allocations on every evaluation. The tallies of
 * one owner share its `AllocKeys`.
 */
export class UsageTally implements UsageSnapshot {
  cpu = 0;
  memory = 0;
  disk = 0;
  readonly ports = new Set<number>();
  dynamicPorts = 0;
  readonly byJob = new Map<string, number>();
  readonly byGroup = new Map<string, number>();

  constructor(private readonly keys: AllocKeys) {}

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
    forEachPort(a, (p) => {
      const had = this.ports.has(p);
      if (sign > 0) this.ports.add(p);
      else this.ports.delete(p);
      if (had !== this.ports.has(p) && p >= DYNAMIC_PORT_RANGE.min && p <= DYNAMIC_PORT_RANGE.max) this.dynamicPorts += sign;
    });
    const { jk, gk } = this.keys.of(a);
    bump(this.byJob, jk, sign);
    bump(this.byGroup, gk, sign);
  }
}

export function forEachPort(a: Allocation, f: (port: number) => void): void {
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

