import { CONTAINERD_CONFIG_KEYS, ErrorCode, RucheError } from "../../structs/index.js";

/** A `mounts` entry of a task's config, as nomad-driver-containerd's `Mount`. */
export interface ContainerdMount {
  /** `bind`, `volume` (a bind mount under another name, as in the plugin) or `tmpfs`; default `volume`. */
  type: string;
  target: string;
  source: string;
  /** fstab-style options (`rbind`, `ro`, ...); a bind or volume mount needs some. */
  options: string[];
}

/** A registry's credentials for a pull (`auth { username password }`). */
export interface RegistryAuth {
  username: string;
  password: string;
}

/** A task's `config { }` for the containerd driver, as nomad-driver-containerd's `TaskConfig`. */
export interface ContainerdTaskConfig {
  image: string;
  command: string;
  args: string[];
  entrypoint: string[] | undefined;
  capAdd: string[];
  capDrop: string[];
  cwd: string;
  devices: string[];
  privileged: boolean;
  pidsLimit: number;
  pidMode: string;
  hostname: string;
  hostDns: boolean;
  imagePullTimeoutMs: number;
  extraHosts: string[];
  seccomp: boolean;
  seccompProfile: string;
  /** Bytes of /dev/shm; 0: the default (64 MiB). */
  shmBytes: number;
  sysctl: Record<string, string>;
  readonlyRootfs: boolean;
  hostNetwork: boolean;
  auth: RegistryAuth | undefined;
  mounts: ContainerdMount[];
}

/** The task options nomad-driver-containerd knows (its `taskConfigSpec`); every one is read here. */
export const CONTAINERD_TASK_KEYS: readonly string[] = CONTAINERD_CONFIG_KEYS;

const MOUNT_TYPES = ["bind", "volume", "tmpfs"];
const MOUNT_KEYS = ["type", "target", "source", "options"];

/** A Go duration ("5m", "90s", "1m30s", "500ms") in ms; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * (unit[m[2] ?? ""] ?? 0);
  return ms;
}

/** A size as docker's `units.RAMInBytes` reads it ("128M", "1g", "65536", "64MiB"); undefined when it is not one. */
export function parseRamBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP])?[iI]?[bB]?$/.exec(text.trim());
  if (m === null) return undefined;
  const mult: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.floor(Number(m[1]) * (m[2] === undefined ? 1 : (mult[m[2].toLowerCase()] ?? 1)));
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

/** `sysctl` as HCL gives it: a map, or (the plugin's `list(map(string))`) a list of maps. */
function sysctlOf(v: unknown): Record<string, string> | undefined {
  const maps = Array.isArray(v) ? v : [v];
  const out: Record<string, string> = {};
  for (const m of maps) {
    if (typeof m !== "object" || m === null || Array.isArray(m)) return undefined;
    for (const [k, val] of Object.entries(m as Record<string, unknown>)) {
      if (typeof val !== "string" && typeof val !== "number") return undefined;
      out[k] = String(val);
    }
  }
  return out;
}

