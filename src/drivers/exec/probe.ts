import { platform } from "node:os";
import type { DriverFingerprint } from "../driver.js";
import { findBinary, runCommand } from "../shared/index.js";
import { detectCgroups, TaskCgroup } from "./cgroup.js";
import { UNSHARE_ARGS } from "./isolation.js";
import { errorMessage } from "../../structs/index.js";

/** The programs the exec driver runs: util-linux's and coreutils' chroot. */
export const EXEC_BINARIES = ["unshare", "nsenter", "setsid", "chroot", "mount"] as const;

/** Tells apart the probe cgroups of fingerprints that overlap. */
let probes = 0;

/**
 * Whether this node can run exec tasks, found by trying rather than assuming: root, the
 * programs, a cgroup with a memory limit made and removed, and a process started in new
 * namespaces that mounts its own /proc. Never throws; what fails is the description.
 */
export async function probeExec(): Promise<DriverFingerprint> {
  if (platform() !== "linux") return { detected: false, healthy: false, description: "exec runs on Linux only", attributes: {} };
  const attributes: Record<string, string> = { "driver.exec": "1" };
  const unhealthy = (description: string): DriverFingerprint => ({ detected: true, healthy: false, description, attributes });

  if (process.getuid?.() !== 0) return unhealthy("exec needs the agent to run as root (it makes namespaces, mounts and cgroups)");
  const missing = EXEC_BINARIES.filter((b) => findBinary(b) === undefined);
  if (missing.length > 0) return unhealthy(`missing programs: ${missing.join(", ")} (util-linux, coreutils)`);

  const version = detectCgroups();
  if (version === undefined) return unhealthy("no cgroup hierarchy with a memory controller at /sys/fs/cgroup");
  attributes["driver.exec.cgroups"] = version;
  try {
    const probe = await TaskCgroup.create(`.probe-${process.pid}-${++probes}`, { memoryMB: 16, cpuMHz: 100, pids: 16 });
    await probe.remove();
  } catch (err) {
    return unhealthy(`cannot make a cgroup with a memory and a process limit (cgroup ${version}): ${errorMessage(err)}`);
  }

  const unshare = findBinary("unshare") ?? "unshare";
  try {
    const r = await runCommand([unshare, ...UNSHARE_ARGS, "/bin/sh", "-c", "mount -t proc proc /proc && printf ok"], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      cwd: "/",
      timeoutMs: 10_000,
    });
    if (r.exitCode !== 0 || r.stdout.toString() !== "ok") {
      return unhealthy(`cannot start a process in new pid, mount, ipc and uts namespaces: ${r.stderr.toString().trim() || `exit code ${r.exitCode}`}`);
    }
  } catch (err) {
    return unhealthy(`cannot run unshare: ${errorMessage(err)}`);
  }
  return { detected: true, healthy: true, description: `Healthy: namespaces and cgroup ${version} limits`, attributes };
}
