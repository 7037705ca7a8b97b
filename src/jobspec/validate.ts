import {
  ADDRESS_MODES,
  CHECK_TYPES,
  CONSTRAINT_OPERATORS,
  DELAY_FUNCTIONS,
  DISPATCH_PAYLOAD_MODES,
  TASK_LIFECYCLE_HOOKS,
  TEMPLATE_CHANGE_MODES,
  RECONCILE_OPTIONS,
  CONTAINERD_CONFIG_KEYS,
  DRIVER_NAMES,
  DRIVER_REQUIRED_CONFIG,
  DOCKER_CONFIG_KEYS,
  PODMAN_CONFIG_KEYS,
  PODMAN_UNSUPPORTED_KEYS,
  DOCKER_UNSUPPORTED_KEYS,
  dockerUnsupportedWhy,
  formatDuration,
  HEALTH_CHECK_MODES,
  JOB_TYPES,
  LIMITS,
  MULTIREGION_ON_FAILURE,
  leavesAllocDir,
  NETWORK_MODES,
  CNI_MODE_PREFIX,
  cniNetworkName,
  NS,
  ON_UPDATE_MODES,
  PLACEMENT_STRATEGIES,
  periodicProblems,
  RESTART_MODES,
  UNARY_OPERATORS,
  errorMessage,
  DEFAULT_IDENTITY_NAME,
  IDENTITY_NAME_PATTERN,
  type Affinity,
  type Constraint,
  type DriverName,
  type Job,
  type Multiregion,
  type NetworkResource,
  type ParameterizedJobConfig,
  type RestartPolicy,
  type ScalingPolicy,
  type Service,
  type Spread,
  type Task,
  type TaskGroup,
  type Template,
  type UpdateStrategy,
  type WorkloadIdentity,
} from "../structs/index.js";
import type { Problem } from "./canonicalize.js";
import { artifactProblems } from "./artifact.js";
import { sizeProblems } from "./size.js";
import { volumeMountProblems, volumeProblems } from "./volumes.js";
import { didYouMean } from "./suggest.js";
import { driverNotRunWhy } from "./foreign-drivers.js";

/**
 * Checks a canonical job. Every problem is reported, each at the API path of the value
 * at fault; the front end turns the path into a file position where it has one.
 */
export function validateJob(job: Job): Problem[] {
  // A job past the size limits is refused for that alone: its parts are not checked one by one.
  const tooBig = sizeProblems(job);
  if (tooBig.length > 0) return tooBig;
  const out: Problem[] = [];
  const p = (path: string, message: string, missing = false): void => {
    out.push(missing ? { path, message, missing } : { path, message });
  };

  checkName(job.ID, "ID", "job ID", p);
  if (job.Name === "" && job.ID !== "") p("Name", "the job name must not be empty");
  if (!JOB_TYPES.includes(job.Type)) p("Type", `type must be one of ${JOB_TYPES.join(", ")}, got "${job.Type}"${didYouMean(job.Type, JOB_TYPES)}`);
  if (!Number.isInteger(job.Priority) || job.Priority < LIMITS.minPriority || job.Priority > LIMITS.maxPriority) {
    p("Priority", `priority must be between ${LIMITS.minPriority} and ${LIMITS.maxPriority}, got ${job.Priority}`);
  }
  if (job.Region === "") p("Region", "region must not be empty");
  if (job.Datacenters.length === 0) p("Datacenters", 'datacenters must name at least one datacenter (or "*" for all)');
  job.Datacenters.forEach((dc, i) => {
    if (dc.trim() === "") p(`Datacenters[${i}]`, "a datacenter name must not be empty");
  });
  if (!PLACEMENT_STRATEGIES.includes(job.Placement)) {
    p("Placement", `placement strategy must be one of ${PLACEMENT_STRATEGIES.join(", ")}, got "${job.Placement}"${didYouMean(job.Placement, PLACEMENT_STRATEGIES)}`);
  }
  job.Constraints.forEach((c, i) => {
    constraint(c, `Constraints[${i}]`, p);
  });
  job.Affinities.forEach((a, i) => {
    affinity(a, `Affinities[${i}]`, p);
  });
  job.Spreads.forEach((s, i) => {
    spread(s, `Spreads[${i}]`, p);
  });
  if (job.Periodic?.Enabled === true) {
    if (job.Type !== "batch" && job.Type !== "sysbatch") p("Periodic", `Periodic can only be used with "batch" or "sysbatch" scheduler, not "${job.Type}"`);
    for (const bad of periodicProblems(job.Periodic)) p(bad.path, bad.message);
  }
  if (job.ParameterizedJob !== undefined && job.ParameterizedJob !== null) parameterized(job, job.ParameterizedJob, p);
  if (job.Multiregion !== undefined && job.Multiregion !== null) multiregion(job, job.Multiregion, p);
  // Missing: not said beside a misplaced `task` or a misspelt `grup` block, the likely cause.
  if (job.TaskGroups.length === 0) p("TaskGroups", 'a job needs at least one group: group "name" { task "name" { ... } }', true);

  const groupNames = new Map<string, number>();
  job.TaskGroups.forEach((g, gi) => {
    const at = `TaskGroups[${gi}]`;
    const first = groupNames.get(g.Name);
    if (first !== undefined) p(`${at}.Name`, `duplicate group "${g.Name}"; group names must be unique in a job`);
    else groupNames.set(g.Name, gi);
    group(job, g, at, p);
  });
  return out;
}

type Report = (path: string, message: string, missing?: boolean) => void;

/** Nomad's `ParameterizedJobConfig.Validate`, and the job types that may have one. */
function parameterized(job: Job, cfg: ParameterizedJobConfig, p: Report): void {
  if (job.Type !== "batch" && job.Type !== "sysbatch") p("ParameterizedJob", `a parameterized job must be of type "batch" or "sysbatch", not "${job.Type}"`);
  if (!DISPATCH_PAYLOAD_MODES.includes(cfg.Payload)) {
    p("ParameterizedJob.Payload", `payload must be one of ${DISPATCH_PAYLOAD_MODES.join(", ")}, got "${cfg.Payload}"${didYouMean(cfg.Payload, DISPATCH_PAYLOAD_MODES)}`);
  }
  const both = cfg.MetaRequired.filter((k) => cfg.MetaOptional.includes(k));
  if (both.length > 0) p("ParameterizedJob.MetaOptional", `meta_required and meta_optional must not share keys; both have ${both.map((k) => `"${k}"`).join(", ")}`);
}

