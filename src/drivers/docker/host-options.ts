import { realpath, readFile } from "node:fs/promises";
import { isAbsolute, normalize, relative, resolve, sep } from "node:path";
import { DOCKER_ALLOW_RUNTIMES, ErrorCode, leavesAllocDir, NS, parseDuration } from "../../structs/index.js";
import type { TaskSpec } from "../driver.js";
import { DockerError } from "./errors.js";

/** Where a node allows what a privileged container may do: Nomad's docker plugin option, and the agent's flag for it. */
export const ALLOW_PRIVILEGED = 'plugin "docker" { config { allow_privileged = true } } in the agent config (-docker-allow-privileged)';

/** `devices { host_path container_path cgroup_permissions }`, as the engine's DeviceMapping. */
export interface DeviceSpec {
  hostPath: string;
  containerPath: string;
  /** Of r (read), w (write), m (mknod); Nomad's default "rwm". */
  cgroupPermissions: string;
}

/** One `ulimit` entry, "soft[:hard]" (hard = soft when absent). */
export interface UlimitSpec {
  name: string;
  soft: number;
  hard: number;
}

/**
 * Nomad's docker options that shape the container beyond its command, image and mounts
 * (namespaces, limits, devices, security, terminal, image source), read once with the rest
 * of the config (`readConfig`). Absent: the option is not set, and the engine's (or Ruche's)
 * default holds.
 */
export interface HostOptions {
  /** `init`: docker's tini as PID 1. Ruche runs it unless `init = false` (see container.ts). */
  init?: boolean;
  devices?: DeviceSpec[];
  /** `ipc_mode`, `uts_mode`, `userns_mode`: one that shares the host's (or another container's) runs only where privileged containers may. */
  ipcMode?: string;
  utsMode?: string;
  usernsMode?: string;
  cgroupns?: string;
  /** `/dev/shm`'s size in bytes. */
  shmSize?: number;
  sysctl?: Record<string, string>;
  ulimits?: UlimitSpec[];
  /** As written; a `seccomp=<file>` entry is replaced by the file's profile when the task starts (`loadSecurityOpts`). */
  securityOpt?: string[];
  readonlyRootfs?: boolean;
  tty?: boolean;
  interactive?: boolean;
  runtime?: string;
  groupAdd?: string[];
  /** `healthchecks { disable = true }`: the image's HEALTHCHECK is not run. */
  healthchecksDisabled?: boolean;
  networkAliases?: string[];
  macAddress?: string;
  cpusetCpus?: string;
  cpuHardLimit?: boolean;
  /** Microseconds (Nomad's default 100000), with `cpu_hard_limit`. */
  cpuCfsPeriod?: number;
  memoryHardLimitMB?: number;
  oomScoreAdj?: number;
  imagePullTimeoutMs?: number;
  storageOpt?: Record<string, string>;
  /** An image archive (`docker save`) in the task's `local/` directory, loaded before the container is made. */
  load?: string;
}

/** The node's permissions these options depend on (`ReadConfigOptions`). */
interface Allowed {
  allowPrivileged: boolean;
  volumesEnabled: boolean;
}

