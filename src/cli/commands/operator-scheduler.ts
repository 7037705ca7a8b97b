import { flagBool, flagValues, parseArgs, UsageError, type Parsed } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printJson } from "../api.js";
import { formatKV } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import type { SchedulerConfiguration } from "../../structs/index.js";

const GET_USAGE = `Usage: ruche operator scheduler get-config [options]

  Displays the cluster's scheduler configuration: its algorithm, whether memory
  oversubscription is on (a task's memory_max is then its limit), whether job registrations
  are refused. Needs a token with operator:read when ACLs are on.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
`;

const SET_USAGE = `Usage: ruche operator scheduler set-config [options]

  Changes the cluster's scheduler configuration: only what a flag names, over the current
  one, written only if nobody changed it meanwhile. Needs a token with operator:write when
  ACLs are on.

Options:
  -scheduler-algorithm binpack|spread
                                 how nodes are ranked for jobs that ask for nothing else
  -memory-oversubscription[=false]
                                 a task's memory_max is its memory limit, its memory a reservation
  -reject-job-registration[=false]
                                 refuse job registration, dispatch and scale but to management tokens
  -check-index N                 change it only if its Modify Index is N
  -pause-eval-broker, -preempt-batch-scheduler, -preempt-service-scheduler,
  -preempt-sysbatch-scheduler, -preempt-system-scheduler, -node-limit-for-feasibility-checks
                                 taken as Nomad's CLI takes them; Ruche refuses all but false and 0
  -address ADDR                  the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
`;

/** `operator scheduler get-config`, as Nomad's CLI prints it. */
async function getConfig(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
  positionals(p);
  const { body } = await apiClient(p, io).schedulerConfig();
  if (flagBool(p, "json")) {
    printJson(io, body);
    return Exit.Ok;
  }
  const c = body.SchedulerConfig;
  io.out(
    `${formatKV([
      ["Scheduler Algorithm", c.SchedulerAlgorithm],
      ["Memory Oversubscription", String(c.MemoryOversubscriptionEnabled)],
      ["Reject Job Registration", String(c.RejectJobRegistration)],
      ["Pause Eval Broker", String(c.PauseEvalBroker)],
      ["Preemption System Scheduler", String(c.PreemptionConfig.SystemSchedulerEnabled)],
      ["Preemption Service Scheduler", String(c.PreemptionConfig.ServiceSchedulerEnabled)],
      ["Preemption Batch Scheduler", String(c.PreemptionConfig.BatchSchedulerEnabled)],
      ["Preemption SysBatch Scheduler", String(c.PreemptionConfig.SysBatchSchedulerEnabled)],
      ["Node Limit For Feasibility Checks", String(c.NodeLimitForFeasibilityChecks)],
      ["Modify Index", String(c.ModifyIndex)],
    ])}\n`,
  );
  return Exit.Ok;
}

const SWITCHES = ["memory-oversubscription", "reject-job-registration", "pause-eval-broker", "preempt-batch-scheduler", "preempt-service-scheduler", "preempt-sysbatch-scheduler", "preempt-system-scheduler"] as const;

/** A switch's value when it was given, undefined when not (the current value stays). */
function given(p: Parsed, name: string): boolean | undefined {
  return p.flags.has(name) ? flagBool(p, name) : undefined;
}

/** `operator scheduler set-config`: Nomad's flags merged over the current configuration, then written with check-and-set. */
async function setConfig(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, {
    ...API_FLAGS,
    ...Object.fromEntries(SWITCHES.map((s) => [s, { value: false }])),
    "scheduler-algorithm": { value: true },
    "check-index": { value: true },
    "node-limit-for-feasibility-checks": { value: true },
  });
  positionals(p);
  const whole = (name: string): number | undefined => {
    const v = flagValues(p, name).at(-1);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`-${name} must be a whole number, got "${v}"`);
    return Number(v);
  };
  const checkIndex = whole("check-index");
  const api = apiClient(p, io);
  const current = (await api.schedulerConfig()).body.SchedulerConfig;
  if (checkIndex !== undefined && checkIndex > 0 && current.ModifyIndex !== checkIndex) {
    io.err(`Error performing check index set: check-index ${checkIndex} does not match does not match current state value ${current.ModifyIndex}\n`);
    return Exit.Error;
  }
  const next: SchedulerConfiguration = { ...current, PreemptionConfig: { ...current.PreemptionConfig } };
  const algorithm = flagValues(p, "scheduler-algorithm").at(-1);
  if (algorithm !== undefined && algorithm !== "") next.SchedulerAlgorithm = algorithm as SchedulerConfiguration["SchedulerAlgorithm"];
  next.MemoryOversubscriptionEnabled = given(p, "memory-oversubscription") ?? next.MemoryOversubscriptionEnabled;
  next.RejectJobRegistration = given(p, "reject-job-registration") ?? next.RejectJobRegistration;
  next.PauseEvalBroker = given(p, "pause-eval-broker") ?? next.PauseEvalBroker;
  next.PreemptionConfig.BatchSchedulerEnabled = given(p, "preempt-batch-scheduler") ?? next.PreemptionConfig.BatchSchedulerEnabled;
  next.PreemptionConfig.ServiceSchedulerEnabled = given(p, "preempt-service-scheduler") ?? next.PreemptionConfig.ServiceSchedulerEnabled;
  next.PreemptionConfig.SysBatchSchedulerEnabled = given(p, "preempt-sysbatch-scheduler") ?? next.PreemptionConfig.SysBatchSchedulerEnabled;
  next.PreemptionConfig.SystemSchedulerEnabled = given(p, "preempt-system-scheduler") ?? next.PreemptionConfig.SystemSchedulerEnabled;
  next.NodeLimitForFeasibilityChecks = whole("node-limit-for-feasibility-checks") ?? next.NodeLimitForFeasibilityChecks;
  const { body } = await api.setSchedulerConfig(next, checkIndex !== undefined && checkIndex > 0 ? checkIndex : current.ModifyIndex);
  if (body.Updated) {
    io.out("Scheduler configuration updated!\n");
    return Exit.Ok;
  }
  io.out("Scheduler configuration could not be atomically updated, please try again\n");
  return Exit.Error;
}

export const get = { usage: GET_USAGE, run: getConfig };
export const set = { usage: SET_USAGE, run: setConfig };
