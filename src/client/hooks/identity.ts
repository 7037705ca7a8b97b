import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { errorMessage, exposedIdentities, identityEnvName, identityFileName, signedIdentityKey, type Allocation } from "../../structs/index.js";
import { taskPaths, type AllocPaths } from "./alloc-dir.js";
import type { AllocHook, AllocHookContext } from "./hook.js";

/**
 * The tasks' workload identities on disk (Nomad's identity hook): for each task whose
 * `identity` block says `file = true`, the JWT the servers signed for it, in its
 * `secrets/` (`nomad_token` for the default identity, `nomad_<name>.jwt` for another),
 * mode 0600, written before the tasks start and again when the servers send a renewed
 * token (a named identity with a `ttl`). A task that asks for an identity the servers did
 * not sign does not start: the allocation fails, saying which. (`env = true` is
 * `task-spec.ts`'s: `NOMAD_TOKEN` in the task's environment at its start; a renewed one is
 * there from the task's next start on.) A renewed token acts on its running task by the
 * identity's `change_mode`, as Nomad's identity hook: `restart` ("Restart Signaled",
 * "Identity[NAME]: new token acquired", once per task whatever the number of identities),
 * `signal` (`change_signal`, each signal once), `noop`; a restart or signal that fails kills the task.
 */
export class IdentityHook implements AllocHook {
  readonly name = "identity";
  private written = new Map<string, string>();
  /** The token each identity had when last seen, by its key in `SignedIdentities`: a new one is a renewal. */
  private readonly seen = new Map<string, string>();
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
    this.renewed(alloc);
  }

  update(alloc: Allocation): void {
    this.writing = this.writing
      .then(() => this.write(alloc))
      .catch((err: unknown) => {
        this.ctx.log.warn({ allocId: alloc.ID, err }, "a renewed workload identity could not be written");
      })
      .then(() => {
        this.renewed(alloc);
      })
      .catch((err: unknown) => {
        this.ctx.log.warn({ allocId: alloc.ID, err }, "acting on a renewed workload identity failed");
      });
  }

  /** The tokens that changed since last seen, given to their tasks: the env of the next start, and the identity's change_mode now. */
  private renewed(alloc: Allocation): void {
    const restarts = new Map<string, string>();
    const signals = new Map<string, Map<string, string>>();
    for (const w of wanted(alloc)) {
      const jwt = alloc.SignedIdentities?.[w.key];
      if (jwt === undefined) continue;
      const before = this.seen.get(w.key);
      this.seen.set(w.key, jwt);
      if (before === undefined || before === jwt) continue;
      const task = this.ctx.tasks().get(w.task);
      if (task === undefined) continue;
      if (w.env) task.setEnv({ [identityEnvName(w.name)]: jwt });
      if (task.state.State !== "running") continue;
      if (w.changeMode === "restart" && !restarts.has(w.task)) restarts.set(w.task, `Identity[${w.name}]: new token acquired`);
      if (w.changeMode === "signal" && w.changeSignal !== "") {
        const bySignal = signals.get(w.task) ?? new Map<string, string>();
        if (!bySignal.has(w.changeSignal)) bySignal.set(w.changeSignal, `Identity[${w.name}]: new Identity token acquired`);
        signals.set(w.task, bySignal);
      }
    }
    for (const [name, reason] of restarts) {
      const task = this.ctx.tasks().get(name);
      signals.delete(name);
      task?.restart(reason).catch((err: unknown) => {
        this.failed(name, `failed to restart: ${errorMessage(err)}`);
      });
    }
    for (const [name, bySignal] of signals) {
      const task = this.ctx.tasks().get(name);
      for (const [sig, message] of bySignal) {
        task?.signal(sig, message).catch((err: unknown) => {
          this.failed(name, `failed to send signal: ${errorMessage(err)}`);
        });
      }
    }
  }

  private failed(task: string, why: string): void {
    this.ctx.log.warn({ allocId: this.ctx.alloc().ID, task }, `acting on a renewed workload identity: ${why}`);
    void this.ctx.tasks().get(task)?.kill(`Identity: ${why}`);
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
function wanted(alloc: Allocation): { task: string; name: string; key: string; file: boolean; env: boolean; changeMode: string; changeSignal: string; filepath?: string }[] {
  const tasks = alloc.Job.TaskGroups.find((g) => g.Name === alloc.TaskGroup)?.Tasks ?? [];
  return tasks.flatMap((t) =>
    exposedIdentities(t).map((w) => ({
      task: t.Name,
      name: w.Name,
      key: signedIdentityKey(t.Name, w.Name),
      file: w.File,
      env: w.Env,
      changeMode: w.ChangeMode,
      changeSignal: w.ChangeSignal,
      ...(w.Filepath === undefined ? {} : { filepath: w.Filepath }),
    })),
  );
}
