import { join } from "node:path";
import type { TaskSpec } from "../driver.js";

/**
 * The host paths an exec task sees, read-only and at the same place: Nomad's default
 * `chroot_env` (the programs and libraries, /etc), the resolver's files, and /sys. Paths a
 * host lacks are left out; symlinks (merged /usr) are copied as symlinks.
 */
export const HOST_READ_ONLY = [
  "/bin",
  "/etc",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/sbin",
  "/usr",
  "/run/resolvconf",
  "/run/systemd/resolve",
  "/sys",
] as const;

/** The namespaces an exec task gets of its own: pid, mount, ipc and uts (not the network: it shares the host's). */
export const UNSHARE_ARGS = ["--pid", "--fork", "--mount", "--ipc", "--uts", "--propagation", "private", "--"] as const;

/** Nomad's `pid_mode` and `ipc_mode`: a namespace of the task's own ("private", the default) or the host's. */
export const ISOLATION_MODES = ["private", "host"] as const;

/** Problems with a task's `pid_mode` / `ipc_mode` and `work_dir`, in Nomad's words; empty when fine. */
export function validateModes(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const wd = config.work_dir;
  if (wd !== undefined && wd !== "" && (typeof wd !== "string" || !wd.startsWith("/"))) problems.push(`config.work_dir must be an absolute path: ${JSON.stringify(wd)}`);
  else if (typeof wd === "string" && wd.split("/").includes("..")) problems.push(`config.work_dir must not climb with "..": ${JSON.stringify(wd)}`);
  for (const key of ["pid_mode", "ipc_mode"] as const) {
    const v = config[key];
    if (v !== undefined && v !== "" && !(ISOLATION_MODES as readonly unknown[]).includes(v)) {
      problems.push(`config.${key} must be "private" or "host", got ${JSON.stringify(v)}`);
    }
  }
  return problems;
}

/**
 * The unshare options of a task: UNSHARE_ARGS, without the pid namespace when its
 * `pid_mode` is "host" (it sees the host's processes, and its /proc shows them) and without
 * the ipc namespace when its `ipc_mode` is. Expects a validated config.
 */
export function unshareArgs(config: Record<string, unknown>): string[] {
  const host = (key: string): boolean => config[key] === "host";
  return UNSHARE_ARGS.filter((a) => !(host("pid_mode") && (a === "--pid" || a === "--fork")) && !(host("ipc_mode") && a === "--ipc"));
}

/**
 * The shim options that build an exec task's world, in order: its cgroup first (before
 * anything of the task runs), then a fresh tmpfs root holding the host's system read-only,
 * its own cgroups read-only at /sys/fs/cgroup (in a cgroup namespace of its own: a JVM sizes
 * its heap from the memory limit it finds there, as in Nomad's exec isolation), a minimal /dev, its own /proc, and read-write `/alloc` (the allocation dir's `alloc/`,
 * shared by its tasks), `/local`, `/secrets` and `/tmp` (the task dir's), the task's host volumes at
 * their destinations (read-only where the mount is), then the root sealed read-only and the
 * hostname set. `root` is an empty dir on the host that the tmpfs is mounted on, in the
 * task's mount namespace only. The task starts in `/`, or in its `work_dir`.
 */
export function isolationOptions(spec: TaskSpec, root: string, cgroupProcs: readonly string[]): string[] {
  return [
    ...cgroupProcs.flatMap((p) => ["--cgroup", p]),
    "--root",
    root,
    ...HOST_READ_ONLY.flatMap((p) => ["--ro", p]),
    // Its own cgroups at /sys/fs/cgroup (after the cgroup is joined and /sys shown), in a cgroup namespace of its own.
    "--cgroupfs",
    "--dev",
    "--proc",
    "--bind",
    join(spec.allocDir, "alloc"),
    "/alloc",
    "--bind",
    join(spec.taskDir, "local"),
    "/local",
    "--bind",
    join(spec.taskDir, "secrets"),
    "/secrets",
    "--bind",
    join(spec.taskDir, "tmp"),
    "/tmp",
    // Host volumes (volume_mount), over what is above: the task sees them at their destination.
    ...(spec.mounts ?? []).flatMap((m) => ["--volume", m.hostPath, m.taskPath, m.readOnly ? "ro" : "rw"]),
    "--seal",
    "--hostname",
    taskHostname(spec),
    // `work_dir`: where the task starts in its root (default /, its task directory).
    ...(typeof spec.config.work_dir === "string" && spec.config.work_dir !== "" ? ["--workdir", spec.config.work_dir] : []),
  ];
}

/** The dirs `isolationOptions` mounts from the task dir; start makes them when the client has not. */
export const TASK_SUBDIRS = ["local", "secrets", "tmp"] as const;

/**
 * The hostname inside a task: the first 8 characters of its allocation id (unique on the
 * node, and what Nomad calls the short alloc id), or its task name where that is not a
 * valid hostname label.
 */
export function taskHostname(spec: TaskSpec): string {
  const label = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 63);
  const short = label(spec.allocId.slice(0, 8));
  if (short !== "") return short;
  const task = label(spec.taskName);
  return task === "" ? "task" : task;
}

/** The cgroup name of a task: `<allocId>-<task>`, with what a path cannot hold replaced. */
export function cgroupName(spec: TaskSpec): string {
  return `${spec.allocId}-${spec.taskName}`.replace(/[^A-Za-z0-9_.-]/g, "_");
}