/** `mounts` as HCL gives it: a list of objects (a block list), or one object. */
function mountsOf(v: unknown, problems: string[]): ContainerdMount[] {
  const list = Array.isArray(v) ? v : [v];
  const out: ContainerdMount[] = [];
  list.forEach((m, i) => {
    const at = `config.mounts[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      problems.push(`${at} must be a block { type, target, source, options }`);
      return;
    }
    const o = m as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!MOUNT_KEYS.includes(k)) problems.push(`${at}.${k} is not an option of a mount (it has ${MOUNT_KEYS.join(", ")})`);
    const type = typeof o.type === "string" ? o.type : o.type === undefined ? "volume" : "";
    if (!MOUNT_TYPES.includes(type)) problems.push(`${at}.type must be one of ${MOUNT_TYPES.join(", ")}`);
    if (typeof o.target !== "string" || !o.target.startsWith("/")) problems.push(`${at}.target is required: an absolute path in the container`);
    if (o.source !== undefined && typeof o.source !== "string") problems.push(`${at}.source must be a string`);
    if (o.options !== undefined && !isStringList(o.options)) problems.push(`${at}.options must be a list of strings`);
    const options = isStringList(o.options) ? o.options : [];
    // As the plugin: a bind mount without options would not be one.
    if ((type === "bind" || type === "volume") && options.length === 0) {
      problems.push(`${at}.options cannot be empty for mount type ${type}: give at least "rbind" and "ro" (or "rw")`);
    }
    if (type !== "tmpfs" && (typeof o.source !== "string" || o.source === "")) problems.push(`${at}.source is required for a ${type} mount`);
    out.push({ type, target: typeof o.target === "string" ? o.target : "", source: typeof o.source === "string" ? o.source : "", options });
  });
  return out;
}

function authOf(v: unknown, problems: string[]): RegistryAuth | undefined {
  const o = Array.isArray(v) && v.length === 1 ? (v[0] as unknown) : v;
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    problems.push("config.auth must be a block { username, password }");
    return undefined;
  }
  const a = o as Record<string, unknown>;
  for (const k of Object.keys(a)) if (k !== "username" && k !== "password") problems.push(`config.auth.${k} is not an option of auth (it has username, password)`);
  if (typeof a.username !== "string") problems.push("config.auth.username is required");
  if (typeof a.password !== "string") problems.push("config.auth.password is required");
  return typeof a.username === "string" && typeof a.password === "string" ? { username: a.username, password: a.password } : undefined;
}

/** Reads a task's config; `problems` gets a sentence naming the key for each thing wrong. */
function read(config: Record<string, unknown>, problems: string[]): ContainerdTaskConfig {
  const str = (key: string): string => {
    const v = config[key];
    if (v === undefined) return "";
    if (typeof v !== "string") problems.push(`config.${key} must be a string`);
    return typeof v === "string" ? v : "";
  };
  const bool = (key: string, dflt: boolean): boolean => {
    const v = config[key];
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") problems.push(`config.${key} must be true or false`);
    return v === true;
  };
  const list = (key: string): string[] => {
    const v = config[key];
    if (v === undefined) return [];
    if (!isStringList(v)) problems.push(`config.${key} must be a list of strings`);
    return isStringList(v) ? v : [];
  };
  for (const key of Object.keys(config)) {
    if (!CONTAINERD_TASK_KEYS.includes(key)) problems.push(`config.${key} is not an option of the containerd-driver driver`);
  }
  const image = str("image");
  if (config.image === undefined) problems.push("config.image is required");
  else if (image.trim() === "") problems.push("config.image must not be empty");
  const command = str("command");
  const entrypoint = config.entrypoint === undefined ? undefined : list("entrypoint");
  if (command !== "" && entrypoint !== undefined) problems.push("config.command and config.entrypoint are both set: set only one of them");
  const pids = config.pids_limit ?? 0;
  if (typeof pids !== "number" || !Number.isInteger(pids) || pids < 0) problems.push("config.pids_limit must be a whole number of processes");
  const pidMode = str("pid_mode");
  if (pidMode !== "" && pidMode.toLowerCase() !== "host") problems.push('config.pid_mode must be "host" (the host\'s pid namespace) or not set');
  const pullTimeout = str("image_pull_timeout") || "5m";
  const pullMs = parseDuration(pullTimeout);
  if (pullMs === undefined) problems.push(`config.image_pull_timeout: "${pullTimeout}" is not a duration (as "5m" or "90s")`);
  const shm = str("shm_size");
  const shmBytes = shm === "" ? 0 : parseRamBytes(shm);
  if (shmBytes === undefined) problems.push(`config.shm_size: "${shm}" is not a size (as "128M")`);
  const seccomp = bool("seccomp", false);
  const seccompProfile = str("seccomp_profile");
  if (!seccomp && seccompProfile !== "") problems.push("config.seccomp must be set to true to use a custom seccomp_profile");
  if (seccomp && seccompProfile === "") {
    problems.push("config.seccomp without a seccomp_profile (containerd's default profile) is not supported by Ruche's containerd-driver: give seccomp_profile, the path of an OCI seccomp profile on the node");
  }
  const sysctl = config.sysctl === undefined ? {} : sysctlOf(config.sysctl);
  if (sysctl === undefined) problems.push('config.sysctl must be a map of strings, as sysctl = { "net.core.somaxconn" = "16384" }');
  const extraHosts = list("extra_hosts");
  for (const h of extraHosts) {
    const i = h.indexOf(":");
    if (i <= 0 || i === h.length - 1) problems.push(`config.extra_hosts: "${h}" is not host:IP`);
  }
  const hostNetwork = bool("host_network", false);
  const mounts = config.mounts === undefined ? [] : mountsOf(config.mounts, problems);
  const auth = config.auth === undefined ? undefined : authOf(config.auth, problems);
  if (config.args !== undefined && !isStringList(config.args)) problems.push("config.args must be a list of strings");
  return {
    image,
    command,
    args: isStringList(config.args) ? config.args : [],
    entrypoint,
    capAdd: list("cap_add"),
    capDrop: list("cap_drop"),
    cwd: str("cwd"),
    devices: list("devices"),
    privileged: bool("privileged", false),
    pidsLimit: typeof pids === "number" ? pids : 0,
    pidMode,
    hostname: str("hostname"),
    hostDns: bool("host_dns", true),
    imagePullTimeoutMs: pullMs ?? 300_000,
    extraHosts,
    seccomp,
    seccompProfile,
    shmBytes: shmBytes ?? 0,
    sysctl: sysctl ?? {},
    readonlyRootfs: bool("readonly_rootfs", false),
    hostNetwork,
    auth,
    mounts,
  };
}

/** Problems with a task's config, each naming its key; empty when it can start. */
export function validateContainerdConfig(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  read(config, problems);
  return problems;
}

/** The config as types; throws what `validateContainerdConfig` finds. */
export function parseContainerdConfig(config: Record<string, unknown>): ContainerdTaskConfig {
  const problems: string[] = [];
  const c = read(config, problems);
  if (problems.length > 0) throw new RucheError(ErrorCode.BadRequest, problems.join("; "), { path: "config" });
  return c;
}
