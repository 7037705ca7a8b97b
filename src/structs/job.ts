import type { Affinity, Constraint, Spread } from "./constraint.js";
import type { NetworkResource, Resources } from "./resources.js";
import type { Service } from "./service.js";
import type { WorkloadIdentity } from "./workload-identity.js";

/** `sysbatch`: a batch job run once on every eligible node (Nomad's), its successful allocations never run again. */
export const JobType = { Service: "service", Batch: "batch", System: "system", SysBatch: "sysbatch" } as const;
export type JobType = (typeof JobType)[keyof typeof JobType];
export const JOB_TYPES: readonly string[] = Object.values(JobType);

/** System and sysbatch jobs: one allocation of each group on every eligible node, placed by the system scheduler. */
export function runsOnEveryNode(type: string): boolean {
  return type === "system" || type === "sysbatch";
}

export const JobStatus = { Pending: "pending", Running: "running", Dead: "dead" } as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** Swarm's placement strategies, a per-job choice (`placement` in the job file). */
export const PlacementStrategy = { Binpack: "binpack", Spread: "spread", Random: "random" } as const;
export type PlacementStrategy = (typeof PlacementStrategy)[keyof typeof PlacementStrategy];
export const PLACEMENT_STRATEGIES: readonly string[] = Object.values(PlacementStrategy);

export const HealthCheckMode = { Checks: "checks", TaskStates: "task_states", Manual: "manual" } as const;
export type HealthCheckMode = (typeof HealthCheckMode)[keyof typeof HealthCheckMode];
export const HEALTH_CHECK_MODES: readonly string[] = Object.values(HealthCheckMode);

export const RestartMode = { Delay: "delay", Fail: "fail" } as const;
export type RestartMode = (typeof RestartMode)[keyof typeof RestartMode];
export const RESTART_MODES: readonly string[] = Object.values(RestartMode);

export const DelayFunction = { Constant: "constant", Exponential: "exponential", Fibonacci: "fibonacci" } as const;
export type DelayFunction = (typeof DelayFunction)[keyof typeof DelayFunction];
export const DELAY_FUNCTIONS: readonly string[] = Object.values(DelayFunction);

/** Durations in nanoseconds. */
export interface UpdateStrategy {
  Stagger: number;
  MaxParallel: number;
  HealthCheck: HealthCheckMode;
  MinHealthyTime: number;
  HealthyDeadline: number;
  ProgressDeadline: number;
  AutoRevert: boolean;
  AutoPromote: boolean;
  Canary: number;
}

export interface MigrateStrategy {
  MaxParallel: number;
  HealthCheck: HealthCheckMode;
  MinHealthyTime: number;
  HealthyDeadline: number;
}

export interface RestartPolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  Mode: RestartMode;
  /** Nomad 1.6's `render_templates`: a restarted task's templates are rendered again before it starts (absent: false, kept as they were). */
  RenderTemplates?: boolean;
}

export interface ReschedulePolicy {
  Attempts: number;
  Interval: number;
  Delay: number;
  DelayFunction: DelayFunction;
  MaxDelay: number;
  Unlimited: boolean;
}

/** What the servers keep of a disconnected node's allocation when it comes back beside its replacement. */
export const ReconcileOption = {
  KeepOriginal: "keep_original",
  KeepReplacement: "keep_replacement",
  BestScore: "best_score",
  LongestRunning: "longest_running",
} as const;
export type ReconcileOption = (typeof ReconcileOption)[keyof typeof ReconcileOption];
export const RECONCILE_OPTIONS: readonly string[] = Object.values(ReconcileOption);

/**
 * Nomad's `disconnect` block: for `LostAfter` (ns) after its node stops heartbeating an
 * allocation is `unknown`, not lost; `Replace` places a replacement meanwhile; when the node
 * comes back, `Reconcile` says which of the two is kept. `LostAfter` 0: lost at once.
 */
export interface DisconnectStrategy {
  LostAfter: number;
  Replace: boolean;
  Reconcile: ReconcileOption;
}

export interface EphemeralDisk {
  SizeMB: number;
  Migrate: boolean;
  Sticky: boolean;
}

