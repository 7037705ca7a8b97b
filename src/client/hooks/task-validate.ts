import type { PrestartResult, TaskHook, TaskHookContext } from "./hook.js";

/**
 * The task's driver config, checked by its driver before each start: a config the driver
 * refuses fails the task for good ("Failed Validation", each problem named), since
 * starting it again would fail again.
 */
export class TaskValidateHook implements TaskHook {
  readonly name = "validate";

  constructor(private readonly ctx: TaskHookContext) {}

  prestart(): Promise<PrestartResult> {
    const problems = this.ctx.driver.validate(this.ctx.spec.config);
    return Promise.resolve(problems.length === 0 ? { ok: true } : { ok: false, event: "Failed Validation", reason: problems.join("; ") });
  }
}
