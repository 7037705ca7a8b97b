import type { TaskHook, TaskHookContext } from "./hook.js";

/** How often a running task's handle is compared with the one last saved. */
const CHECKPOINT_EVERY_MS = 2000;

/**
 * Saves what a driver changes in a running task's handle without telling (the docker
 * driver keeps there how far it copied the container's output, so that a new agent goes
 * on from there): while the task runs, the handle is compared with the one last saved and
 * saved when it differs; once more when the agent lets go of the task. The runners save
 * every other change where it happens; this is the one timed save.
 */
export class TaskCheckpointHook implements TaskHook {
  readonly name = "checkpoint";
  private timer: NodeJS.Timeout | null = null;
  private last = "";

  constructor(
    private readonly ctx: TaskHookContext,
    private readonly everyMs = CHECKPOINT_EVERY_MS,
  ) {}

  poststart(): void {
    this.last = JSON.stringify(this.ctx.handle());
    this.clear();
    this.timer = setInterval(() => {
      this.check();
    }, this.everyMs);
    this.timer.unref();
  }

  exited(): void {
    this.clear();
  }

  stop(): void {
    this.clear();
  }

  shutdown(): void {
    if (this.timer === null) return;
    this.clear();
    this.check();
  }

  private check(): void {
    const h = this.ctx.handle();
    if (h === null) return;
    const now = JSON.stringify(h);
    if (now === this.last) return;
    this.last = now;
    this.ctx.changed();
  }

  private clear(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
