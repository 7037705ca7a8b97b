/** What a task asks for, and what a node offers. Memory in MB, cpu in MHz. */
export interface Port {
  Label: string;
  /** Host port: fixed for a reserved port, 0 for a dynamic one until it is placed. */
  Value: number;
  /** Port inside the task (the container port a docker task maps to); 0 = same as Value. */
  To: number;
  HostNetwork: string;
  /**
   * Placed on a host network other than the node's own address (`host_network = "NAME"`):
   * the address of it the port is on (Nomad's `AllocatedPortMapping.HostIP`). Absent: the
   * allocation network's `IP`.
   */
  HostIP?: string;
}

export const NetworkMode = { Host: "host", Bridge: "bridge", None: "none" } as const;
export type NetworkMode = (typeof NetworkMode)[keyof typeof NetworkMode];
export const NETWORK_MODES: readonly string[] = Object.values(NetworkMode);

/** A CNI network's mode (`cni/<name>`): the network of that name in the node's CNI config dir (Nomad's). */
export type CniNetworkMode = `cni/${string}`;
export const CNI_MODE_PREFIX = "cni/";

/** The CNI network a mode names (`cni/mynet` → `mynet`), or undefined for another mode. */
export function cniNetworkName(mode: string): string | undefined {
  return mode.startsWith(CNI_MODE_PREFIX) && mode.length > CNI_MODE_PREFIX.length ? mode.slice(CNI_MODE_PREFIX.length) : undefined;
}

/** A group network's `cni { args = {...} }` (Nomad's `CNIConfig`): passed to the CNI plugins in CNI_ARGS. */
export interface CniConfig {
  Args: Record<string, string>;
}

export interface NetworkResource {
  Mode: NetworkMode | CniNetworkMode;
  MBits: number;
  ReservedPorts: Port[];
  DynamicPorts: Port[];
  /** Set on an allocation once placed. */
  IP: string;
  /** Bridge mode: the hostname of the allocation's network namespace (`${...}` interpolated on the node); absent: docker's. */
  Hostname?: string;
  /** Mode `cni/<name>`: extra CNI_ARGS for the network's plugins; absent: none. */
  CNI?: CniConfig;
}

export interface Resources {
  CPU: number;
  Cores: number;
  MemoryMB: number;
  MemoryMaxMB: number;
  DiskMB: number;
}

/** What an allocation holds on its node once placed. */
export interface AllocatedResources {
  CPU: number;
  MemoryMB: number;
  /**
   * A task's memory limit above its `MemoryMB` (Nomad's `AllocatedMemoryResources.MemoryMaxMB`,
   * from `memory_max`), given only while the scheduler configuration enables memory
   * oversubscription; -1: no limit. Absent: `MemoryMB` is the limit.
   */
  MemoryMaxMB?: number;
  DiskMB: number;
  Networks: NetworkResource[];
}

/** Bounds a job file is checked against; beyond them a value is a mistake. */
export const LIMITS = {
  /** Allocations of one group. */
  maxCount: 100_000,
  maxPriority: 100,
  minPriority: 1,
  /** MHz for one task. */
  maxCpu: 4_000_000,
  /** MB for one task (16 TiB). */
  maxMemoryMB: 16 * 1024 * 1024,
  minMemoryMB: 10,
  maxDiskMB: 1024 * 1024 * 1024,
  maxPort: 65_535,
  /** A task's `config { pids_limit }` (docker, exec): the kernel's largest `pid_max`, 2^22. */
  maxPidsLimit: 4_194_304,
  maxNameLength: 128,
  /** Nesting of blocks and values in a job file. */
  maxDepth: 64,
  /*
   * The size of one job: far above what real jobs use, low enough that one job cannot make
   * every answer that shows it (a list of jobs, a plan, a diff) cost megabytes.
   */
  /** Datacenters a job names. */
  maxDatacenters: 1_000,
  /** Groups of one job. */
  maxGroups: 1_000,
  /** Tasks of one group. */
  maxTasksPerGroup: 1_000,
  /** Tasks of one job, all groups together. */
  maxTasksPerJob: 10_000,
  /** Entries of one `meta` block (a job's, a group's, a task's, a service's). */
  maxMetaEntries: 1_000,
  /** Constraints, affinities or spreads of one job, group or task (each kind counted apart). */
  maxConstraints: 1_000,
  /** Services of one group or of one task. */
  maxServices: 1_000,
  /** Checks of one service. */
  maxChecks: 1_000,
  /** Tags (and canary tags) of one service. */
  maxTags: 1_000,
  /** Environment variables of one task. */
  maxEnvEntries: 10_000,
  /** Ports (static and dynamic together) of one network. */
  maxPorts: 1_000,
} as const;

/** A task's lifecycle and resources, as the group total reads them. */
interface LifecycleTask {
  Lifecycle?: { Hook: string; Sidecar: boolean } | null;
  Resources: { CPU: number; MemoryMB: number };
}

/**
 * What a group's tasks hold of a node at once, as Nomad counts it
 * (`AllocatedResources.Comparable`): the tasks that run beside the main ones (prestart
 * sidecars, poststart tasks) add up with them; ephemeral prestart tasks have ended before the
 * main tasks start and poststop tasks start after they end, so each of those phases counts
 * only where it is larger — cpu and memory each: max(prestart, main, poststop).
 */
export function groupTotal(tasks: readonly LifecycleTask[]): { CPU: number; MemoryMB: number } {
  const prestart = { CPU: 0, MemoryMB: 0 };
  const main = { CPU: 0, MemoryMB: 0 };
  const poststop = { CPU: 0, MemoryMB: 0 };
  const add = (to: { CPU: number; MemoryMB: number }, t: LifecycleTask): void => {
    to.CPU += t.Resources.CPU;
    to.MemoryMB += t.Resources.MemoryMB;
  };
  for (const t of tasks) {
    const hook = t.Lifecycle?.Hook ?? "";
    if (hook === "prestart") {
      add(prestart, t);
      // A prestart sidecar runs through the main phase too.
      if (t.Lifecycle?.Sidecar === true) add(main, t);
    } else if (hook === "poststop") add(poststop, t);
    else add(main, t);
  }
  return { CPU: Math.max(prestart.CPU, main.CPU, poststop.CPU), MemoryMB: Math.max(prestart.MemoryMB, main.MemoryMB, poststop.MemoryMB) };
}