/** A multiregion job's regions and strategy, and the jobs that may have one. */
function multiregion(job: Job, m: Multiregion, p: Report): void {
  if (job.Type !== "service" && job.Type !== "batch") p("Multiregion", `a multiregion job must be of type "service" or "batch", not "${job.Type}": run one ${job.Type} job per region`);
  if (job.Periodic !== null || (job.ParameterizedJob !== undefined && job.ParameterizedJob !== null)) {
    p("Multiregion", "a periodic or parameterized job cannot be multiregion: register it in each region (`region = ...`)");
  }
  if (!Number.isInteger(m.Strategy.MaxParallel) || m.Strategy.MaxParallel < 0) p("Multiregion.Strategy.MaxParallel", `max_parallel must be a whole number, 0 (every region at once) or more, got ${m.Strategy.MaxParallel}`);
  if (!MULTIREGION_ON_FAILURE.includes(m.Strategy.OnFailure)) {
    p("Multiregion.Strategy.OnFailure", `on_failure must be "fail_all", "fail_local" or left out (the failed region and those after it fail), got "${m.Strategy.OnFailure}"`);
  }
  if (m.Regions.length === 0) p("Multiregion.Regions", 'a multiregion block needs at least one region "name" { ... } block', true);
  const seen = new Set<string>();
  m.Regions.forEach((r, i) => {
    const at = `Multiregion.Regions[${i}]`;
    if (r.Name === "") p(`${at}.Name`, "a region block needs its region's name as label");
    else if (seen.has(r.Name)) p(`${at}.Name`, `region "${r.Name}" is named twice; each region is listed once`);
    seen.add(r.Name);
    if (!Number.isInteger(r.Count) || r.Count < 0) p(`${at}.Count`, `count must be a whole number, 0 or more, got ${r.Count}`);
    r.Datacenters.forEach((dc, j) => {
      if (dc.trim() === "") p(`${at}.Datacenters[${j}]`, "a datacenter name must not be empty");
    });
  });
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.includes("..");
}

function checkName(name: string, path: string, what: string, p: Report): void {
  if (name === "") p(path, `the ${what} must not be empty`);
  else if (name.length > LIMITS.maxNameLength) p(path, `the ${what} is ${name.length} characters long; the limit is ${LIMITS.maxNameLength}`);
  else if (!isSafeName(name)) {
    p(path, `the ${what} "${name}" may hold only letters, digits, ".", "_" and "-", start with a letter or digit, and not contain ".." (it is used in file paths)`);
  }
}

function group(job: Job, g: TaskGroup, at: string, p: Report): void {
  checkName(g.Name, `${at}.Name`, "group name", p);
  if (!Number.isInteger(g.Count) || g.Count < 0) p(`${at}.Count`, `count must be zero or more, got ${g.Count}`);
  else if (g.Count > LIMITS.maxCount) p(`${at}.Count`, `count must be at most ${LIMITS.maxCount}, got ${g.Count}`);
  if (job.Type === "system" && g.Count > 1) p(`${at}.Count`, `a system job runs once on every node; count must be 0 or 1, got ${g.Count}`);
  g.Constraints.forEach((c, i) => {
    constraint(c, `${at}.Constraints[${i}]`, p);
  });
  g.Affinities.forEach((a, i) => {
    affinity(a, `${at}.Affinities[${i}]`, p);
  });
  g.Spreads.forEach((s, i) => {
    spread(s, `${at}.Spreads[${i}]`, p);
  });

  restartPolicy(g.RestartPolicy, `${at}.RestartPolicy`, p);
  if (g.Scaling != null) groupScaling(g, `${at}.Scaling`, p);
  if ((g.ShutdownDelay ?? 0) < 0) p(`${at}.ShutdownDelay`, "shutdown_delay must not be negative");
  if (g.MaxRunDuration !== undefined) {
    if (g.MaxRunDuration <= 0) p(`${at}.MaxRunDuration`, "max_run_duration must be greater than zero");
    else if (job.Type !== "batch" && job.Type !== "sysbatch") p(`${at}.MaxRunDuration`, `job type "${job.Type}" does not allow max_run_duration: it bounds batch and sysbatch allocations`);
  }

  const rs = g.ReschedulePolicy;
  if (rs !== null) {
    const sAt = `${at}.ReschedulePolicy`;
    if (!DELAY_FUNCTIONS.includes(rs.DelayFunction)) {
      p(`${sAt}.DelayFunction`, `delay_function must be one of ${DELAY_FUNCTIONS.join(", ")}, got "${rs.DelayFunction}"${didYouMean(rs.DelayFunction, DELAY_FUNCTIONS)}`);
    }
    if (rs.Attempts < 0) p(`${sAt}.Attempts`, `attempts must be zero or more, got ${rs.Attempts}`);
    if ((rs.Unlimited || rs.Attempts > 0) && rs.Delay < 5 * NS.second) p(`${sAt}.Delay`, `delay must be at least 5s, got ${formatDuration(rs.Delay)}`);
    if (rs.DelayFunction !== "constant" && (rs.Unlimited || rs.Attempts > 0) && rs.MaxDelay < rs.Delay) {
      p(`${sAt}.MaxDelay`, `max_delay (${formatDuration(rs.MaxDelay)}) must not be less than delay (${formatDuration(rs.Delay)})`);
    }
    if (!rs.Unlimited && rs.Attempts > 0 && rs.Interval === 0) p(`${sAt}.Interval`, "interval must be set when attempts are limited");
  }

  const dc = g.Disconnect;
  if (dc !== undefined && !RECONCILE_OPTIONS.includes(dc.Reconcile)) {
    p(`${at}.Disconnect.Reconcile`, `reconcile must be one of ${RECONCILE_OPTIONS.join(", ")}, got "${dc.Reconcile}"${didYouMean(dc.Reconcile, RECONCILE_OPTIONS)}`);
  }

  if (g.Update !== null) update(g.Update, `${at}.Update`, job, g, p);
  if (g.Migrate !== null) {
    const m = g.Migrate;
    if (m.MaxParallel < 1) p(`${at}.Migrate.MaxParallel`, `max_parallel must be at least 1, got ${m.MaxParallel}`);
    if (!HEALTH_CHECK_MODES.includes(m.HealthCheck)) p(`${at}.Migrate.HealthCheck`, `health_check must be one of ${HEALTH_CHECK_MODES.join(", ")}, got "${m.HealthCheck}"`);
    // Nomad's MigrateStrategy.Validate refuses only a longer time (an update refuses equal ones too).
    if (m.MinHealthyTime > m.HealthyDeadline) {
      p(`${at}.Migrate.MinHealthyTime`, `min_healthy_time (${formatDuration(m.MinHealthyTime)}) must not be more than healthy_deadline (${formatDuration(m.HealthyDeadline)})`);
    }
  }

  const disk = g.EphemeralDisk;
  if (disk.SizeMB < 10 || disk.SizeMB > LIMITS.maxDiskMB) p(`${at}.EphemeralDisk.SizeMB`, `size must be between 10 and ${LIMITS.maxDiskMB} MB, got ${disk.SizeMB}`);
  // Each task's logs against the disk, as Nomad's LogConfig.Validate checks them (not their sum).
  for (const t of g.Tasks) {
    const logMB = t.LogConfig.MaxFiles * t.LogConfig.MaxFileSizeMB;
    if (disk.SizeMB >= 10 && logMB >= disk.SizeMB) {
      p(`${at}.EphemeralDisk.SizeMB`, `task "${t.Name}"'s logs may take ${logMB} MB (max_files × max_file_size), which must be less than the ${disk.SizeMB} MB ephemeral disk; raise the disk size or lower logs.max_files / max_file_size`);
    }
  }

  volumeProblems(g, at, p, job.Type);
  if (g.Networks.length > 1) p(`${at}.Networks[1]`, "a group has at most one network block");
  const labels = new Map<string, string>();
  g.Networks.forEach((n, ni) => {
    network(n, `${at}.Networks[${ni}]`, labels, p);
  });

  if (g.Tasks.length === 0) p(`${at}.Tasks`, `group "${g.Name}" has no task; add task "name" { driver = ... }`, true);
  const names = isSafeName(job.ID) && isSafeName(g.Name);
  const taskNames = new Set<string>();
  g.Tasks.forEach((t, ti) => {
    const tAt = `${at}.Tasks[${ti}]`;
    if (taskNames.has(t.Name)) p(`${tAt}.Name`, `duplicate task "${t.Name}" in group "${g.Name}"`);
    taskNames.add(t.Name);
    task(g, t, tAt, labels, p, names);
  });
  // As Nomad: a group made only of lifecycle tasks has nothing for them to run around.
  if (g.Tasks.length > 0 && g.Tasks.every((t) => t.Lifecycle != null && t.Lifecycle.Hook !== "")) {
    p(`${at}.Tasks`, `group "${g.Name}" must have at least one main task (a task without a lifecycle block)`);
  }
  const leaders = g.Tasks.map((t, ti) => ({ t, ti })).filter(({ t }) => t.Leader);
  for (const { ti } of leaders.slice(1)) p(`${at}.Tasks[${ti}].Leader`, `only one task of a group may be the leader; task "${leaders[0]?.t.Name ?? ""}" is already`);
  g.Services.forEach((s, si) => {
    service(s, `${at}.Services[${si}]`, labels, g, p, names);
  });
  serviceNames(
    [...g.Services.map((s, si) => ({ s, path: `${at}.Services[${si}]` })), ...g.Tasks.flatMap((t, ti) => t.Services.map((s, si) => ({ s, path: `${at}.Tasks[${ti}].Services[${si}]` })))],
    p,
  );
}

