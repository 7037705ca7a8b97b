import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { AllocHook } from "./hook.js";

/** Where an allocation's files are on the host. */
export interface AllocPaths {
  /** `<alloc root>/<alloc id>`: everything of the allocation. */
  dir: string;
  /** `alloc/`, shared by the tasks (`/alloc` inside an isolated task). */
  shared: string;
  /** `alloc/logs/`: each task's `<task>.<stream>.N`. */
  logs: string;
  data: string;
  tmp: string;
}

/** Where one task's own files are on the host. */
export interface TaskPaths {
  /** `<alloc dir>/<task>` */
  dir: string;
  /** `local/` (`/local` inside an isolated task). */
  local: string;
  /** `secrets/`, readable by the task's user only (`/secrets`). */
  secrets: string;
  tmp: string;
}

export function allocPaths(allocRoot: string, allocId: string): AllocPaths {
  const dir = join(allocRoot, allocId);
  const shared = join(dir, "alloc");
  return { dir, shared, logs: join(shared, "logs"), data: join(shared, "data"), tmp: join(shared, "tmp") };
}

export function taskPaths(allocDir: string, task: string): TaskPaths {
  const dir = join(allocDir, task);
  return { dir, local: join(dir, "local"), secrets: join(dir, "secrets"), tmp: join(dir, "tmp") };
}

/**
 * The allocation's directory: made before anything runs (the shared `alloc/` with `logs/`,
 * `data/`, `tmp/`; each task makes its own in its `task-dir` hook), removed when the
 * allocation is destroyed. First of the hooks, last to let go.
 */
export class AllocDirHook implements AllocHook {
  readonly name = "alloc-dir";

  constructor(private readonly paths: AllocPaths) {}

  async prerun(): Promise<void> {
    for (const d of [this.paths.logs, this.paths.data, this.paths.tmp]) await mkdir(d, { recursive: true });
  }

  async destroy(): Promise<void> {
    await rm(this.paths.dir, { recursive: true, force: true });
  }
}
