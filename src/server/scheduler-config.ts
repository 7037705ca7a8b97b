import { ErrorCode, RucheError, SCHEDULER_CONFIG_KEY, SchedulerAlgorithm, type SchedulerConfiguration } from "../structs/index.js";
import type { StateStore } from "../state/index.js";

/**
 * What Ruche cannot honour in a scheduler configuration, each refused with what to change:
 * preemption (Ruche's schedulers never evict), a paused eval broker, a node limit of
 * Nomad 1.10's. Nomad's own check (`SchedulerConfiguration.Validate`) first.
 */
export function schedulerConfigProblem(cfg: SchedulerConfiguration): { path: string; message: string } | null {
  if (!Object.values<string>(SchedulerAlgorithm).includes(cfg.SchedulerAlgorithm)) return { path: "SchedulerAlgorithm", message: `invalid scheduler algorithm: ${cfg.SchedulerAlgorithm}` };
  for (const [k, v] of Object.entries(cfg.PreemptionConfig)) {
    if (v) return { path: `PreemptionConfig.${k}`, message: `PreemptionConfig.${k}: Ruche's schedulers do not preempt allocations; leave preemption off` };
  }
  if (cfg.PauseEvalBroker) return { path: "PauseEvalBroker", message: "PauseEvalBroker: Ruche has no eval broker to pause; leave it false" };
  if (cfg.NodeLimitForFeasibilityChecks !== 0) return { path: "NodeLimitForFeasibilityChecks", message: "NodeLimitForFeasibilityChecks: Ruche's limit on the nodes checked for spreads and affinities is fixed (100); leave it 0" };
  return null;
}

/**
 * Sets the scheduler configuration (Nomad's `Operator.SchedulerSetConfiguration`); with
 * `cas`, only when the stored configuration's ModifyIndex is `cas` (0: none was ever set),
 * saying whether it was.
 */
export async function setSchedulerConfig(store: StateStore, cfg: SchedulerConfiguration, cas?: number): Promise<{ Updated: boolean; Index: number }> {
  const problem = schedulerConfigProblem(cfg);
  if (problem !== null) throw new RucheError(ErrorCode.BadRequest, problem.message, { path: problem.path });
  let updated = true;
  const { index } = await store.write((tx) => {
    const current = tx.get("schedulerConfig", SCHEDULER_CONFIG_KEY);
    if (cas !== undefined && (current?.ModifyIndex ?? 0) !== cas) {
      updated = false;
      return;
    }
    tx.put("schedulerConfig", { ...cfg, ID: SCHEDULER_CONFIG_KEY, CreateIndex: 0, ModifyIndex: 0 });
  });
  return { Updated: updated, Index: index };
}
