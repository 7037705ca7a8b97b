import { mkdir } from "node:fs/promises";
import { taskPaths } from "./alloc-dir.js";
import type { PrestartResult, TaskHook, TaskHookContext } from "./hook.js";

/**
 * The task's own directory, made before each start ("Task Setup"): `local/`, `secrets/`
 * (mode 0700) and `tmp/` under `<alloc dir>/<task>`. Making it again is harmless; it goes
 * with the allocation's directory.
 */
export class TaskDirHook implements TaskHook {
  readonly name = "task-dir";

  constructor(private readonly ctx: TaskHookContext) {}

  async prestart(): Promise<PrestartResult> {
    this.ctx.event("Task Setup", "Building Task Directory");
    const p = taskPaths(this.ctx.spec.allocDir, this.ctx.spec.taskName);
    await mkdir(p.local, { recursive: true });
    await mkdir(p.secrets, { recursive: true, mode: 0o700 });
    await mkdir(p.tmp, { recursive: true });
    return { ok: true };
  }
}
