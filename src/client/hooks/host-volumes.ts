import type { PrestartResult, TaskHook, TaskHookContext } from "./hook.js";

/**
 * Checks a task's host volumes before each start, as Nomad's volume hook: every source its
 * `volume_mount` blocks reach must be a host volume of this node (an agent started again
 * without one it had), and its driver must mount host volumes (raw_exec does not, as
 * Nomad's). The mounts themselves are in the task's spec (`host-volumes.ts`), which the
 * driver makes.
 */
export class HostVolumesHook implements TaskHook {
  readonly name = "volumes";

  /** `missing`: the host volumes the task's mounts name that this node does not offer. */
  constructor(
    private readonly ctx: TaskHookContext,
    private readonly missing: readonly string[],
  ) {}

  prestart(): Promise<PrestartResult> {
    if (this.missing.length > 0) {
      return Promise.resolve({ ok: false, event: "Setup Failure", reason: `host volume validation error: missing ${this.missing.map((v) => `"${v}"`).join(", ")} on this node` });
    }
    const mounts = this.ctx.spec.mounts ?? [];
    if (mounts.length > 0 && this.ctx.driver.mountsHostVolumes !== true) {
      return Promise.resolve({ ok: false, event: "Setup Failure", reason: `task driver "${this.ctx.driver.name}" for "${this.ctx.task.Name}" does not support host volumes` });
    }
    // Validation holds a destination written without variables to an absolute path; one with them is checked once they are read.
    const bad = mounts.find((m) => !m.taskPath.startsWith("/") || m.taskPath.split("/").includes(".."));
    if (bad !== undefined) return Promise.resolve({ ok: false, event: "Setup Failure", reason: `volume_mount destination must be an absolute path in the task without "..", got "${bad.taskPath}"` });
    return Promise.resolve({ ok: true });
  }
}
