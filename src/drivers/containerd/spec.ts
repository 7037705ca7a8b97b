import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TaskSpec } from "../driver.js";
import { memoryLimits } from "../shared/index.js";
import type { ContainerdTaskConfig } from "./config.js";
import type { ImageConfig } from "./image.js";

/** An OCI runtime spec as JSON: the parts written here are typed, the rest kept as read. */
export interface OciSpec {
  process: {
    args?: string[];
    env?: string[];
    cwd: string;
    user: { uid: number; gid: number; additionalGids?: number[] };
    capabilities?: Record<string, string[]>;
    noNewPrivileges?: boolean;
    [k: string]: unknown;
  };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: {
    resources?: {
      devices?: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[];
      memory?: { limit?: number; reservation?: number };
      cpu?: { shares?: number };
      pids?: { limit: number };
    };
    cgroupsPath?: string;
    namespaces: { type: string; path?: string }[];
    devices?: { path: string; type: string; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }[];
    sysctl?: Record<string, string>;
    seccomp?: unknown;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** Every capability Linux has, for `privileged` and `cap_add = ["ALL"]`. */
const ALL_CAPS = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
  "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
  "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE",
  "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
].map((c) => `CAP_${c}`);

/** containerd's default environment, under the image's. */
const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The device nodes every container may use (containerd's `WithDefaultUnixDevices` and runc's defaults). */
const DEFAULT_DEVICE_RULES = [
  { type: "c", major: 1, minor: 3 },
  { type: "c", major: 1, minor: 5 },
  { type: "c", major: 1, minor: 7 },
  { type: "c", major: 1, minor: 8 },
  { type: "c", major: 1, minor: 9 },
  { type: "c", major: 5, minor: 0 },
  { type: "c", major: 5, minor: 1 },
  { type: "c", major: 5, minor: 2 },
  { type: "c", major: 136, minor: -1 },
  { type: "c", major: 10, minor: 200 },
];

/** A capability as the kernel names it: `sys_ptrace` and `SYS_PTRACE` are `CAP_SYS_PTRACE`. */
export function capName(c: string): string {
  const up = c.trim().toUpperCase();
  return up.startsWith("CAP_") ? up : `CAP_${up}`;
}

/** `KEY=value` entries with `add` laid over `base` by key (containerd's `replaceOrAppendEnvValues`). */
export function mergeEnv(base: readonly string[], add: readonly string[]): string[] {
  const out = [...base];
  for (const kv of add) {
    const key = kv.split("=")[0] ?? "";
    const i = out.findIndex((e) => (e.split("=")[0] ?? "") === key);
    if (i >= 0) out[i] = kv;
    else out.push(kv);
  }
  return out;
}

/**
 * The task's process arguments, as the plugin makes them: `command` (or `entrypoint`) then
 * `args`; without `entrypoint` they follow the image's entrypoint, in place of its `CMD`.
 */
export function processArgs(cfg: Pick<ContainerdTaskConfig, "command" | "entrypoint" | "args">, image: Pick<ImageConfig, "entrypoint" | "cmd">): string[] {
  const args: string[] = [];
  if (cfg.command !== "") args.push(cfg.command);
  else if (cfg.entrypoint !== undefined && cfg.entrypoint[0] !== "") args.push(...cfg.entrypoint);
  args.push(...cfg.args);
  if (cfg.entrypoint !== undefined) return args;
  return [...image.entrypoint, ...(args.length > 0 ? args : image.cmd)];
}

/** A file of the image's root, read without following a symlink out of it; "" when there is none. */
function rootFile(rootfs: string, path: string): string {
  try {
    const p = join(rootfs, path);
    return lstatSync(p).isFile() ? readFileSync(p, "utf8") : "";
  } catch {
    return "";
  }
}

/** `user`, `uid`, `user:group` or `uid:gid` as ids, looked up in the image's /etc/passwd and /etc/group (containerd's `WithUser`). */
export function resolveUser(rootfs: string, user: string): { uid: number; gid: number } {
  if (user === "") return { uid: 0, gid: 0 };
  const [u = "", g] = user.split(":");
  const passwd = rootFile(rootfs, "etc/passwd").split("\n").map((l) => l.split(":"));
  const entry = passwd.find((f) => f[0] === u || (/^\d+$/.test(u) && f[2] === u));
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    gid = entry === undefined ? 0 : Number(entry[3] ?? 0);
  } else {
    if (entry === undefined) throw new Error(`user "${u}" is not in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3] ?? 0);
  }
  if (g !== undefined && g !== "") {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const grp = rootFile(rootfs, "etc/group").split("\n").map((l) => l.split(":")).find((f) => f[0] === g);
      if (grp === undefined) throw new Error(`group "${g}" is not in the image's /etc/group`);
      gid = Number(grp[2]);
    }
  }
  return { uid, gid };
}