export interface LogConfig {
  MaxFiles: number;
  MaxFileSizeMB: number;
}

/**
 * Nomad's `periodic` block: the job is a parent that runs nothing itself; the leader launches
 * a child job (`<id>/periodic-<unix seconds>`) at each time its cron expression gives
 * (`periodic.ts`, `server/periodic.ts`).
 */
/**
 * Nomad's `multiregion` block (an Enterprise feature in Nomad, built here): each region named
 * gets its own copy of the job, parameterized by its `region` block, and their deployments
 * roll out region after region (`strategy`), coordinated by the regions' servers
 * (`server/multiregion.ts`).
 */
export interface Multiregion {
  Strategy: MultiregionStrategy;
  Regions: MultiregionRegion[];
}

/** How the regions' deployments roll out. */
export interface MultiregionStrategy {
  /** How many regions deploy at a time, in the order written; 0: all at once. */
  MaxParallel: number;
  /** A region's failed deployment fails the regions after it (""), every region ("fail_all"), or itself alone ("fail_local"). */
  OnFailure: MultiregionOnFailure;
}

export const MULTIREGION_ON_FAILURE = ["", "fail_all", "fail_local"] as const;
export type MultiregionOnFailure = (typeof MULTIREGION_ON_FAILURE)[number];

/** One region of a multiregion job and what its copy of the job takes instead of the job's own. */
export interface MultiregionRegion {
  Name: string;
  /** The count of each group whose own count is 0 (Nomad's rule); default 1. */
  Count: number;
  /** Replace the job's datacenters when not empty. */
  Datacenters: string[];
  /** Replaces the job's node pool when not "". */
  NodePool: string;
  /** Merged over the job's meta. */
  Meta: Record<string, string>;
}

export interface PeriodicConfig {
  Enabled: boolean;
  /** `cron`: one expression; "" when `crons` is given. */
  Spec: string;
  /** `crons`: several expressions, the next launch the earliest of theirs. */
  Specs: string[];
  /** Always "cron" (Nomad's `SpecType`; its "test" type is for its own tests). */
  SpecType: string;
  ProhibitOverlap: boolean;
  /** An IANA time zone name; the expressions are read on its wall clock. */
  TimeZone: string;
}

/** Whether a dispatch of a parameterized job carries a payload (Nomad's `parameterized { payload }`). */
export const DispatchPayloadMode = { Optional: "optional", Required: "required", Forbidden: "forbidden" } as const;
export type DispatchPayloadMode = (typeof DispatchPayloadMode)[keyof typeof DispatchPayloadMode];
export const DISPATCH_PAYLOAD_MODES: readonly string[] = Object.values(DispatchPayloadMode);

/**
 * Nomad's `parameterized` block: the job is a template that runs nothing itself; each
 * `dispatch` of it makes a child job with the dispatch's meta and payload.
 */
export interface ParameterizedJobConfig {
  Payload: DispatchPayloadMode;
  MetaRequired: string[];
  MetaOptional: string[];
}

/** A task's `dispatch_payload { file }`: where, under the task's `local/`, a dispatched job's payload is written. */
export interface DispatchPayloadConfig {
  File: string;
}

/** What the node does when a template's output changes (Nomad's `template { change_mode }`). */
export const TemplateChangeMode = { Noop: "noop", Restart: "restart", Signal: "signal", Script: "script" } as const;
export type TemplateChangeMode = (typeof TemplateChangeMode)[keyof typeof TemplateChangeMode];
export const TEMPLATE_CHANGE_MODES: readonly string[] = Object.values(TemplateChangeMode);

/** A template's `change_script` (Nomad's `ChangeScript`): run inside the task through its driver. */
export interface TemplateChangeScript {
  Command: string;
  Args: string[];
  /** Nanoseconds; default 5 s. */
  Timeout: number;
  /** The script failing kills the task (Nomad: fails it). */
  FailOnError: boolean;
}

/** A template's `wait { min max }`: quiescence before a render, in nanoseconds. */
export interface TemplateWait {
  Min: number;
  Max: number;
}

