import { BLOCKED_FOR_PEER, deploymentActive, ErrorCode, isMultiregion, NS, RucheError, type Allocation, type Deployment, type Evaluation, type Job } from "../structs/index.js";
import { jobRowKey as jobKey, versionRowKey as versionKey, type StateStore, type Txn } from "../state/index.js";
import { newEval } from "./evals.js";
import { registerJob } from "./jobs.js";
import type { Logger } from "../structs/index.js";
import { multiregionStep, peerStateOf, type MultiregionMove, type MultiregionPeers, type PeerState } from "./multiregion.js";

/** How long what the other regions show of a multiregion rollout is taken as current. */
const PEER_FRESH_MS = 1_000;

/**
 * The deployment watcher: follows the health the clients report for a deployment's
 * allocations. A new healthy allocation lets the rollout go on (a new evaluation); an
 * unhealthy one fails the deployment, and with auto_revert the last stable version is
 * registered again; healthy canaries are promoted when auto_promote says so; the progress
 * deadline fails a deployment that stopped moving; a deployment whose groups are all
 * healthy and promoted is successful, and its job version becomes stable.
 */
export class DeploymentWatcher {
  private pending = new Set<string>();
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** How the other regions' deployments are read (multiregion jobs); none: this server federates with no region. */
  private peers: MultiregionPeers | undefined;
  private readonly peerCache = new Map<string, { at: number; state: Promise<PeerState> }>();

  constructor(
    private readonly store: StateStore,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.unsubscribe = this.store.subscribe((e) => {
      for (const c of e.changes) {
        if (c.table === "deployments") this.touch(c.key);
        else if (c.table === "allocs" && c.value !== null && c.value.DeploymentID !== "") this.touch(c.value.DeploymentID);
      }
    });
    for (const d of this.store.deployments()) if (deploymentActive(d)) this.touch(d.ID);
    this.timer = setInterval(() => {
      for (const d of this.store.deployments()) if (deploymentActive(d)) this.touch(d.ID);
    }, 1000);
    this.timer.unref();
  }