/** A host device node as the spec's `linux.devices` names it. */
function deviceOf(path: string): { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number } {
  const st = statSync(path);
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : "";
  if (type === "") throw new Error(`device ${path} is not a device node`);
  const major = (st.rdev >> 8) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  return { path, type, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** The host's device nodes under /dev (containerd's `WithHostDevices`), for a privileged task. */
function hostDevices(dir = "/dev"): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (dir === "/dev" && ["pts", "shm", "mqueue", "fd", ".lxc", ".udev", "console"].includes(name)) continue;
    const p = join(dir, name);
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) out.push(...hostDevices(p));
      else if (st.isCharacterDevice() || st.isBlockDevice()) out.push(p);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

export interface SpecInput {
  /** `ctr oci spec`: containerd's default spec, laid under everything. */
  base: OciSpec;
  image: ImageConfig;
  config: ContainerdTaskConfig;
  task: TaskSpec;
  containerId: string;
  namespace: string;
  /** The container's root: the image's snapshot, mounted. */
  rootfs: string;
  /** The task's /etc/hosts, written by the driver. */
  hostsFile: string;
}

/**
 * The container's memory: `memory` as the limit; under memory oversubscription, `memory_max`
 * above it as the limit and `memory` as the reservation, as the plugin's `WithMemoryLimits`;
 * `memory_max` = -1, no limit (OCI's -1) and `memory` the reservation, as Nomad's own drivers
 * (the plugin keeps `memory` as the limit there).
 */
export function memoryResources(task: Pick<TaskSpec, "memoryMB" | "memoryMaxMB">): { limit: number; reservation?: number } {
  const { limitBytes, reservationBytes } = memoryLimits(task.memoryMB, task.memoryMaxMB);
  return reservationBytes > 0 ? { limit: limitBytes, reservation: reservationBytes } : { limit: limitBytes };
}

