import type { Evaluation, Job, Node } from "../structs/index.js";
import type { StateStore } from "../state/index.js";
import { PlanApplier } from "./applier.js";
import { stopAllocation } from "./alloc-stop.js";
import { EvalBroker } from "./broker.js";
import { DeploymentWatcher } from "./deployments.js";
import { dispatchJob, type DispatchResult } from "./dispatch.js";
import { collectGarbage, DEFAULT_GC, type GcThresholds } from "./gc.js";
import { deleteNamespace, upsertNamespace } from "./namespaces.js";
import { setSchedulerConfig } from "./scheduler-config.js";
import { createHostVolume, deleteHostVolume, HOST_VOLUME_WAIT_MS, HostVolumeFailures, registerHostVolume, reportHostVolumes } from "./host-volumes.js";
import { planJob, registerJob, revertJob, scaleJob, stopJob, type PlanResult, type RegisterOptions, type RegisterResult } from "./jobs.js";
import { ErrorCode, RucheError, silentLogger, type AllocUpdate, type Coordinate, type CoordinateSample, type DispatchRequest, type HostVolume, type HostVolumeReport, type Logger, type Namespace, type SchedulerConfiguration } from "../structs/index.js";
import { NodeCoordinates } from "./coordinates.js";
import { NodeLifecycle, type HeartbeatOptions } from "./nodes.js";
import { PeriodicDispatcher } from "./periodic.js";
import { Worker } from "./worker.js";

export interface ServerOptions {
  /** Scheduler workers; default: 2. */
  workers?: number;
  heartbeat?: Partial<HeartbeatOptions>;
  gc?: Partial<GcThresholds> & { intervalMs?: number };
  now?: () => number;
  log?: Logger;
  /** How often the nodes' coordinates sent with heartbeats are written (ms); Consul's 5 s by default. */
  coordinateUpdatePeriodMs?: number;
  /** How long `volume create|register|delete` waits for the node's agent (ms); 30 s by default. */
  hostVolumeWaitMs?: number;
}

/**
 * The control plane on one server: it turns submitted jobs into allocations through the one
 * data path (state → broker → worker → scheduler → plan applier → state) and keeps them
 * there (deployment watcher, node lifecycle, drains). Every part reads and writes the state
 * store; none calls another behind its back.
 */
export class Server {
  readonly broker: EvalBroker;
  readonly deployments: DeploymentWatcher;
  readonly nodes: NodeLifecycle;
  /** The nodes' network coordinates (Consul's), from their heartbeats. */
  readonly coordinates: NodeCoordinates;
  /** The leader's periodic dispatcher: launches periodic jobs' children on schedule. */
  readonly periodic: PeriodicDispatcher;
  private readonly applier: PlanApplier;
  private readonly workers: Worker[];
  private abort = new AbortController();
  private started = false;
  private running: Promise<void>[] = [];
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly gcThresholds: GcThresholds;
  private readonly gcInterval: number;
  private gcTimer: NodeJS.Timeout | undefined;
  private readonly volumeWait: { failures: HostVolumeFailures; waitMs: number };
  private unsubscribe: (() => void) | undefined;

  constructor(
    readonly store: StateStore,
    opts: ServerOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLogger;
    this.volumeWait = { failures: new HostVolumeFailures(), waitMs: opts.hostVolumeWaitMs ?? HOST_VOLUME_WAIT_MS };
    this.broker = new EvalBroker({ now: this.now });
    this.broker.onFailed = (ev) => {
      this.markEval(ev, "failed", `evaluation failed ${this.broker.deliveryLimit} times`);
    };
    this.applier = new PlanApplier(store, this.now);
    this.deployments = new DeploymentWatcher(store, this.now, this.log);
    this.nodes = new NodeLifecycle(store, this.now, this.log, () => {
      this.unblock();
    }, opts.heartbeat);
    this.periodic = new PeriodicDispatcher(store, this.now, this.log);
    this.coordinates = new NodeCoordinates(store, this.log, opts.coordinateUpdatePeriodMs);
    this.gcThresholds = { ...DEFAULT_GC, ...opts.gc };
    this.gcInterval = opts.gc?.intervalMs ?? 5 * 60_000;
    this.workers = Array.from({ length: opts.workers ?? 2 }, () => new Worker(store, this.broker, this.applier, this.now, this.log));
  }