/**
 * A restart policy, as Nomad's RestartPolicy.Validate: a negative `attempts` is taken, as
 * there, and means no restart within the interval (the client's RestartTracker: mode
 * "delay" waits out each interval, mode "fail" fails).
 */
function restartPolicy(r: RestartPolicy, at: string, p: Report, mustFit = true): void {
  if (!RESTART_MODES.includes(r.Mode)) p(`${at}.Mode`, `mode must be "delay" or "fail", got "${r.Mode}"${didYouMean(r.Mode, RESTART_MODES)}`);
  if (mustFit && r.Attempts > 0 && r.Interval > 0 && r.Attempts * r.Delay > r.Interval) {
    p(at, `${r.Attempts} restarts with a delay of ${formatDuration(r.Delay)} cannot fit in an interval of ${formatDuration(r.Interval)}`);
  }
  // Nomad's words: no restart, yet a mode that says what to do between restarts.
  if (mustFit && r.Attempts === 0 && r.Mode === "delay") p(`${at}.Attempts`, `restart policy "delay" with 0 attempts is ambiguous: set mode = "fail" (no restart, the task fails) or attempts above 0`);
}

/** A scaling policy's bounds, as Nomad's `ScalingPolicy.Validate`. */
function scalingBounds(s: ScalingPolicy, at: string, p: Report): void {
  if (s.Max === -1) p(at, "a scaling policy needs max, the largest count it may set", true);
  else if (s.Max < 0) p(`${at}.Max`, `max must be zero or more, got ${s.Max}`);
  else if (s.Max < s.Min) p(`${at}.Max`, `max (${s.Max}) must not be less than min (${s.Min})`);
  if (s.Min < 0) p(`${at}.Min`, `min must be zero or more, got ${s.Min}`);
}

/** The group's `scaling` block, as Nomad's `TaskGroup.validateScalingPolicy`: its type, its bounds, the count between them. */
function groupScaling(g: TaskGroup, at: string, p: Report): void {
  const s = g.Scaling;
  if (s == null) return;
  if (s.Type !== "horizontal") p(`${at}.Type`, `a group's scaling policy is horizontal (it sets the count), got type "${s.Type}"`);
  scalingBounds(s, at, p);
  if (s.Max >= 0 && g.Count > s.Max) p(`${at}.Max`, `the group's count (${g.Count}) must not be more than the scaling policy's max (${s.Max})`);
  if (g.Count < s.Min) p(`${at}.Min`, `the group's count (${g.Count}) must not be less than the scaling policy's min (${s.Min})`);
}

function update(u: UpdateStrategy, at: string, job: Job, g: TaskGroup, p: Report): void {
  if (u.MaxParallel < 0) p(`${at}.MaxParallel`, `max_parallel must be zero or more, got ${u.MaxParallel}`);
  if (u.Canary < 0) p(`${at}.Canary`, `canary must be zero or more, got ${u.Canary}`);
  // A system job's canary is a percentage of the nodes to update (Nomad 1.11), not a count.
  if (job.Type !== "system" && u.Canary > 0 && u.Canary > g.Count && g.Count > 0) p(`${at}.Canary`, `canary (${u.Canary}) must not be more than the group's count (${g.Count})`);
  if (!HEALTH_CHECK_MODES.includes(u.HealthCheck)) {
    p(`${at}.HealthCheck`, `health_check must be one of ${HEALTH_CHECK_MODES.join(", ")}, got "${u.HealthCheck}"${didYouMean(u.HealthCheck, HEALTH_CHECK_MODES)}`);
  }
  if (u.MinHealthyTime >= u.HealthyDeadline) {
    p(`${at}.MinHealthyTime`, `min_healthy_time (${formatDuration(u.MinHealthyTime)}) must be less than healthy_deadline (${formatDuration(u.HealthyDeadline)})`);
  }
  if (u.ProgressDeadline !== 0 && u.HealthyDeadline >= u.ProgressDeadline) {
    // Nomad's UpdateStrategy.Validate: "Healthy deadline must be less than progress deadline".
    p(`${at}.ProgressDeadline`, `healthy_deadline must be less than progress_deadline: ${formatDuration(u.HealthyDeadline)} >= ${formatDuration(u.ProgressDeadline)} (progress_deadline is 10m unless set; 0 turns it off)`);
  }
  if (u.AutoPromote && u.Canary === 0) p(`${at}.AutoPromote`, "auto_promote needs canaries to promote; set canary as well");
}