/** The resource names the engine takes for `ulimit`. */
const ULIMIT_NAMES = ["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];
/** `security_opt` entries that loosen the container's confinement (Ruche's gate; Nomad passes them on): only where privileged containers may run. */
const LOOSENING = /^(seccomp[=:]unconfined|apparmor[=:]unconfined|label[=:].*|systempaths[=:]unconfined|writable-cgroups[=:]true)$/;
const SECURITY_KEYS = ["seccomp", "apparmor", "label", "no-new-privileges", "systempaths", "writable-cgroups"];
const MAC = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** Reads Nomad's container options (`HostOptions`) from a task's config; each problem names its key. */
export function readHostOptions(raw: Record<string, unknown>, opts: Allowed, problems: string[]): HostOptions {
  const out: HostOptions = {};
  const has = (key: string): boolean => raw[key] !== undefined;
  // As Nomad's hclspec (cty's conversions): "true" and "false" are booleans, "1024" a number.
  const bool = (key: string): boolean | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    problems.push(`config.${key} must be true or false`);
    return undefined;
  };
  const str = (key: string): string | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v === "string" && v !== "") return v;
    problems.push(`config.${key} must be a non-empty string`);
    return undefined;
  };
  const int = (key: string, min: number, max: number, what: string): number | undefined => {
    const raw1 = raw[key];
    if (raw1 === undefined) return undefined;
    const v = typeof raw1 === "string" && /^-?\d+$/.test(raw1) ? Number(raw1) : raw1;
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) return v;
    problems.push(`config.${key} must be ${what}, got ${JSON.stringify(v)}`);
    return undefined;
  };
  const strings = (key: string): string[] | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
    problems.push(`config.${key} must be a list of strings`);
    return undefined;
  };
  const privileged = (key: string, value: string, why: string): void => {
    if (!opts.allowPrivileged) problems.push(`config.${key} = "${value}" is not allowed on this node: ${why}; ${ALLOW_PRIVILEGED} allows it`);
  };

  const init = bool("init");
  if (init !== undefined) out.init = init;
  for (const key of ["readonly_rootfs", "tty", "interactive", "cpu_hard_limit"] as const) {
    const v = bool(key);
    if (v === undefined) continue;
    if (key === "readonly_rootfs") out.readonlyRootfs = v;
    else if (key === "tty") out.tty = v;
    else if (key === "interactive") out.interactive = v;
    else out.cpuHardLimit = v;
  }

  // Namespaces: as Nomad, sharing the host's (or another container's) needs allow_privileged (Nomad's allowed_modes are empty by default).
  const ipc = str("ipc_mode");
  if (ipc !== undefined) {
    if (!/^(private|shareable|none|host|container:.+)$/.test(ipc)) problems.push(`config.ipc_mode must be "private", "shareable", "none", "host" or "container:<name>", got "${ipc}"`);
    else if (ipc === "host" || ipc.startsWith("container:")) privileged("ipc_mode", ipc, `it shares ${ipc === "host" ? "the host's" : "another container's"} shared memory and message queues`);
    out.ipcMode = ipc;
  }
  const uts = str("uts_mode");
  if (uts !== undefined) {
    if (uts !== "host") problems.push(`config.uts_mode must be "host" (the host's hostname and domain name), got "${uts}"`);
    else privileged("uts_mode", uts, "it shares the host's hostname, which the task may then change");
    out.utsMode = uts;
  }
  const userns = str("userns_mode");
  if (userns !== undefined) {
    if (userns !== "host") problems.push(`config.userns_mode must be "host" (no user namespace remapping), got "${userns}"`);
    else privileged("userns_mode", userns, "the container's root is then the host's root");
    out.usernsMode = userns;
  }
  const cgroupns = str("cgroupns");
  if (cgroupns !== undefined) {
    if (cgroupns !== "host" && cgroupns !== "private") problems.push(`config.cgroupns must be "host" or "private", got "${cgroupns}"`);
    out.cgroupns = cgroupns;
  }

  const shm = int("shm_size", 0, Number.MAX_SAFE_INTEGER, "a whole number of bytes");
  if (shm !== undefined) out.shmSize = shm;
  const sysctl = stringMap(raw, "sysctl", problems);
  if (sysctl !== undefined) out.sysctl = sysctl;
  const storage = stringMap(raw, "storage_opt", problems);
  if (storage !== undefined) out.storageOpt = storage;
  const ulimit = stringMap(raw, "ulimit", problems);
  if (ulimit !== undefined) out.ulimits = Object.entries(ulimit).flatMap(([name, v]) => readUlimit(name, v, problems));

  if (has("devices")) out.devices = readDevices(raw.devices, problems);

  const security = strings("security_opt");
  security?.forEach((o, i) => {
    const at = `config.security_opt[${i}]`;
    const [key, value] = o === "no-new-privileges" ? [o, "true"] : splitOpt(o);
    if (value === undefined || !SECURITY_KEYS.includes(key)) {
      problems.push(`${at} must be one of ${SECURITY_KEYS.map((k) => `${k}=...`).join(", ")} (or no-new-privileges), got "${o}"`);
    } else if (LOOSENING.test(o)) {
      if (!opts.allowPrivileged) problems.push(`${at} "${o}" is not allowed on this node: it lifts the container's confinement; ${ALLOW_PRIVILEGED} allows it`);
    } else if (key === "seccomp") {
      // A profile file: relative to the task's directory (an artifact, a template), or a host path where host paths may be read.
      if (isAbsolute(value)) {
        if (!opts.volumesEnabled) problems.push(`${at} reads the host file "${value}", and this node does not allow host paths: start its agent with -docker-volumes, or give a path relative to the task's directory (local/seccomp.json)`);
      } else if (leavesAllocDir(value)) problems.push(`${at} reads "${value}", which leaves the allocation's directory: a relative path is taken from the task's directory`);
    }
  });
  if (security !== undefined) out.securityOpt = security;

  const runtime = str("runtime");
  if (runtime !== undefined) {
    if (!DOCKER_ALLOW_RUNTIMES.includes(runtime)) problems.push(`config.runtime "${runtime}" is not allowed: a task may ask for ${DOCKER_ALLOW_RUNTIMES.join(" or ")} (Nomad's default allow_runtimes)`);
    out.runtime = runtime;
  }
  const groupAdd = strings("group_add");
  if (groupAdd !== undefined) out.groupAdd = groupAdd;

  if (has("healthchecks")) {
    const b = oneBlock(raw.healthchecks);
    if (b === undefined) problems.push("config.healthchecks must be a block: healthchecks { disable = true }");
    else {
      for (const k of Object.keys(b)) if (k !== "disable") problems.push(`config.healthchecks.${k} is not an option of docker's healthchecks block (disable)`);
      if (b.disable !== undefined && typeof b.disable !== "boolean") problems.push("config.healthchecks.disable must be true or false");
      out.healthchecksDisabled = b.disable === true;
    }
  }

  // Both belong to the container's endpoint on its network: one of its own, not the host's or another container's.
  const networkMode = typeof raw.network_mode === "string" ? raw.network_mode : undefined;
  const sharedNet = networkMode === "host" || networkMode === "none" || networkMode?.startsWith("container:") === true;
  const aliases = strings("network_aliases");
  if (aliases !== undefined) {
    if (networkMode === undefined || sharedNet || networkMode === "bridge" || networkMode === "default") {
      problems.push(`config.network_aliases needs network_mode to name a docker network of your own (docker keeps aliases to user-defined networks), got ${networkMode === undefined ? "none" : `"${networkMode}"`}`);
    }
    out.networkAliases = aliases;
  }
  const mac = str("mac_address");
  if (mac !== undefined) {
    if (!MAC.test(mac)) problems.push(`config.mac_address must be a MAC address such as "02:42:ac:11:00:02", got "${mac}"`);
    if (sharedNet) problems.push(`config.mac_address cannot be set with network_mode "${networkMode}": the container has no network interface of its own`);
    out.macAddress = mac;
  }

  const cpuset = str("cpuset_cpus");
  if (cpuset !== undefined) {
    if (!CPU_LIST.test(cpuset)) problems.push(`config.cpuset_cpus must list CPUs as "0-3" or "0,2", got "${cpuset}"`);
    out.cpusetCpus = cpuset;
  }
  const period = typeof raw.cpu_cfs_period === "string" && /^\d+$/.test(raw.cpu_cfs_period) ? Number(raw.cpu_cfs_period) : raw.cpu_cfs_period;
  if (period !== undefined) {
    // 0: the default period. The engine takes 1 ms to 1 s.
    if (typeof period !== "number" || !Number.isInteger(period) || (period !== 0 && (period < 1000 || period > 1_000_000))) {
      problems.push(`config.cpu_cfs_period must be microseconds from 1000 to 1000000 (0 for the default, 100000), got ${JSON.stringify(period)}`);
    } else if (period !== 0) out.cpuCfsPeriod = period;
  }
  const hard = int("memory_hard_limit", 0, Number.MAX_SAFE_INTEGER, "a whole number of MB");
  if (hard !== undefined && hard > 0) out.memoryHardLimitMB = hard;
  const oom = int("oom_score_adj", -1000, 1000, "a whole number from -1000 to 1000");
  if (oom !== undefined) {
    // A negative score shields the task from the OOM killer at the other tasks' cost (Ruche's gate; Nomad's comment says a positive integer).
    if (oom < 0 && !opts.allowPrivileged) problems.push(`config.oom_score_adj = ${oom} is not allowed on this node: a negative score spares the task from the OOM killer at the cost of the node's other tasks; ${ALLOW_PRIVILEGED} allows it`);
    out.oomScoreAdj = oom;
  }

  const pullTimeout = str("image_pull_timeout");
  if (pullTimeout !== undefined) {
    const ns = parseDuration(pullTimeout);
    if (ns === undefined || ns <= 0) problems.push(`config.image_pull_timeout must be a duration such as "5m", got "${pullTimeout}"`);
    else out.imagePullTimeoutMs = Math.ceil(ns / NS.millisecond);
  }

  const load = str("load");
  if (load !== undefined) {
    // Nomad takes it from the task's local/ directory (where artifacts land by default).
    if (normalize(load).split(/[\\/]/).includes("..")) problems.push(`config.load must name a file in the task's local/ directory (where artifacts land), got "${load}"`);
    out.load = load;
  }
  return out;
}