  /**
   * Starts the leader's duties. Evaluations reach the broker by one path, the store's change
   * feed: every evaluation written pending, whoever wrote it (a job's registration, a
   * worker's follow-up for a delayed reschedule, an unblocked evaluation, a node's or a
   * deployment's change, a drain), is enqueued once committed; one waiting for its
   * `WaitUntil` waits in the broker. Those left pending by a previous run are taken up again.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    // A server that leads again starts from the state alone: a fresh queue, fresh workers.
    this.broker.reopen();
    this.abort = new AbortController();
    this.unsubscribe = this.store.subscribe((e) => {
      for (const c of e.changes) if (c.table === "evals" && c.op === "put" && c.value.Status === "pending") this.broker.enqueue(c.value);
    });
    this.running = this.workers.map((w) => w.run(this.abort.signal));
    this.deployments.start();
    this.nodes.start();
    this.periodic.start();
    for (const ev of this.store.evals()) if (ev.Status === "pending") this.broker.enqueue(ev);
    this.gcTimer = setInterval(() => {
      this.gc().catch((err: unknown) => {
        this.log.warn({ err }, "garbage collection failed");
      });
    }, this.gcInterval);
    this.gcTimer.unref();
  }

  /** Removes old terminal evaluations, allocations and deployments now, and the child jobs they leave empty. */
  gc(thresholds: Partial<GcThresholds> = {}): Promise<{ evals: number; allocs: number; deployments: number; jobs: number }> {
    return collectGarbage(this.store, this.now(), { ...this.gcThresholds, ...thresholds });
  }

