import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { exposedIdentities, identityFileName, signedIdentityKey, type Allocation } from "../../structs/index.js";
import { taskPaths, type AllocPaths } from "./alloc-dir.js";
import type { AllocHook, AllocHookContext } from "./hook.js";

/**
 * The tasks' workload identities on disk (Nomad's identity hook): for each task whose
 * `identity` block says `file = true`, the JWT the servers signed for it, in its
 * `secrets/` (`nomad_token` for the default identity, `nomad_<name>.jwt` for another),
 * mode 0600, written before the tasks start and again when the servers send a renewed
 * token (a named identity with a `ttl`). A task that asks for an identity the servers did
 * not sign does not start: the allocation fails, saying which. (`env = true` is
 * `task-spec.ts`'s: `NOMAD_TOKEN` in the task's environment, fixed at its start.)
 */
export class IdentityHook implements AllocHook {
  readonly name = "identity";
  private written = new Map<string, string>();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: AllocHookContext,
    private readonly paths: AllocPaths,
  ) {}

  async prerun(): Promise<void> {
    const alloc = this.ctx.alloc();
    const missing = wanted(alloc).filter((w) => alloc.SignedIdentities?.[w.key] === undefined);
    if (missing.length > 0) throw new Error(`the servers signed no workload identity for ${missing.map((m) => `task "${m.task}" (identity "${m.name}")`).join(", ")}`);
    await this.write(alloc);
  }

  update(alloc: Allocation): void {
    this.writing = this.writing
      .then(() => this.write(alloc))
      .catch((err: unknown) => {
        this.ctx.log.warn({ allocId: alloc.ID, err }, "a renewed workload identity could not be written");
      });
  }

  private async write(alloc: Allocation): Promise<void> {
    for (const w of wanted(alloc)) {
      const jwt = alloc.SignedIdentities?.[w.key];
      if (!w.file || jwt === undefined || this.written.get(w.key) === jwt) continue;
      const task = taskPaths(this.paths.dir, w.task);
      // As Nomad: `filepath` is relative to the task's directory (a leading "/" too).
      const file = w.filepath === undefined ? join(task.secrets, identityFileName(w.name)) : join(task.dir, w.filepath);
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.tmp`;
      await writeFile(tmp, jwt, { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, file);
      this.written.set(w.key, jwt);
    }
  }
}

/** The identities the allocation's tasks ask to see, each with its key in `SignedIdentities`. */
function wanted(alloc: Allocation): { task: string; name: string; key: string; file: boolean; filepath?: string }[] {
  const tasks = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup)?.Tasks ?? [];
  return tasks.flatMap((t) => exposedIdentities(t).map((w) => ({ task: t.Name, name: w.Name, key: signedIdentityKey(t.Name, w.Name), file: w.File, ...(w.Filepath === undefined ? {} : { filepath: w.Filepath }) })));
}
