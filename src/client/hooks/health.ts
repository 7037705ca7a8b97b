import { formatDuration, NS, type AllocDeploymentStatus, type Allocation } from "../../structs/index.js";
import { isUp } from "../lifecycle.js";
import type { AllocHook, AllocHookContext } from "./hook.js";

export interface HealthOptions {
  /** The health already known for the allocation's deployment (kept in local state, or from the servers); null when not yet. */
  initial: boolean | null;
  /** Whether every service check of the allocation passes (for `health_check = "checks"`). */
  checksPassing(): boolean;
}

/**
 * Deployment health. For an allocation of a deployment whose group's `update` asks for it
 * (`health_check` "task_states" or "checks"; "manual" leaves it to the user): healthy once
 * every task runs, and with "checks" every check passes, for `min_healthy_time`; unhealthy
 * when a task fails or `healthy_deadline` passes first. Health is said once per deployment:
 * an allocation moved into a new deployment in place is judged again. An unhealthy verdict
 * is written as an "Alloc Unhealthy" event on each task, through the task's own writer.
 */
export class HealthHook implements AllocHook {
  readonly name = "health";
  /** The deployment whose health is judged ("" for none). */
  private deploymentId: Allocation["DeploymentID"];
  private health: boolean | null;
  private healthyTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private closed = false;

  constructor(
    private readonly ctx: AllocHookContext,
    private readonly opts: HealthOptions,
  ) {
    this.deploymentId = ctx.alloc().DeploymentID;
    this.health = opts.initial;
  }

  /** The health said for the current deployment; null when not yet (or there is no deployment). */
  get healthy(): boolean | null {
    return this.health;
  }

  /** What the allocation reports of its deployment health, once it is known. */
  deploymentStatus(): AllocDeploymentStatus | undefined {
    if (this.deploymentId === "" || this.health === null) return undefined;
    return { Healthy: this.health, Timestamp: this.ctx.now(), Canary: this.ctx.alloc().DeploymentStatus?.Canary ?? false, ModifyIndex: 0 };
  }

  prerun(): Promise<void> {
    this.arm();
    return Promise.resolve();
  }

  changed(): void {
    this.judge();
  }

  update(alloc: Allocation): void {
    if (alloc.DeploymentID === this.deploymentId) return;
    // Moved into a new deployment in place: its health is judged again.
    this.deploymentId = alloc.DeploymentID;
    this.health = alloc.DeploymentStatus?.Healthy ?? null;
    this.arm();
  }

  prekill(): void {
    this.stopping = true;
    this.clearTimers();
  }

  shutdown(): void {
    this.closed = true;
    this.clearTimers();
  }

  /** How health is judged now; null when it is not (no deployment, already said, or no update block). */
  private mode(): "checks" | "task_states" | "manual" | null {
    if (this.deploymentId === "" || this.health !== null) return null;
    return this.ctx.group().Update?.HealthCheck ?? null;
  }

  private arm(): void {
    this.clearTimers();
    const mode = this.mode();
    const u = this.ctx.group().Update;
    if (mode === null || mode === "manual" || u === null) return;
    this.deadlineTimer = setTimeout(() => {
      const notRunning = !this.tasksUp();
      const what = notRunning || this.mode() === "task_states" ? "Task not running" : "Services not healthy";
      this.set(false, `${what} by healthy_deadline of ${formatDuration(u.HealthyDeadline)}`);
    }, u.HealthyDeadline / NS.millisecond);
    this.deadlineTimer.unref();
  }

  /** Every task is where a healthy allocation has it: running, an ephemeral prestart or poststart task exited successfully; poststop tasks do not count (as Nomad's health tracker). */
  private tasksUp(): boolean {
    const tasks = this.ctx.group().Tasks;
    return [...this.ctx.tasks().entries()].every(([name, t]) => {
      const task = tasks.find((x) => x.Name === name);
      return task === undefined ? t.state.State === "running" : isUp(task, t.state);
    });
  }

  private clearTimers(): void {
    if (this.healthyTimer !== null) clearTimeout(this.healthyTimer);
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.healthyTimer = null;
    this.deadlineTimer = null;
  }

  /** Judges health after a change: healthy needs the conditions to hold for min_healthy_time. */
  private judge(): void {
    const mode = this.mode();
    if (mode === null || mode === "manual" || this.stopping || this.closed) return;
    const states = [...this.ctx.tasks().values()].map((t) => t.state);
    if (states.some((s) => s.State === "dead" && s.Failed)) {
      this.set(false, "Unhealthy because of failed task");
      return;
    }
    const ok = this.tasksUp() && (mode === "task_states" || this.opts.checksPassing());
    if (!ok) {
      if (this.healthyTimer !== null) clearTimeout(this.healthyTimer);
      this.healthyTimer = null;
      return;
    }
    if (this.healthyTimer !== null) return;
    const min = (this.ctx.group().Update?.MinHealthyTime ?? 0) / NS.millisecond;
    this.healthyTimer = setTimeout(() => {
      this.healthyTimer = null;
      this.set(true, "");
    }, min);
    this.healthyTimer.unref();
  }

  private set(healthy: boolean, why: string): void {
    if (this.health !== null || this.closed) return;
    this.health = healthy;
    this.clearTimers();
    if (!healthy) for (const t of this.ctx.tasks().values()) t.event("Alloc Unhealthy", why);
    this.ctx.changed();
  }
}
