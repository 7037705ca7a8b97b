import type { Driver, ExecOptions, ExecResult, ExecSession, ExecStreamOptions } from "../drivers/index.js";
import { assertNever, ErrorCode, errorMessage, formatDuration, NS, RucheError, sleep, type AllocCheck, type Allocation, type AllocDeploymentStatus, type AllocNetworkStatus, type Logger, type Node, type Task, type TaskGroup, type TaskState, type AllocCheckStatus, type AllocResourceUsage, type TaskStats, allocResourceUsage } from "../structs/index.js";
import { allocCheckStatuses } from "./check-statuses.js";
import { AllocDirHook, allocPaths, ChecksHook, HealthHook, IdentityHook, NetworkHook, type AllocHook, type AllocHookContext, type AllocPaths, type CheckReport } from "./hooks/index.js";
import { isPoststop, isSidecar, LifecycleStage, stageOf, TaskCoordinator } from "./lifecycle.js";
import { RestartTracker } from "./restart.js";
import { TaskRunner, type SavedTask } from "./task-runner.js";
import { planHostVolumes } from "./host-volumes.js";
import { taskSpec } from "./task-spec.js";
import type { TemplateSource } from "./template/index.js";
import type { CniConfigurator } from "./cni/index.js";

export type { CheckReport } from "./hooks/index.js";

/** What the client keeps of an allocation in its local state. */
export interface SavedAlloc {
  alloc: Allocation;
  tasks: Record<string, SavedTask>;
  /** The deployment health already reported, so a restarted agent does not report it again. */
  health: boolean | null;
}

/** What an allocation runner reports to the servers. */
export interface AllocReport {
  ID: string;
  ClientStatus: Allocation["ClientStatus"];
  ClientDescription: string;
  TaskStates: Record<string, TaskState>;
  DeploymentStatus?: AllocDeploymentStatus;
  Checks: AllocCheck[];
  /** The allocation's own network (mode `cni/<name>`) once made. */
  NetworkStatus?: AllocNetworkStatus;
}

export interface AllocRunnerDeps {
  node: Node;
  drivers: ReadonlyMap<string, Driver>;
  /** `<data dir>/alloc`: each allocation gets a directory under it. */
  allocRoot: string;
  report(r: AllocReport): void;
  save(s: SavedAlloc): void;
  log: Logger;
  now(): number;
  random(): number;
  /** Where a task's templates read the cluster, as that task's workload identity; absent: they wait for data that never comes. */
  templateSource?: (alloc: Allocation, task: Task) => TemplateSource;
  /** The node's CNI networks (`network { mode = "cni/<name>" }`); absent: none. */
  cni?: CniConfigurator;
}

/**
 * Runs one allocation on this node: a task runner per task, the leader rule (when the
 * leader dies the others are stopped) and the failure rule (a task that fails for good
 * stops its siblings), its status reported to the servers and saved in the local state
 * whenever it changes. Everything else is a hook (`./hooks/`), run in this order:
 *
 * 1. `alloc-dir`: the allocation's directory, made first, removed on destroy.
 * 2. `network`: a bridge group's shared network namespace (a pause container), removed on destroy.
 * 3. `identity`: the tasks' workload identities, written to their `secrets/` (`file = true`).
 * 4. `checks`: the service checks, probed while their task runs.
 * 5. `health`: the deployment health, from the tasks' states (and the checks).
 *
 * The tasks start in the order of their `lifecycle` blocks (`./lifecycle.ts`, as Nomad's task
 * coordinator): prestart tasks first (an ephemeral one must exit successfully, a sidecar must
 * run), then the main tasks, then the poststart tasks; the sidecars are stopped once the main
 * tasks have ended; the poststop tasks run once every other task is dead, the allocation
 * stopped or done.
 */
