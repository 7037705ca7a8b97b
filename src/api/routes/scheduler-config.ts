import { defaultSchedulerConfig, ErrorCode, RucheError, type SchedulerAlgorithm, type SchedulerConfiguration } from "../../structs/index.js";
import type { ApiContext } from "../context.js";
import { blocking } from "../context.js";
import type { Request, Router } from "../http.js";

function bad(path: string, message: string): never {
  throw new RucheError(ErrorCode.BadRequest, `Error parsing scheduler config: ${path} ${message}`, { path });
}

function bool(v: unknown, path: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") bad(path, "must be true or false");
  return v;
}

/**
 * A scheduler configuration from a request body, in Nomad's `api.SchedulerConfiguration`
 * shape: absent fields are false, "" or 0, as Go's decoder leaves them; an empty algorithm is
 * binpack, as Nomad reads it.
 */
export function schedulerConfigFromBody(body: unknown): SchedulerConfiguration {
  if (typeof body !== "object" || body === null || Array.isArray(body)) bad("body", 'must be a scheduler configuration: {"SchedulerAlgorithm": "spread", "MemoryOversubscriptionEnabled": true}');
  const b = body as Record<string, unknown>;
  const algorithm = b.SchedulerAlgorithm ?? "";
  if (typeof algorithm !== "string") bad("SchedulerAlgorithm", 'must be "binpack" or "spread"');
  const pre: unknown = b.PreemptionConfig ?? {};
  if (typeof pre !== "object" || pre === null || Array.isArray(pre)) bad("PreemptionConfig", "must be an object");
  const p = pre as Record<string, unknown>;
  const limit = b.NodeLimitForFeasibilityChecks ?? 0;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) bad("NodeLimitForFeasibilityChecks", "must be a whole number");
  return {
    ...defaultSchedulerConfig(),
    SchedulerAlgorithm: (algorithm === "" ? "binpack" : algorithm) as SchedulerAlgorithm,
    PreemptionConfig: {
      SystemSchedulerEnabled: bool(p.SystemSchedulerEnabled, "PreemptionConfig.SystemSchedulerEnabled"),
      SysBatchSchedulerEnabled: bool(p.SysBatchSchedulerEnabled, "PreemptionConfig.SysBatchSchedulerEnabled"),
      BatchSchedulerEnabled: bool(p.BatchSchedulerEnabled, "PreemptionConfig.BatchSchedulerEnabled"),
      ServiceSchedulerEnabled: bool(p.ServiceSchedulerEnabled, "PreemptionConfig.ServiceSchedulerEnabled"),
    },
    MemoryOversubscriptionEnabled: bool(b.MemoryOversubscriptionEnabled, "MemoryOversubscriptionEnabled"),
    RejectJobRegistration: bool(b.RejectJobRegistration, "RejectJobRegistration"),
    PauseEvalBroker: bool(b.PauseEvalBroker, "PauseEvalBroker"),
    NodeLimitForFeasibilityChecks: limit,
  };
}

/** Nomad's refusal of a job registration, dispatch or scale while the configuration rejects them, to any token but a management one. */
export function mustAllowRegistration(ctx: ApiContext, req: Request): void {
  if (ctx.server.schedulerConfig().RejectJobRegistration && !req.acl.management) {
    throw new RucheError(ErrorCode.Forbidden, "Job registration, dispatch, and scale are disabled by the scheduler configuration");
  }
}

/**
 * Nomad's `/v1/operator/scheduler/configuration` (`api.Operator.SchedulerGetConfiguration`,
 * `SchedulerSetConfiguration` and `SchedulerCASConfiguration`, `nomad operator scheduler
 * get-config|set-config`, Terraform's `nomad_scheduler_config`).
 */
export function schedulerConfigRoutes(r: Router, ctx: ApiContext): void {
  r.get("/v1/operator/scheduler/configuration", async (req) => {
    const { body, index } = await blocking(ctx, req, ["schedulerConfig"], () => ctx.server.schedulerConfig());
    return { body: { SchedulerConfig: body, Index: index, LastContact: 0, KnownLeader: true, NextToken: "" }, index };
  });
  const set = async (req: Request) => {
    const cfg = schedulerConfigFromBody(req.body);
    const casText = req.query.get("cas");
    let cas: number | undefined;
    if (casText !== null) {
      cas = Number(casText);
      if (casText === "" || !Number.isSafeInteger(cas) || cas < 0) throw new RucheError(ErrorCode.BadRequest, `Error parsing cas value: "${casText}" is not a whole number`, { path: "cas" });
    }
    const res = await ctx.server.setSchedulerConfig(cfg, cas);
    return { body: { Updated: res.Updated, Index: res.Index }, index: res.Index };
  };
  r.put("/v1/operator/scheduler/configuration", set);
  r.on("POST", "/v1/operator/scheduler/configuration", set);
}
