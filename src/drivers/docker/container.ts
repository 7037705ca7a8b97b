import { join } from "node:path";
import type Dockerode from "dockerode";
import type { ExitResult, TaskSpec } from "../driver.js";
import type { DockerTaskConfig } from "./config.js";
import { ErrorCode } from "../../structs/index.js";
import { DockerError } from "./errors.js";
import { DEFAULT_PIDS_LIMIT } from "../shared/index.js";
import { hostVolumeBind, volumeSource } from "./volumes.js";

/**
 * Labels on every container we create. They say the container is Ruche's and whose, so a
 * client that lost its state can find its containers again, and so nobody removes a
 * container that is not ours.
 */
export const Label = {
  AllocId: "com.ruche.alloc_id",
  TaskName: "com.ruche.task_name",
  JobId: "com.ruche.job_id",
  TaskId: "com.ruche.task_id",
} as const;
export type Label = (typeof Label)[keyof typeof Label];

/**
 * Nomad's labels (drivers/docker/driver.go `dockerLabel…`), set beside ours so that log
 * shippers and dashboards keyed on them find Ruche's containers. Nomad sets `alloc_id`
 * always and the others when the plugin's `extra_labels` names them; Ruche sets them all,
 * as Nomad with `extra_labels = ["*"]` (`parent_job_id` only for a job that has a parent).
 */
export const NomadLabel = {
  AllocId: "com.hashicorp.nomad.alloc_id",
  JobName: "com.hashicorp.nomad.job_name",
  JobId: "com.hashicorp.nomad.job_id",
  ParentJobId: "com.hashicorp.nomad.parent_job_id",
  TaskGroupName: "com.hashicorp.nomad.task_group_name",
  TaskName: "com.hashicorp.nomad.task_name",
  Namespace: "com.hashicorp.nomad.namespace",
  NodeName: "com.hashicorp.nomad.node_name",
  NodeId: "com.hashicorp.nomad.node_id",
} as const;
export type NomadLabel = (typeof NomadLabel)[keyof typeof NomadLabel];

/** Where the task's directories appear inside the container (as in Nomad). */
export const ContainerPath = { Alloc: "/alloc", Local: "/local", Secrets: "/secrets" } as const;

const MiB = 1024 * 1024;

/**
 * `<task>-<allocId>`, as Nomad names them, so `docker ps` reads like the job. Docker allows
 * only [a-zA-Z0-9][a-zA-Z0-9_.-]* in a name; anything else becomes "_".
 */
export function containerName(spec: Pick<TaskSpec, "taskName" | "allocId">): string {
  const name = `${spec.taskName}-${spec.allocId}`.replace(/[^a-zA-Z0-9_.-]/g, "_");
  return /^[a-zA-Z0-9]/.test(name) ? name : `t${name}`;
}

/** The host directories bound at /alloc, /local and /secrets. */
export function taskDirs(spec: Pick<TaskSpec, "allocDir" | "taskDir">): { alloc: string; local: string; secrets: string } {
  return { alloc: join(spec.allocDir, "alloc"), local: join(spec.taskDir, "local"), secrets: join(spec.taskDir, "secrets") };
}

/** Network modes in which docker refuses (container:) or ignores (host, none) published ports. */
function publishesPorts(networkMode: string | undefined): boolean {
  return networkMode === undefined || !(networkMode === "host" || networkMode === "none" || networkMode.startsWith("container:"));
}

/** What of the node the container's options depend on: one core's MHz, which `cpu_hard_limit` turns the task's MHz into a CPU quota with. */
export interface NodeCpu {
  coreMhz: number;
}

/** The CFS period a `cpu_hard_limit` quota is of when `cpu_cfs_period` is not set (Nomad's default), in microseconds. */
export const DEFAULT_CFS_PERIOD_US = 100_000;
/** The smallest CPU quota the engine takes (1 ms). */
const MIN_CFS_QUOTA_US = 1000;

/**
 * The container for a task: a pure function of the spec and its config, so what we ask of
 * the engine can be read (and tested) without one. `node` is needed for `cpu_hard_limit`.
 */