  /** Gives the watcher its way to the other regions' deployments (once the federation exists). */
  setPeers(peers: MultiregionPeers): void {
    this.peers = peers;
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private touch(id: string): void {
    this.pending.add(id);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const ids = [...this.pending];
      this.pending.clear();
      for (const id of ids) {
        this.check(id).catch((err: unknown) => {
          this.log.warn({ deploymentId: id, err }, "deployment check failed");
        });
      }
    });
  }

  private async check(id: string): Promise<void> {
    const d = this.store.deployment(id);
    if (d === undefined) return;
    const job = this.store.job(d.Namespace, d.JobID);
    const multi = isMultiregion(job) && job.Version === d.JobVersion ? job : undefined;
    // A multiregion deployment waiting for its turn, or done and waiting for the other regions.
    if (multi !== undefined && (d.Status === "pending" || d.Status === "blocked")) {
      await this.moveMultiregion(d, await this.multiregionMove(d, multi, d.Status === "blocked"));
      return;
    }
    // Paused (`deployment pause`): its health is still counted, but nothing moves it on — no
    // deadline, no promotion, no evaluation — until it is resumed.
    if (!deploymentActive(d) || d.Status === "paused") {
      await this.recount(d.ID);
      return;
    }
    const now = this.now();
    const allocs = this.store.allocsByJob(d.Namespace, d.JobID).filter((a) => a.DeploymentID === d.ID);
    let changed = false;
    let progressed = false;
    let unhealthy = false;
    let autoPromote = true;
    let canariesWaiting = false;
    let complete = true;
    let deadlinePassed = false;
    const groups: Deployment["TaskGroups"] = {};
    for (const [name, s] of Object.entries(d.TaskGroups)) {
      const mine = allocs.filter((a) => a.TaskGroup === name);
      const healthy = mine.filter((a) => a.DeploymentStatus?.Healthy === true).length;
      const bad = mine.filter((a) => a.DeploymentStatus?.Healthy === false).length;
      const grew = healthy > s.HealthyAllocs;
      if (grew) progressed = true;
      if (bad > 0) unhealthy = true;
      const next = { ...s, HealthyAllocs: healthy, UnhealthyAllocs: bad };
      if (grew && s.ProgressDeadline > 0) next.RequireProgressBy = now + s.ProgressDeadline / NS.millisecond;
      if (healthy !== s.HealthyAllocs || bad !== s.UnhealthyAllocs) changed = true;
      if (s.RequireProgressBy > 0 && now > s.RequireProgressBy && healthy < s.DesiredTotal) deadlinePassed = true;
      const canaryIds = new Set(s.PlacedCanaries);
      const healthyCanaries = mine.filter((a) => canaryIds.has(a.ID) && a.DeploymentStatus?.Healthy === true).length;
      if (s.DesiredCanaries > 0 && !s.Promoted) {
        canariesWaiting = true;
        complete = false;
        if (!s.AutoPromote || healthyCanaries < s.DesiredCanaries) autoPromote = false;
      } else if (healthy < s.DesiredTotal) complete = false;
      groups[name] = next;
    }
    if (unhealthy || deadlinePassed) {
      await this.failDeployment(d, unhealthy ? "Failed due to unhealthy allocations" : "Failed due to progress deadline");
      return;
    }
    if (multi !== undefined) {
      // Another region's failure may fail this one (`on_failure`); done, it waits for the others.
      const move = await this.multiregionMove(d, multi, complete && !canariesWaiting);
      if (move.kind === "fail" || move.kind === "block") {
        await this.moveMultiregion({ ...d, TaskGroups: groups }, move);
        return;
      }
    }
    if (canariesWaiting && autoPromote) {
      await this.promote(d.ID, null, "Deployment promoted automatically: its canaries are healthy");
      return;
    }
    const description = canariesWaiting ? "Deployment is running but requires manual promotion" : "Deployment is running";
    if (description !== d.StatusDescription) changed = true;
    if (complete) {
      await this.succeed(d.ID, ["running"], groups);
      return;
    }
    if (changed) {
      await this.store.write((tx) => {
        const cur = tx.get("deployments", d.ID);
        if (cur === undefined || !deploymentActive(cur) || cur.Status === "paused") return;
        tx.put("deployments", { ...cur, TaskGroups: groups, StatusDescription: description });
      });
    }
    if (progressed) this.evaluate(d, "deployment-watcher");
  }

  /** The next move of a multiregion deployment, from what the other regions show of the same job version. */
  private async multiregionMove(d: Deployment, job: Job & { Multiregion: NonNullable<Job["Multiregion"]> }, complete: boolean): Promise<MultiregionMove> {
    const others = job.Multiregion.Regions.map((r) => r.Name).filter((r) => r !== job.Region);
    const states = await Promise.all(others.map((r) => this.peerState(r, d)));
    const peers = new Map(others.map((r, i) => [r, states[i] ?? "unreachable"] as const));
    return multiregionStep({ job, own: job.Region, status: d.Status, complete, peers });
  }

  /** What region `region` shows of its deployment of `d`'s job version; read at most once a second. */
  private peerState(region: string, d: Deployment): Promise<PeerState> {
    const key = `${region}\u0000${d.Namespace}\u0000${d.JobID}\u0000${d.JobVersion}`;
    const now = this.now();
    const hit = this.peerCache.get(key);
    if (hit !== undefined && now - hit.at < PEER_FRESH_MS) return hit.state;
    const peers = this.peers;
    const state: Promise<PeerState> =
      peers === undefined
        ? Promise.resolve("unreachable")
        : peers(region, d.Namespace, d.JobID).then(
            (view) => peerStateOf(view, d.JobVersion),
            (err: unknown) => {
              this.log.debug({ region, jobId: d.JobID, err }, "a region's deployments could not be read");
              return "unreachable" as const;
            },
          );
    this.peerCache.set(key, { at: now, state });
    if (this.peerCache.size > 1000) for (const [k, v] of this.peerCache) if (now - v.at >= PEER_FRESH_MS) this.peerCache.delete(k);
    return state;
  }

  /** Carries out a multiregion deployment's move: runs it (its deadlines counted from now), blocks it, ends it successful, or fails it. */
  private async moveMultiregion(d: Deployment, move: MultiregionMove): Promise<void> {
    switch (move.kind) {
      case "wait":
        return;
      case "fail":
        // A deployment failed before it ran has nothing to revert.
        await this.failDeployment(d, move.description, d.Status !== "pending");
        return;
      case "run": {
        const now = this.now();
        const ran = await this.store.write((tx) => {
          const cur = tx.get("deployments", d.ID);
          if (cur?.Status !== "pending") return false;
          const groups: Deployment["TaskGroups"] = {};
          for (const [name, st] of Object.entries(cur.TaskGroups)) groups[name] = st.ProgressDeadline > 0 ? { ...st, RequireProgressBy: now + st.ProgressDeadline / NS.millisecond } : st;
          tx.put("deployments", { ...cur, TaskGroups: groups, Status: "running", StatusDescription: "Deployment is running" });
          return true;
        });
        if (ran.result) {
          this.log.info({ deploymentId: d.ID, jobId: d.JobID }, "multiregion deployment runs: its region's turn");
          this.evaluate(d, "deployment-watcher");
        }
        return;
      }
      case "block":
        if (d.Status === "blocked") return;
        await this.store.write((tx) => {
          const cur = tx.get("deployments", d.ID);
          if (cur === undefined || cur.Status !== "running") return;
          tx.put("deployments", { ...cur, TaskGroups: d.TaskGroups, Status: "blocked", StatusDescription: BLOCKED_FOR_PEER });
        });
        this.log.info({ deploymentId: d.ID, jobId: d.JobID }, "multiregion deployment blocked: done here, waiting for the other regions");
        return;
      case "succeed":
        await this.succeed(d.ID, ["blocked"]);
        return;
    }
  }

  /** Ends a deployment successful and marks its job version stable, when its status is one of `from`. */
  private async succeed(id: string, from: readonly Deployment["Status"][], groups?: Deployment["TaskGroups"]): Promise<boolean> {
    const r = await this.store.write((tx) => {
      const cur = tx.get("deployments", id);
      if (cur === undefined || !from.includes(cur.Status)) return null;
      tx.put("deployments", { ...cur, TaskGroups: groups ?? cur.TaskGroups, Status: "successful", StatusDescription: "Deployment completed successfully" });
      markStable(tx, cur);
      return cur;
    });
    if (r.result !== null) this.log.info({ deploymentId: id, jobId: r.result.JobID }, "deployment successful");
    return r.result !== null;
  }

  /**
   * Nomad's `deployment unblock`: a blocked multiregion deployment (done here, waiting for
   * regions that will not answer or have failed) is ended successful.
   */
  async unblock(id: string): Promise<void> {
    const d = this.store.deployment(id);
    if (d === undefined) throw new RucheError(ErrorCode.NotFound, `deployment "${id}" not found`);
    if (d.Status !== "blocked") throw new RucheError(ErrorCode.BadRequest, `deployment "${id}" is ${d.Status}; only a blocked multiregion deployment can be unblocked`);
    if (!(await this.succeed(id, ["blocked"]))) throw new RucheError(ErrorCode.IndexConflict, `deployment "${id}" changed meanwhile; look at it again`);
  }

  private evaluate(d: Deployment, trigger: Evaluation["TriggeredBy"]): void {
    const job = this.store.job(d.Namespace, d.JobID);
    if (job === null) return;
    const ev = newEval(job, trigger, this.now(), { DeploymentID: d.ID });
    this.store
      .write((tx) => {
        tx.put("evals", ev);
      })
      .catch((err: unknown) => {
        this.log.warn({ err }, "could not create an evaluation for a deployment");
      });
  }

  /** Promotes canaries (all groups, or the ones named); the rollout then goes on. */
  async promote(id: string, groups: string[] | null, description = "Deployment is running"): Promise<Evaluation> {
    const job = await this.store.write((tx) => {
      const d = tx.get("deployments", id);
      if (d === undefined) throw new RucheError(ErrorCode.NotFound, `deployment "${id}" not found`);
      if (!deploymentActive(d)) throw new RucheError(ErrorCode.BadRequest, `deployment "${id}" is ${d.Status}; only a running deployment can be promoted`);
      const tgs = { ...d.TaskGroups };
      let any = false;
      for (const [name, s] of Object.entries(tgs)) {
        if (groups !== null && !groups.includes(name)) continue;
        if (s.DesiredCanaries === 0) continue;
        const canaries = this.store.allocsByJob(d.Namespace, d.JobID).filter((a) => s.PlacedCanaries.includes(a.ID));
        const healthy = canaries.filter((a) => a.DeploymentStatus?.Healthy === true).length;
        if (healthy < s.DesiredCanaries) {
          throw new RucheError(ErrorCode.BadRequest, `group "${name}" has ${healthy} healthy canaries of ${s.DesiredCanaries}; wait for them to be healthy before promoting`);
        }
        tgs[name] = { ...s, Promoted: true };
        any = true;
      }
      if (!any) throw new RucheError(ErrorCode.BadRequest, `deployment "${id}" has no canaries to promote`);
      tx.put("deployments", { ...d, TaskGroups: tgs, StatusDescription: description });
      // Promoted canaries are the new version's allocations like any other from now on.
      for (const [name, s] of Object.entries(tgs)) {
        if (!s.Promoted || d.TaskGroups[name]?.Promoted === true) continue;
        for (const cid of s.PlacedCanaries) {
          const a = tx.get("allocs", cid);
          if (a?.DeploymentStatus !== undefined && a.DeploymentStatus !== null) tx.put("allocs", { ...a, DeploymentStatus: { ...a.DeploymentStatus, Canary: false } });
        }
      }
      const job = tx.get("jobs", jobKey(d.Namespace, d.JobID));
      if (job === undefined) throw new RucheError(ErrorCode.JobNotFound, `job "${d.JobID}" not found`);
      const ev = newEval(job, "deployment-watcher", this.now(), { DeploymentID: id });
      tx.put("evals", ev);
      return ev;
    });
    return job.result;
  }

  /** Fails a deployment; with auto_revert, the job's last stable version is registered again. */
  async failDeployment(d: Deployment, description: string, mayRevert = true): Promise<Evaluation | null> {
    const revert = mayRevert && Object.values(d.TaskGroups).some((s) => s.AutoRevert);
    const stable = revert ? this.store.jobVersions(d.Namespace, d.JobID).find((j) => j.Stable && j.Version < d.JobVersion) : undefined;
    await this.store.write((tx) => {
      const cur = tx.get("deployments", d.ID);
      if (cur === undefined || !deploymentActive(cur)) return;
      tx.put("deployments", {
        ...cur,
        // The counts as they are when it fails (the health that failed it among them).
        TaskGroups: withHealth(cur, this.store.allocsByJob(cur.Namespace, cur.JobID)),
        Status: "failed",
        StatusDescription: stable === undefined ? description : `${description} - rolling back to job version ${stable.Version}`,
      });
    });
    this.log.info({ deploymentId: d.ID, jobId: d.JobID, description }, "deployment failed");
    if (stable !== undefined) {
      const r = await registerJob(this.store, { ...stable, Stop: false }, { now: this.now() });
      return r.eval;
    }
    const job = this.store.job(d.Namespace, d.JobID);
    if (job === null) return null;
    const ev = newEval(job, "deployment-watcher", this.now(), { DeploymentID: d.ID });
    await this.store.write((tx) => {
      tx.put("evals", ev);
    });
    return ev;
  }

  /**
   * A deployment that is over still counts its allocations' health as the clients report it
   * (Nomad's state store does so whatever the deployment's status), until none is left.
   */
  private async recount(id: string): Promise<void> {
    const stale = (d: Deployment | undefined): Deployment["TaskGroups"] | null => {
      if (d === undefined || deploymentActive(d)) return null;
      const allocs = this.store.allocsByJob(d.Namespace, d.JobID);
      if (!allocs.some((a) => a.DeploymentID === d.ID)) return null;
      const groups = withHealth(d, allocs);
      const same = Object.entries(groups).every(([n, g]) => {
        const was = d.TaskGroups[n];
        return g.HealthyAllocs === was?.HealthyAllocs && g.UnhealthyAllocs === was.UnhealthyAllocs;
      });
      return same ? null : groups;
    };
    if (stale(this.store.deployment(id)) === null) return;
    await this.store.write((tx) => {
      const cur = tx.get("deployments", id);
      const groups = stale(cur);
      if (cur !== undefined && groups !== null) tx.put("deployments", { ...cur, TaskGroups: groups });
    });
  }

  /**
   * Nomad's `deployment pause|resume`: a paused deployment places nothing more of its rollout
   * (the reconciler holds a paused deployment's updates as a failed one's) and is not failed by
   * its progress deadline; resumed, it runs again with its deadlines counted afresh from now,
   * and an evaluation (returned) lets the rollout go on.
   */
  async pause(id: string, pause: boolean): Promise<Evaluation | null> {
    const r = await this.store.write((tx) => {
      const d = tx.get("deployments", id);
      if (d === undefined) throw new RucheError(ErrorCode.NotFound, `deployment "${id}" not found`);
      if (!deploymentActive(d)) throw new RucheError(ErrorCode.BadRequest, `deployment "${id}" is ${d.Status}; only an active deployment can be ${pause ? "paused" : "resumed"}`);
      if (pause) {
        tx.put("deployments", { ...d, Status: "paused", StatusDescription: "Deployment is paused" });
        return null;
      }
      const now = this.now();
      const groups: Deployment["TaskGroups"] = {};
      for (const [name, s] of Object.entries(d.TaskGroups)) groups[name] = s.ProgressDeadline > 0 && s.RequireProgressBy > 0 ? { ...s, RequireProgressBy: now + s.ProgressDeadline / NS.millisecond } : s;
      tx.put("deployments", { ...d, TaskGroups: groups, Status: "running", StatusDescription: "Deployment is running" });
      const job = tx.get("jobs", jobKey(d.Namespace, d.JobID));
      if (job === undefined) return null;
      const ev = newEval(job, "deployment-watcher", now, { DeploymentID: id });
      tx.put("evals", ev);
      return ev;
    });
    this.log.info({ deploymentId: id }, pause ? "deployment paused" : "deployment resumed");
    return r.result;
  }

  async fail(id: string): Promise<Evaluation | null> {
    const d = this.store.deployment(id);
    if (d === undefined) throw new RucheError(ErrorCode.NotFound, `deployment "${id}" not found`);
    if (!deploymentActive(d)) throw new RucheError(ErrorCode.BadRequest, `deployment "${id}" is ${d.Status}; only a running deployment can be failed`);
    return this.failDeployment(d, "Deployment marked as failed");
  }
}

/** The deployment's groups with their healthy and unhealthy counts taken from the allocations' reported health. */
function withHealth(d: Deployment, allocs: readonly Allocation[]): Deployment["TaskGroups"] {
  const groups: Deployment["TaskGroups"] = {};
  for (const [name, s] of Object.entries(d.TaskGroups)) {
    const mine = allocs.filter((a) => a.DeploymentID === d.ID && a.TaskGroup === name);
    groups[name] = {
      ...s,
      HealthyAllocs: mine.filter((a) => a.DeploymentStatus?.Healthy === true).length,
      UnhealthyAllocs: mine.filter((a) => a.DeploymentStatus?.Healthy === false).length,
    };
  }
  return groups;
}

function markStable(tx: Txn, d: Deployment): void {
  const v = tx.get("jobVersions", versionKey(d.Namespace, d.JobID, d.JobVersion));
  if (v !== undefined) tx.put("jobVersions", { ...v, Stable: true });
  const job = tx.get("jobs", jobKey(d.Namespace, d.JobID));
  if (job !== undefined && job.Version === d.JobVersion) tx.put("jobs", { ...job, Stable: true, Status: "running" });
}