export class AllocRunner {
  alloc: Allocation;
  private group: TaskGroup;
  private readonly tasks = new Map<string, TaskRunner>();
  /** Each task's watch (its turn, its run, the rules after it): the allocation is gone when they are all done. */
  private readonly watching = new Map<string, Promise<void>>();
  private readonly coordinator = new TaskCoordinator(() => this.group.Tasks);
  private readonly paths: AllocPaths;
  private readonly checks: ChecksHook;
  private readonly health: HealthHook;
  private readonly network: NetworkHook;
  /** Settles once the shared network of a finished allocation is removed (at once without tasks). */
  private networkReleased: Promise<void> = Promise.resolve();
  private readonly hooks: readonly AllocHook[];
  /** Let go of (destroyed, or the agent shuts down): nothing more is reported or saved. */
  private closed = false;
  private stopping = false;
  private lastReport = "";
  /** Aborted when the allocation is let go of: a shutdown_delay being waited out ends (its task killed at once when destroyed, left running when detached). */
  private readonly letGo = new AbortController();
  private detached = false;
  /** The group's `max_run_duration` ran out: every task was killed and the allocation is complete, whatever its tasks' ends. */
  private maxRunExceeded = false;
  private maxRunTimer: NodeJS.Timeout | undefined;

  constructor(
    alloc: Allocation,
    private readonly d: AllocRunnerDeps,
    private readonly saved?: SavedAlloc,
  ) {
    this.alloc = alloc;
    this.group = groupOf(alloc);
    this.paths = allocPaths(d.allocRoot, alloc.ID);
    const ctx: AllocHookContext = {
      alloc: () => this.alloc,
      group: () => this.group,
      node: d.node,
      log: d.log,
      now: () => d.now(),
      tasks: () => this.tasks,
      changed: () => {
        this.changed();
      },
      networkStatus: () => this.network.networkStatus,
    };
    this.checks = new ChecksHook(ctx);
    this.health = new HealthHook(ctx, { initial: saved?.health ?? alloc.DeploymentStatus?.Healthy ?? null, checksPassing: () => this.checks.allPassing() });
    this.network = new NetworkHook(ctx, d.drivers, d.cni);
    this.hooks = [new AllocDirHook(this.paths), this.network, new IdentityHook(ctx, this.paths), this.checks, this.health];
  }

  get dir(): string {
    return this.paths.dir;
  }

  get logDir(): string {
    return this.paths.logs;
  }

  /**
   * Runs the prerun hooks, then starts (or, from saved state, finds again) every task; with
   * `after`, the tasks start once it resolves (the allocation this one replaces on this node
   * is gone, and with it what it held: its ports above all).
   */
  async start(after?: Promise<void>): Promise<void> {
    this.network.after = after;
    for (const h of this.hooks) {
      try {
        await h.prerun?.();
      } catch (err) {
        throw new Error(`${h.name}: ${errorMessage(err)}`, { cause: err });
      }
    }
    for (const task of this.group.Tasks) {
      const runner = new TaskRunner(
        {
          driver: this.d.drivers.get(task.Driver) ?? missingDriver(task.Driver),
          spec: taskSpec(this.alloc, this.group, task, this.d.node, this.paths, this.network.network),
          task,
          // A task's own restart block, merged over its group's by the jobspec, wins.
          restart: new RestartTracker(task.RestartPolicy ?? this.group.RestartPolicy, this.alloc.Job.Type, task.Lifecycle ?? null),
          changed: () => {
            this.changed();
          },
          log: this.d.log,
          now: () => this.d.now(),
          random: () => this.d.random(),
          payload: this.alloc.Job.Dispatched === true ? (this.alloc.Job.Payload ?? "") : undefined,
          node: this.d.node,
          missingVolumes: planHostVolumes(this.group, task, this.d.node, undefined, this.alloc.Name).missing,
          network: () => this.network.ready(),
          ...((task.Templates ?? []).length === 0 || this.d.templateSource === undefined ? {} : { templateSource: this.d.templateSource(this.alloc, task) }),
        },
        this.saved?.tasks[task.Name],
      );
      this.tasks.set(task.Name, runner);
    }
    for (const r of this.tasks.values()) {
      this.watching.set(
        r.name,
        this.watch(r, after).catch((err: unknown) => {
          // Detached, the agent is stopping: its driver let go of the task, which runs on.
          if (this.detached) this.d.log.debug({ allocId: this.alloc.ID, task: r.name, err }, "stopped watching the task, which runs on");
          else this.d.log.error({ allocId: this.alloc.ID, task: r.name, err }, "watching the task failed");
        }),
      );
    }
    this.networkReleased = this.releaseNetworkWhenDone();
    if (this.alloc.DesiredStatus !== "run") void this.stop(stopReason(this.alloc));
    this.armMaxRun();
    this.changed();
  }

