import { isDeepStrictEqual } from "node:util";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Driver, ExecOptions, ExecResult, TaskSpec } from "../drivers/index.js";
import { formatDuration, NS, type AllocCheck, type Allocation, type AllocDeploymentStatus, type Logger, type Node, type Service, type ServiceCheck, type Task, type TaskGroup, type TaskState } from "../structs/index.js";
import { CheckState, probe, type CheckResult, type CheckStatus } from "./checks.js";
import { allocPorts, interpolate, interpolateConfig, taskEnv, type TaskDirs } from "./env.js";
import { logPath, rotateIfNeeded } from "./logs.js";
import { RestartTracker } from "./restart.js";
import { TaskRunner, type SavedTask } from "./task-runner.js";

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
}

/** The status of one service check of the allocation, for health and the catalog. */
export interface CheckReport {
  service: string;
  check: string;
  task: string;
  status: CheckStatus;
  output: string;
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
}

interface RunningCheck {
  key: string;
  service: string;
  task: string;
  check: ServiceCheck;
  /** The check's port label, or else its service's. */
  portLabel: string;
  state: CheckState;
  timer: NodeJS.Timeout | null;
  /** A probe is under way (a slow one is not started again). */
  running: boolean;
}

/** Drivers whose tasks see the allocation's directories at `/alloc`, `/local` and `/secrets`. */
const ISOLATED = new Set(["exec", "docker"]);

/**
 * Runs one allocation on this node: its directory, a task runner per task, the leader
 * rule (when the leader dies the others are stopped) and the failure rule (a task that
 * fails for good stops its siblings), log rotation, service checks, and the deployment
 * health of the allocation: healthy once every task runs (and every check passes, when
 * the update's health_check is "checks") for min_healthy_time; unhealthy when a task
 * fails or healthy_deadline passes first.
 */
export class AllocRunner {
  alloc: Allocation;
  private tg: TaskGroup;
  private readonly tasks = new Map<string, TaskRunner>();
  private checks: RunningCheck[] = [];
  private health: boolean | null;
  private healthyTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private rotateTimer: NodeJS.Timeout | null = null;
  private destroyed = false;
  private stopping = false;
  private lastReport = "";
  readonly dir: string;

  constructor(
    alloc: Allocation,
    private readonly d: AllocRunnerDeps,
    private readonly saved?: SavedAlloc,
  ) {
    this.alloc = alloc;
    const tg = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
    if (tg === undefined) throw new Error(`allocation ${alloc.ID}: its job has no group "${alloc.TaskGroup}"`);
    this.tg = tg;
    this.dir = join(d.allocRoot, alloc.ID);
    this.health = saved?.health ?? alloc.DeploymentStatus?.Healthy ?? null;
  }

  get logDir(): string {
    return join(this.dir, "alloc", "logs");
  }

  /** Makes the directories and starts (or, from saved state, finds again) every task. */
  async start(): Promise<void> {
    await mkdir(this.logDir, { recursive: true });
    await mkdir(join(this.dir, "alloc", "data"), { recursive: true });
    await mkdir(join(this.dir, "alloc", "tmp"), { recursive: true });
    for (const task of this.tg.Tasks) {
      await mkdir(join(this.dir, task.Name, "local"), { recursive: true });
      await mkdir(join(this.dir, task.Name, "secrets"), { recursive: true, mode: 0o700 });
      await mkdir(join(this.dir, task.Name, "tmp"), { recursive: true });
      const driver = this.d.drivers.get(task.Driver);
      const runner = new TaskRunner(
        {
          driver: driver ?? missingDriver(task.Driver),
          spec: this.specOf(task),
          task,
          restart: new RestartTracker(this.tg.RestartPolicy, this.alloc.Job.Type),
          changed: () => {
            this.changed();
          },
          log: this.d.log,
          now: () => this.d.now(),
          random: () => this.d.random(),
        },
        this.saved?.tasks[task.Name],
      );
      this.tasks.set(task.Name, runner);
    }
    this.checks = this.checksOf(this.tg);
    this.armHealth();
    this.rotateTimer = setInterval(() => {
      void this.rotateLogs();
    }, 2000);
    this.rotateTimer.unref();
    for (const r of this.tasks.values()) void this.watch(r);
    if (this.alloc.DesiredStatus !== "run") void this.stop("alloc is not wanted on this node");
    this.changed();
  }