/**
 * A port label: Nomad sets no rule, and its environment names a label's port with the
 * characters an environment variable may not hold made "_" (`public-api` is
 * NOMAD_PORT_public_api). Ruche takes the labels real files use and refuses the rest.
 */
const PORT_LABEL = /^[A-Za-z0-9_.-]+$/;

/** A host network's name, as an agent config declares it (`client { host_network "NAME" { ... } }`). */
const HOST_NETWORK_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

function network(n: NetworkResource, at: string, labels: Map<string, string>, p: Report): void {
  if (n.Mode.startsWith(CNI_MODE_PREFIX)) {
    if (cniNetworkName(n.Mode) === undefined) p(`${at}.Mode`, `mode "${n.Mode}" names no CNI network: write cni/<name>, the name of a network in the nodes' CNI config dir`);
  } else if (!NETWORK_MODES.includes(n.Mode)) p(`${at}.Mode`, `mode must be one of ${NETWORK_MODES.join(", ")} or cni/<name>, got "${n.Mode}"${didYouMean(n.Mode, NETWORK_MODES)}`);
  // Nomad passes the args to its bridge's plugins too, which ignore them (IgnoreUnknown): a bridge network keeps them unused.
  if (n.CNI !== undefined && !n.Mode.startsWith(CNI_MODE_PREFIX) && n.Mode !== "bridge") p(`${at}.CNI`, `cni { args } is for a network in mode cni/<name> (or bridge), not in mode "${n.Mode}"`);
  for (const [k, v] of Object.entries(n.CNI?.Args ?? {})) {
    // CNI_ARGS is "K=V;K=V": a key or value holding ";" or "=" (a key) cannot be passed.
    if (k === "" || /[;=]/.test(k)) p(`${at}.CNI.Args`, `CNI arg name "${k}" must be non-empty, without ";" or "="`);
    else if (v.includes(";")) p(`${at}.CNI.Args.${k}`, `CNI arg "${k}" may not hold ";" (CNI_ARGS separates args with it)`);
  }
  if (n.MBits < 0) p(`${at}.MBits`, `mbits must be zero or more, got ${n.MBits}`);
  // As Nomad: the namespace's hostname is set by the driver that makes it, docker's in bridge mode.
  if (n.Hostname !== undefined && n.Mode !== "bridge") p(`${at}.Hostname`, `hostname is set on a bridge network only (mode = "bridge"), not in mode "${n.Mode}"; a docker task may set config { hostname }`);
  else if (n.Hostname !== undefined && !n.Hostname.includes("${") && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(n.Hostname)) p(`${at}.Hostname`, `hostname "${n.Hostname}" is not a valid hostname: letters, digits, "-" and ".", at most 253 characters`);
  // One set of static ports per host network, as Nomad's TaskGroup.validateNetworks keeps them.
  const hostPorts = new Map<string, string>();
  const each = (ports: NetworkResource["ReservedPorts"], kind: string): void => {
    ports.forEach((port, i) => {
      const pAt = `${at}.${kind}[${i}]`;
      if (!PORT_LABEL.test(port.Label)) {
        p(`${pAt}.Label`, `port label "${port.Label}" may hold only letters, digits, "_", "-" and "."`);
      }
      if (labels.has(port.Label)) p(`${pAt}.Label`, `port "${port.Label}" is declared twice`);
      else labels.set(port.Label, pAt);
      if (kind === "ReservedPorts") {
        if (port.Value < 1 || port.Value > LIMITS.maxPort) p(`${pAt}.Value`, `static port must be between 1 and ${LIMITS.maxPort}, got ${port.Value}`);
        const hostNet = port.HostNetwork === "" ? "default" : port.HostNetwork;
        const other = hostPorts.get(`${hostNet}\0${port.Value}`);
        if (other !== undefined) p(`${pAt}.Value`, `static port ${port.Value} is already taken by port "${other}"${hostNet === "default" ? "" : ` on host network "${hostNet}"`}`);
        hostPorts.set(`${hostNet}\0${port.Value}`, port.Label);
      }
      // A node's host network (its agent config's `host_network "NAME"`), or a `${meta.x}`-style name read on each node.
      if (port.HostNetwork !== "" && !HOST_NETWORK_NAME.test(port.HostNetwork) && !/^\$\{[^}]+\}$/.test(port.HostNetwork)) {
        p(`${pAt}.HostNetwork`, `host_network "${port.HostNetwork}" must name a host network of the nodes (letters, digits, ".", "_" and "-"), or be one \${...} reference such as "\${meta.network}"`);
      }
      if (port.To < -1 || port.To > LIMITS.maxPort) p(`${pAt}.To`, `to must be between 1 and ${LIMITS.maxPort}, got ${port.To}`);
    });
  };
  each(n.ReservedPorts, "ReservedPorts");
  each(n.DynamicPorts, "DynamicPorts");
}

/** Docker options that set up a container's own network, which a task of a bridge group does not have. */
const OWN_NETWORK_KEYS = ["hostname", "dns_servers", "dns_search_domains", "dns_options", "extra_hosts", "mac_address", "network_aliases"] as const;

/**
 * A docker task of a bridge group runs in the group's network (the pause container's), where
 * docker refuses these options; Nomad writes them into the pause container and the task's
 * files, which Ruche does not yet: refused here rather than when the task starts.
 */
function bridgeTask(g: TaskGroup, t: Task, at: string, p: Report): void {
  if (g.Networks[0]?.Mode !== "bridge" || t.Driver !== "docker" || t.Config.network_mode !== undefined) return;
  for (const key of OWN_NETWORK_KEYS) {
    if (t.Config[key] !== undefined) {
      p(`${at}.Config.${key}`, `"${key}" is not supported on a task of a bridge group (network { mode = "bridge" }) yet: the task runs in the group's network namespace, which Ruche does not set it on`);
    }
  }
}