/** "key=value" or "key:value" (docker's older form), the value undefined when there is neither. */
function splitOpt(o: string): [string, string | undefined] {
  const eq = o.indexOf("=");
  const colon = o.indexOf(":");
  const at = eq >= 0 ? eq : colon;
  return at < 0 ? [o, undefined] : [o.slice(0, at), o.slice(at + 1)];
}

/** One block: HCL writes `name { ... }` as a list of one. */
function oneBlock(v: unknown): Record<string, unknown> | undefined {
  const b = Array.isArray(v) && v.length === 1 ? (v as unknown[])[0] : v;
  return typeof b === "object" && b !== null && !Array.isArray(b) ? (b as Record<string, unknown>) : undefined;
}

/** A map of strings (`sysctl`, `ulimit`, `storage_opt`): a map, or HCL's list of maps merged in order; numbers and booleans are written as text, as HCL does. */
function stringMap(raw: Record<string, unknown>, key: string, problems: string[]): Record<string, string> | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  const maps = Array.isArray(v) ? (v as unknown[]) : [v];
  const out: Record<string, string> = {};
  for (const m of maps) {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      problems.push(`config.${key} must be a map, as in ${key} { name = "value" }`);
      return undefined;
    }
    for (const [k, x] of Object.entries(m)) {
      if (typeof x === "string" || typeof x === "number" || typeof x === "boolean") out[k] = String(x);
      else problems.push(`config.${key}.${k} must be a string`);
    }
  }
  return out;
}

