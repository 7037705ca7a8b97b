import { isAbsolute } from "node:path";
import { DOCKER_ALLOW_CAPS, DOCKER_CONFIG_KEYS, DOCKER_UNSUPPORTED_KEYS, dockerUnsupportedWhy } from "../../structs/index.js";
import { pidsLimitProblem } from "../shared/index.js";
import { ALLOW_PRIVILEGED, readHostOptions, type HostOptions } from "./host-options.js";
import { hostVolumeProblem, relativeVolumeProblem } from "./volumes.js";

/**
 * A docker task's `config { }`, read once at the boundary (keys as Nomad's docker driver
 * names them). Everything after `readConfig` trusts this shape.
 */
export interface DockerTaskConfig extends HostOptions {
  image: string;
  /** The program to run; with `args` it replaces the image's CMD. */
  command?: string;
  args: string[];
  /** Replaces the image's ENTRYPOINT. */
  entrypoint?: string[];
  /** Labels of the allocation's ports this task publishes; absent means none (as in Nomad). */
  ports?: string[];
  labels: Record<string, string>;
  volumes: VolumeSpec[];
  workDir?: string;
  hostname?: string;
  networkMode?: string;
  privileged: boolean;
  forcePull: boolean;
  /** Processes and threads the container may have at once; absent for the default. */
  pidsLimit?: number;
  /** The container's resolv.conf: `dns_servers`, `dns_search_domains`, `dns_options`. */
  dnsServers?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** `extra_hosts`: "host:ip" lines for the container's /etc/hosts. */
  extraHosts?: string[];
  /** Capabilities added (each in DOCKER_ALLOW_CAPS) and dropped, upper case without "CAP_". */
  capAdd?: string[];
  capDrop?: string[];
  /** `mount` blocks of type volume or tmpfs (a bind mount is one of `volumes`, with the same checks). */
  mounts?: MountSpec[];
  /** `pid_mode` ("host", "container:<id>"): allowed where privileged containers are. */
  pidMode?: string;
  /** A private registry's credentials, sent with the pull (never logged). */
  auth?: RegistryAuth;
}

/** `auth { username password email server_address }`, as the engine takes it with a pull (X-Registry-Auth). */
export interface RegistryAuth {
  username: string;
  password: string;
  email?: string;
  serveraddress?: string;
}

/** A `mount { type = "volume" | "tmpfs" }`, as Nomad's docker driver passes it to the engine's HostConfig.Mounts. */
export interface MountSpec {
  type: "volume" | "tmpfs";
  target: string;
  /** A volume's name; absent: an anonymous volume. */
  source?: string;
  readonly: boolean;
  volumeOptions?: { noCopy: boolean; labels: Record<string, string>; driver?: { name: string; options: Record<string, string> } };
  tmpfsOptions?: { sizeBytes?: number; mode?: number };
}

/** One `volumes` entry, "host:container[:options]"; `host` may be relative to the task dir (see volumes.ts). */
export interface VolumeSpec {
  host: string;
  container: string;
  /** Docker's bind options as written ("ro", "rw,z"); empty for the default (read-write). */
  options: string;
}

export interface ReadConfigOptions {
  /** Whether `privileged = true`, and `network_mode` "host" or "container:…", may run here (Nomad's `allow_privileged`, off by default). */
  allowPrivileged: boolean;
  /** Whether volumes may mount absolute host paths here (Nomad's `volumes { enabled }`, off by default). */
  volumesEnabled: boolean;
}

export { ALLOW_PRIVILEGED };

export type ReadConfigResult = { ok: true; config: DockerTaskConfig } | { ok: false; problems: string[] };

/**
 * Keys we accept (structs' DOCKER_CONFIG_KEYS, which validation reads too). `port_map` is
 * still accepted because a job canonicalised by an older agent may carry it;
 * canonicalisation has already turned it into each port's `to`, which is what we publish,
 * so the key itself is ignored. `logging` is accepted for `type = "json-file"` only, the
 * engine log Ruche reads the task's output from (sized by Ruche: see engineLogConfig). Any
 * other key is a mistake worth reporting: a silently ignored option is a setting the user
 * believes is applied.
 */