/**
 * A docker `config` key neither Ruche's driver nor Nomad's has. Nomad's server takes it (it
 * does not read driver config) and the driver fails the task as it starts ("An argument named
 * ... is not expected here"); Ruche refuses the job before.
 */
function dockerUnknownKey(key: string): string {
  const hint = key === "tmpfs" ? '; a tmpfs is a mount: mount { type = "tmpfs" target = "/tmp" }' : didYouMean(key, DOCKER_CONFIG_KEYS);
  return `"${key}" is not an option of the docker driver${hint} (Nomad's fails the task as it starts: An argument named "${key}" is not expected here)`;
}

/**
 * The driver config keys that bound what a task may take of its node, checked here too so
 * that a job that cannot run is refused at the door: java's `jar_path` or `class`,
 * `pids_limit` (docker, exec, java) and docker's relative `volumes`, which must stay inside
 * the allocation's directory. What depends on the
 * node (may it mount host paths?) is the client's to check.
 */
function driverLimits(t: Task, at: string, p: Report): void {
  if (t.Driver === "docker") {
    // The driver refuses these too; said here, a job that cannot start is refused at the door.
    for (const key of Object.keys(t.Config)) {
      if (DOCKER_UNSUPPORTED_KEYS.includes(key)) p(`${at}.Config.${key}`, `"${key}" ${dockerUnsupportedWhy(key)}`);
      else if (!DOCKER_CONFIG_KEYS.includes(key)) p(`${at}.Config.${key}`, dockerUnknownKey(key));
    }
    // As Nomad's driver: the task's memory is the reservation under memory_hard_limit, never above it.
    const hard = t.Config.memory_hard_limit;
    if (typeof hard === "number" && hard > 0 && t.Resources.MemoryMB > hard) {
      p(`${at}.Config.memory_hard_limit`, `memory_hard_limit (${hard} MB) must not be less than the task's memory (${t.Resources.MemoryMB} MB), which it reserves`);
    }
  }
  if (t.Driver === "containerd-driver") {
    for (const key of Object.keys(t.Config)) {
      if (!CONTAINERD_CONFIG_KEYS.includes(key)) p(`${at}.Config.${key}`, `"${key}" is not an option of the containerd-driver driver${didYouMean(key, CONTAINERD_CONFIG_KEYS)}`);
    }
  }
  if (t.Driver === "podman") {
    for (const key of Object.keys(t.Config)) {
      const why = PODMAN_UNSUPPORTED_KEYS[key];
      if (why !== undefined) p(`${at}.Config.${key}`, `"${key}" ${why}`);
      else if (!PODMAN_CONFIG_KEYS.includes(key)) p(`${at}.Config.${key}`, `"${key}" is not an option of the podman driver${didYouMean(key, PODMAN_CONFIG_KEYS)}`);
    }
  }
  // Nomad's java driver: "jar_path or class must be specified" (it says so when the task starts; here, at the door).
  if (t.Driver === "java" && !["jar_path", "class"].some((k) => typeof t.Config[k] === "string" && t.Config[k] !== "")) {
    p(`${at}.Config`, "the java driver needs config.jar_path or config.class: jar_path or class must be specified", true);
  }
  const pids = t.Config.pids_limit;
  if ((t.Driver === "docker" || t.Driver === "podman" || t.Driver === "exec" || t.Driver === "java") && pids !== undefined && !(typeof pids === "number" && Number.isInteger(pids) && pids >= 1 && pids <= LIMITS.maxPidsLimit)) {
    p(`${at}.Config.pids_limit`, `pids_limit must be a whole number of processes from 1 to ${LIMITS.maxPidsLimit}, got ${JSON.stringify(pids)}`);
  }
  const volumes = t.Config.volumes;
  if ((t.Driver === "docker" || t.Driver === "podman") && Array.isArray(volumes)) {
    for (const v of volumes) {
      const host = typeof v === "string" ? (v.split(":")[0] ?? "") : "";
      if (host !== "" && !host.startsWith("/") && leavesAllocDir(host)) {
        p(`${at}.Config.volumes`, `volume "${v as string}" leaves the allocation's directory: a relative host path is taken from the task's directory and must stay inside the allocation's`);
      }
    }
  }
}

/** A `template` block as Nomad's `Template.Validate` checks it, and a destination that stays in the allocation's directory. */
function templateProblems(tm: Template, at: string, p: Report): void {
  if (tm.SourcePath === "" && tm.EmbeddedTmpl === "") p(`${at}.EmbeddedTmpl`, "template: give the template inline (data) or a file (source)", true);
  if (tm.SourcePath !== "" && tm.EmbeddedTmpl !== "") p(`${at}.SourcePath`, "template: source and data are both given; give one");
  if (tm.SourcePath !== "" && leavesAllocDir(tm.SourcePath)) p(`${at}.SourcePath`, `template: source "${tm.SourcePath}" escapes the allocation directory; name a file under the task's directory`);
  if (tm.DestPath === "") p(`${at}.DestPath`, "template: destination is required (a file relative to the task's directory, such as local/app.conf)", true);
  else if (leavesAllocDir(tm.DestPath)) p(`${at}.DestPath`, `template: destination "${tm.DestPath}" escapes the allocation directory; name a file under the task's directory`);
  if (!TEMPLATE_CHANGE_MODES.includes(tm.ChangeMode)) p(`${at}.ChangeMode`, `template: invalid change_mode "${tm.ChangeMode}"; it must be one of ${TEMPLATE_CHANGE_MODES.join(", ")}${didYouMean(tm.ChangeMode, TEMPLATE_CHANGE_MODES)}`);
  if (tm.ChangeMode === "signal" && tm.ChangeSignal === "") p(`${at}.ChangeSignal`, "template: change_mode signal needs change_signal (such as SIGHUP)", true);
  if (tm.ChangeMode === "script" && (tm.ChangeScript === null || tm.ChangeScript.Command === "")) p(`${at}.ChangeScript`, "template: change_mode script needs change_script { command = ... }", true);
  if (tm.ChangeScript !== null && tm.ChangeScript.Timeout < 0) p(`${at}.ChangeScript.Timeout`, "template: change_script timeout must not be negative");
  if (tm.Splay < 0) p(`${at}.Splay`, "template: splay must not be negative");
  if (!/^0?[0-7]{3,4}$/.test(tm.Perms)) p(`${at}.Perms`, `template: perms "${tm.Perms}" is not an octal file mode (such as "0644")`);
  if (tm.LeftDelim === "" || tm.RightDelim === "") p(`${at}.${tm.LeftDelim === "" ? "LeftDelim" : "RightDelim"}`, "template: a delimiter must not be empty");
  if (tm.Wait !== null) {
    if (tm.Wait.Min < 0 || tm.Wait.Max < 0) p(`${at}.Wait`, "template: wait min and max must not be negative");
    else if (tm.Wait.Max !== 0 && tm.Wait.Min > tm.Wait.Max) p(`${at}.Wait`, `template: wait min (${formatDuration(tm.Wait.Min)}) is longer than max (${formatDuration(tm.Wait.Max)})`);
  }
}