/** "soft[:hard]" as Nomad's `sliceMergeUlimit` reads it, for a resource the engine knows. */
function readUlimit(name: string, v: string, problems: string[]): UlimitSpec[] {
  const at = `config.ulimit.${name}`;
  if (!ULIMIT_NAMES.includes(name)) {
    problems.push(`${at}: "${name}" is not a resource limit; use one of ${ULIMIT_NAMES.join(", ")}`);
    return [];
  }
  const m = /^(-?\d+)(?::(-?\d+))?$/.exec(v);
  if (m === null) {
    problems.push(`${at} must be "soft" or "soft:hard", whole numbers, got "${v}"`);
    return [];
  }
  const soft = Number(m[1]);
  const hard = m[2] === undefined ? soft : Number(m[2]);
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    problems.push(`${at}: the soft limit (${soft}) must not be above the hard limit (${hard})`);
    return [];
  }
  return [{ name, soft, hard }];
}

/** `devices` blocks as Nomad's `toDockerDevice` reads them: a host path (a device under /dev), the container path (default the same), permissions of r, w, m (default "rwm"). */
function readDevices(v: unknown, problems: string[]): DeviceSpec[] {
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  return list.flatMap((b, i) => {
    const at = `config.devices[${i}]`;
    if (typeof b !== "object" || b === null || Array.isArray(b)) {
      problems.push(`${at} must be a block: devices { host_path = "/dev/..." container_path = "..." }`);
      return [];
    }
    const r = b as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!["host_path", "container_path", "cgroup_permissions"].includes(k)) problems.push(`${at}.${k} is not an option of docker's devices block (host_path, container_path, cgroup_permissions)`);
    const host = r.host_path;
    const container = r.container_path ?? host;
    const perms = r.cgroup_permissions ?? "rwm";
    if (typeof host !== "string" || !isAbsolute(host) || !normalize(host).startsWith("/dev/")) {
      problems.push(`${at}.host_path must name a device under /dev, got ${JSON.stringify(host)}`);
      return [];
    }
    if (typeof container !== "string" || !isAbsolute(container)) {
      problems.push(`${at}.container_path must be an absolute path inside the container, got ${JSON.stringify(container)}`);
      return [];
    }
    if (typeof perms !== "string" || perms === "" || !/^[rwm]+$/.test(perms)) {
      problems.push(`${at}.cgroup_permissions must be letters of r, w and m (as "rwm"), got ${JSON.stringify(perms)}`);
      return [];
    }
    return [{ hostPath: normalize(host), containerPath: container, cgroupPermissions: perms }];
  });
}

