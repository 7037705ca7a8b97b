import type { Affinity, Constraint, Spread } from "./constraint.js";
import type { NetworkResource, Resources } from "./resources.js";
import type { Service } from "./service.js";
import type { WorkloadIdentity } from "./workload-identity.js";

export const JobType = { Service: "service", Batch: "batch", System: "system" } as const;
export type JobType = (typeof JobType)[keyof typeof JobType];
export const JOB_TYPES: readonly string[] = Object.values(JobType);

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

/** Periodic jobs are modelled for the job file; the server runs them later. */
export interface PeriodicConfig {
  Enabled: boolean;
  Spec: string;
  ProhibitOverlap: boolean;
  TimeZone: string;
}

/** Driver configuration is driver-specific and checked by the driver's own schema. */
export type DriverConfig = Record<string, unknown>;

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
  /** Unix milliseconds (Nomad uses nanoseconds, which a JavaScript number cannot hold exactly). */
  SubmitTime: number;
}

export const JOB_DEFAULTS = {
  Region: "global",
  Namespace: "default",
  Priority: 50,
  Datacenters: ["*"],
  NodePool: "default",
} as const;
