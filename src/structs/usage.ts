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

/**
 * Calls `f` with the key of each host port the allocation holds (see `portKey`): ports are
 * counted per address, as Nomad's `NetworkIndex.UsedPorts`, so port 80 on a host network's
 * address does not collide with port 80 on the node's own.
 */
export function forEachPort(a: Allocation, f: (port: number) => void): void {
  for (const n of a.Resources.Networks) {
    for (const p of n.ReservedPorts) if (p.Value > 0) f(portKey(p.HostIP, n.IP, p.Value));
    for (const p of n.DynamicPorts) if (p.Value > 0) f(portKey(p.HostIP, n.IP, p.Value));
  }
}

/**
 * A host port as port usage counts it: the port number itself on the node's own address
 * (`ownIp`, or no address given), and on another address the port number above a multiple
 * of 65536 that stands for that address (`addressKey`). Sets of numbers stay the fast path
 * for the usual node with one address; `key % 65536` is always the port.
 */
export function portKey(ip: string | undefined, ownIp: string, port: number): number {
  return ip === undefined || ip === "" || ip === ownIp ? port : addressKey(ip) * PORTS_PER_ADDRESS + port;
}

export const PORTS_PER_ADDRESS = 65_536;

/**
 * A number standing for an address other than the node's own, from 1: an IPv4 address is its
 * 32 bits plus one, an IPv6 one (or a name) a 32-bit hash above those. Keys stay below 2^49,
 * exact in a double. Two IPv6 addresses of one node with the same hash would share their
 * ports: a false collision, never a double booking.
 */
export function addressKey(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (m !== null) return ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]) + 1;
  let h = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
  return 2 ** 32 + 1 + (h >>> 0);
}

function bump(m: Map<string, number>, k: string, by: number): void {
  const v = (m.get(k) ?? 0) + by;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
}