  /** Stops the leader's duties; `start` takes them up again (a server that leads anew). */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.unsubscribe?.();
    this.abort.abort();
    if (this.gcTimer !== undefined) clearInterval(this.gcTimer);
    this.broker.close();
    this.deployments.stop();
    this.nodes.stop();
    await Promise.allSettled([...this.running, this.periodic.stop()]);
  }

  /** Capacity changed (a node came, work finished): blocked evaluations get another chance. */
  private unblock(): void {
    const blocked = this.store.evals().filter((e) => e.Status === "blocked");
    if (blocked.length === 0) return;
    // The newest blocked evaluation of a job speaks for it.
    const latest = new Map<string, Evaluation>();
    for (const e of blocked) {
      const k = `${e.Namespace}/${e.JobID}`;
      const prev = latest.get(k);
      if (prev === undefined || prev.CreateIndex < e.CreateIndex) latest.set(k, e);
    }
    this.store
      .write((tx) => {
        for (const e of blocked) {
          const keep = latest.get(`${e.Namespace}/${e.JobID}`) === e;
          tx.put("evals", { ...e, Status: keep ? "pending" : "canceled", StatusDescription: keep ? "unblocked: capacity changed" : "superseded by a newer blocked evaluation", ModifyTime: this.now() });
        }
      })
      .catch((err: unknown) => {
        this.log.warn({ err }, "could not unblock evaluations");
      });
  }

  private markEval(ev: Evaluation, status: Evaluation["Status"], description: string): void {
    this.store
      .write((tx) => {
        const cur = tx.get("evals", ev.ID);
        if (cur !== undefined) tx.put("evals", { ...cur, Status: status, StatusDescription: description, ModifyTime: this.now() });
      })
      .catch((err: unknown) => {
        this.log.warn({ err }, "could not record an evaluation's status");
      });
  }

  // Jobs

  async registerJob(job: Job, opts: Omit<RegisterOptions, "now"> = {}): Promise<RegisterResult> {
    const r = await registerJob(this.store, job, { ...opts, now: this.now() });
    return r;
  }

  planJob(job: Job): PlanResult {
    return planJob(this.store, job, this.now());
  }

  /** Dispatches a parameterized job: a child job with the request's meta and payload, and its evaluation. */
  dispatchJob(ns: string, id: string, req: DispatchRequest): Promise<DispatchResult> {
    return dispatchJob(this.store, ns, id, req, this.now());
  }

  async stopJob(ns: string, id: string, purge = false): Promise<RegisterResult> {
    const r = await stopJob(this.store, ns, id, purge, this.now());
    return r;
  }

  /** `alloc stop`: the allocation is migrated away (stopped and replaced), by an `alloc-stop` evaluation. */
  stopAlloc(allocId: string): Promise<{ EvalID: string; Index: number }> {
    return stopAllocation(this.store, allocId, this.now());
  }

  async revertJob(ns: string, id: string, version: number, enforcePriorVersion?: number): Promise<RegisterResult> {
    const r = await revertJob(this.store, ns, id, version, this.now(), enforcePriorVersion);
    return r;
  }

  /** `job periodic force`: launches a child of a periodic job now (refused on a server that does not lead: its dispatcher is stopped). */
  async forcePeriodic(ns: string, id: string): Promise<RegisterResult> {
    if (!this.started) throw new RucheError(ErrorCode.NoLeader, "this server does not lead: its periodic dispatcher is stopped");
    const r = await this.periodic.force(ns, id);
    return r;
  }

  /** The next launch (ms) of a periodic job this leader tracks, or null. */
  nextPeriodicLaunch(ns: string, id: string): number | null {
    return this.periodic.nextLaunch(ns, id);
  }

  async scaleJob(ns: string, id: string, group: string, count: number): Promise<RegisterResult> {
    const r = await scaleJob(this.store, ns, id, group, count, this.now());
    return r;
  }

  // Namespaces

  /** Creates or updates a namespace (Nomad's `namespace apply`). */
  upsertNamespace(ns: Namespace): Promise<{ Index: number }> {
    return upsertNamespace(this.store, ns);
  }

  /** Deletes a namespace: never "default", nor one a job that is not dead is in. */
  deleteNamespace(name: string): Promise<{ Index: number }> {
    return deleteNamespace(this.store, name);
  }

  // The scheduler configuration

  /** The cluster's scheduler configuration (`operator scheduler get-config`): the defaults until one is set. */
  schedulerConfig(): SchedulerConfiguration {
    return this.store.schedulerConfig();
  }

  /** Sets it (`operator scheduler set-config`); with `cas`, only over the configuration of that ModifyIndex. */
  setSchedulerConfig(cfg: SchedulerConfiguration, cas?: number): Promise<{ Updated: boolean; Index: number }> {
    return setSchedulerConfig(this.store, cfg, cas);
  }

  // Dynamic host volumes

  /** `volume create` of a host volume: placed, written pending, answered once the node's agent made it (or after the wait, still pending). */
  createHostVolume(vol: HostVolume): Promise<{ volume: HostVolume; index: number }> {
    return createHostVolume(this.store, vol, this.volumeWait, this.now());
  }

  /** `volume register` of a host volume already on its node, answered once the node's agent checked it. */
  registerHostVolume(vol: HostVolume): Promise<{ volume: HostVolume; index: number }> {
    return registerHostVolume(this.store, vol, this.volumeWait, this.now());
  }

  /** `volume delete -type host`: not while claimed; answered once the node's agent removed it. */
  deleteHostVolume(ns: string, id: string): Promise<{ index: number }> {
    return deleteHostVolume(this.store, ns, id, this.volumeWait);
  }

  /** What a node's agent (authenticated by its secret) reports of its volumes; a volume made ready lets blocked evaluations place. */
  async reportHostVolumes(nodeId: string, secret: string, reports: readonly HostVolumeReport[]): Promise<{ Index: number }> {
    this.nodes.authenticate(nodeId, secret);
    const r = await reportHostVolumes(this.store, nodeId, reports, this.volumeWait.failures);
    if (r.ready) this.unblock();
    return { Index: r.index };
  }

  // Nodes (the endpoints a client agent uses)

  registerNode(node: Node): Promise<{ HeartbeatTTL: number; Index: number }> {
    return this.nodes.register(node);
  }

  /**
   * A node's heartbeat; with its coordinate (and its last heartbeat's round trip), kept and
   * this server's moved against it. The answer carries this server's coordinate, for the
   * node to move its own against with the round trip it measures.
   */
  async heartbeat(nodeId: string, secret: string, sample?: CoordinateSample): Promise<{ HeartbeatTTL: number; Coord: Coordinate }> {
    const res = await this.nodes.heartbeat(nodeId, secret);
    const name = sample === undefined ? undefined : this.store.node(nodeId)?.Name;
    if (sample !== undefined && name !== undefined) {
      const problem = this.coordinates.sample(name, sample);
      if (problem !== null) this.log.warn({ nodeId, problem }, "a node's heartbeat carried a coordinate that was not kept");
    }
    return { ...res, Coord: this.coordinates.own() };
  }

  updateAllocs(nodeId: string, secret: string, updates: AllocUpdate[]): Promise<{ Index: number }> {
    return this.nodes.updateAllocs(nodeId, secret, updates);
  }
}
