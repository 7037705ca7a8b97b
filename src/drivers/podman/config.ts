import { PODMAN_CONFIG_KEYS, PODMAN_UNSUPPORTED_KEYS } from "../../structs/index.js";
import { ALLOW_PRIVILEGED, readConfig, type DockerTaskConfig, type ReadConfigOptions } from "../docker/index.js";

/** Where the podman driver's gated options are allowed, as the agent config says it. */
export const PODMAN_ALLOW_PRIVILEGED = 'plugin "podman" { config { allow_privileged = true } } in the agent config';
const PODMAN_VOLUMES = 'plugin "podman" { config { volumes { enabled = true } } } in the agent config (on unless the config turns it off)';

/**
 * A podman task's `config { }` read once at the boundary: the options podman shares with
 * docker as the docker driver's `DockerTaskConfig` (one reader, one container builder), and
 * podman's own beside them.
 */
export interface PodmanTaskConfig {
  docker: DockerTaskConfig;
  /** `tmpfs = ["/path[:options]"]`: a tmpfs at each path. */
  tmpfs: Record<string, string>;
  /** `memory_reservation = "128m"`: the soft limit, in bytes. */
  memoryReservationBytes?: number;
  /** `memory_swappiness`: 0 to 100. */
  memorySwappiness?: number;
  /** `network_mode = "task:<name>"`: the group's task whose network this one joins. */
  joinTask?: string;
}

export type ReadPodmanConfigResult = { ok: true; config: PodmanTaskConfig } | { ok: false; problems: string[] };

