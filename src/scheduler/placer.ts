import {
  allocTerminal,
  constraintReason,
  DYNAMIC_PORT_RANGE,
  emptyMetric,
  ExhaustedDimension,
  exhaustNode,
  FilterReason,
  filterNode,
  groupKey,
  groupTotal,
  jobKey,
  reservedPortCollision,
  addressKey,
  DEFAULT_HOST_NETWORK,
  hostNetworkAddresses,
  portKey,
  PlacementStrategy,
  SchedulerAlgorithm,
  type AllocatedResources,
  type AllocMetric,
  type Allocation,
  type Job,
  type NetworkResource,
  type Node,
  type NodeScoreMeta,
  type Port,
  type Spread,
  type TaskGroup,
} from "../structs/index.js";
import type { EvalContext } from "./context.js";
import { dynamicVolumeCheck } from "./dynamic-volumes.js";
import { perAllocVolumeCheck, placementConstraints, resolveHostNetwork, StaticFeasibility, staticChecks } from "./feasible.js";
import type { SchedulerMemo } from "./memo.js";
import { affinityScore, antiAffinityScore, binpackScore, spreadFitScore, spreadScore } from "./rank.js";
import type { Ready } from "./ready.js";
import type { Rng } from "./rng.js";
import { ScoreCard, SLOT } from "./score-card.js";
import { resolveTarget } from "./target.js";
import { NodeUsage, type ClusterUsage } from "./usage.js";
import type { StateView } from "./view.js";

/** One placement the reconciler asks for. */
export interface PlaceRequest {
  name: string;
  /** Nodes to avoid: where the allocation being replaced failed. */
  penaltyNodes?: ReadonlySet<string>;
  /** The dynamic host volumes its `sticky` requests must land on (`stickyOf`); none: any. */
  sticky?: readonly string[];
}

export interface Selected {
  node: Node;
  resources: AllocatedResources;
  taskResources: Record<string, AllocatedResources>;
  score: number;
  /** What this placement saw: the nodes it looked at and turned down, the best it scored. */
  metric: AllocMetric;
}

export const DEFAULT_MIN_DYNAMIC_PORT = DYNAMIC_PORT_RANGE.min;
export const DEFAULT_MAX_DYNAMIC_PORT = DYNAMIC_PORT_RANGE.max;

/** What one group asks of a node. */
interface Ask {
  cpu: number;
  memory: number;
  disk: number;
  /** Static ports; `hostNetwork` "" for the node's own address. */
  reserved: { label: string; value: number; hostNetwork: string }[];
  /** Dynamic ports on the node's own address. */
  dynamic: number;
  /** Dynamic ports on host networks (`host_network = "NAME"`), by the name as written. */
  hostDynamic: Map<string, number>;
}

/** A port's host network as the ask keeps it: "" for the node's own address. */
function askNetwork(p: Port): string {
  return p.HostNetwork === DEFAULT_HOST_NETWORK ? "" : p.HostNetwork;
}

function askOf(tg: TaskGroup): Ask {
  const net = tg.Networks[0];
  // Lifecycle-aware, as Nomad's: an ephemeral prestart task's share is not added to the main tasks'.
  const total = groupTotal(tg.Tasks);
  return {
    cpu: total.CPU,
    memory: total.MemoryMB,
    disk: tg.EphemeralDisk.SizeMB,
    reserved: (net?.ReservedPorts ?? []).map((p) => ({ label: p.Label, value: p.Value, hostNetwork: askNetwork(p) })),
    dynamic: (net?.DynamicPorts ?? []).filter((p) => askNetwork(p) === "").length,
    hostDynamic: (net?.DynamicPorts ?? []).reduce((m, p) => (askNetwork(p) === "" ? m : m.set(askNetwork(p), (m.get(askNetwork(p)) ?? 0) + 1)), new Map<string, number>()),
  };
}

/**
 * How many feasible nodes are scored per placement: about log2(N) for services and 2 for
 * batch, as Nomad does, so the cost of a placement stays flat as the cluster grows; more
 * when affinities or spreads need a wider look; every node when the job asks for a full scan.
 */