  /**
   * The group's `max_run_duration` (batch and sysbatch), counted from the allocation's
   * creation as Nomad counts it, so an agent restarted meanwhile keeps the same deadline;
   * armed again when an update changes it.
   */
  private armMaxRun(): void {
    clearTimeout(this.maxRunTimer);
    this.maxRunTimer = undefined;
    const d = this.group.MaxRunDuration;
    if (d === undefined || d <= 0 || this.maxRunExceeded || this.closed) return;
    const remaining = this.alloc.CreateTime + d / NS.millisecond - this.d.now();
    // A timer longer than 2^31-1 ms fires at once in Node: a far deadline is approached in steps.
    const step = Math.min(Math.max(remaining, 0), 2 ** 31 - 1);
    this.maxRunTimer = setTimeout(() => {
      if (step < remaining) this.armMaxRun();
      else void this.exceedMaxRun();
    }, step);
    this.maxRunTimer.unref();
  }

  /** As Nomad: every task killed (poststop ones not started never start), the allocation complete, saying why. */
  private async exceedMaxRun(): Promise<void> {
    if (this.stopping || this.closed || [...this.tasks.values()].every((t) => t.dead)) return;
    this.maxRunExceeded = true;
    this.changed();
    await Promise.all([...this.tasks.values()].filter((t) => !t.dead).map((t) => t.kill(MAX_RUN_EXCEEDED)));
    this.changed();
  }

  /**
   * Runs a task in its turn, then, once it is dead for good, the leader and failure rules and
   * the sidecar rule (only sidecars left: they are stopped). A poststop task's end changes
   * nothing for the others.
   */
  private async watch(r: TaskRunner, after?: Promise<void>): Promise<void> {
    // A task stopped while it waited never starts (its runner is dead already).
    if (after !== undefined) await after;
    const task = this.taskOf(r.name);
    // A task found again after an agent restart already had its turn.
    if (task !== undefined && r.handle === null && !r.dead) await this.coordinator.ready(task);
    await r.run();
    if (this.stopping || (task !== undefined && isPoststop(task))) return;
    if (r.state.Failed) {
      await this.killAll(`Task's sibling "${r.name}" failed`, "Sibling Task Failed");
    } else if (task?.Leader === true) {
      await this.killAll("Leader Task in Group dead", "Leader Task Dead");
    } else {
      const live = this.live();
      if (live.length > 0 && live.every(([, t]) => t !== undefined && isSidecar(t))) {
        await Promise.all(live.map(([r]) => r.kill("Main tasks in the group died", "Main Tasks Dead")));
      }
    }
  }

  /** Kills every task still alive but the poststop ones, which run after. */
  private async killAll(reason: string, eventType: string): Promise<void> {
    await Promise.all(this.live().map(([t]) => t.kill(reason, eventType)));
  }

  /** The tasks not dead, poststop tasks aside (with their definition; none for a task the group no longer has). */
  private live(): [TaskRunner, Task | undefined][] {
    const out: [TaskRunner, Task | undefined][] = [];
    for (const r of this.tasks.values()) {
      const task = this.taskOf(r.name);
      if (!r.dead && (task === undefined || !isPoststop(task))) out.push([r, task]);
    }
    return out;
  }

  private taskOf(name: string): Task | undefined {
    return this.group.Tasks.find((t) => t.Name === name);
  }