  private async watch(r: TaskRunner): Promise<void> {
    await r.run();
    if (this.stopping) return;
    const task = this.tg.Tasks.find((t) => t.Name === r.name);
    if (r.state.Failed) {
      await this.killAll({ type: "Sibling Task Failed", message: `Task's sibling "${r.name}" failed` });
    } else if (task?.Leader === true) {
      await this.killAll({ type: "Leader Task Dead", message: "Leader Task in Group dead" });
    }
  }

  private async killAll(why: { type: string; message: string }): Promise<void> {
    await Promise.all([...this.tasks.values()].filter((t) => !t.dead).map((t) => t.kill(why)));
  }

  /** A newer version of the allocation from the servers. */
  update(alloc: Allocation): void {
    const wasHealth = this.alloc.DeploymentID;
    this.alloc = alloc;
    if (alloc.DesiredStatus !== "run") {
      void this.stop("alloc is not wanted on this node");
      return;
    }
    const tg = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup);
    if (tg !== undefined && tg !== this.tg) {
      // Updated in place (tags, checks, meta): the checks follow the new definition.
      this.tg = tg;
      if (this.tasks.size > 0) this.refreshChecks();
    }
    if (alloc.DeploymentID !== wasHealth) {
      // Moved into a new deployment in place: its health is judged again.
      this.health = alloc.DeploymentStatus?.Healthy ?? null;
      this.armHealth();
    }
    this.changed();
  }

  /**
   * The checks of the group's new definition: a check defined as before keeps its state
   * and timer; one that changed starts afresh; one no longer defined stops.
   */
  private refreshChecks(): void {
    const old = new Map(this.checks.map((c) => [c.key, c]));
    const next = this.checksOf(this.tg).map((c) => {
      const prev = old.get(c.key);
      if (prev === undefined || !isDeepStrictEqual(prev.check, c.check) || prev.portLabel !== c.portLabel || prev.task !== c.task) return c;
      old.delete(c.key);
      return prev;
    });
    for (const c of old.values()) if (c.timer !== null) clearInterval(c.timer);
    this.checks = next;
    this.syncChecks();
  }

  /** Stops every task (kill signal, then SIGKILL after kill_timeout). */
  async stop(_why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.clearHealthTimers();
    await Promise.all([...this.tasks.values()].map((t) => t.kill()));
    this.changed();
  }

  /** Stops the tasks, and removes what they left and the allocation directory. */
  async destroy(): Promise<void> {
    await this.stop("destroyed");
    this.destroyed = true;
    for (const c of this.checks) if (c.timer !== null) clearInterval(c.timer);
    if (this.rotateTimer !== null) clearInterval(this.rotateTimer);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Stops watching without stopping the tasks (the agent is shutting down; they go on). */
  detach(): void {
    this.destroyed = true;
    this.clearHealthTimers();
    for (const c of this.checks) if (c.timer !== null) clearInterval(c.timer);
    if (this.rotateTimer !== null) clearInterval(this.rotateTimer);
  }

  get clientStatus(): Allocation["ClientStatus"] {
    const states = [...this.tasks.values()].map((t) => t.state);
    if (states.length === 0) return "pending";
    if (states.every((s) => s.State === "dead")) return states.some((s) => s.Failed) ? "failed" : "complete";
    if (states.some((s) => s.State === "dead" && s.Failed)) return "failed";
    if (states.some((s) => s.State === "pending" && s.Restarts === 0)) return "pending";
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
    if (r === undefined) throw new Error(`allocation ${this.alloc.ID} has no task "${task}"`);
    return r.exec(cmd, opts);
  }

  checkReports(): CheckReport[] {
    return this.checks.map((c) => ({ service: c.service, check: c.check.Name, task: c.task, status: c.state.status, output: c.state.output }));
  }

  private specOf(task: Task): TaskSpec {
    const hostDirs: TaskDirs = { alloc: join(this.dir, "alloc"), local: join(this.dir, task.Name, "local"), secrets: join(this.dir, task.Name, "secrets") };
    const seen: TaskDirs = ISOLATED.has(task.Driver) ? { alloc: "/alloc", local: "/local", secrets: "/secrets" } : hostDirs;
    const env = taskEnv(this.alloc, this.tg, task, this.d.node, seen);
    const config = interpolateConfig(task.Config, { env, node: this.d.node }) as Record<string, unknown>;
    return {
      id: `${this.alloc.ID}/${task.Name}`,
      allocId: this.alloc.ID,
      taskName: task.Name,
      jobId: this.alloc.JobID,
      group: this.tg.Name,
      namespace: this.alloc.Namespace,
      config,
      env,
      user: task.User,
      cpu: this.alloc.TaskResources[task.Name]?.CPU ?? task.Resources.CPU,
      memoryMB: this.alloc.TaskResources[task.Name]?.MemoryMB ?? task.Resources.MemoryMB,
      ports: allocPorts(this.alloc),
      allocDir: this.dir,
      taskDir: join(this.dir, task.Name),
      stdoutPath: logPath(this.logDir, task.Name, "stdout"),
      stderrPath: logPath(this.logDir, task.Name, "stderr"),
    };
  }

  /** The checks a group defines, on its tasks' services and its own. */
  private checksOf(tg: TaskGroup): RunningCheck[] {
    const out: RunningCheck[] = [];
    for (const task of tg.Tasks) for (const s of task.Services) this.addChecks(out, s, task);
    for (const s of tg.Services) this.addChecks(out, s, tg.Tasks.find((t) => t.Name === s.TaskName) ?? tg.Tasks[0]);
    return out;
  }

  private addChecks(out: RunningCheck[], s: Service, task: Task | undefined): void {
    if (task === undefined) return;
    const env = taskEnv(this.alloc, this.tg, task, this.d.node, { alloc: "", local: "", secrets: "" });
    const service = interpolate(s.Name, { env, node: this.d.node });
    for (const check of s.Checks) {
      out.push({
        key: `${service}/${check.Name}`,
        service,
        task: task.Name,
        check: { ...check, Path: interpolate(check.Path, { env, node: this.d.node }) },
        portLabel: check.PortLabel !== "" ? check.PortLabel : s.PortLabel,
        state: new CheckState(check),
        timer: null,
        running: false,
      });
    }
  }

  private targetOf(c: RunningCheck): { ip: string; port: number } | null {
    const label = c.portLabel;
    const check = c.check;
    if (label === "") return null;
    if (/^\d+$/.test(label)) return { ip: this.d.node.Resources.IP, port: Number(label) };
    const p = allocPorts(this.alloc).find((x) => x.label === label);
    if (p === undefined) return null;
    return { ip: p.ip === "" ? this.d.node.Resources.IP : p.ip, port: check.AddressMode === "driver" ? p.to : p.value };
  }

  /** Starts or stops each check with its task's state. */
  private syncChecks(): void {
    for (const c of this.checks) {
      const running = !this.destroyed && !this.stopping && this.tasks.get(c.task)?.state.State === "running";
      if (running && c.timer === null && c.check.Type !== "ttl") {
        const tick = (): void => {
          void this.runCheck(c);
        };
        c.timer = setInterval(tick, Math.max(100, c.check.Interval / NS.millisecond));
        c.timer.unref();
        tick();
      } else if (!running && c.timer !== null) {
        clearInterval(c.timer);
        c.timer = null;
      }
    }
  }

  private async runCheck(c: RunningCheck): Promise<void> {
    if (c.running) return;
    c.running = true;
    try {
      const runner = this.tasks.get(c.task);
      const script =
        runner === undefined
          ? null
          : async (cmd: string[], timeoutMs: number) => {
              const r = await runner.exec(cmd, { timeoutMs, maxOutputBytes: 4096 });
              return { exitCode: r.exitCode, output: Buffer.concat([r.stdout, r.stderr]).toString("utf8"), timedOut: r.timedOut };
            };
      const result: CheckResult = await probe(c.check, this.targetOf(c), script);
      if (c.timer === null) return;
      if (c.state.record(result)) {
        this.d.log.debug({ alloc: this.alloc.ID, check: c.key, status: c.state.status }, "check status changed");
        this.changed();
      }
    } finally {
      c.running = false;
    }
  }

  // --- deployment health ------------------------------------------------------------

  private healthMode(): "checks" | "task_states" | "manual" | null {
    if (this.alloc.DeploymentID === "" || this.health !== null) return null;
    const u = this.tg.Update;
    if (u === null) return null;
    return u.HealthCheck;
  }

  private armHealth(): void {
    this.clearHealthTimers();
    const mode = this.healthMode();
    if (mode === null || mode === "manual") return;
    const u = this.tg.Update;
    if (u === null) return;
    this.deadlineTimer = setTimeout(() => {
      const mode = this.healthMode();
      const notRunning = [...this.tasks.values()].some((t) => t.state.State !== "running");
      this.setHealth(false, notRunning || mode === "task_states" ? `Task not running by healthy_deadline of ${formatDuration(u.HealthyDeadline)}` : `Services not healthy by healthy_deadline of ${formatDuration(u.HealthyDeadline)}`);
    }, u.HealthyDeadline / NS.millisecond);
    this.deadlineTimer.unref();
  }

  private clearHealthTimers(): void {
    if (this.healthyTimer !== null) clearTimeout(this.healthyTimer);
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.healthyTimer = null;
    this.deadlineTimer = null;
  }

  /** Judges health after a change: healthy needs the conditions to hold for min_healthy_time. */
  private judgeHealth(): void {
    const mode = this.healthMode();
    if (mode === null || mode === "manual" || this.stopping) return;
    const states = [...this.tasks.values()].map((t) => t.state);
    if (states.some((s) => s.State === "dead" && s.Failed)) {
      this.setHealth(false, "Unhealthy because of failed task");
      return;
    }
    const ok = states.every((s) => s.State === "running") && (mode === "task_states" || this.checks.every((c) => c.state.status === "passing"));
    if (!ok) {
      if (this.healthyTimer !== null) clearTimeout(this.healthyTimer);
      this.healthyTimer = null;
      return;
    }
    if (this.healthyTimer !== null) return;
    const min = (this.tg.Update?.MinHealthyTime ?? 0) / NS.millisecond;
    this.healthyTimer = setTimeout(() => {
      this.healthyTimer = null;
      this.setHealth(true, "");
    }, min);
    this.healthyTimer.unref();
  }

  private setHealth(healthy: boolean, why: string): void {
    if (this.health !== null || this.destroyed) return;
    this.health = healthy;
    this.clearHealthTimers();
    if (!healthy) {
      for (const t of this.tasks.values()) {
        t.state.Events.push({ Type: "Alloc Unhealthy", Time: this.d.now() * NS.millisecond, Message: why, Details: {}, ExitCode: 0, Signal: 0, KillTimeout: 0, RestartReason: "" });
      }
    }
    this.changed();
  }

  // --- reporting ----------------------------------------------------------------------

  private changed(): void {
    if (this.destroyed) return;
    this.syncChecks();
    this.judgeHealth();
    const status = this.clientStatus;
    const taskStates: Record<string, TaskState> = {};
    for (const [name, t] of this.tasks) taskStates[name] = t.state;
    const r: AllocReport = {
      ID: this.alloc.ID,
      ClientStatus: status,
      ClientDescription: describe(status),
      TaskStates: taskStates,
      Checks: this.checks.map((c) => ({ Service: c.service, Name: c.check.Name, Task: c.task, Status: c.state.status, Output: c.state.output })),
    };
    if (this.alloc.DeploymentID !== "" && this.health !== null) {
      r.DeploymentStatus = { Healthy: this.health, Timestamp: this.d.now(), Canary: this.alloc.DeploymentStatus?.Canary ?? false, ModifyIndex: 0 };
    }
    this.persist();
    const key = JSON.stringify([r.ClientStatus, r.TaskStates, r.DeploymentStatus?.Healthy ?? null, r.Checks.map((c) => c.Status)]);
    if (key === this.lastReport) return;
    this.lastReport = key;
    this.d.report(r);
  }

  /** Saves the allocation's local state (drivers keep some of theirs in the handles, such as where log copying got to). */
  private persist(): void {
    const tasks: Record<string, SavedTask> = {};
    for (const [name, t] of this.tasks) tasks[name] = t.saved();
    this.d.save({ alloc: this.alloc, tasks, health: this.health });
  }

  private async rotateLogs(): Promise<void> {
    if (!this.destroyed) this.persist();
    for (const task of this.tg.Tasks) {
      const max = Math.max(1, task.LogConfig.MaxFileSizeMB) * 1024 * 1024;
      for (const stream of ["stdout", "stderr"] as const) {
        await rotateIfNeeded(this.logDir, task.Name, stream, max, task.LogConfig.MaxFiles).catch(() => false);
      }
    }
  }
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
    default:
      return "";
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
  };
}