function task(g: TaskGroup, t: Task, at: string, labels: Map<string, string>, p: Report, namesValid: boolean): void {
  checkName(t.Name, `${at}.Name`, "task name", p);
  const payloadFile = t.DispatchPayload?.File;
  if (payloadFile !== undefined && leavesAllocDir(`local/${payloadFile}`)) p(`${at}.DispatchPayload.File`, `dispatch_payload: file "${payloadFile}" escapes the allocation directory; name a file under the task's local/`);
  (t.Templates ?? []).forEach((tm, i) => {
    templateProblems(tm, `${at}.Templates[${i}]`, p);
  });
  volumeMountProblems(g, t, at, p);
  (t.Artifacts ?? []).forEach((a, i) => {
    artifactProblems(a, `${at}.Artifacts[${i}]`, p);
  });
  const hook = t.Lifecycle?.Hook;
  if (hook === "") p(`${at}.Lifecycle.Hook`, `lifecycle: no hook given; hook must be one of ${TASK_LIFECYCLE_HOOKS.join(", ")}`);
  else if (hook !== undefined && !TASK_LIFECYCLE_HOOKS.includes(hook)) p(`${at}.Lifecycle.Hook`, `lifecycle: invalid hook "${hook}"; hook must be one of ${TASK_LIFECYCLE_HOOKS.join(", ")}${didYouMean(hook, TASK_LIFECYCLE_HOOKS)}`);
  if (t.Driver === "") p(`${at}.Driver`, `missing task driver: task "${t.Name}" needs one (${DRIVER_NAMES.join(", ")})`, true);
  else if (!DRIVER_NAMES.includes(t.Driver)) p(`${at}.Driver`, driverNotRunWhy(t.Driver, DRIVER_NAMES));
  else {
    for (const key of DRIVER_REQUIRED_CONFIG[t.Driver as DriverName]) {
      const v = t.Config[key];
      if (v === undefined) p(`${at}.Config`, `the ${t.Driver} driver needs config.${key}`, true);
      else if (typeof v !== "string" || v.trim() === "") p(`${at}.Config.${key}`, `config.${key} must be a non-empty string`);
    }
    const ports = t.Config.ports;
    if (ports !== undefined) {
      if (!Array.isArray(ports) || !ports.every((x) => typeof x === "string")) p(`${at}.Config.ports`, 'ports must be a list of port labels, as in ports = ["http"]');
      // Nomad takes such a job and its driver fails the task as it starts; Ruche says so before.
      else for (const l of ports) if (!labels.has(l)) p(`${at}.Config.ports`, `ports names "${l}", which the group's network does not declare${didYouMean(l, [...labels.keys()])} (Nomad fails the task as it starts: Port "${l}" not found, check network block)`);
    }
    const args = t.Config.args;
    if (args !== undefined && (!Array.isArray(args) || !args.every((x) => typeof x === "string"))) p(`${at}.Config.args`, "args must be a list of strings");
    driverLimits(t, at, p);
    bridgeTask(g, t, at, p);
  }
  for (const k of Object.keys(t.Env)) {
    if (k === "" || k.includes("=") || k.includes("\0")) p(`${at}.Env`, `environment variable name ${JSON.stringify(k)} is not valid`);
  }
  const r = t.Resources;
  const rAt = `${at}.Resources`;
  if (r.CPU < 1 || r.CPU > LIMITS.maxCpu) p(`${rAt}.CPU`, `cpu must be between 1 and ${LIMITS.maxCpu} MHz, got ${r.CPU}`);
  if (r.Cores < 0 || r.Cores > 1024) p(`${rAt}.Cores`, `cores must be between 0 and 1024, got ${r.Cores}`);
  if (r.MemoryMB < LIMITS.minMemoryMB || r.MemoryMB > LIMITS.maxMemoryMB) {
    p(`${rAt}.MemoryMB`, `memory must be between ${LIMITS.minMemoryMB} and ${LIMITS.maxMemoryMB} MB, got ${r.MemoryMB}`);
  }
  // 0 (none) and -1 (no limit) are Nomad's sentinels.
  if (r.MemoryMaxMB !== 0 && r.MemoryMaxMB !== -1 && r.MemoryMaxMB < r.MemoryMB) p(`${rAt}.MemoryMaxMB`, `memory_max (${r.MemoryMaxMB}) must not be less than memory (${r.MemoryMB})`);
  if (r.DiskMB < 0) p(`${rAt}.DiskMB`, `disk must be zero or more, got ${r.DiskMB}`);
  if (t.KillTimeout < 0) p(`${at}.KillTimeout`, "kill_timeout must not be negative");
  if ((t.ShutdownDelay ?? 0) < 0) p(`${at}.ShutdownDelay`, "shutdown_delay must not be negative");
  // Nomad checks only the group's policy; a task's is taken as written (its mode and attempts must still make sense here).
  if (t.RestartPolicy !== undefined) restartPolicy(t.RestartPolicy, `${at}.RestartPolicy`, p, false);
  const vertical = new Set<string>();
  (t.ScalingPolicies ?? []).forEach((s, i) => {
    const sAt = `${at}.ScalingPolicies[${i}]`;
    if (s.Type !== "vertical_cpu" && s.Type !== "vertical_mem") p(`${sAt}.Type`, `a task's scaling policy is named "cpu" or "mem", got "${s.Type}"`);
    else if (vertical.has(s.Type)) p(sAt, `only one scaling "${s.Type.slice("vertical_".length)}" block is allowed in a task`);
    vertical.add(s.Type);
    // Nomad leaves a task's (vertical) policy's bounds to its autoscaler.
  });
  if (t.LogConfig.MaxFiles < 1) p(`${at}.LogConfig.MaxFiles`, `max_files must be at least 1, got ${t.LogConfig.MaxFiles}`);
  if (t.LogConfig.MaxFileSizeMB < 1) p(`${at}.LogConfig.MaxFileSizeMB`, `max_file_size must be at least 1 MB, got ${t.LogConfig.MaxFileSizeMB}`);
  t.Constraints.forEach((c, i) => {
    constraint(c, `${at}.Constraints[${i}]`, p);
  });
  t.Affinities.forEach((a, i) => {
    affinity(a, `${at}.Affinities[${i}]`, p);
  });
  t.Services.forEach((s, si) => {
    service(s, `${at}.Services[${si}]`, labels, g, p, namesValid && isSafeName(t.Name));
  });
  if (t.Identity != null) identity(t.Identity, `${at}.Identity`, p);
  const named = new Set<string>();
  const actions = new Set<string>();
  (t.Actions ?? []).forEach((a, i) => {
    const aAt = `${at}.Actions[${i}]`;
    if (a.Name === "" || a.Name.length > 128 || /\s/.test(a.Name) || a.Name.includes("\0")) p(`${aAt}.Name`, `action name "${a.Name}" is not valid: 1 to 128 characters, no spaces`);
    if (a.Command === "") p(`${aAt}.Command`, "an action needs a command");
    if (actions.has(a.Name)) p(`${aAt}.Name`, `action "${a.Name}" is declared twice in this task`);
    actions.add(a.Name);
  });
  (t.Identities ?? []).forEach((w, i) => {
    const wAt = `${at}.Identities[${i}]`;
    identity(w, wAt, p);
    if (named.has(w.Name)) p(`${wAt}.Name`, `identity "${w.Name}" is declared twice in this task`);
    named.add(w.Name);
  });
}

