/**
 * The cluster's scheduler configuration (Nomad's `SchedulerConfiguration`, set with
 * `PUT /v1/operator/scheduler/configuration` or `ruche operator scheduler set-config`), kept as
 * the one row of the `schedulerConfig` table.
 */
export const SchedulerAlgorithm = { Binpack: "binpack", Spread: "spread" } as const;
export type SchedulerAlgorithm = (typeof SchedulerAlgorithm)[keyof typeof SchedulerAlgorithm];

/** Which schedulers may evict lower-priority allocations (Nomad's `PreemptionConfig`); Ruche preempts in none. */
export interface PreemptionConfig {
  SystemSchedulerEnabled: boolean;
  SysBatchSchedulerEnabled: boolean;
  BatchSchedulerEnabled: boolean;
  ServiceSchedulerEnabled: boolean;
}

export interface SchedulerConfiguration {
  /** How nodes are ranked for jobs that ask for nothing else: fullest first (binpack) or emptiest first (spread). */
  SchedulerAlgorithm: SchedulerAlgorithm;
  PreemptionConfig: PreemptionConfig;
  /** Whether a task's `memory_max` is its memory limit (its `memory` then a reservation); off: `memory_max` is ignored, with a warning on register. */
  MemoryOversubscriptionEnabled: boolean;
  /** Job registration, dispatch and scale refused except with a management token. */
  RejectJobRegistration: boolean;
  /** Nomad stops its eval broker; Ruche has no such switch: always false. */
  PauseEvalBroker: boolean;
  /** Nomad 1.10's cap on the nodes checked for spreads and affinities; Ruche's own (100) is fixed: 0 here. */
  NodeLimitForFeasibilityChecks: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** The row as stored: the configuration under its one key. */
export interface StoredSchedulerConfig extends SchedulerConfiguration {
  ID: string;
}

/** The key of the one row of `schedulerConfig`. */
export const SCHEDULER_CONFIG_KEY = "scheduler";

/** What the cluster runs with before anyone sets it (Nomad's defaults, less preemption, which Ruche does not do). */
export function defaultSchedulerConfig(): SchedulerConfiguration {
  return {
    SchedulerAlgorithm: SchedulerAlgorithm.Binpack,
    PreemptionConfig: { SystemSchedulerEnabled: false, SysBatchSchedulerEnabled: false, BatchSchedulerEnabled: false, ServiceSchedulerEnabled: false },
    MemoryOversubscriptionEnabled: false,
    RejectJobRegistration: false,
    PauseEvalBroker: false,
    NodeLimitForFeasibilityChecks: 0,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

/** Nomad's warning for each task whose `memory_max` a configuration without oversubscription ignores (`memoryOversubscriptionValidate`). */
export function memoryMaxWarnings(job: { TaskGroups: readonly { Name: string; Tasks: readonly { Name: string; Resources: { MemoryMaxMB: number } }[] }[] }, cfg: Pick<SchedulerConfiguration, "MemoryOversubscriptionEnabled">): string[] {
  if (cfg.MemoryOversubscriptionEnabled) return [];
  const out: string[] = [];
  for (const tg of job.TaskGroups) {
    for (const t of tg.Tasks) {
      if (t.Resources.MemoryMaxMB !== 0) out.push(`Memory oversubscription is not enabled; Task "${tg.Name}.${t.Name}" memory_max value will be ignored. Update the Scheduler Configuration to allow oversubscription.`);
    }
  }
  return out;
}

/** Warnings as one string, as Nomad's API answers them (`helper.MergeMultierrorWarnings`): "" for none. */
export function mergeWarnings(warnings: readonly string[]): string {
  if (warnings.length === 0) return "";
  return `${warnings.length === 1 ? "1 warning" : `${warnings.length} warnings`}:\n${warnings.map((w) => `\n* ${w.trim()}`).join("")}`;
}
