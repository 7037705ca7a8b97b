import { rotateIfNeeded } from "../logs.js";
import type { AllocHook, AllocHookContext } from "./hook.js";

/** How often the tasks' output files are looked at. */
const ROTATE_EVERY_MS = 2000;

/**
 * Log rotation: while the runner watches the allocation, each task's output file that grew
 * past its `logs { max_file_size }` is rotated copy-truncate style, keeping `max_files`
 * (see `../logs.ts`). The group's current definition is read at each pass, so a job
 * updated in place rotates with its new limits. It rotates and does nothing else.
 */
export class LogsHook implements AllocHook {
  readonly name = "logs";
  private timer: NodeJS.Timeout | null = null;
  private rotating = false;

  constructor(
    private readonly ctx: AllocHookContext,
    private readonly logDir: string,
    private readonly everyMs = ROTATE_EVERY_MS,
  ) {}

  prerun(): Promise<void> {
    this.timer = setInterval(() => {
      void this.rotate();
    }, this.everyMs);
    this.timer.unref();
    return Promise.resolve();
  }

  shutdown(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass over every task's streams; a pass still under way is not started again. */
  private async rotate(): Promise<void> {
    if (this.rotating) return;
    this.rotating = true;
    try {
      for (const task of this.ctx.group().Tasks) {
        const max = Math.max(1, task.LogConfig.MaxFileSizeMB) * 1024 * 1024;
        for (const stream of ["stdout", "stderr"] as const) {
          await rotateIfNeeded(this.logDir, task.Name, stream, max, task.LogConfig.MaxFiles).catch((err: unknown) => {
            this.ctx.log.debug({ err, task: task.Name, stream }, "rotating the task's output failed; trying again at the next pass");
          });
        }
      }
    } finally {
      this.rotating = false;
    }
  }
}