  /** A newer version of the allocation from the servers. */
  update(alloc: Allocation): void {
    this.alloc = alloc;
    if (alloc.DesiredStatus !== "run") {
      void this.stop(stopReason(alloc));
      return;
    }
    const tg = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
    if (tg !== undefined) {
      const rearm = tg.MaxRunDuration !== this.group.MaxRunDuration;
      this.group = tg;
      if (rearm) this.armMaxRun();
    }
    for (const h of this.hooks) h.update?.(alloc);
    this.changed();
  }

  /**
   * Stops every task (kill signal, then SIGKILL after kill_timeout); `why` reaches each
   * task's "Killing" event. The prekill hooks run first. A running task whose group or
   * itself has a `shutdown_delay` is killed that long after (the group's and the task's
   * added, as in Nomad): its services left the catalog when the servers asked for the stop,
   * and clients get the time to notice ("Waiting for shutdown delay"). As in Nomad, the
   * sidecars are killed after the other tasks; the poststop tasks then run, and the stop
   * resolves once they are done.
   */
  async stop(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const h of this.hooks) h.prekill?.();
    const groupDelay = this.group.ShutdownDelay ?? 0;
    const killOne = async (t: TaskRunner): Promise<void> => {
      const delay = groupDelay + (this.taskOf(t.name)?.ShutdownDelay ?? 0);
      if (delay > 0 && t.state.State === "running") {
        t.event("Waiting for shutdown delay", `Waiting for shutdown_delay of ${formatDuration(delay)} before killing the task.`);
        await sleep(delay / NS.millisecond, this.letGo.signal);
        if (this.detached) return;
      }
      await t.kill(why);
    };
    const sidecar = (t: TaskRunner): boolean => {
      const task = this.taskOf(t.name);
      return task !== undefined && isSidecar(task);
    };
    const live = [...this.tasks.values()].filter((t) => !this.isPoststop(t.name));
    await Promise.all(live.filter((t) => !sidecar(t)).map(killOne));
    await Promise.all(live.filter(sidecar).map(killOne));
    this.changed();
    if (!this.detached) await Promise.all([...this.watching].filter(([name]) => this.isPoststop(name)).map(([, w]) => w));
    this.changed();
  }

  private isPoststop(name: string): boolean {
    const task = this.taskOf(name);
    return task !== undefined && isPoststop(task);
  }

  /** Stops the tasks (saying `why`), lets go of the allocation and runs the destroy hooks: nothing of it stays on the node. */
  async destroy(why: string): Promise<void> {
    // As Nomad: an allocation destroyed does not wait for its poststop tasks; one running is killed first.
    await Promise.all([...this.tasks.values()].filter((t) => this.isPoststop(t.name)).map((t) => t.kill(why)));
    await this.stop(why);
    this.close();
    for (const h of this.hooks) {
      await h.destroy?.().catch((err: unknown) => {
        this.d.log.warn({ allocId: this.alloc.ID, hook: h.name, err }, "destroying the allocation left something behind");
      });
    }
  }

  /** Resolves once every task is gone (its driver done with it): a replacement on this node waits for it. */
  /**
   * Once every task is dead for good, a bridge group's shared network goes (Nomad's network
   * hook, at the allocation's postrun): the servers count its ports free from then on. Not when
   * the agent lets go of running tasks: they keep it.
   */
  private async releaseNetworkWhenDone(): Promise<void> {
    await Promise.all(this.watching.values());
    if (this.detached || ![...this.tasks.values()].every((t) => t.dead)) return;
    await this.network.destroy().catch((err: unknown) => {
      this.d.log.warn({ allocId: this.alloc.ID, err }, `removing the allocation's shared network failed: ${errorMessage(err)}`);
    });
  }

  async gone(): Promise<void> {
    await Promise.allSettled([...this.tasks.values()].map((t) => t.gone()));
    // The poststop tasks run after the others: the allocation is gone once they are.
    await Promise.all([...this.watching].filter(([name]) => this.isPoststop(name)).map(([, w]) => w));
    // Its shared network holds the group's ports: an allocation that replaces it waits for that too.
    await this.networkReleased;
  }

  /** Stops watching without stopping the tasks (the agent is shutting down; they go on). */
  detach(): void {
    this.detached = true;
    for (const t of this.tasks.values()) t.detach();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.maxRunTimer);
    this.letGo.abort();
    for (const h of this.hooks) h.shutdown?.();
  }

  /**
   * Reports the allocation's state again even if nothing changed here: the servers hold an
   * older one (`unknown`, after the node was disconnected or the agent restarted).
   */
  resend(): void {
    this.lastReport = "";
    this.changed();
  }

  get clientStatus(): Allocation["ClientStatus"] {
    const states = [...this.tasks.values()].map((t) => t.state);
    if (states.length === 0) return "pending";
    if (this.maxRunExceeded) return "complete";
    if (states.every((s) => s.State === "dead")) return states.some((s) => s.Failed) ? "failed" : "complete";
    if (states.some((s) => s.State === "dead" && s.Failed)) return "failed";
    // Pending until every main task has started; a lifecycle task waiting its turn does not hold the allocation there.
    const main = [...this.tasks.values()].filter((t) => {
      const task = this.taskOf(t.name);
      return task === undefined || stageOf(task) === LifecycleStage.Main;
    });
    if (main.some((t) => t.state.State === "pending" && t.state.Restarts === 0)) return "pending";
    return "running";
  }

  task(name: string | undefined): TaskRunner | undefined {
    if (name === undefined || name === "") return this.tasks.size === 1 ? [...this.tasks.values()][0] : undefined;
    return this.tasks.get(name);
  }

  taskNames(): string[] {
    return [...this.tasks.keys()];
  }

  exec(task: string, cmd: string[], opts: ExecOptions): Promise<ExecResult> {
    const r = this.tasks.get(task);
    if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${this.alloc.ID} has no task "${task}"`);
    return r.exec(cmd, opts);
  }

  execStreaming(task: string, cmd: string[], opts: ExecStreamOptions): Promise<ExecSession> {
    const r = this.tasks.get(task);
    if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${this.alloc.ID} has no task "${task}"`);
    return r.execStreaming(cmd, opts);
  }

  /** The driver of each task (`alloc exec` asks raw_exec's capability of its caller). */
  driverOf(task: string): string | undefined {
    return this.tasks.get(task)?.driverName;
  }

  /** `alloc signal`: `sig` to the task named, or to each running task when none is. */
  async signal(task: string | undefined, sig: string): Promise<void> {
    await Promise.all(this.lifecycleTargets(task).map((r) => r.signal(sig)));
  }

  /** `alloc restart`: the task named, or each running task when none is, restarted in place. */
  async restart(task: string | undefined): Promise<void> {
    await Promise.all(this.lifecycleTargets(task).map((r) => r.restart()));
  }

  /** The task named (refused when there is none of that name), or every running task. */
  private lifecycleTargets(task: string | undefined): TaskRunner[] {
    if (task !== undefined && task !== "") {
      const r = this.tasks.get(task);
      if (r === undefined) throw new RucheError(ErrorCode.NotFound, `allocation ${this.alloc.ID} has no task "${task}"; its tasks are ${this.taskNames().join(", ")}`);
      return [r];
    }
    const live = [...this.tasks.values()].filter((r) => r.state.State === "running");
    if (live.length === 0) throw new RucheError(ErrorCode.Conflict, `allocation ${this.alloc.ID} has no running task`);
    return live;
  }

  checkReports(): CheckReport[] {
    return this.checks.reports();
  }

  /** The service checks' latest results in Nomad's shape (`alloc checks`), by check ID. */
  checkStatuses(): Record<string, AllocCheckStatus> {
    return allocCheckStatuses(this.alloc.ID, this.alloc.TaskGroup, this.checks.reports());
  }

  /** What the allocation's running tasks use now (`alloc status`, the dashboard), in Nomad's `AllocResourceUsage`; `task` only that one. */
  async stats(task?: string): Promise<AllocResourceUsage> {
    if (task !== undefined && task !== "" && !this.tasks.has(task)) throw new RucheError(ErrorCode.NotFound, `allocation ${this.alloc.ID} has no task "${task}"; its tasks are ${this.taskNames().join(", ")}`);
    const runners = [...this.tasks].filter(([name]) => task === undefined || task === "" || name === task);
    const read = await Promise.all(runners.map(async ([name, r]) => [name, await r.stats().catch(() => null)] as const));
    const byTask: Record<string, TaskStats> = {};
    for (const [name, s] of read) if (s !== null) byTask[name] = s;
    return allocResourceUsage(byTask, Date.now());
  }

  // --- reporting and local state -------------------------------------------------------

  /** After any change: the hooks act on it, then the allocation is saved and, if what the servers see changed, reported. */
  private changed(): void {
    // Destroyed, the allocation's tasks still go through their turns as they are killed (a
    // task killed before its turn ends its wait so); detached, none starts any more.
    if (!this.detached) this.coordinator.update(new Map([...this.tasks].map(([name, t]) => [name, t.state])));
    if (this.closed) return;
    for (const h of this.hooks) h.changed?.();
    const status = this.clientStatus;
    const taskStates: Record<string, TaskState> = {};
    for (const [name, t] of this.tasks) taskStates[name] = t.state;
    const r: AllocReport = {
      ID: this.alloc.ID,
      ClientStatus: status,
      ClientDescription: this.maxRunExceeded ? MAX_RUN_EXCEEDED : describe(status),
      TaskStates: taskStates,
      Checks: this.checks.reports().map((c) => ({ Service: c.service, Name: c.check, Task: c.task, Status: c.status, Output: c.output })),
    };
    const deployment = this.health.deploymentStatus();
    if (deployment !== undefined) r.DeploymentStatus = deployment;
    const net = this.network.networkStatus;
    if (net !== undefined) r.NetworkStatus = net;
    this.persist();
    const key = JSON.stringify([r.ClientStatus, r.TaskStates, r.DeploymentStatus?.Healthy ?? null, r.Checks.map((c) => c.Status), net?.Address ?? ""]);
    if (key === this.lastReport) return;
    this.lastReport = key;
    this.d.report(r);
  }

  private persist(): void {
    const tasks: Record<string, SavedTask> = {};
    for (const [name, t] of this.tasks) tasks[name] = t.saved();
    this.d.save({ alloc: this.alloc, tasks, health: this.health.healthy });
  }
}