const KNOWN = new Set(PODMAN_CONFIG_KEYS);
/** Keys podman and docker name alike and read alike: passed to the docker reader as they are. */
const SAME = [
  "image",
  "command",
  "args",
  "ports",
  "port_map",
  "labels",
  "volumes",
  "hostname",
  "privileged",
  "force_pull",
  "pids_limit",
  "extra_hosts",
  "cap_add",
  "cap_drop",
  "init",
  "tty",
  "readonly_rootfs",
  "cpu_hard_limit",
  "cpu_cfs_period",
  "oom_score_adj",
  "ipc_mode",
  "sysctl",
  "ulimit",
  "security_opt",
  "auth_soft_fail",
  "image_pull_timeout",
];
/** Docker's names of the keys podman names otherwise, for messages. */
const RENAMED: Readonly<Record<string, string>> = { work_dir: "working_dir", userns_mode: "userns" };
/** Image transports of podman's other than a registry's, which the Docker-compatible API does not pull. */
const OTHER_TRANSPORT = /^(oci|oci-archive|docker-archive|docker-daemon|dir|containers-storage|ostree|sif):/;
const SIZE = /^(\d+)([bkmg]?)$/i;
const UNIT: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "128m", "1g", "4096" (bytes): a size as podman reads one, or undefined. */
export function parseSize(v: string): number | undefined {
  const m = SIZE.exec(v.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (UNIT[(m[2] ?? "").toLowerCase()] ?? 1);
}

/**
 * Reads a podman task's config, with nomad-driver-podman's keys. Every problem is a sentence
 * naming its key as the job file writes it; an option Ruche does not have is refused by name.
 */
export function readPodmanConfig(raw: Record<string, unknown>, opts: ReadConfigOptions): ReadPodmanConfigResult {
  const problems: string[] = [];
  for (const key of Object.keys(raw)) {
    const why = PODMAN_UNSUPPORTED_KEYS[key];
    if (why !== undefined) problems.push(`config.${key} ${why}`);
    else if (!KNOWN.has(key)) problems.push(`config.${key} is not an option of the podman driver`);
  }
  const d: Record<string, unknown> = {};
  for (const key of SAME) if (raw[key] !== undefined) d[key] = raw[key];
  // podman's default (its plugin's `init = false`): no init process unless asked.
  d.init ??= false;

  if (typeof raw.image === "string") {
    if (raw.image.startsWith("docker://")) d.image = raw.image.slice("docker://".length);
    else if (OTHER_TRANSPORT.test(raw.image)) problems.push(`config.image "${raw.image}": only registry images ("docker://" or none) are supported; other podman transports are not`);
  }
  const entrypoint = raw.entrypoint;
  if (typeof entrypoint === "string") d.entrypoint = [entrypoint];
  else if (entrypoint !== undefined) d.entrypoint = entrypoint;
  if (raw.working_dir !== undefined) d.work_dir = raw.working_dir;

  const userns = raw.userns;
  if (userns !== undefined && userns !== "") {
    if (userns === "host") d.userns_mode = "host";
    else problems.push(`config.userns must be "host" (no user namespace), got ${JSON.stringify(userns)}: podman's other user namespace modes are not supported`);
  }

  let joinTask: string | undefined;
  const mode = raw.network_mode;
  if (typeof mode === "string" && mode.startsWith("task:")) {
    joinTask = mode.slice("task:".length);
    if (joinTask === "") problems.push('config.network_mode "task:" must name a task of the group, as in "task:web"');
  } else if (typeof mode === "string" && mode.startsWith("ns:")) {
    if (!opts.allowPrivileged) problems.push(`config.network_mode = "${mode}" is not allowed on this node: it joins a network namespace of the host's; ${PODMAN_ALLOW_PRIVILEGED} allows it`);
    d.network_mode = mode;
  } else if (mode !== undefined && mode !== "" && mode !== "bridge") d.network_mode = mode;

  const shm = raw.shm_size;
  if (shm !== undefined) {
    const bytes = typeof shm === "string" ? parseSize(shm) : undefined;
    if (bytes === undefined) problems.push(`config.shm_size must be a size such as "64m", got ${JSON.stringify(shm)}`);
    else d.shm_size = bytes;
  }

  const devices = raw.devices;
  if (devices !== undefined) {
    if (!Array.isArray(devices) || !devices.every((x) => typeof x === "string")) problems.push('config.devices must be a list of "host_path[:container_path[:permissions]]"');
    else {
      d.devices = devices.map((dev) => {
        const [host = "", container, perms] = dev.split(":");
        return { host_path: host, container_path: container === undefined || container === "" ? host : container, cgroup_permissions: perms === undefined || perms === "" ? "rwm" : perms };
      });
    }
  }

  readPodmanLogging(raw.logging, problems);
  if (raw.auth !== undefined) d.auth = readPodmanAuth(raw.auth, problems);
  const socket = raw.socket;
  if (socket !== undefined && socket !== "default" && socket !== "") problems.push(`config.socket = ${JSON.stringify(socket)}: this node's podman driver has one socket, "default"`);

  const tmpfs: Record<string, string> = {};
  const tlist = raw.tmpfs;
  if (tlist !== undefined) {
    if (!Array.isArray(tlist) || !tlist.every((x) => typeof x === "string")) problems.push('config.tmpfs must be a list of "/path[:options]"');
    else {
      tlist.forEach((t, i) => {
        const at = t.indexOf(":");
        const path = at < 0 ? t : t.slice(0, at);
        if (!path.startsWith("/")) problems.push(`config.tmpfs[${i}] must name an absolute path inside the container, got "${t}"`);
        else tmpfs[path] = at < 0 ? "" : t.slice(at + 1);
      });
    }
  }
  let memoryReservationBytes: number | undefined;
  if (raw.memory_reservation !== undefined) {
    memoryReservationBytes = typeof raw.memory_reservation === "string" ? parseSize(raw.memory_reservation) : undefined;
    if (memoryReservationBytes === undefined) problems.push(`config.memory_reservation must be a size such as "128m", got ${JSON.stringify(raw.memory_reservation)}`);
  }
  const swappiness = raw.memory_swappiness;
  if (swappiness !== undefined && !(typeof swappiness === "number" && Number.isInteger(swappiness) && swappiness >= 0 && swappiness <= 100)) {
    problems.push(`config.memory_swappiness must be a whole number from 0 to 100, got ${JSON.stringify(swappiness)}`);
  }

  const r = readConfig(d, opts);
  if (!r.ok) problems.push(...r.problems.map(podmanWords));
  if (problems.length > 0 || !r.ok) return { ok: false, problems };
  const config: PodmanTaskConfig = { docker: r.config, tmpfs };
  if (memoryReservationBytes !== undefined) config.memoryReservationBytes = memoryReservationBytes;
  if (typeof swappiness === "number") config.memorySwappiness = swappiness;
  if (joinTask !== undefined) config.joinTask = joinTask;
  return { ok: true, config };
}

/** The docker reader's sentence in the podman driver's words: podman's key names and agent options. */
function podmanWords(problem: string): string {
  let s = problem.split(ALLOW_PRIVILEGED).join(PODMAN_ALLOW_PRIVILEGED);
  s = s.replace(/start its agent with -docker-volumes \(Nomad's docker plugin volumes \{ enabled = true \}\)/g, `allow it with ${PODMAN_VOLUMES}`);
  for (const [docker, podman] of Object.entries(RENAMED)) s = s.split(`config.${docker}`).join(`config.${podman}`);
  return s.split("docker driver").join("podman driver");
}

/**
 * `logging { driver = "nomad" }`, the plugin's default: the output goes to the task's log
 * files. Ruche copies it there from podman's own container log; `journald` (the output in
 * the host's journal, not in the task's files) is refused rather than half done.
 */
function readPodmanLogging(v: unknown, problems: string[]): void {
  if (v === undefined) return;
  const b = Array.isArray(v) && v.length === 1 ? (v as unknown[])[0] : v;
  if (typeof b !== "object" || b === null || Array.isArray(b)) {
    problems.push('config.logging must be a block: logging { driver = "nomad" }');
    return;
  }
  const { driver, options, ...rest } = b as Record<string, unknown>;
  for (const k of Object.keys(rest)) problems.push(`config.logging.${k} is not an option of podman's logging block (driver, options)`);
  if (driver !== undefined && driver !== "" && driver !== "nomad") {
    problems.push(`config.logging.driver must be "nomad" (the task's output in its log files, which alloc logs reads), got ${JSON.stringify(driver)}: journald is not supported`);
  }
  if (options !== undefined) problems.push("config.logging.options is not supported: the nomad log driver takes none (the task's logs block sizes its files)");
}

/** `auth { username password tls_verify }` → the docker reader's block (the pull's credentials). */
function readPodmanAuth(v: unknown, problems: string[]): unknown {
  const b = Array.isArray(v) && v.length === 1 ? (v as unknown[])[0] : v;
  if (typeof b !== "object" || b === null || Array.isArray(b)) return v;
  const { tls_verify: tls, ...rest } = b as Record<string, unknown>;
  if (tls !== undefined && tls !== true) problems.push("config.auth.tls_verify = false is not supported: images are pulled over verified TLS only");
  return rest;
}