/**
 * A task's `template` block (Nomad's `api.Template`, field for field): a consul-template
 * rendered on the node before the task starts, and again when what it reads changes.
 * `SourcePath` is a file relative to the task's directory, `EmbeddedTmpl` the template
 * inline; `DestPath` is relative to the task's directory. Durations are nanoseconds.
 */
export interface Template {
  SourcePath: string;
  DestPath: string;
  EmbeddedTmpl: string;
  ChangeMode: string;
  ChangeSignal: string;
  ChangeScript: TemplateChangeScript | null;
  Splay: number;
  /** Octal, as written ("0644"). */
  Perms: string;
  /** -1: the file keeps the agent's owner. */
  Uid: number;
  Gid: number;
  LeftDelim: string;
  RightDelim: string;
  /** `env = true`: the output is KEY=VALUE lines added to the task's environment. */
  Envvars: boolean;
  /** Vault's alone; kept as written, unused (Ruche has no Vault). */
  VaultGrace: number;
  Wait: TemplateWait | null;
  ErrMissingKey: boolean;
  /** Rendered once; changes later are not followed. */
  Once: boolean;
}

/** Nomad's volume types: `host`, a directory a node's agent config offers (`client { host_volume }`); `csi`, refused (Ruche runs no CSI plugins). */
export const VolumeType = { Host: "host", CSI: "csi" } as const;
export type VolumeType = (typeof VolumeType)[keyof typeof VolumeType];

/**
 * A group's `volume "name" { ... }` (Nomad's `api.VolumeRequest`, field for field): a volume
 * the group's tasks may mount. For a host volume, `Source` names the node's `host_volume`;
 * nodes that lack it, or offer it read-only to a request that is not, are not feasible.
 * `PerAlloc`: each allocation asks for its own, `Source[N]` (`volumeSource`). `Sticky` and
 * `MountOptions` are read to be refused (dynamic and CSI volumes).
 */
export interface VolumeRequest {
  Name: string;
  Type: string;
  Source: string;
  ReadOnly: boolean;
  Sticky: boolean;
  AccessMode: string;
  AttachmentMode: string;
  MountOptions: null;
  PerAlloc: boolean;
}

/**
 * The host volume an allocation's request names (Nomad's `VolumeRequest.VolumeID`): its
 * source, with `per_alloc` the allocation's suffix after it (`AllocSuffix`: `data` for
 * `web.db[2]` is `data[2]`).
 */
export function volumeSource(v: Pick<VolumeRequest, "Source" | "PerAlloc">, allocName: string): string {
  if (!v.PerAlloc) return v.Source;
  const open = allocName.lastIndexOf("[");
  return open < 0 ? v.Source : v.Source + allocName.slice(open);
}

/** How a volume mount propagates mounts made under it (Nomad's `VolumeMountPropagation*`). */
export const VolumeMountPropagation = { Private: "private", HostToTask: "host-to-task", Bidirectional: "bidirectional" } as const;
export type VolumeMountPropagation = (typeof VolumeMountPropagation)[keyof typeof VolumeMountPropagation];
export const VOLUME_MOUNT_PROPAGATIONS: readonly string[] = Object.values(VolumeMountPropagation);

/**
 * A task's `volume_mount` (Nomad's `api.VolumeMount`, its defaults filled in as its
 * `Canonicalize` does): the group's volume `Volume` at `Destination` inside the task, read-only
 * when the mount, the group's request or the node's volume says so.
 */
export interface VolumeMount {
  Volume: string;
  Destination: string;
  ReadOnly: boolean;
  PropagationMode: string;
  /** "", "z" (shared) or "Z" (private): the SELinux relabelling docker applies. */
  SELinuxLabel: string;
}

/** How an artifact lands (Nomad's `GetterMode*`): "any" lets the source say (a file, or a directory for an archive or a git repository). */
export const ArtifactMode = { Any: "any", File: "file", Dir: "dir" } as const;
export type ArtifactMode = (typeof ArtifactMode)[keyof typeof ArtifactMode];
export const ARTIFACT_MODES: readonly string[] = Object.values(ArtifactMode);