/** A workload identity block, checked as Nomad's `WorkloadIdentity.Validate` does. */
function identity(w: WorkloadIdentity, at: string, p: Report): void {
  if (!IDENTITY_NAME_PATTERN.test(w.Name)) p(`${at}.Name`, `identity name "${w.Name}" is not valid: letters, digits, "-" and "_", 1 to 128 of them`);
  w.Audience.forEach((a, i) => {
    if (a === "") p(`${at}.Audience[${i}]`, "an audience must not be empty");
  });
  if (!["", "noop", "restart", "signal"].includes(w.ChangeMode)) p(`${at}.ChangeMode`, `change_mode must be "noop", "restart" or "signal", got "${w.ChangeMode}"`);
  else if (w.ChangeMode === "signal" && w.ChangeSignal === "") p(`${at}.ChangeSignal`, 'change_signal must be specified when using change_mode = "signal"');
  else if ((w.ChangeMode === "restart" || w.ChangeMode === "signal") && !w.Env && !w.File) {
    p(`${at}.ChangeMode`, `change_mode "${w.ChangeMode}" acts when the token is renewed, and Ruche signs and renews only a token the task sees: add env = true or file = true`);
  }
  if (w.ChangeSignal !== "" && w.ChangeMode !== "signal") p(`${at}.ChangeSignal`, 'change_signal goes with change_mode = "signal" only');
  if (w.TTL < 0) p(`${at}.TTL`, "ttl must not be negative");
  if (w.Filepath !== undefined) {
    if (!w.File) p(`${at}.Filepath`, "file must be true in order to specify filepath");
    else if (leavesAllocDir(w.Filepath.replace(/^\/+/, ""))) p(`${at}.Filepath`, `filepath "${w.Filepath}" escapes the allocation directory; name a file under the task's directory, such as "local/nomad_token"`);
  }
  if (w.TTL > 0 && w.Name === DEFAULT_IDENTITY_NAME) p(`${at}.TTL`, "the default identity has no ttl (it lasts as long as its allocation, as in Nomad); give a ttl to a named identity");
}

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** `namesValid` is false when the job, group or task name is itself at fault: a default service name built from it says nothing new. */
function service(s: Service, at: string, labels: Map<string, string>, g: TaskGroup, p: Report, namesValid: boolean): void {
  if (namesValid && !s.Name.includes("${") && !DNS_LABEL.test(s.Name)) {
    p(`${at}.Name`, `service name "${s.Name}" must be a DNS label: letters, digits and "-", at most 63 characters, not starting or ending with "-"`);
  }
  if (s.PortLabel !== "" && !/^\d+$/.test(s.PortLabel) && !labels.has(s.PortLabel)) {
    p(`${at}.PortLabel`, `port "${s.PortLabel}" is not declared in the group's network${didYouMean(s.PortLabel, [...labels.keys()])}`);
  }
  if (/^\d+$/.test(s.PortLabel) && (Number(s.PortLabel) < 1 || Number(s.PortLabel) > LIMITS.maxPort)) p(`${at}.PortLabel`, `port ${s.PortLabel} is outside 1-${LIMITS.maxPort}`);
  if (!ADDRESS_MODES.includes(s.AddressMode)) p(`${at}.AddressMode`, `address_mode must be one of ${ADDRESS_MODES.join(", ")}, got "${s.AddressMode}"`);
  else if (s.Address !== undefined && s.AddressMode !== "auto") p(`${at}.Address`, `Service address_mode must be "auto" if address is set, got "${s.AddressMode}"`);
  if (s.TaskName !== "" && !g.Tasks.some((t) => t.Name === s.TaskName)) p(`${at}.TaskName`, `task "${s.TaskName}" is not in group "${g.Name}"`);
  if (s.OnUpdate !== undefined && !ON_UPDATE_MODES.includes(s.OnUpdate)) p(`${at}.OnUpdate`, `on_update must be one of ${ON_UPDATE_MODES.join(", ")}, got "${s.OnUpdate}"`);
  const checkNames = new Set<string>();
  s.Checks.forEach((c, ci) => {
    const cAt = `${at}.Checks[${ci}]`;
    if (c.OnUpdate !== undefined && c.OnUpdate !== s.OnUpdate && !ON_UPDATE_MODES.includes(c.OnUpdate)) p(`${cAt}.OnUpdate`, `on_update must be one of ${ON_UPDATE_MODES.join(", ")}, got "${c.OnUpdate}"`);
    if (c.CheckRestart != null && c.CheckRestart.Limit < 0) p(`${cAt}.CheckRestart.Limit`, `limit must be zero or more, got ${c.CheckRestart.Limit}`);
    if (c.CheckRestart != null && c.CheckRestart.Grace < 0) p(`${cAt}.CheckRestart.Grace`, "grace must not be negative");
    if (checkNames.has(c.Name)) p(`${cAt}.Name`, `duplicate check "${c.Name}" in service "${s.Name}"`);
    checkNames.add(c.Name);
    if (!CHECK_TYPES.includes(c.Type)) {
      p(`${cAt}.Type`, (c.Type as string) === "" ? `check needs a type: one of ${CHECK_TYPES.join(", ")}` : `check type must be one of ${CHECK_TYPES.join(", ")}, got "${c.Type}"${didYouMean(c.Type, CHECK_TYPES)}`);
      return;
    }
    if (c.Interval === 0) p(`${cAt}.Interval`, `a ${c.Type} check needs an interval, such as interval = "10s"`, true);
    else if (c.Interval < NS.second) p(`${cAt}.Interval`, `interval must be at least 1s, got ${formatDuration(c.Interval)}`);
    if (c.Type !== "ttl" && c.Timeout < NS.millisecond) p(`${cAt}.Timeout`, `${c.Type === "http" ? "an" : "a"} ${c.Type} check needs a timeout of at least 1ms, got ${formatDuration(c.Timeout)}`);
    if (c.Type === "http" && c.Path === "") p(`${cAt}.Path`, 'an http check needs a path, such as path = "/health"');
    if (c.Type === "http" && c.Protocol !== "http" && c.Protocol !== "https") p(`${cAt}.Protocol`, `protocol must be http or https, got "${c.Protocol}"`);
    if (c.Type === "script" && c.Command === "") p(`${cAt}.Command`, "a script check needs a command");
    if ((c.Type === "http" || c.Type === "tcp") && c.PortLabel === "" && s.PortLabel === "") {
      p(`${cAt}.PortLabel`, `${c.Type === "http" ? "an" : "a"} ${c.Type} check needs a port, on the check or on its service`, true);
    }
    if (c.PortLabel !== "" && !/^\d+$/.test(c.PortLabel) && !labels.has(c.PortLabel)) p(`${cAt}.PortLabel`, `port "${c.PortLabel}" is not declared in the group's network`);
    if (c.SuccessBeforePassing < 0) p(`${cAt}.SuccessBeforePassing`, "success_before_passing must be zero or more");
    if (c.FailuresBeforeCritical < 0) p(`${cAt}.FailuresBeforeCritical`, "failures_before_critical must be zero or more");
    if (c.InitialStatus !== "" && !["passing", "warning", "critical"].includes(c.InitialStatus)) p(`${cAt}.InitialStatus`, `initial_status must be passing, warning or critical, got "${c.InitialStatus}"`);
  });
}