const KNOWN_KEYS = new Set(DOCKER_CONFIG_KEYS);
const NOMAD_ONLY_KEYS = new Set(DOCKER_UNSUPPORTED_KEYS);

/** Bind options docker accepts after the container path. */
const BIND_OPTIONS = new Set(["ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate", "nocopy"]);

/** Reads and checks a task's config; every problem is a sentence naming its key. */
export function readConfig(raw: Record<string, unknown>, opts: ReadConfigOptions): ReadConfigResult {
  const problems: string[] = [];
  const str = (key: string, nonEmpty: boolean): string | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || (nonEmpty && v === "")) {
      problems.push(`config.${key} must be a ${nonEmpty ? "non-empty " : ""}string`);
      return undefined;
    }
    return v;
  };
  const bool = (key: string): boolean => {
    const v = raw[key];
    if (v === undefined) return false;
    if (typeof v !== "boolean") {
      problems.push(`config.${key} must be true or false`);
      return false;
    }
    return v;
  };
  const strings = (key: string): string[] | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) {
      problems.push(`config.${key} must be a list of strings`);
      return undefined;
    }
    const out: string[] = [];
    v.forEach((item: unknown, i) => {
      if (typeof item === "string") out.push(item);
      else problems.push(`config.${key}[${i}] must be a string`);
    });
    return out;
  };

  for (const key of Object.keys(raw)) {
    if (NOMAD_ONLY_KEYS.has(key)) problems.push(`config.${key} ${dockerUnsupportedWhy(key)}`);
    else if (!KNOWN_KEYS.has(key)) problems.push(`config.${key} is not an option of the docker driver`);
  }

  const image = raw.image;
  if (typeof image !== "string" || image.trim() === "") problems.push("config.image must be a non-empty string (the image to run, as in \"redis:7\")");

  const command = str("command", true);
  const args = strings("args") ?? [];
  const entrypoint = strings("entrypoint");
  const ports = strings("ports");
  const labels = readLabels(raw.labels, problems);
  const volumes = (strings("volumes") ?? []).flatMap((v, i) => {
    const parsed = parseVolume(v);
    const problem = typeof parsed === "string" ? parsed : isAbsolute(parsed.host) ? hostVolumeProblem(parsed.host, opts.volumesEnabled) : relativeVolumeProblem(parsed.host);
    if (problem !== undefined) {
      problems.push(`config.volumes[${i}] ${problem}`);
      return [];
    }
    return typeof parsed === "string" ? [] : [parsed];
  });
  const workDir = str("work_dir", true);
  if (workDir !== undefined && !isAbsolute(workDir)) problems.push(`config.work_dir must be an absolute path inside the container, got "${workDir}"`);
  const hostname = str("hostname", true);
  const networkMode = str("network_mode", true);
  const privileged = bool("privileged");
  if (privileged && !opts.allowPrivileged) problems.push(`config.privileged is not allowed on this node: a privileged container is root on the host; ${ALLOW_PRIVILEGED} allows it`);
  // The host's network namespace (its loopback services: the agent's own API) or another container's, Ruche's gate beside Nomad's privileged one.
  if (networkMode !== undefined && !opts.allowPrivileged && (networkMode === "host" || networkMode.startsWith("container:"))) {
    problems.push(`config.network_mode = "${networkMode}" is not allowed on this node: it shares ${networkMode === "host" ? "the host's network, the services it serves on 127.0.0.1 included" : "another container's network"}; ${ALLOW_PRIVILEGED} allows it`);
  }
  const forcePull = bool("force_pull");
  // Read for its type only: without registry credentials there is no auth to fail (`nomad job init` writes it).
  bool("auth_soft_fail");
  const dnsServers = strings("dns_servers");
  const dnsSearch = strings("dns_search_domains");
  const dnsOptions = strings("dns_options");
  const extraHosts = strings("extra_hosts");
  extraHosts?.forEach((h, i) => {
    if (!/^[^:\s]+:\S+$/.test(h)) problems.push(`config.extra_hosts[${i}] must be "hostname:IP", got "${h}"`);
  });
  const capName = (c: string): string => c.toUpperCase().replace(/^CAP_/, "");
  const capAdd = strings("cap_add")?.map(capName);
  capAdd?.forEach((c, i) => {
    if (!DOCKER_ALLOW_CAPS.includes(c)) problems.push(`config.cap_add[${i}]: capability "${c}" is not allowed; a task may add ${DOCKER_ALLOW_CAPS.join(", ")} (Nomad's default allow_caps)`);
  });
  const capDrop = strings("cap_drop")?.map(capName);
  readLogging(raw.logging, problems);
  const pids = raw.pids_limit === undefined ? undefined : pidsLimitProblem(raw.pids_limit);
  if (pids !== undefined) problems.push(pids);
  const pidMode = str("pid_mode", false);
  // As Nomad: another process namespace than the container's own only where privileged containers may run (its allowed_modes are empty by default).
  if (pidMode !== undefined && pidMode !== "" && pidMode !== "private" && !opts.allowPrivileged) problems.push(`config.pid_mode = "${pidMode}" is not allowed on this node: it shares ${pidMode === "host" ? "the host's processes" : "another container's processes"}; ${ALLOW_PRIVILEGED} allows it`);
  const mounts = readMounts(raw, opts, problems, volumes);
  const auth = readAuth(raw.auth, problems);
  const host = readHostOptions(raw, opts, problems);

  if (problems.length > 0 || typeof image !== "string") return { ok: false, problems };
  const config: DockerTaskConfig = { ...host, image, args, labels, volumes, privileged, forcePull };
  if (command !== undefined) config.command = command;
  if (entrypoint !== undefined) config.entrypoint = entrypoint;
  if (ports !== undefined) config.ports = ports;
  if (workDir !== undefined) config.workDir = workDir;
  if (hostname !== undefined) config.hostname = hostname;
  if (networkMode !== undefined) config.networkMode = networkMode;
  if (typeof raw.pids_limit === "number") config.pidsLimit = raw.pids_limit;
  if (dnsServers !== undefined) config.dnsServers = dnsServers;
  if (dnsSearch !== undefined) config.dnsSearch = dnsSearch;
  if (dnsOptions !== undefined) config.dnsOptions = dnsOptions;
  if (extraHosts !== undefined) config.extraHosts = extraHosts;
  if (capAdd !== undefined) config.capAdd = capAdd;
  if (capDrop !== undefined) config.capDrop = capDrop;
  if (mounts.length > 0) config.mounts = mounts;
  if (pidMode !== undefined && pidMode !== "") config.pidMode = pidMode;
  if (auth !== undefined) config.auth = auth;
  return { ok: true, config };
}

