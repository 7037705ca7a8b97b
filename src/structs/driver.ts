/** The task drivers a node agent may offer, and the config key each one cannot do without. */
export const DriverName = { Docker: "docker", Podman: "podman", Exec: "exec", Java: "java", RawExec: "raw_exec", Containerd: "containerd-driver", Mock: "mock" } as const;
export type DriverName = (typeof DriverName)[keyof typeof DriverName];
export const DRIVER_NAMES: readonly string[] = Object.values(DriverName);

export const DRIVER_REQUIRED_CONFIG: Readonly<Record<DriverName, readonly string[]>> = {
  docker: ["image"],
  podman: ["image"],
  "containerd-driver": ["image"],
  exec: ["command"],
  // jar_path or class, either one (the driver and validation say so).
  java: [],
  raw_exec: ["command"],
  mock: [],
};

/** The docker driver's `config` keys Ruche's docker driver reads, as Nomad's driver names them. */
export const DOCKER_CONFIG_KEYS: readonly string[] = [
  "image",
  "command",
  "args",
  "entrypoint",
  "ports",
  "port_map",
  "labels",
  "volumes",
  "work_dir",
  "hostname",
  "network_mode",
  "privileged",
  "force_pull",
  "pids_limit",
  "dns_servers",
  "dns_search_domains",
  "dns_options",
  "extra_hosts",
  "cap_add",
  "cap_drop",
  "logging",
  "mount",
  "mounts",
  "pid_mode",
  /** A private registry's credentials for the pull: `auth { username password server_address }`. */
  "auth",
  /** Nomad: go on without credentials when looking them up (a helper, a config file) fails; Ruche's come from the job alone, so there is no lookup to fail. */
  "auth_soft_fail",
  // Nomad's container options (see drivers/docker/host-options.ts).
  "cgroupns",
  "cpu_cfs_period",
  "cpu_hard_limit",
  "cpuset_cpus",
  "devices",
  "group_add",
  "healthchecks",
  "image_pull_timeout",
  "init",
  "interactive",
  "ipc_mode",
  "load",
  "mac_address",
  "memory_hard_limit",
  "network_aliases",
  "oom_score_adj",
  "readonly_rootfs",
  "runtime",
  "security_opt",
  "shm_size",
  "storage_opt",
  "sysctl",
  "tty",
  "ulimit",
  "userns_mode",
  "uts_mode",
];

/**
 * The podman driver's `config` keys Ruche's podman driver reads, as nomad-driver-podman
 * names them (its `taskConfigSpec`); see drivers/podman/README.md for what each does.
 */
export const PODMAN_CONFIG_KEYS: readonly string[] = [
  "image",
  "command",
  "args",
  "entrypoint",
  "ports",
  "port_map",
  "labels",
  "volumes",
  "tmpfs",
  "working_dir",
  "hostname",
  "network_mode",
  "privileged",
  "force_pull",
  "pids_limit",
  "extra_hosts",
  "cap_add",
  "cap_drop",
  "devices",
  "init",
  "tty",
  "readonly_rootfs",
  "memory_reservation",
  "memory_swappiness",
  "cpu_hard_limit",
  "cpu_cfs_period",
  "oom_score_adj",
  "ipc_mode",
  "userns",
  "shm_size",
  "sysctl",
  "ulimit",
  "security_opt",
  "logging",
  "auth",
  "auth_soft_fail",
  "image_pull_timeout",
  "socket",
];

/**
 * nomad-driver-podman's task options Ruche's podman driver does not have, each with why:
 * refused by name (at validation and by the driver), never passed on or ignored.
 */
export const PODMAN_UNSUPPORTED_KEYS: Readonly<Record<string, string>> = {
  apparmor_profile: "is not supported by Ruche's podman driver (the engine's default AppArmor profile applies); remove it",
  selinux_opts: "is not supported by Ruche's podman driver (SELinux labels are not set); remove it",
  memory_swap: "is not supported by Ruche's podman driver: a task's memory limit holds swap too (no swap beyond it); remove it",
  init_path: "is not supported by Ruche's podman driver (podman's own init binary is used with init = true); remove it",
  ipv4_address: "is not supported by Ruche's podman driver (no static addresses on podman networks); remove it",
  ipv6_address: "is not supported by Ruche's podman driver (no static addresses on podman networks); remove it",
  static_ips: "is not supported by Ruche's podman driver (no static addresses on podman networks); remove it",
  static_mac: "is not supported by Ruche's podman driver (no static MAC addresses); remove it",
  arch: "is not supported by Ruche's podman driver: images are pulled for the node's own platform; remove it",
  os: "is not supported by Ruche's podman driver: images are pulled for the node's own platform; remove it",
  variant: "is not supported by Ruche's podman driver: images are pulled for the node's own platform; remove it",
};

/**
 * The containerd driver's `config` keys, as nomad-driver-containerd names them (its
 * `taskConfigSpec`); Ruche's driver reads every one (see drivers/containerd/README.md).
 */
export const CONTAINERD_CONFIG_KEYS: readonly string[] = [
  "image",
  "command",
  "args",
  "cap_add",
  "cap_drop",
  "cwd",
  "devices",
  "privileged",
  "pids_limit",
  "pid_mode",
  "hostname",
  "host_dns",
  "image_pull_timeout",
  "extra_hosts",
  "entrypoint",
  "seccomp",
  "seccomp_profile",
  "shm_size",
  "sysctl",
  "readonly_rootfs",
  "host_network",
  "auth",
  "mounts",
];

/** Nomad's docker driver options Ruche's does not have: refused by name (at validation and by the driver), never passed on or ignored. */
export const DOCKER_UNSUPPORTED_KEYS: readonly string[] = ["container_exists_attempts", "isolation", "volume_driver"];

/** Why a Nomad docker option in DOCKER_UNSUPPORTED_KEYS is refused, after its name. */
export const DOCKER_UNSUPPORTED_WHY = "is an option of Nomad's docker driver that Ruche's does not have; remove it";

/** Keys of DOCKER_UNSUPPORTED_KEYS refused for a reason of their own. */
const DOCKER_UNSUPPORTED_REASONS: Readonly<Record<string, string>> = {
  isolation: "is Windows' container isolation (process or hyperv), which a Linux Docker engine does not have; remove it",
};

/** Why a key of DOCKER_UNSUPPORTED_KEYS is refused, said after its name. */
export function dockerUnsupportedWhy(key: string): string {
  return DOCKER_UNSUPPORTED_REASONS[key] ?? DOCKER_UNSUPPORTED_WHY;
}

/**
 * The container runtimes a docker task may ask for with `runtime`: Nomad's default
 * `allow_runtimes` (Ruche's agent has no such option). One the engine does not have fails
 * the task when its container is made.
 */
export const DOCKER_ALLOW_RUNTIMES: readonly string[] = ["runc", "nvidia"];

/**
 * Linux capabilities a docker task may add with `cap_add`: Nomad's default `allow_caps`
 * (docker's default set without NET_RAW). Ruche's agent has no `allow_caps` option yet.
 */
export const DOCKER_ALLOW_CAPS: readonly string[] = ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"];
