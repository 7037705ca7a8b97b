import { lstat, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import { ErrorCode, leavesAllocDir } from "../../structs/index.js";
import type { TaskMount, TaskSpec } from "../driver.js";
import type { VolumeSpec } from "./config.js";
import { DockerError } from "./errors.js";

/**
 * A docker task's `config { volumes = ["host:container"] }`, as Nomad's docker driver takes
 * them: a relative host path is taken from the task's directory and must stay inside the
 * allocation's directory (`data` is `<task dir>/data`, `../alloc/data` the directory the
 * allocation's tasks share), whatever the node allows; an absolute host path is mounted only
 * on a node whose agent allows host volumes (`-docker-volumes`, Nomad's docker plugin
 * `volumes { enabled = true }`; off by default). Ruche is stricter than Nomad in one way: a
 * relative path never leaves the allocation's directory, even where host volumes are allowed
 * (write a host path as an absolute path).
 */

/** What is wrong with a relative host path, or undefined: it may not climb out of the allocation's directory. */
export function relativeVolumeProblem(host: string): string | undefined {
  if (leavesAllocDir(host)) {
    return `mounts "${host}", which leaves the allocation's directory: a relative host path is taken from the task's directory and must stay inside the allocation's`;
  }
  return undefined;
}

/** What is wrong with an absolute host path on a node that does or does not allow them, or undefined. */
export function hostVolumeProblem(host: string, volumesEnabled: boolean): string | undefined {
  if (volumesEnabled) return undefined;
  return `mounts the host path "${host}", and this node does not allow host volumes: start its agent with -docker-volumes (Nomad's docker plugin volumes { enabled = true }), or use a path relative to the task's directory`;
}

/** Nomad's propagation modes as the engine's bind options (as Nomad's docker driver maps them). */
const PROPAGATION: Readonly<Record<string, string>> = { private: "rprivate", "host-to-task": "rslave", bidirectional: "rshared" };

/**
 * A host volume (a group's `volume` through the task's `volume_mount`) as a bind of the
 * container: `host:task:ro|rw,<propagation>[,z|Z]`. Not subject to -docker-volumes: the node's
 * operator offered the directory in its agent config, and the scheduler placed the task there for it.
 */
export function hostVolumeBind(m: TaskMount): string {
  const opts = [m.readOnly ? "ro" : "rw", PROPAGATION[m.propagationMode] ?? "rprivate", ...(m.selinuxLabel === "" ? [] : [m.selinuxLabel])];
  return `${m.hostPath}:${m.taskPath}:${opts.join(",")}`;
}

/** The host path a volume mounts: an absolute one as written, a relative one from the task's directory. */
export function volumeSource(spec: Pick<TaskSpec, "taskDir">, v: VolumeSpec): string {
  return isAbsolute(v.host) ? normalize(v.host) : resolve(spec.taskDir, v.host);
}

/**
 * Checks, just before the container is made, that each relative volume still lands inside
 * the allocation's directory once symlinks are followed: a task can make a symlink in its
 * own directories, and the engine would follow it on the host.
 */
export async function checkVolumeSources(spec: Pick<TaskSpec, "taskDir" | "allocDir">, volumes: readonly VolumeSpec[]): Promise<void> {
  const allocDir = await realpath(spec.allocDir);
  for (const v of volumes) {
    if (isAbsolute(v.host)) continue;
    const real = await realExisting(volumeSource(spec, v), v.host);
    const rel = relative(allocDir, real);
    if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new DockerError(ErrorCode.DockerBadConfig, `config.volumes: "${v.host}" leads to ${real}, outside the allocation's directory (through a symlink): a relative host path must stay inside it`);
    }
  }
}

/**
 * The real path of `path`: of its longest existing ancestor, with the rest appended (the
 * engine makes what is missing). A symlink that leads nowhere is refused: where the engine
 * would make its target is not to be guessed.
 */
async function realExisting(path: string, host: string): Promise<string> {
  let rest = "";
  let cur = path;
  for (;;) {
    try {
      return join(await realpath(cur), rest);
    } catch (err) {
      const parent = dirname(cur);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || parent === cur) throw err;
      if ((await lstat(cur).catch(() => undefined))?.isSymbolicLink() === true) {
        throw new DockerError(ErrorCode.DockerBadConfig, `config.volumes: "${host}" passes through ${cur}, a symlink that leads nowhere`);
      }
      rest = join(cur.slice(parent.length + 1), rest);
      cur = parent;
    }
  }
}