function groupOf(alloc: Allocation): TaskGroup {
  const tg = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
  if (tg === undefined) throw new Error(`allocation ${alloc.ID}: its job has no group "${alloc.TaskGroup}"`);
  return tg;
}

/** Nomad's words for an allocation stopped by its group's `max_run_duration`. */
const MAX_RUN_EXCEEDED = "allocation exceeded max_run_duration";

/** Why the servers no longer want the allocation here, in their words when they gave some. */
function stopReason(alloc: Allocation): string {
  return alloc.DesiredDescription !== "" ? alloc.DesiredDescription : "alloc is not wanted on this node";
}

function describe(status: Allocation["ClientStatus"]): string {
  switch (status) {
    case "pending":
      return "No tasks have started";
    case "running":
      return "Tasks are running";
    case "complete":
      return "All tasks have completed";
    case "failed":
      return "Failed tasks";
    case "lost":
      return "The node was lost";
    case "unknown":
      return "The servers have not heard from the node";
    default:
      return assertNever(status, "client status");
  }
}

/** Stands in for a driver the node does not have: every start fails and says so. */
function missingDriver(name: string): Driver {
  const fail = (): never => {
    throw new Error(`driver "${name}" is not available on this node`);
  };
  return {
    name,
    fingerprint: () => Promise.resolve({ detected: false, healthy: false, description: "not available", attributes: {} }),
    validate: () => [],
    start: () => Promise.reject(new Error(`driver "${name}" is not available on this node`)),
    recover: () => Promise.resolve(false),
    wait: fail,
    signal: fail,
    stop: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
    exec: fail,
    stats: () => Promise.resolve(null),
  };
}