const AUTH_KEYS = ["username", "password", "email", "server_address"];

/** The `auth` block (one, in HCL a list of one): each key a string, a username and a password at least. */
function readAuth(v: unknown, problems: string[]): RegistryAuth | undefined {
  if (v === undefined) return undefined;
  const b = Array.isArray(v) && v.length === 1 ? (v as unknown[])[0] : v;
  if (typeof b !== "object" || b === null || Array.isArray(b)) {
    problems.push('config.auth must be one block: auth { username = "..." password = "..." }');
    return undefined;
  }
  const r = b as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!AUTH_KEYS.includes(k)) problems.push(`config.auth.${k} is not an option of docker's auth block (${AUTH_KEYS.join(", ")})`);
  for (const k of AUTH_KEYS) if (r[k] !== undefined && typeof r[k] !== "string") problems.push(`config.auth.${k} must be a string`);
  const username = typeof r.username === "string" ? r.username : "";
  const password = typeof r.password === "string" ? r.password : "";
  if (username === "" || password === "") {
    problems.push("config.auth needs a username and a password (the registry's credentials for the pull)");
    return undefined;
  }
  const auth: RegistryAuth = { username, password };
  if (typeof r.email === "string" && r.email !== "") auth.email = r.email;
  if (typeof r.server_address === "string" && r.server_address !== "") auth.serveraddress = r.server_address;
  return auth;
}