/**
 * A file the task names, under `base` in its directory (a leading "/" too, as Nomad joins
 * them), kept inside the allocation's directory once symlinks are followed.
 */
export async function taskFile(spec: Pick<TaskSpec, "allocDir" | "taskDir">, base: string, name: string, what: string): Promise<string> {
  const path = resolve(spec.taskDir, base, name.replace(/^\/+/, ""));
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw new DockerError(ErrorCode.DockerBadConfig, `${what}: ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const rel = relative(await realpath(spec.allocDir), real);
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new DockerError(ErrorCode.DockerBadConfig, `${what}: ${path} leads to ${real}, outside the allocation's directory`);
  return real;
}

/**
 * `security_opt` as the engine takes it: a `seccomp=<file>` entry becomes `seccomp=<the
 * profile's JSON>` (docker's CLI and Nomad's driver read the file for the engine). A relative
 * file is the task's (from its directory); `readConfig` let an absolute one through only
 * where host paths are allowed.
 */
export async function loadSecurityOpts(spec: Pick<TaskSpec, "allocDir" | "taskDir">, opts: readonly string[]): Promise<string[]> {
  return Promise.all(
    opts.map(async (o, i) => {
      const [key, value] = splitOpt(o);
      if (key !== "seccomp" || value === undefined || value === "unconfined") return o;
      const what = `config.security_opt[${i}]`;
      const path = isAbsolute(value) ? value : await taskFile(spec, ".", value, what);
      let profile: unknown;
      try {
        profile = JSON.parse(await readFile(path, "utf8"));
      } catch (err) {
        throw new DockerError(ErrorCode.DockerBadConfig, `${what}: the seccomp profile ${path} is not readable JSON: ${(err as Error).message}`, { cause: err });
      }
      return `seccomp=${JSON.stringify(profile)}`;
    }),
  );
}