export function candidateLimit(job: Job, tg: TaskGroup, nodes: number): number {
  if (job.FullScan) return Number.MAX_SAFE_INTEGER;
  const base = job.Type === "batch" ? 2 : Math.max(2, Math.ceil(Math.log2(Math.max(2, nodes))));
  const wide = job.Affinities.length + tg.Affinities.length + job.Spreads.length + tg.Spreads.length > 0 || tg.Tasks.some((t) => t.Affinities.length > 0);
  return wide ? Math.max(base, Math.min(nodes, 100)) : base;
}

/**
 * What every placement's metric whose counts stayed empty (most) holds, shared: a metric is
 * never changed once made, and these are frozen so that nothing can.
 */
const NO_COUNTS: Record<string, number> = Object.freeze({});
const NO_STRINGS: string[] = Object.freeze([]) as unknown as string[];
const NO_SCORES: NodeScoreMeta[] = Object.freeze([]) as unknown as NodeScoreMeta[];

/** Nodes scoring below zero (collisions, penalties) are passed over up to this many times. */
const MAX_SKIP = 3;

/**
 * Places the allocations of one group. Candidates come from a ring of the ready nodes,
 * shuffled with the evaluation's seed as it is walked; each placement resumes where the last one
 * stopped, scores the next `limit` feasible nodes and takes the best. A node that fails
 * a check that cannot start passing within this evaluation (a constraint, a missing
 * driver, resources that are exhausted while usage only grows) leaves the ring for good,
 * so a full cluster costs one pass, not one pass per placement.
 *
 * Two metrics are kept: the group's, over every placement (what a failure reports), and
 * each placement's own, with the best nodes it scored (what its allocation carries).
 */
export class GroupPlacer {
  /** The group's metric: every node looked at by any placement of the group. */
  readonly metric: AllocMetric;
  /** The counts of the placement under way, besides the group's; null between placements. */
  private current: AllocMetric | null = null;
  /** Where each placement counts (see `beginPlacement`). */
  private readonly counting = emptyMetric();
  private readonly card: ScoreCard;
  /** Indexes into `nodes`, shuffled; nodes that can never take the group are swapped out. */
  private readonly ring: Int32Array;
  private ringLength: number;
  /**
   * The ring is shuffled as it is walked: positions below `drawn` hold their random draw,
   * the rest are still to be drawn. An evaluation placing few allocations on a big cluster
   * draws only what it visits.
   */
  private drawn = 0;
  /**
   * Whether each ready node (by its index in `nodes`) passed the static checks, which
   * cannot change within the evaluation. A byte per node, not an object: an evaluation
   * visits thousands of nodes.
   */
  private readonly checked: Uint8Array;
  /**
   * The usage of the nodes the plan changed, by index, caught up from
   * `ClusterUsage.changedNodes` (`seenChanged` of them so far). Any other node's usage is
   * read from the view into `scratch`, one node at a time: no object per node visited.
   */
  private readonly changed: (NodeUsage | undefined)[];
  private seenChanged = 0;
  /** How many live allocations of this group each node had before the plan (by index). */
  private readonly groupBefore: Int32Array;
  private readonly scratch = new NodeUsage();
  private readonly indexOf: Map<string, number>;
  private readonly nodes: readonly Node[];
  private readonly classIds: Int32Array;
  private readonly taskResources: Record<string, AllocatedResources>;
  /** How nodes are ranked: the job's placement strategy, or the cluster's algorithm for a job that asks for binpack. */
  private readonly strategy: PlacementStrategy;
  private cursor = 0;
  private readonly ask: Ask;
  private readonly feasibility: StaticFeasibility;
  private readonly limit: number;
  private readonly placement: ReturnType<typeof placementConstraints>;
  private readonly jk: string;
  private readonly gk: string;
  private readonly affinities;
  private readonly spreads: Spread[];
  private readonly spreadCounts: Map<string, number>[];
  private readonly spreadValues: Set<string>[];
  private readonly distinctCounts: Map<string, number>[];
  private readonly besideCache = new Map<string, boolean>();
  private failed = false;
  /** The group's `per_alloc` host volumes: for an allocation, whether a node offers its own; null when it has none. */
  private readonly perAlloc: ((allocName: string) => (node: Node) => boolean) | null;
  /** The allocation being placed, by name, and whether a node offers its `per_alloc` volumes. */
  private allocName = "";
  private offersAllocVolumes: (node: Node) => boolean = () => true;
  /** The group's dynamic host volumes: for an allocation (and its sticky volumes), why a node does not serve them; null when it asks for no host volume. */
  private readonly dynamic: ReturnType<typeof dynamicVolumeCheck>;
  private stickyKey = "";
  private dynamicFits: (node: Node) => string | null = () => null;
  private readonly view: StateView;
  private readonly rng: Rng;
  private readonly memo: SchedulerMemo;