export function createOptions(spec: TaskSpec, cfg: DockerTaskConfig, node?: NodeCpu): Dockerode.ContainerCreateOptions {
  // As Nomad's docker driver: a task publishes the ports its config lists and no others, so
  // that the tasks of a group do not all ask for the same host ports. (A task that declares
  // its ports in its own resources has them listed by the jobspec: see canonicalize.)
  const ports = (cfg.ports ?? []).map((label) => {
    const p = spec.ports.find((x) => x.label === label);
    if (p === undefined) {
      const held = spec.ports.map((x) => x.label).join(", ");
      throw new DockerError(ErrorCode.DockerBadConfig, `config.ports names port "${label}", which the allocation does not hold (it holds: ${held === "" ? "none" : held})`);
    }
    return p;
  });
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  // In a bridge group the ports are published on the allocation's pause container, whose
  // network the task joins (docker refuses published ports on a container: network).
  const joined = cfg.networkMode === undefined && spec.network !== undefined;
  if (joined) {
    const own = { hostname: cfg.hostname, dns_servers: cfg.dnsServers, dns_search_domains: cfg.dnsSearch, dns_options: cfg.dnsOptions, extra_hosts: cfg.extraHosts, mac_address: cfg.macAddress, network_aliases: cfg.networkAliases };
    const set = Object.entries(own).filter(([, v]) => v !== undefined).map(([k]) => `config.${k}`);
    if (set.length > 0) throw new DockerError(ErrorCode.DockerBadConfig, `${set.join(", ")}: not supported on a task of a bridge group yet (it runs in the group's network namespace)`);
  }
  if (!joined && publishesPorts(cfg.networkMode)) {
    for (const p of ports) {
      // The task may speak either protocol on its port; the allocation reserved the host port for both.
      for (const proto of ["tcp", "udp"]) {
        const key = `${p.to}/${proto}`;
        exposed[key] = {};
        (bindings[key] ??= []).push({ HostIp: p.ip, HostPort: String(p.value) });
      }
    }
  }

  const dirs = taskDirs(spec);
  const binds = [
    `${dirs.alloc}:${ContainerPath.Alloc}`,
    `${dirs.local}:${ContainerPath.Local}`,
    `${dirs.secrets}:${ContainerPath.Secrets}`,
    ...cfg.volumes.map((v) => `${volumeSource(spec, v)}:${v.container}${v.options === "" ? "" : `:${v.options}`}`),
    ...(spec.mounts ?? []).map(hostVolumeBind),
  ];

  // Ours last: a user's label must not disown the container or claim another task's.
  const labels: Record<string, string> = {
    ...cfg.labels,
    [Label.AllocId]: spec.allocId,
    [Label.TaskName]: spec.taskName,
    [Label.JobId]: spec.jobId,
    [Label.TaskId]: spec.id,
    [NomadLabel.AllocId]: spec.allocId,
    [NomadLabel.JobName]: spec.jobName,
    [NomadLabel.JobId]: spec.jobId,
    ...(spec.parentJobId === "" ? {} : { [NomadLabel.ParentJobId]: spec.parentJobId }),
    [NomadLabel.TaskGroupName]: spec.group,
    [NomadLabel.TaskName]: spec.taskName,
    [NomadLabel.Namespace]: spec.namespace,
    [NomadLabel.NodeName]: spec.nodeName,
    [NomadLabel.NodeId]: spec.nodeId,
  };

  // CgroupnsMode (API 1.41) is missing from dockerode's types.
  const host: Dockerode.HostConfig & { CgroupnsMode?: string } = {
    Binds: binds,
    PortBindings: bindings,
    // Docker treats fewer than 2 shares as "unset".
    CpuShares: Math.max(2, Math.round(spec.cpu)),
    // tini as PID 1: it forwards our signals to the task and reaps zombies. Without it a
    // task started as PID 1 ignores SIGTERM unless it installs a handler, and every stop
    // would wait out the whole kill timeout. Ruche's default (Nomad's is the engine's);
    // `init = false` runs the task itself as PID 1.
    Init: cfg.init ?? true,
    Privileged: cfg.privileged,
    PidsLimit: cfg.pidsLimit ?? DEFAULT_PIDS_LIMIT,
    LogConfig: engineLogConfig(spec),
  };
  const memoryMaxMB = spec.memoryMaxMB ?? 0;
  if (memoryMaxMB === -1) {
    // memory_max = -1 (Nomad's driver memoryLimits): no limit at all, even memory_hard_limit's; the task's memory its reservation.
    host.Memory = 0;
    if (spec.memoryMB > 0) host.MemoryReservation = spec.memoryMB * MiB;
  } else if (cfg.memoryHardLimitMB !== undefined || memoryMaxMB > spec.memoryMB) {
    // As Nomad: the hard limit (the greater of memory_hard_limit and memory_max) is the cgroup's limit, the task's memory its reservation.
    const hardMB = Math.max(cfg.memoryHardLimitMB ?? 0, memoryMaxMB > spec.memoryMB ? memoryMaxMB : 0);
    if (spec.memoryMB > hardMB) throw new DockerError(ErrorCode.DockerBadConfig, `config.memory_hard_limit (${hardMB} MB) is less than the task's memory (${spec.memoryMB} MB), which it reserves`);
    host.Memory = hardMB * MiB;
    host.MemorySwap = host.Memory;
    if (spec.memoryMB > 0) host.MemoryReservation = spec.memoryMB * MiB;
  } else if (spec.memoryMB > 0) {
    host.Memory = spec.memoryMB * MiB;
    // Equal to Memory: no swap, so going over the limit is an OOM kill and not a slowdown.
    host.MemorySwap = spec.memoryMB * MiB;
  }
  if (cfg.cpuHardLimit === true) {
    // Nomad's quota: the task's share of the node's compute, over all its cores, which comes to MHz / one core's MHz periods.
    if (node === undefined || node.coreMhz <= 0) throw new DockerError(ErrorCode.DockerBadConfig, "config.cpu_hard_limit: the node's CPU speed is not known");
    const period = cfg.cpuCfsPeriod ?? DEFAULT_CFS_PERIOD_US;
    host.CpuPeriod = period;
    host.CpuQuota = Math.max(MIN_CFS_QUOTA_US, Math.round((spec.cpu / node.coreMhz) * period));
  }
  if (cfg.cpusetCpus !== undefined) host.CpusetCpus = cfg.cpusetCpus;
  if (cfg.shmSize !== undefined && cfg.shmSize > 0) host.ShmSize = cfg.shmSize;
  if (cfg.devices !== undefined) host.Devices = cfg.devices.map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.cgroupPermissions }));
  if (cfg.ipcMode !== undefined) host.IpcMode = cfg.ipcMode;
  if (cfg.utsMode !== undefined) host.UTSMode = cfg.utsMode;
  if (cfg.usernsMode !== undefined) host.UsernsMode = cfg.usernsMode;
  if (cfg.cgroupns !== undefined) host.CgroupnsMode = cfg.cgroupns;
  if (cfg.sysctl !== undefined) host.Sysctls = cfg.sysctl;
  if (cfg.ulimits !== undefined) host.Ulimits = cfg.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard }));
  if (cfg.securityOpt !== undefined) host.SecurityOpt = cfg.securityOpt;
  if (cfg.readonlyRootfs !== undefined) host.ReadonlyRootfs = cfg.readonlyRootfs;
  if (cfg.runtime !== undefined) host.Runtime = cfg.runtime;
  if (cfg.groupAdd !== undefined) host.GroupAdd = cfg.groupAdd;
  if (cfg.oomScoreAdj !== undefined) host.OomScoreAdj = cfg.oomScoreAdj;
  if (cfg.storageOpt !== undefined) host.StorageOpt = cfg.storageOpt;
  if (cfg.networkMode !== undefined) host.NetworkMode = cfg.networkMode;
  else if (spec.network !== undefined) host.NetworkMode = `container:${spec.network.containerId}`;
  if (cfg.dnsServers !== undefined) host.Dns = cfg.dnsServers;
  if (cfg.dnsSearch !== undefined) host.DnsSearch = cfg.dnsSearch;
  if (cfg.dnsOptions !== undefined) host.DnsOptions = cfg.dnsOptions;
  if (cfg.extraHosts !== undefined) host.ExtraHosts = cfg.extraHosts;
  if (cfg.capAdd !== undefined) host.CapAdd = cfg.capAdd;
  if (cfg.capDrop !== undefined) host.CapDrop = cfg.capDrop;
  if (cfg.pidMode !== undefined) host.PidMode = cfg.pidMode;
  if (cfg.mounts !== undefined) {
    // The engine reads an empty Source as an anonymous volume (and none for tmpfs), an empty driver name as its default, a zero size or mode as unset.
    host.Mounts = cfg.mounts.map((m) => ({
      Type: m.type,
      Target: m.target,
      Source: m.source ?? "",
      ReadOnly: m.readonly,
      ...(m.volumeOptions === undefined ? {} : { VolumeOptions: { NoCopy: m.volumeOptions.noCopy, Labels: m.volumeOptions.labels, DriverConfig: m.volumeOptions.driver === undefined ? { Name: "", Options: {} } : { Name: m.volumeOptions.driver.name, Options: m.volumeOptions.driver.options } } }),
      ...(m.tmpfsOptions === undefined ? {} : { TmpfsOptions: { SizeBytes: m.tmpfsOptions.sizeBytes ?? 0, Mode: m.tmpfsOptions.mode ?? 0 } }),
    }));
  }

  const opts: Dockerode.ContainerCreateOptions = {
    name: containerName(spec),
    Image: cfg.image,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    ExposedPorts: exposed,
    HostConfig: host,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: cfg.tty ?? false,
    OpenStdin: cfg.interactive ?? false,
  };
  // The image's HEALTHCHECK is not run ("NONE", the engine's word for it).
  if (cfg.healthchecksDisabled === true) opts.Healthcheck = { Test: ["NONE"] };
  if (cfg.networkAliases !== undefined || cfg.macAddress !== undefined) {
    // The container's endpoint on its network, as Nomad sends it; the MAC address also in the
    // container's config, where engines before API 1.44 read it (newer ones take either, if equal).
    const endpoint: Dockerode.EndpointSettings = {};
    if (cfg.networkAliases !== undefined) endpoint.Aliases = cfg.networkAliases;
    if (cfg.macAddress !== undefined) {
      endpoint.MacAddress = cfg.macAddress;
      opts.MacAddress = cfg.macAddress;
    }
    opts.NetworkingConfig = { EndpointsConfig: { [host.NetworkMode ?? "default"]: endpoint } };
  }
  const cmd = cfg.command === undefined ? cfg.args : [cfg.command, ...cfg.args];
  if (cmd.length > 0) opts.Cmd = cmd;
  if (cfg.entrypoint !== undefined) opts.Entrypoint = cfg.entrypoint;
  if (cfg.workDir !== undefined) opts.WorkingDir = cfg.workDir;
  if (cfg.hostname !== undefined) opts.Hostname = cfg.hostname;
  if (spec.user !== "") opts.User = spec.user;
  return opts;
}

