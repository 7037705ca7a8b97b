import { AllocKeys, EMPTY_USAGE, holdsResources, SchedulerAlgorithm, UsageTally, type Allocation, type Deployment, type HostVolume, type Job, type SchedulerConfiguration, type Node, type UsageSnapshot } from "../structs/index.js";

/**
 * What the scheduler may read of the cluster: a consistent, read-only snapshot. The
 * server hands one over from its state store; tests and benchmarks build a `MemoryView`.
 */
export interface StateView {
  /** Every node. The same array is returned for as long as no node changes (the scheduler caches on it). */
  nodes(): readonly Node[];
  node(id: string): Node | undefined;
  /** Every allocation on a node, terminal ones included. */
  allocsByNode(nodeId: string): readonly Allocation[];
  /** Every allocation of a job, terminal ones included. */
  allocsByJob(namespace: string, jobId: string): readonly Allocation[];
  /** The job's most recent deployment, whatever its status. */
  latestDeployment(namespace: string, jobId: string): Deployment | null;
  job(namespace: string, jobId: string): Job | null;
  /** What the node's allocations that still hold resources add up to, kept as a running total. */
  nodeUsage(nodeId: string): UsageSnapshot;
  /** A dynamic host volume by namespace and ID (`volume create`); absent: the view has none. */
  hostVolume?(namespace: string, id: string): HostVolume | undefined;
  /** The cluster's scheduler configuration (its algorithm, memory oversubscription); absent: Nomad's defaults. */
  schedulerConfig?(): Pick<SchedulerConfiguration, "SchedulerAlgorithm" | "MemoryOversubscriptionEnabled">;
}

/** A StateView over plain arrays, indexed once. */
export class MemoryView implements StateView {
  private readonly nodeList: Node[];
  private readonly nodeById = new Map<string, Node>();
  private readonly byNode = new Map<string, Allocation[]>();
  private readonly byJob = new Map<string, Allocation[]>();
  private readonly jobs = new Map<string, Job>();
  private readonly deployments = new Map<string, Deployment>();
  private readonly usage = new Map<string, UsageTally>();
  private readonly keys = new AllocKeys();
  private readonly volumes = new Map<string, HostVolume>();

  private readonly config: Pick<SchedulerConfiguration, "SchedulerAlgorithm" | "MemoryOversubscriptionEnabled">;

  constructor(init: { nodes?: Node[]; allocs?: Allocation[]; jobs?: Job[]; deployments?: Deployment[]; hostVolumes?: HostVolume[]; schedulerConfig?: Pick<SchedulerConfiguration, "SchedulerAlgorithm" | "MemoryOversubscriptionEnabled"> } = {}) {
    this.config = init.schedulerConfig ?? { SchedulerAlgorithm: SchedulerAlgorithm.Binpack, MemoryOversubscriptionEnabled: false };
    for (const v of init.hostVolumes ?? []) this.volumes.set(`${v.Namespace}/${v.ID}`, v);
    this.nodeList = [...(init.nodes ?? [])];
    for (const n of this.nodeList) this.nodeById.set(n.ID, n);
    for (const a of init.allocs ?? []) this.addAlloc(a);
    for (const j of init.jobs ?? []) this.jobs.set(`${j.Namespace}/${j.ID}`, j);
    for (const d of init.deployments ?? []) this.setDeployment(d);
  }

  addAlloc(a: Allocation): void {
    push(this.byNode, a.NodeID, a);
    push(this.byJob, `${a.Namespace}/${a.JobID}`, a);
    if (holdsResources(a)) {
      let t = this.usage.get(a.NodeID);
      if (t === undefined) {
        t = new UsageTally(this.keys);
        this.usage.set(a.NodeID, t);
      }
      t.add(a);
    }
  }

  setDeployment(d: Deployment): void {
    const key = `${d.Namespace}/${d.JobID}`;
    const prev = this.deployments.get(key);
    if (prev === undefined || prev.CreateIndex <= d.CreateIndex) this.deployments.set(key, d);
  }

  nodes(): readonly Node[] {
    return this.nodeList;
  }
  node(id: string): Node | undefined {
    return this.nodeById.get(id);
  }
  allocsByNode(nodeId: string): readonly Allocation[] {
    return this.byNode.get(nodeId) ?? [];
  }
  allocsByJob(namespace: string, jobId: string): readonly Allocation[] {
    return this.byJob.get(`${namespace}/${jobId}`) ?? [];
  }
  latestDeployment(namespace: string, jobId: string): Deployment | null {
    return this.deployments.get(`${namespace}/${jobId}`) ?? null;
  }
  job(namespace: string, jobId: string): Job | null {
    return this.jobs.get(`${namespace}/${jobId}`) ?? null;
  }
  nodeUsage(nodeId: string): UsageSnapshot {
    return this.usage.get(nodeId) ?? EMPTY_USAGE;
  }
  hostVolume(namespace: string, id: string): HostVolume | undefined {
    return this.volumes.get(`${namespace}/${id}`);
  }
  schedulerConfig(): Pick<SchedulerConfiguration, "SchedulerAlgorithm" | "MemoryOversubscriptionEnabled"> {
    return this.config;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l === undefined) m.set(k, [v]);
  else l.push(v);
}