  constructor(
    ctx: EvalContext,
    private readonly job: Job,
    private readonly tg: TaskGroup,
    ready: Ready,
    private readonly usage: ClusterUsage,
  ) {
    this.view = ctx.view;
    this.rng = ctx.rng;
    this.memo = ctx.memo;
    const view = ctx.view;
    const readyNodes = ready.nodes;
    this.nodes = readyNodes;
    this.classIds = ready.classIds;
    this.ring = new Int32Array(readyNodes.length);
    for (let i = 0; i < readyNodes.length; i++) this.ring[i] = i;
    this.ringLength = readyNodes.length;
    this.checked = new Uint8Array(readyNodes.length);
    this.card = new ScoreCard(readyNodes.length);
    this.changed = new Array<NodeUsage | undefined>(readyNodes.length);
    this.indexOf = ready.indexOf;
    // Identical for every allocation of the group, and never changed once made: shared.
    this.taskResources = {};
    const cfg = view.schedulerConfig?.();
    // A task's memory_max is its limit only while the cluster allows oversubscription (Nomad's
    // `memoryOversubscription` of its BinPackIterator); its memory is what the node counts.
    const oversubscribe = cfg?.MemoryOversubscriptionEnabled === true;
    for (const t of tg.Tasks) {
      this.taskResources[t.Name] = { CPU: t.Resources.CPU, MemoryMB: t.Resources.MemoryMB, ...(oversubscribe && t.Resources.MemoryMaxMB !== 0 ? { MemoryMaxMB: t.Resources.MemoryMaxMB } : {}), DiskMB: 0, Networks: [] };
    }
    // A job that asks for nothing else (binpack, the default) is ranked by the cluster's algorithm.
    this.strategy = job.Placement === PlacementStrategy.Binpack && cfg?.SchedulerAlgorithm === SchedulerAlgorithm.Spread ? PlacementStrategy.Spread : job.Placement;
    this.ask = askOf(tg);
    this.feasibility = new StaticFeasibility(staticChecks(job, tg, ctx.memo.regexp));
    this.perAlloc = perAllocVolumeCheck(tg);
    this.dynamic = dynamicVolumeCheck(tg, job.Namespace, view);
    this.limit = candidateLimit(job, tg, readyNodes.length);
    this.placement = placementConstraints(job, tg);
    this.jk = jobKey(job.Namespace, job.ID);
    this.gk = groupKey(job.Namespace, job.ID, tg.Name);
    this.affinities = [...job.Affinities, ...tg.Affinities, ...tg.Tasks.flatMap((t) => t.Affinities)];
    this.spreads = [...job.Spreads, ...tg.Spreads];
    this.metric = { ...emptyMetric({ ...ready.available }), ...(Object.keys(ready.elsewhere).length === 0 ? {} : { NodesInOtherDatacenters: { ...ready.elsewhere } }) };

    const live = view.allocsByJob(job.Namespace, job.ID).filter((a) => !allocTerminal(a) && !usage.isStopped(a.ID));
    this.groupBefore = new Int32Array(readyNodes.length);
    for (const a of live) {
      const i = a.TaskGroup === tg.Name ? ready.indexOf.get(a.NodeID) : undefined;
      if (i !== undefined) this.groupBefore[i] = (this.groupBefore[i] ?? 0) + 1;
    }
    this.spreadCounts = this.spreads.map(() => new Map<string, number>());
    this.spreadValues = this.spreads.map(() => new Set<string>());
    if (this.spreads.length > 0) {
      for (const n of readyNodes) this.spreads.forEach((s, i) => this.spreadValues[i]?.add(resolveTarget(s.Attribute, n) ?? ""));
      for (const a of live) {
        if (a.TaskGroup !== tg.Name) continue;
        const n = view.node(a.NodeID);
        if (n !== undefined) this.countSpread(n, 1);
      }
    }
    this.distinctCounts = this.placement.map(({ c, groupLevel }) => {
      const m = new Map<string, number>();
      if (c.Operand !== "distinct_property") return m;
      for (const a of live) {
        if (groupLevel && a.TaskGroup !== tg.Name) continue;
        const n = view.node(a.NodeID);
        const v = n === undefined ? undefined : resolveTarget(c.LTarget, n);
        if (v !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
      }
      return m;
    });
  }

  /** Picks a node for one allocation, or null (and the metric says why). */
  select(req: PlaceRequest): Selected | null {
    if (this.perAlloc !== null && req.name !== this.allocName) {
      // Each allocation asks for its own volume: a node turned down for the last may take this one.
      this.allocName = req.name;
      this.offersAllocVolumes = this.perAlloc(req.name);
      this.walkAgain();
    }
    if (this.dynamic !== null) {
      const key = `${req.name}\0${(req.sticky ?? []).join(",")}`;
      if (key !== this.stickyKey) {
        // Each allocation may be held to its own volumes: nodes turned down for the last are looked at again.
        const first = this.stickyKey === "";
        this.stickyKey = key;
        this.dynamicFits = this.dynamic(req.name, req.sticky ?? []);
        if (!first) this.walkAgain();
      }
    }
    if (this.failed) {
      this.metric.CoalescedFailures++;
      return null;
    }
    const m = this.beginPlacement();
    this.card.clear();
    let best = -1;
    let bestScore = -Infinity;
    let taken = 0;
    // Nodes scoring below zero are put aside, up to MAX_SKIP, in case better ones follow.
    let skipped: { idx: number; score: number }[] | null = null;
    let visited = 0;
    const ring = this.ring;
    while (taken < this.limit && this.ringLength > 0 && visited < this.ringLength) {
      if (this.cursor >= this.ringLength) this.cursor = 0;
      if (this.cursor >= this.drawn) this.draw();
      const idx = ring[this.cursor] as number;
      this.metric.NodesEvaluated++;
      m.NodesEvaluated++;
      const u = this.usageAt(idx);
      if (this.reject(idx, u) !== null) {
        this.drop(this.cursor);
        continue;
      }
      visited++;
      this.cursor++;
      const score = this.score(idx, u, req);
      this.card.keep(idx, score);
      if (score < 0 && (skipped?.length ?? 0) < MAX_SKIP) {
        (skipped ??= []).push({ idx, score });
        continue;
      }
      taken++;
      if (score > bestScore) {
        best = idx;
        bestScore = score;
      }
    }
    for (const s of skipped ?? []) {
      if (taken >= this.limit) break;
      taken++;
      if (s.score > bestScore) {
        best = s.idx;
        bestScore = s.score;
      }
    }
    this.current = null;
    if (best < 0) {
      this.failed = true;
      return null;
    }
    return this.assign(best, bestScore, this.placementMetric(this.card.meta(this.nodeId)));
  }

  private readonly nodeId = (idx: number): string => (this.nodes[idx] as Node).ID;

  /**
   * Starts counting a placement in `counting`: counts back to zero, and new objects for the
   * counts by reason that the last placement's metric took over.
   */
  private beginPlacement(): AllocMetric {
    const c = this.counting;
    c.NodesEvaluated = 0;
    if (c.NodesFiltered > 0) {
      c.NodesFiltered = 0;
      c.ConstraintFiltered = {};
      c.ClassFiltered = {};
    }
    if (c.NodesExhausted > 0) {
      c.NodesExhausted = 0;
      c.DimensionExhausted = {};
    }
    this.current = c;
    return c;
  }

  /**
   * The metric of the placement just made, which its allocation keeps: what `counting`
   * holds, and the best nodes scored. Allocations are made by the hundred thousand: counts
   * that stayed empty are shared (`NO_COUNTS`), not one object each.
   */
  private placementMetric(scores: NodeScoreMeta[]): AllocMetric {
    const c = this.counting;
    this.current = null;
    return {
      NodesEvaluated: c.NodesEvaluated,
      NodesFiltered: c.NodesFiltered,
      NodesAvailable: this.metric.NodesAvailable,
      ConstraintFiltered: c.NodesFiltered === 0 ? NO_COUNTS : c.ConstraintFiltered,
      NodesExhausted: c.NodesExhausted,
      DimensionExhausted: c.NodesExhausted === 0 ? NO_COUNTS : c.DimensionExhausted,
      ClassFiltered: c.NodesFiltered === 0 ? NO_COUNTS : c.ClassFiltered,
      QuotaExhausted: NO_STRINGS,
      ScoreMetaData: scores,
      CoalescedFailures: 0,
    };
  }

  /**
   * For a system job: whether this very node can take the group. `exhausted` tells a node
   * that should run it but lacks room from one the job's constraints keep it off.
   */
  tryNode(idx: number): { sel: Selected } | { reason: string; exhausted: boolean } {
    this.metric.NodesEvaluated++;
    const m = this.beginPlacement();
    m.NodesEvaluated = 1;
    const reason = this.reject(idx, this.usageAt(idx));
    if (reason !== null) {
      this.current = null;
      return { reason, exhausted: m.NodesExhausted > 0 };
    }
    // One node, nothing to choose between: not scored.
    return { sel: this.assign(idx, 0, this.placementMetric(NO_SCORES)) };
  }

  /**
   * Records an allocation of the job placed on a node by this plan, of this group or another:
   * spreads and group-level rules count this group's, job-level rules every group's.
   */
  placed(node: Node, group: string): void {
    const own = group === this.tg.Name;
    if (own && this.spreads.length > 0) this.countSpread(node, 1);
    this.placement.forEach(({ c, groupLevel }, i) => {
      if (c.Operand !== "distinct_property" || (groupLevel && !own)) return;
      const v = resolveTarget(c.LTarget, node);
      const m = this.distinctCounts[i];
      if (v !== undefined && m !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
    });
  }

  private countSpread(node: Node, by: number): void {
    this.spreads.forEach((s, i) => {
      const v = resolveTarget(s.Attribute, node);
      const m = this.spreadCounts[i];
      if (v !== undefined && m !== undefined) m.set(v, (m.get(v) ?? 0) + by);
    });
  }

  /** Every ready node back in the ring (the static checks' verdicts kept), for a placement that asks for other things. */
  private walkAgain(): void {
    for (let i = 0; i < this.ring.length; i++) this.ring[i] = i;
    this.ringLength = this.ring.length;
    this.drawn = 0;
    this.cursor = 0;
    this.failed = false;
  }

  /** Draws the next position of the ring (one step of Fisher–Yates). */
  private draw(): void {
    const k = this.drawn;
    const j = k + this.rng.int(this.ringLength - k);
    const t = this.ring[k] as number;
    this.ring[k] = this.ring[j] as number;
    this.ring[j] = t;
    this.drawn++;
  }

  /** Removes position `i` for good, keeping the drawn part random. */
  private drop(i: number): void {
    const ring = this.ring;
    const last = this.ringLength - 1;
    if (this.drawn <= last) {
      // Fill the hole with a random undrawn node, and the undrawn one's place with the last.
      const j = this.drawn + this.rng.int(last + 1 - this.drawn);
      ring[i] = ring[j] as number;
      ring[j] = ring[last] as number;
      if (i >= this.drawn) this.drawn = Math.min(this.drawn, i);
    } else {
      ring[i] = ring[last] as number;
      this.drawn = last;
    }
    this.ringLength = last;
  }

  /** Why a node cannot take this group now, counted in the metric; null when it can. */
  private reject(idx: number, u: NodeUsage): string | null {
    const node = this.nodes[idx] as Node;
    if (this.checked[idx] === 0) {
      const s = this.feasibility.check(node, this.classIds[idx] as number);
      if (s !== null) {
        this.filtered(node, s);
        return s;
      }
      this.checked[idx] = 1;
    }
    if (this.perAlloc !== null && !this.offersAllocVolumes(node)) {
      this.filtered(node, FilterReason.MissingHostVolumes);
      return FilterReason.MissingHostVolumes;
    }
    const dyn = this.dynamicFits(node);
    if (dyn !== null) {
      this.filtered(node, dyn);
      return dyn;
    }
    for (let i = 0, n = this.placement.length; i < n; i++) {
      const { c, groupLevel } = this.placement[i] as (typeof this.placement)[number];
      let ok = true;
      switch (c.Operand) {
        case "distinct_hosts":
          ok = c.RTarget === "false" || (groupLevel ? u.groupCount(this.gk) === 0 : u.jobCount(this.jk) === 0);
          break;
        case "distinct_property": {
          const v = resolveTarget(c.LTarget, node);
          const limit = c.RTarget === "" ? 1 : Number(c.RTarget);
          ok = v !== undefined && (this.distinctCounts[i]?.get(v) ?? 0) < limit;
          break;
        }
        case "beside_job":
        case "not_beside_job": {
          const key = `${node.ID}/${c.RTarget}`;
          let beside = this.besideCache.get(key);
          if (beside === undefined) {
            beside = this.view.allocsByNode(node.ID).some((a) => a.JobID === c.RTarget && a.Namespace === this.job.Namespace && !allocTerminal(a) && !this.usage.isStopped(a.ID));
            this.besideCache.set(key, beside);
          }
          ok = c.Operand === "beside_job" ? beside : !beside;
          break;
        }
        default:
          break;
      }
      if (!ok) {
        const reason = constraintReason(c);
        this.filtered(node, reason);
        return reason;
      }
    }
    const r = node.Resources;
    let dim: string | null = null;
    if (u.cpu + this.ask.cpu > r.CPU) dim = ExhaustedDimension.CPU;
    else if (u.memory + this.ask.memory > r.MemoryMB) dim = ExhaustedDimension.Memory;
    else if (r.DiskMB > 0 && u.disk + this.ask.disk > r.DiskMB) dim = ExhaustedDimension.Disk;
    else {
      const reserved = this.ask.reserved;
      for (let i = 0; i < reserved.length; i++) {
        const p = reserved[i] as Ask["reserved"][number];
        if (p.hostNetwork === "" ? u.hasPort(p.value) : this.addressFor(node, u, p.hostNetwork, p.value) === undefined) {
          dim = reservedPortCollision(p.label, p.value);
          break;
        }
      }
      if (dim === null && this.ask.dynamic > 0 && dynamicFree(node, u) < this.ask.dynamic) dim = ExhaustedDimension.DynamicPorts;
      if (dim === null && this.ask.hostDynamic.size > 0) {
        for (const [hostNetwork, wanted] of this.ask.hostDynamic) {
          const [address] = hostNetworkAddresses(node, resolveHostNetwork(hostNetwork, node) ?? "");
          if (address === undefined || dynamicFreeOn(node, u, address) < wanted) dim = ExhaustedDimension.DynamicPorts;
        }
      }
    }
    if (dim !== null) {
      exhaustNode(this.metric, dim);
      if (this.current !== null) exhaustNode(this.current, dim);
      return dim;
    }
    return null;
  }

  /**
   * The address of a host network (named as the job wrote it) where `port` is free on the
   * node, the first in the node's order, as Nomad's `AssignPorts` takes it; undefined when
   * every one of them holds it (or the node lacks the network).
   */
  private addressFor(node: Node, u: NodeUsage, hostNetwork: string, port: number, taken?: ReadonlySet<number>): string | undefined {
    const alias = resolveHostNetwork(hostNetwork, node);
    if (alias === undefined) return undefined;
    const own = node.Resources.IP;
    return hostNetworkAddresses(node, alias).find((a) => !u.hasPort(portKey(a, own, port)) && taken?.has(portKey(a, own, port)) !== true);
  }

  /** Counts a node a filter turned down, in the group's metric and the placement's. */
  private filtered(node: Node, reason: string): void {
    filterNode(this.metric, node, reason);
    if (this.current !== null) filterNode(this.current, node, reason);
  }

  /** The node's usage, valid until the next call. */
  private usageAt(idx: number): NodeUsage {
    const list = this.usage.changedNodes;
    for (; this.seenChanged < list.length; this.seenChanged++) {
      const u = list[this.seenChanged] as NodeUsage;
      const i = this.indexOf.get(u.nodeId);
      if (i !== undefined) this.changed[i] = u;
    }
    const node = this.nodes[idx] as Node;
    return this.changed[idx] ?? this.scratch.reset(node, this.view.nodeUsage(node.ID), this.memo.reservedPorts(node));
  }

  /**
   * The node's score: the mean of what each scorer has to say, each in [-1, 1]. Each part
   * is written to the score card where it is computed; the card keeps the best nodes'
   * parts for the placement's metric.
   */
  private score(idx: number, u: NodeUsage, req: PlaceRequest): number {
    const node = this.nodes[idx] as Node;
    const r = node.Resources;
    const card = this.card;
    card.begin();
    const cpuFree = r.CPU > 0 ? 1 - (u.cpu + this.ask.cpu) / r.CPU : 0;
    const memFree = r.MemoryMB > 0 ? 1 - (u.memory + this.ask.memory) / r.MemoryMB : 0;
    if (this.strategy === PlacementStrategy.Spread) card.add(SLOT.Spread, spreadFitScore(cpuFree, memFree));
    else if (this.strategy === PlacementStrategy.Random) card.add(SLOT.Random, this.rng.next());
    else card.add(SLOT.Binpack, binpackScore(cpuFree, memFree));
    // A node the plan has not changed holds what it held before: no lookup in its usage.
    const collisions = this.changed[idx] === undefined ? (this.groupBefore[idx] as number) : u.groupCount(this.gk);
    if (collisions > 0) card.add(SLOT.JobAntiAffinity, antiAffinityScore(collisions, this.tg.Count) ?? 0);
    if (req.penaltyNodes?.has(node.ID) === true) card.add(SLOT.ReschedulePenalty, -1);
    if (this.affinities.length > 0) {
      const a = affinityScore(node, this.affinities, this.memo.regexp);
      if (a !== null) card.add(SLOT.NodeAffinity, a);
    }
    if (this.spreads.length > 0) {
      const sp = spreadScore(node, this.spreads, this.spreadCounts, this.spreadValues, this.tg.Count);
      if (sp !== null) card.add(SLOT.AllocationSpread, sp);
    }
    return card.final();
  }

  /** The resources the allocation holds on the chosen node, dynamic ports picked. */
  private assign(idx: number, score: number, metric: AllocMetric): Selected {
    const node = this.nodes[idx] as Node;
    const net = this.tg.Networks[0];
    const networks: NetworkResource[] = [];
    if (net !== undefined) {
      const used = this.usageAt(idx);
      const min = node.Resources.MinDynamicPort > 0 ? node.Resources.MinDynamicPort : DEFAULT_MIN_DYNAMIC_PORT;
      const max = node.Resources.MaxDynamicPort > 0 ? node.Resources.MaxDynamicPort : DEFAULT_MAX_DYNAMIC_PORT;
      const own = node.Resources.IP;
      // Ports are taken per address (`portKey`): the group's static ones first, each on the
      // first address of its host network where it is free.
      const taken = new Set<number>();
      const hostIp = (p: Port): string | undefined => (askNetwork(p) === "" ? undefined : this.addressFor(node, used, p.HostNetwork, p.Value, taken));
      const reserved = net.ReservedPorts.map((p): Port => {
        const ip = hostIp(p);
        taken.add(portKey(ip, own, p.Value));
        return { ...p, To: p.To === 0 ? p.Value : p.To, ...(ip === undefined ? {} : { HostIP: ip }) };
      });
      const pick = (ip: string | undefined): number => {
        const free = (p: number): boolean => !used.hasPort(portKey(ip, own, p)) && !taken.has(portKey(ip, own, p));
        for (let tries = 0; tries < 20; tries++) {
          const p = min + this.rng.int(max - min + 1);
          if (free(p)) return p;
        }
        for (let p = min; p <= max; p++) if (free(p)) return p;
        return 0;
      };
      networks.push({
        Mode: net.Mode,
        MBits: net.MBits,
        IP: own,
        ReservedPorts: reserved,
        DynamicPorts: net.DynamicPorts.map((p) => {
          const ip = askNetwork(p) === "" ? undefined : hostNetworkAddresses(node, resolveHostNetwork(p.HostNetwork, node) ?? "")[0];
          const value = pick(ip);
          taken.add(portKey(ip, own, value));
          return { ...p, Value: value, To: p.To === 0 ? value : p.To, ...(ip === undefined ? {} : { HostIP: ip }) };
        }),
      });
    }
    return { node, score, metric, resources: { CPU: this.ask.cpu, MemoryMB: this.ask.memory, DiskMB: this.ask.disk, Networks: networks }, taskResources: this.taskResources };
  }
}

function dynamicFree(node: Node, used: NodeUsage): number {
  const min = node.Resources.MinDynamicPort > 0 ? node.Resources.MinDynamicPort : DEFAULT_MIN_DYNAMIC_PORT;
  const max = node.Resources.MaxDynamicPort > 0 ? node.Resources.MaxDynamicPort : DEFAULT_MAX_DYNAMIC_PORT;
  return max - min + 1 - used.portsInRange(min, max);
}

/** Free dynamic ports on one address of the node other than its own. */
function dynamicFreeOn(node: Node, used: NodeUsage, address: string): number {
  const min = node.Resources.MinDynamicPort > 0 ? node.Resources.MinDynamicPort : DEFAULT_MIN_DYNAMIC_PORT;
  const max = node.Resources.MaxDynamicPort > 0 ? node.Resources.MaxDynamicPort : DEFAULT_MAX_DYNAMIC_PORT;
  if (address === node.Resources.IP) return dynamicFree(node, used);
  return max - min + 1 - used.portsInRangeOn(addressKey(address), min, max);
}

/** Every allocation placed as part of a plan holds this shape; the server fills indexes and times. */
export function newAllocation(
  id: string,
  evalId: string,
  job: Job,
  tg: TaskGroup,
  name: string,
  sel: Selected,
  extra: Pick<Partial<Allocation>, "DeploymentID" | "DeploymentStatus" | "PreviousAllocation" | "RescheduleTracker"> = {},
): Allocation {
  // One literal, no spread: allocations are made by the hundred thousand and must stay fast objects.
  return {
    ID: id,
    Namespace: job.Namespace,
    EvalID: evalId,
    Name: name,
    NodeID: sel.node.ID,
    NodeName: sel.node.Name,
    JobID: job.ID,
    Job: job,
    TaskGroup: tg.Name,
    Resources: sel.resources,
    TaskResources: sel.taskResources,
    DesiredStatus: "run",
    DesiredDescription: "",
    DesiredTransition: { Migrate: false, Reschedule: false, ForceReschedule: false },
    ClientStatus: "pending",
    ClientDescription: "",
    TaskStates: {},
    DeploymentID: extra.DeploymentID ?? "",
    DeploymentStatus: extra.DeploymentStatus ?? null,
    PreviousAllocation: extra.PreviousAllocation ?? "",
    NextAllocation: "",
    RescheduleTracker: extra.RescheduleTracker ?? null,
    FollowupEvalID: "",
    Metrics: sel.metric,
    CreateIndex: 0,
    ModifyIndex: 0,
    AllocModifyIndex: 0,
    CreateTime: 0,
    ModifyTime: 0,
  };
}
