import { mkdir } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { errorMessage, nodeVariable, parseArtifactSource, type ArtifactMode, type Node, type TaskArtifact } from "../../structs/index.js";
import { ArtifactError, fetchArtifact } from "./artifact-getter.js";
import { allocPaths, taskPaths } from "./alloc-dir.js";
import type { PrestartResult, TaskHook, TaskHookContext } from "./hook.js";

/** The event before the downloads and the one that says one failed, in Nomad's words. */
export const DOWNLOADING_ARTIFACTS = "Downloading Artifacts";
export const ARTIFACT_DOWNLOAD_FAILED = "Failed Artifact Download";

/**
 * A task's `artifact` blocks, fetched before it starts, after its directory exists
 * (Nomad's `artifact_hook`): "Downloading Artifacts", then each artifact in order, its
 * source, destination, options and headers interpolated as Nomad's client does (`${NOMAD_*}`
 * with the node's own paths, `${attr.*}`, `${meta.*}`, `${node.*}`). A failure is the task
 * event "Failed Artifact Download" with the reason; the task then restarts by its restart
 * policy, as Nomad retries a download, unless the artifact itself is wrong (a destination
 * out of the allocation's directory). Artifacts fetched once are not fetched again on a
 * restart. A task being killed aborts the download (`ctx.killing`).
 */
export class ArtifactHook implements TaskHook {
  readonly name = "artifacts";
  private readonly done = new Set<number>();
  private readonly abort = new AbortController();

  constructor(
    private readonly ctx: TaskHookContext,
    /** For `${attr.*}`, `${meta.*}`, `${node.*}`, and whether the node runs raw_exec; absent: those stay as written. */
    private readonly node: Node | undefined,
  ) {}

  async prestart(): Promise<PrestartResult> {
    const artifacts = this.ctx.task.Artifacts ?? [];
    if (artifacts.every((_, i) => this.done.has(i))) return { ok: true };
    this.ctx.event(DOWNLOADING_ARTIFACTS, "Client is downloading artifacts");
    const spec = this.ctx.spec;
    const own = taskPaths(spec.allocDir, spec.taskName);
    const shared = allocPaths(dirname(spec.allocDir), basename(spec.allocDir)).shared;
    // The node's own paths, whatever the task sees inside its container (Nomad's `ReplaceEnvClient`).
    const env: Record<string, string> = { ...spec.env };
    for (const prefix of ["NOMAD_", "RUCHE_"]) {
      env[`${prefix}ALLOC_DIR`] = shared;
      env[`${prefix}TASK_DIR`] = own.local;
      env[`${prefix}SECRETS_DIR`] = own.secrets;
    }
    const interpolate = (s: string): string => s.replace(/\$\{([^}]+)\}/g, (whole, ref: string) => this.resolve(ref.trim(), env) ?? whole);
    // Where the raw_exec driver runs, a job may read the node's files anyway; elsewhere a local source stays in the allocation.
    const rawExec = this.node?.Drivers.raw_exec;
    const localRoots = rawExec?.Detected === true && rawExec.Healthy ? null : [spec.allocDir];
    for (const [i, a] of artifacts.entries()) {
      if (this.done.has(i)) continue;
      try {
        await this.fetchOne(a, interpolate, localRoots);
      } catch (err) {
        if (this.abort.signal.aborted || this.ctx.killing?.aborted === true) return { ok: false, event: ARTIFACT_DOWNLOAD_FAILED, reason: "the task is being killed" };
        const reason = `failed to download artifact "${a.GetterSource}": ${errorMessage(err)}`;
        this.ctx.log.warn({ task: spec.taskName, artifact: a.GetterSource, err }, "artifact download failed");
        const recoverable = !(err instanceof ArtifactError) || err.recoverable;
        return { ok: false, event: ARTIFACT_DOWNLOAD_FAILED, reason, details: { download_error: reason }, recoverable };
      }
      this.done.add(i);
    }
    return { ok: true };
  }

  stop(): void {
    this.abort.abort();
  }

  private resolve(ref: string, env: Readonly<Record<string, string>>): string | undefined {
    if (ref.startsWith("env.")) return env[ref.slice(4)];
    return (this.node === undefined ? undefined : nodeVariable(ref, this.node)) ?? env[ref];
  }

  private async fetchOne(a: TaskArtifact, interpolate: (s: string) => string, localRoots: readonly string[] | null): Promise<void> {
    const spec = this.ctx.spec;
    const options: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.GetterOptions ?? {})) options[k] = interpolate(v);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.GetterHeaders ?? {})) headers[k] = interpolate(v);
    const parsed = parseArtifactSource(interpolate(a.GetterSource), options);
    if (!parsed.ok) throw new ArtifactError(parsed.reason, false);
    const dest = artifactDestination(interpolate(a.RelativeDest), spec.taskDir, allocPaths(dirname(spec.allocDir), basename(spec.allocDir)).shared);
    if (escapes(spec.allocDir, dest)) throw new ArtifactError("artifact destination path escapes alloc directory", false);
    const tmpDir = taskPaths(spec.allocDir, spec.taskName).tmp;
    await mkdir(tmpDir, { recursive: true });
    await fetchArtifact({
      source: parsed.source,
      dest,
      mode: a.GetterMode as ArtifactMode,
      headers,
      insecure: a.GetterInsecure,
      allocDir: spec.allocDir,
      localRoots,
      tmpDir,
      signal: this.ctx.killing === undefined ? this.abort.signal : AbortSignal.any([this.abort.signal, this.ctx.killing]),
    });
  }
}

/**
 * Nomad's `TaskEnv.ClientPath(dest, joinEscape = true)`: a relative destination is taken
 * from the task's directory, and so is an absolute one out of both the task's directory and
 * the allocation's shared `alloc/` (`/local/x`, `/app/latest` → `<task dir>/local/x`,
 * `<task dir>/app/latest`); an absolute path in either (`${NOMAD_ALLOC_DIR}/x`, the node's
 * own paths) stays as it is.
 */
export function artifactDestination(dest: string, taskDir: string, sharedDir: string): string {
  if (!isAbsolute(dest)) return resolve(taskDir, dest);
  const abs = resolve(dest);
  return escapes(taskDir, abs) && escapes(sharedDir, abs) ? resolve(join(taskDir, abs)) : abs;
}

function escapes(root: string, path: string): boolean {
  const r = relative(root, path);
  return r === ".." || r.startsWith(`..${sep}`) || isAbsolute(r);
}