/** Nomad's docker `mount` keys, and those of its option blocks. */
const MOUNT_KEYS = new Set(["type", "target", "source", "readonly", "bind_options", "volume_options", "tmpfs_options"]);

/**
 * `mount { ... }` blocks (and `mounts = [...]`, their older list form), as Nomad's docker
 * driver reads them: type "volume" (its default), "bind" or "tmpfs". A bind mount is a
 * `volumes` entry with its checks (a relative source from the task's directory, kept inside
 * the allocation's; an absolute one where the node allows host volumes) and goes to
 * `volumes`; a named volume needs the same permission, as in Nomad.
 */
function readMounts(raw: Record<string, unknown>, opts: ReadConfigOptions, problems: string[], volumes: VolumeSpec[]): MountSpec[] {
  const blocks = (key: string, v: unknown): { at: string; b: Record<string, unknown> }[] => {
    if (v === undefined) return [];
    const list = Array.isArray(v) ? (v as unknown[]) : [v];
    return list.flatMap((b, i) => {
      const at = `config.${key}${Array.isArray(v) ? `[${i}]` : ""}`;
      if (typeof b === "object" && b !== null && !Array.isArray(b)) return [{ at, b: b as Record<string, unknown> }];
      problems.push(`${at} must be a block: mount { type = "bind" source = "..." target = "..." }`);
      return [];
    });
  };
  const one = (v: unknown): Record<string, unknown> | undefined => {
    const b = Array.isArray(v) ? (v as unknown[])[0] : v;
    return typeof b === "object" && b !== null ? (b as Record<string, unknown>) : undefined;
  };
  const out: MountSpec[] = [];
  for (const { at, b } of [...blocks("mount", raw.mount), ...blocks("mounts", raw.mounts)]) {
    for (const k of Object.keys(b)) if (!MOUNT_KEYS.has(k)) problems.push(`${at}.${k} is not an option of docker's mount block (${[...MOUNT_KEYS].join(", ")})`);
    const type = b.type ?? "volume";
    const target = b.target;
    const source = b.source;
    const readonly = b.readonly ?? false;
    if (typeof target !== "string" || !isAbsolute(target)) {
      problems.push(`${at}.target must be an absolute path inside the container`);
      continue;
    }
    if (source !== undefined && typeof source !== "string") problems.push(`${at}.source must be a string`);
    if (typeof readonly !== "boolean") problems.push(`${at}.readonly must be true or false`);
    const ro = readonly === true;
    if (type === "bind") {
      if (typeof source !== "string" || source === "") {
        problems.push(`${at}.source must name the host path a bind mount mounts`);
        continue;
      }
      const propagation = one(b.bind_options)?.propagation;
      if (propagation !== undefined && (typeof propagation !== "string" || !BIND_OPTIONS.has(propagation))) problems.push(`${at}.bind_options.propagation must be one of shared, rshared, slave, rslave, private, rprivate`);
      const problem = isAbsolute(source) ? hostVolumeProblem(source, opts.volumesEnabled) : relativeVolumeProblem(source);
      if (problem !== undefined) problems.push(`${at} ${problem}`);
      else volumes.push({ host: source, container: target, options: [ro ? "ro" : "", typeof propagation === "string" ? propagation : ""].filter((o) => o !== "").join(",") });
    } else if (type === "volume") {
      if (typeof source === "string" && source !== "" && !opts.volumesEnabled) {
        problems.push(`${at} mounts the docker volume "${source}", and this node does not allow volumes: start its agent with -docker-volumes (Nomad's docker plugin volumes { enabled = true })`);
        continue;
      }
      const vo = one(b.volume_options);
      const m: MountSpec = { type: "volume", target, readonly: ro };
      if (typeof source === "string" && source !== "") m.source = source;
      if (vo !== undefined) {
        const driver = one(vo.driver_config);
        m.volumeOptions = { noCopy: vo.no_copy === true, labels: stringMap(one(vo.labels)) };
        if (driver !== undefined && typeof driver.name === "string") m.volumeOptions.driver = { name: driver.name, options: stringMap(one(driver.options)) };
      }
      out.push(m);
    } else if (type === "tmpfs") {
      const to = one(b.tmpfs_options);
      const m: MountSpec = { type: "tmpfs", target, readonly: ro };
      if (to !== undefined) {
        const size = to.size;
        const mode = to.mode;
        if (size !== undefined && (typeof size !== "number" || !Number.isInteger(size) || size < 0)) problems.push(`${at}.tmpfs_options.size must be a whole number of bytes`);
        if (mode !== undefined && (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0)) problems.push(`${at}.tmpfs_options.mode must be a file mode, such as 0o1777 written 1023`);
        m.tmpfsOptions = { ...(typeof size === "number" ? { sizeBytes: size } : {}), ...(typeof mode === "number" ? { mode } : {}) };
      }
      out.push(m);
    } else {
      problems.push(`${at}.type must be "bind", "volume" or "tmpfs", got ${JSON.stringify(type)}`);
    }
  }
  return out;
}