/**
 * A task's `artifact` block (Nomad's `TaskArtifact`, field for field): fetched on the node
 * before the task starts, by go-getter's rules (`client/hooks/artifact-getter.ts`).
 * `GetterOptions` go into the source's query (`checksum`, `archive`, `ref`, `depth`);
 * `RelativeDest` is taken from the task's directory and stays inside the allocation's.
 * Strings may hold `${...}` references, interpolated on the node.
 */
export interface TaskArtifact {
  GetterSource: string;
  /** null when none, as Nomad's api sends them. */
  GetterOptions: Record<string, string> | null;
  GetterHeaders: Record<string, string> | null;
  /** "any", "file" or "dir" as read; validation holds it to the three. */
  GetterMode: string;
  /** https without checking the server's certificate. */
  GetterInsecure: boolean;
  RelativeDest: string;
  /** Nomad 1.10's `chown`: refused at validation (not built). */
  Chown: boolean;
}

/** When a task with a `lifecycle` block runs, relative to its group's main tasks (Nomad's `TaskLifecycleHook*`). */
export const TaskLifecycleHook = { Prestart: "prestart", Poststart: "poststart", Poststop: "poststop" } as const;
export type TaskLifecycleHook = (typeof TaskLifecycleHook)[keyof typeof TaskLifecycleHook];
export const TASK_LIFECYCLE_HOOKS: readonly string[] = Object.values(TaskLifecycleHook);

/**
 * A task's `lifecycle { hook, sidecar }` (Nomad's `TaskLifecycleConfig`): prestart tasks run
 * before the main tasks (an ephemeral one must exit successfully first, a sidecar keeps
 * running beside them), poststart tasks once every main task runs, poststop tasks once the
 * others have stopped. `Hook` is a string as read; validation holds it to the three.
 */
export interface TaskLifecycle {
  Hook: string;
  Sidecar: boolean;
}

/**
 * Nomad's scaling policy: a group's `scaling` block (Type "horizontal": its count between
 * Min and Max) or a task's `scaling "cpu"` / `scaling "mem"` (Type "vertical_cpu",
 * "vertical_mem"). Kept with the job for an autoscaler to read; `Policy` is the
 * autoscaler's own, as written.
 */
export interface ScalingPolicy {
  Type: string;
  Min: number;
  Max: number;
  Enabled: boolean;
  Policy: Record<string, unknown>;
}

/** Nomad's job `ui` block: a description and links shown with the job. */
export interface JobUIConfig {
  Description: string;
  Links: { Label: string; URL: string }[];
}

/** Driver configuration is driver-specific and checked by the driver's own schema. */
export type DriverConfig = Record<string, unknown>;

/** A task's `action "name" { command args }` (Nomad's `api.Action`). */
export interface TaskAction {
  Name: string;
  Command: string;
  Args: string[];
}

export interface Task {
  Name: string;
  Driver: string;
  User: string;
  Config: DriverConfig;
  Env: Record<string, string>;
  Services: Service[];
  Resources: Resources;
  Constraints: Constraint[];
  Affinities: Affinity[];
  Meta: Record<string, string>;
  /** Nanoseconds between SIGTERM (or the driver's stop) and SIGKILL. */
  KillTimeout: number;
  KillSignal: string;
  LogConfig: LogConfig;
  /** When the leader task exits, the other tasks of the allocation are stopped. */
  Leader: boolean;
  /** The `identity` block without a name (or named "default"): the workload identity that is an API token. */
  Identity?: WorkloadIdentity | null;
  /** The other `identity` blocks: JWTs for third parties. */
  Identities?: WorkloadIdentity[];
  /** Where a dispatched job's payload goes; absent or null: not written. */
  DispatchPayload?: DispatchPayloadConfig | null;
  /** Fetched into the task's directory before it starts; absent: none. */
  Artifacts?: TaskArtifact[] | null;
  /** When the task runs relative to the group's main tasks; absent or null: it is a main task. */
  Lifecycle?: TaskLifecycle | null;
  /** Nanoseconds between the task's services leaving the catalog and its kill signal; absent: 0. */
  ShutdownDelay?: number;
  /** The task's own `restart` block merged over its group's policy (as Nomad's api does); absent: the group's. */
  RestartPolicy?: RestartPolicy;
  /** The task's `scaling "cpu"` / `scaling "mem"` policies. */
  ScalingPolicies?: ScalingPolicy[];
  /** The task's `template` blocks, rendered on the node before it starts; absent: none. */
  Templates?: Template[];
  /** The task's `action` blocks: commands `ruche action` runs inside it on demand; absent: none. */
  Actions?: TaskAction[];
  /** The task's `volume_mount` blocks: the group's volumes it mounts; absent: none. */
  VolumeMounts?: VolumeMount[];
}