/**
 * The engine's own log of the container, which the log follower reads and copies into the
 * task's files: json-file, readable through the logs endpoint. It is the follower's buffer:
 * a follower that falls behind a burst by more than it holds loses what the engine rotated
 * away. Nomad keeps 2 files of 2 MB; Ruche keeps 2 files of the task's own `max_file_size`
 * (at least 2 MB): the follower may fall two of the task's files behind before a line is lost.
 */
export function engineLogConfig(spec: Pick<TaskSpec, "logLimits">): Dockerode.HostConfig["LogConfig"] {
  const maxSize = Math.max(2 * MiB, spec.logLimits.maxFileBytes);
  return { Type: "json-file", Config: { "max-size": String(maxSize), "max-file": "2" } };
}

/** Highest signal number a 128+n exit code is read as. */
const MAX_SIGNAL = 64;

/**
 * What an exited container's state says. A process killed by signal n shows as exit code
 * 128+n (tini reports its child that way, and docker reports a killed PID 1 that way), so
 * such codes also name the signal. A program that itself exits 130 reads as SIGINT: the
 * engine cannot tell the two apart, and neither can we.
 */
export function exitResult(state: { ExitCode: number; OOMKilled: boolean }): ExitResult {
  const code = state.ExitCode;
  const signal = code > 128 && code <= 128 + MAX_SIGNAL ? code - 128 : 0;
  return { exitCode: code, signal, oomKilled: state.OOMKilled };
}
