import { NS } from "./duration.js";
import type {
  DisconnectStrategy,
  EphemeralDisk,
  JobType,
  LogConfig,
  MigrateStrategy,
  ReschedulePolicy,
  RestartPolicy,
  TaskGroup,
  UpdateStrategy,
} from "./job.js";
import type { Resources } from "./resources.js";
import { assertNever } from "./errors.js";

/** Defaults as Nomad documents them; every one is a fresh object the caller may change. */
export function defaultUpdateStrategy(): UpdateStrategy {
  return {
    Stagger: 30 * NS.second,
    MaxParallel: 1,
    HealthCheck: "checks",
    MinHealthyTime: 10 * NS.second,
    HealthyDeadline: 5 * NS.minute,
    ProgressDeadline: 10 * NS.minute,
    AutoRevert: false,
    AutoPromote: false,
    Canary: 0,
  };
}

export function defaultMigrateStrategy(): MigrateStrategy {
  return {
    MaxParallel: 1,
    HealthCheck: "checks",
    MinHealthyTime: 10 * NS.second,
    HealthyDeadline: 5 * NS.minute,
  };
}

export function defaultRestartPolicy(type: JobType): RestartPolicy {
  switch (type) {
    case "batch":
    case "sysbatch":
      return { Attempts: 3, Interval: 24 * NS.hour, Delay: 15 * NS.second, Mode: "fail" };
    case "service":
    case "system":
      return { Attempts: 2, Interval: 30 * NS.minute, Delay: 15 * NS.second, Mode: "fail" };
    default:
      return assertNever(type, "job type");
  }
}

/** System and sysbatch jobs are never rescheduled to another node: they have no policy. */
export function defaultReschedulePolicy(type: JobType): ReschedulePolicy | null {
  switch (type) {
    case "batch":
      return {
        Attempts: 1,
        Interval: 24 * NS.hour,
        Delay: 5 * NS.second,
        DelayFunction: "constant",
        MaxDelay: 0,
        Unlimited: false,
      };
    case "service":
      return {
        Attempts: 0,
        Interval: 0,
        Delay: 30 * NS.second,
        DelayFunction: "exponential",
        MaxDelay: NS.hour,
        Unlimited: true,
      };
    case "system":
    case "sysbatch":
      return null;
    default:
      return assertNever(type, "job type");
  }
}

/**
 * Ruche's disconnect defaults, for a group without a `disconnect` block: a node that stops
 * heartbeating has its allocations `unknown` for 5 minutes while replacements run; when it
 * comes back within them, the allocation that has run the longest is kept and the other
 * stopped, so an agent restart does not restart the node's work. (Nomad's default is
 * `lost_after` 0: lost at once; and `best_score`.)
 */
export function defaultDisconnect(): DisconnectStrategy {
  return { LostAfter: 5 * NS.minute, Replace: true, Reconcile: "longest_running" };
}

/** The group's disconnect strategy, its defaults when it has none. */
export function disconnectOf(tg: Pick<TaskGroup, "Disconnect"> | undefined): DisconnectStrategy {
  return tg?.Disconnect ?? defaultDisconnect();
}

export function defaultEphemeralDisk(): EphemeralDisk {
  return { SizeMB: 300, Migrate: false, Sticky: false };
}

export function defaultResources(): Resources {
  return { CPU: 100, Cores: 0, MemoryMB: 300, MemoryMaxMB: 0, DiskMB: 0 };
}

export function defaultLogConfig(): LogConfig {
  return { MaxFiles: 10, MaxFileSizeMB: 10 };
}

export const DEFAULT_KILL_TIMEOUT = 5 * NS.second;
export const DEFAULT_CHECK_TIMEOUT = 0;