function stringMap(v: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v ?? {})) out[k] = String(x);
  return out;
}

/**
 * `logging { type = "json-file" }`: the engine's json-file log is where Ruche reads the
 * task's output, so it is the only type; its size is Ruche's (from the task's `logs`), so
 * `config` options are refused rather than ignored.
 */
function readLogging(v: unknown, problems: string[]): void {
  if (v === undefined) return;
  const blocks = Array.isArray(v) ? (v as unknown[]) : [v];
  for (const b of blocks) {
    if (typeof b !== "object" || b === null || Array.isArray(b)) {
      problems.push('config.logging must be a block: logging { type = "json-file" }');
      return;
    }
    const { type, config, ...rest } = b as Record<string, unknown>;
    for (const k of Object.keys(rest)) problems.push(`config.logging.${k} is not an option of docker's logging block (type, config)`);
    if (type !== undefined && type !== "json-file") {
      problems.push(`config.logging.type must be "json-file", got ${JSON.stringify(type)}: Ruche reads the task's output from the engine's json-file log`);
    }
    if (config !== undefined) problems.push("config.logging.config is not supported: Ruche sizes the engine's json-file log itself, from the task's logs { max_file_size }");
  }
}

/**
 * `labels` as a map of strings. HCL writes a `labels { ... }` block as a list of maps, so a
 * list of maps is merged in order.
 */
function readLabels(v: unknown, problems: string[]): Record<string, string> {
  if (v === undefined) return {};
  const maps = Array.isArray(v) ? (v as unknown[]) : [v];
  const out: Record<string, string> = {};
  for (const m of maps) {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      problems.push("config.labels must be a map of strings, as in labels = { team = \"web\" }");
      return {};
    }
    for (const [k, val] of Object.entries(m)) {
      if (typeof val !== "string") problems.push(`config.labels.${k} must be a string`);
      else out[k] = val;
    }
  }
  return out;
}

/** "host:container[:options]" → its parts, or what is wrong with it. */
export function parseVolume(v: string): VolumeSpec | string {
  const parts = v.split(":");
  const [host, container, options] = parts;
  if (parts.length < 2 || parts.length > 3 || host === undefined || container === undefined || host === "" || container === "") {
    return `must be "host_path:container_path" or "host_path:container_path:ro", got "${v}"`;
  }
  if (!isAbsolute(container)) return `must name an absolute container path, got "${container}"`;
  const opt = options ?? "";
  if (opt !== "" && !opt.split(",").every((o) => BIND_OPTIONS.has(o))) return `has unknown bind options "${opt}" (use ro or rw)`;
  return { host, container, options: opt };
}