export interface TaskGroup {
  Name: string;
  Count: number;
  Constraints: Constraint[];
  Affinities: Affinity[];
  Spreads: Spread[];
  RestartPolicy: RestartPolicy;
  /** Absent for system jobs, which are never rescheduled elsewhere. */
  ReschedulePolicy: ReschedulePolicy | null;
  Update: UpdateStrategy | null;
  Migrate: MigrateStrategy | null;
  /** Absent in jobs stored before it existed: `disconnectOf` gives the defaults then. */
  Disconnect?: DisconnectStrategy;
  EphemeralDisk: EphemeralDisk;
  Networks: NetworkResource[];
  Services: Service[];
  Tasks: Task[];
  Meta: Record<string, string>;
  /** The group's `scaling` block; absent or null: none. */
  Scaling?: ScalingPolicy | null;
  /** Nanoseconds between the group's services leaving the catalog and its tasks' kill signals; absent: 0. */
  ShutdownDelay?: number;
  /** Batch and sysbatch: nanoseconds after the allocation's creation when its tasks are killed and it is complete; absent: no bound. */
  MaxRunDuration?: number;
  /** The group's `volume` blocks by name (Nomad's `TaskGroup.Volumes`); absent: none. */
  Volumes?: Record<string, VolumeRequest>;
}

export interface Job {
  ID: string;
  Name: string;
  Namespace: string;
  Region: string;
  Type: JobType;
  Priority: number;
  AllAtOnce: boolean;
  Datacenters: string[];
  NodePool: string;
  Constraints: Constraint[];
  Affinities: Affinity[];
  Spreads: Spread[];
  /** Node ranking: binpack (default), spread or random. */
  Placement: PlacementStrategy;
  /** Score every feasible node instead of a limited sample. */
  FullScan: boolean;
  Update: UpdateStrategy | null;
  Periodic: PeriodicConfig | null;
  /** A parameterized job's `parameterized` block (its dispatched children keep it, with `Dispatched` set). */
  ParameterizedJob?: ParameterizedJobConfig | null;
  /** Set by the servers on a child job (a dispatch of a parameterized job): its parent's ID. */
  ParentID?: string;
  /** Set by the servers on a dispatched child job; a job submitted with it set is refused. */
  Dispatched?: boolean;
  /** A dispatched job's payload, base64 (Nomad's `[]byte` in JSON); "" for none. */
  Payload?: string;
  /** The job's `ui` block; absent or null: none. */
  UI?: JobUIConfig | null;
  /** Nomad's `multiregion` block: one submission registers the job in every region named, rolled out region after region. Absent or null: one region. */
  Multiregion?: Multiregion | null;
  TaskGroups: TaskGroup[];
  Meta: Record<string, string>;
  Stop: boolean;
  Status: JobStatus;
  /** Set by the server when the job is registered. */
  Version: number;
  Stable: boolean;
  CreateIndex: number;
  ModifyIndex: number;
  JobModifyIndex: number;
  /**
   * Unix nanoseconds, as Nomad's (its Go client and `nomad` CLI read them so): a JavaScript
   * number holds them to within a quarter of a microsecond, and JSON writes them whole.
   */
  SubmitTime: number;
}

export const JOB_DEFAULTS = {
  Region: "global",
  Namespace: "default",
  Priority: 50,
  Datacenters: ["*"],
  NodePool: "default",
} as const;

/** Whether a job is multiregion: a `multiregion` block with at least one region. */
export function isMultiregion(job: Job | null | undefined): job is Job & { Multiregion: NonNullable<Job["Multiregion"]> } {
  return job?.Multiregion !== undefined && job.Multiregion !== null && job.Multiregion.Regions.length > 0;
}