/** The OCI spec of a task's container, as the plugin's `createContainer` builds it with containerd's spec options. */
export function buildSpec(input: SpecInput): OciSpec {
  const { image, config: c, task } = input;
  const s = structuredClone(input.base);
  s.root = { path: input.rootfs, readonly: c.readonlyRootfs };
  const args = processArgs(c, image);
  if (args.length === 0) throw new Error("the task has no command: the image has none, and config gives neither command nor entrypoint");
  s.process.args = args;
  // The task's environment over the image's, but not its PATH (the plugin keeps the image's).
  const taskEnv = Object.entries(task.env).filter(([k]) => k !== "PATH").map(([k, v]) => `${k}=${v}`);
  s.process.env = mergeEnv(mergeEnv([DEFAULT_PATH], image.env), taskEnv);
  s.process.cwd = c.cwd !== "" ? c.cwd : image.workingDir;
  const user = task.user !== "" ? task.user : image.user;
  s.process.user = resolveUser(input.rootfs, user);
  s.hostname = c.hostname !== "" ? c.hostname : input.containerId;

  const lin = s.linux;
  lin.cgroupsPath = `/${input.namespace}/${input.containerId}`;
  const res = (lin.resources ??= {});
  res.memory = memoryResources(task);
  res.cpu = { shares: Math.max(2, task.cpu) };
  if (c.pidsLimit > 0) res.pids = { limit: c.pidsLimit };
  res.devices = [...(res.devices ?? []), ...DEFAULT_DEVICE_RULES.map((d) => ({ allow: true, ...d, access: "rwm" }))];
  if (Object.keys(c.sysctl).length > 0) lin.sysctl = { ...(lin.sysctl ?? {}), ...c.sysctl };

  const dropNs = (type: string): void => {
    lin.namespaces = lin.namespaces.filter((n) => n.type !== type);
  };
  if (c.pidMode.toLowerCase() === "host") dropNs("pid");
  if (c.hostNetwork) dropNs("network");
  else if (task.network !== undefined) lin.namespaces = lin.namespaces.map((n) => (n.type === "network" ? { type: "network", path: task.network?.netnsPath ?? "" } : n));

  // Capabilities: cap_add and cap_drop on every set; privileged: all of them, nothing masked, every device.
  const caps = (s.process.capabilities ??= {});
  const sets = ["bounding", "effective", "permitted"];
  if (c.privileged) {
    for (const k of sets) caps[k] = [...ALL_CAPS];
    lin.maskedPaths = [];
    lin.readonlyPaths = [];
    res.devices = [{ allow: true, access: "rwm" }];
    s.process.noNewPrivileges = false;
    lin.devices = [...(lin.devices ?? []), ...hostDevices().flatMap((p) => { try { return [deviceOf(p)]; } catch { return []; } })];
    for (const m of s.mounts) if (m.type === "sysfs") m.options = m.options.filter((o) => o !== "ro");
  }
  const add = c.capAdd.map(capName).flatMap((x) => (x === "CAP_ALL" ? ALL_CAPS : [x]));
  const drop = c.capDrop.map(capName);
  for (const k of sets) {
    let list = caps[k] ?? [];
    for (const x of add) if (!list.includes(x)) list.push(x);
    list = drop.includes("CAP_ALL") ? [] : list.filter((x) => !drop.includes(x));
    caps[k] = list;
  }

  for (const d of c.devices) {
    const dev = deviceOf(d);
    (lin.devices ??= []).push(dev);
    res.devices.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access: "rwm" });
  }
  if (c.seccomp) lin.seccomp = JSON.parse(readFileSync(c.seccompProfile, "utf8")) as unknown;

  if (c.shmBytes > 0) {
    for (const m of s.mounts) if (m.destination === "/dev/shm") m.options = [...m.options.filter((o) => !o.startsWith("size=")), `size=${Math.floor(c.shmBytes / 1024)}k`];
  }
  const bind = (source: string, destination: string, options: string[]): OciMount => ({ type: "bind", source, destination, options });
  // The mounts of the task's config (a relative source under local/ is the task's), then its volume_mounts.
  for (const m of c.mounts) {
    const source = m.type === "bind" && m.source.startsWith("local") ? join(task.taskDir, "local", m.source.slice(5)) : m.source;
    s.mounts.push({ type: m.type, source, destination: m.target, options: m.options });
  }
  for (const m of task.mounts ?? []) s.mounts.push(bind(m.hostPath, m.taskPath, ["rbind", m.readOnly ? "ro" : "rw"]));
  if (c.hostNetwork) s.mounts.push(bind("/etc/hosts", "/etc/hosts", ["rbind", "ro"]), bind("/etc/resolv.conf", "/etc/resolv.conf", ["rbind", "ro"]));
  if (c.hostDns) s.mounts.push(bind("/etc/resolv.conf", "/etc/resolv.conf", ["rbind", "ro"]));
  s.mounts.push(
    bind(join(task.taskDir, "secrets"), task.env.NOMAD_SECRETS_DIR ?? "/secrets", ["rbind", "rw"]),
    bind(join(task.taskDir, "local"), task.env.NOMAD_TASK_DIR ?? "/local", ["rbind", "rw"]),
    bind(join(task.allocDir, "alloc"), task.env.NOMAD_ALLOC_DIR ?? "/alloc", ["rbind", "rw"]),
  );
  if (c.extraHosts.length > 0 || !c.hostNetwork) s.mounts.push(bind(input.hostsFile, "/etc/hosts", ["rbind", "rw"]));
  return s;
}

/** The plugin's default /etc/hosts of a container. */
const DEFAULT_HOSTS = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"];

/** The task's /etc/hosts: the host's (host_network) or the defaults, then `extra_hosts` (`name:IP`, split at the first colon). */
export function hostsFileText(hostNetwork: boolean, extraHosts: readonly string[]): string {
  const lines = hostNetwork ? [readFileSync("/etc/hosts", "utf8").replace(/\n$/, "")] : [...DEFAULT_HOSTS];
  for (const h of extraHosts) {
    const i = h.indexOf(":");
    lines.push(`${h.slice(i + 1)}\t${h.slice(0, i)}`);
  }
  return `${lines.join("\n")}\n`;
}