function serviceNames(services: { s: Service; path: string }[], p: Report): void {
  const seen = new Set<string>();
  for (const { s, path } of services) {
    const key = `${s.Name}/${s.PortLabel}`;
    if (seen.has(key)) p(path, `service "${s.Name}" on port "${s.PortLabel}" is declared twice in the group`);
    seen.add(key);
  }
}

function constraint(c: Constraint, at: string, p: Report): void {
  if (!CONSTRAINT_OPERATORS.includes(c.Operand)) {
    p(`${at}.Operand`, `unknown operator "${c.Operand}"; use one of ${CONSTRAINT_OPERATORS.join(", ")}${didYouMean(c.Operand, CONSTRAINT_OPERATORS)}`);
    return;
  }
  switch (c.Operand) {
    case "distinct_hosts":
      if (c.RTarget !== "" && c.RTarget !== "true" && c.RTarget !== "false") p(`${at}.RTarget`, `distinct_hosts takes true or false, got "${c.RTarget}"`);
      return;
    case "distinct_property":
      if (c.LTarget === "") p(`${at}.LTarget`, "distinct_property needs the attribute to keep distinct, as in distinct_property = \"${meta.rack}\"");
      if (c.RTarget !== "" && !/^[1-9]\d*$/.test(c.RTarget)) p(`${at}.RTarget`, `distinct_property's value is how many allocations may share a value, a whole number; got "${c.RTarget}"`);
      return;
    case "beside_job":
    case "not_beside_job":
      if (c.RTarget === "") p(`${at}.RTarget`, `${c.Operand} needs the ID of the other job as its value`);
      return;
    default:
      break;
  }
  if (c.LTarget === "") p(`${at}.LTarget`, `the constraint needs an attribute, such as attribute = "\${attr.kernel.name}"`);
  if (!UNARY_OPERATORS.includes(c.Operand) && c.RTarget === "") p(`${at}.RTarget`, `operator "${c.Operand}" needs a value`);
  if (c.Operand === "regexp") {
    const bad = regexpProblem(c.RTarget);
    if (bad !== null) p(`${at}.RTarget`, bad);
  }
  if ((c.Operand === "version" || c.Operand === "semver") && !/^\s*(?:(?:[<>]=?|=|!=|~>)?\s*v?\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?\s*(?:,\s*|$))+$/.test(c.RTarget)) {
    p(`${at}.RTarget`, `invalid version constraint "${c.RTarget}"; write it as ">= 1.2, < 2.0"`);
  }
}

function affinity(a: Affinity, at: string, p: Report): void {
  constraint({ LTarget: a.LTarget, RTarget: a.RTarget, Operand: a.Operand }, at, p);
  if (!Number.isInteger(a.Weight) || a.Weight === 0 || a.Weight < -100 || a.Weight > 100) {
    p(`${at}.Weight`, `weight must be a whole number between -100 and 100, not 0; got ${a.Weight}`);
  }
}

function spread(s: Spread, at: string, p: Report): void {
  if (s.Attribute === "") p(`${at}.Attribute`, "spread needs an attribute, such as attribute = \"${node.datacenter}\"");
  if (s.Weight < 0 || s.Weight > 100) p(`${at}.Weight`, `weight must be between 0 and 100, got ${s.Weight}`);
  let sum = 0;
  const seen = new Set<string>();
  s.SpreadTarget.forEach((t, i) => {
    if (seen.has(t.Value)) p(`${at}.SpreadTarget[${i}]`, `target "${t.Value}" is given twice`);
    seen.add(t.Value);
    if (t.Percent < 0 || t.Percent > 100) p(`${at}.SpreadTarget[${i}].Percent`, `percent must be between 0 and 100, got ${t.Percent}`);
    sum += t.Percent;
  });
  if (sum > 100) p(`${at}.SpreadTarget`, `the targets' percentages add up to ${sum}, more than 100`);
}

/**
 * Constraint regular expressions are written for Go's RE2 (what Nomad users know), which has
 * no lookaround and no backreferences; refuse those rather than accept what RE2 would not.
 */
function regexpProblem(pattern: string): string | null {
  if (/\(\?<?[=!]/.test(pattern)) return `invalid regular expression "${pattern}": lookahead and lookbehind are not supported (RE2 syntax)`;
  if (/(^|[^\\])\\[1-9]/.test(pattern)) return `invalid regular expression "${pattern}": backreferences are not supported (RE2 syntax)`;
  try {
    new RegExp(pattern);
    return null;
  } catch (e) {
    return `invalid regular expression "${pattern}": ${errorMessage(e).replace(/^Invalid regular expression: \/.*\/[a-z]*: /, "")}`;
  }
}
