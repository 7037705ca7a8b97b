import { diffJobs, formatDiagnostic, parseJob, updatesFromDesired } from "../../jobspec/index.js";
import { ALL_NAMESPACES, clientTerminal, describeFailure, ErrorCode, NamespaceCap, isMultiregion, isParameterized, isPeriodic, memoryMaxWarnings, mergeWarnings, RucheError, toWireAlloc, toWireDeployment, toWireEval, type Allocation, type AllocationWire, type Job } from "../../structs/index.js";
import type { ApiContext, ListAnswer } from "../context.js";
import { blocking, blockingList } from "../context.js";
import { MULTIREGION_COPY, multiregionEntry, regionForJob } from "../federation-forward.js";
import { copyVersion, registerMultiregion, stopMultiregion, type MultiregionEdge } from "../multiregion.js";
import { regionalJob } from "../../server/index.js";
import { answerPerToken, inRequestNamespace, jobRequestNamespace, queryNamespace } from "../namespace.js";
import { namespaceIdTokens } from "../paginate.js";
import { RenderCache } from "../render-cache.js";
import { mustAllowRegistration } from "./scheduler-config.js";
import type { Request, Router } from "../http.js";

function ns(req: Request): string {
  return queryNamespace(req);
}

/**
 * A job's status as users read it: dead when stopped (or a batch or sysbatch job whose
 * work is all done), running while any allocation runs or is about to, pending before that;
 * a parameterized job (a template, which runs nothing itself) or a periodic one (whose children run) is running until stopped, as in Nomad.
 */
export function liveStatus(job: Job, allocs: readonly Allocation[]): Job["Status"] {
  if (job.Stop) return "dead";
  if (allocs.some((a) => a.DesiredStatus === "run" && (a.ClientStatus === "running" || a.ClientStatus === "pending"))) return "running";
  if (isParameterized(job) || isPeriodic(job)) return "running";
  if ((job.Type === "batch" || job.Type === "sysbatch") && allocs.length > 0 && allocs.every((a) => clientTerminal(a.ClientStatus))) return "dead";
  return "pending";
}

/**
 * The job the route names, in the request's namespace. With `?namespace=*` (what a Nomad user
 * who keeps NOMAD_NAMESPACE=* sends) the job of that ID in whichever namespace holds it, when
 * only one does.
 */
function mustJob(ctx: ApiContext, req: Request): Job {
  const id = req.params.id ?? "";
  const namespace = ns(req);
  if (namespace === ALL_NAMESPACES) {
    const found = ctx.store.jobs().filter((j) => j.ID === id);
    const [only] = found;
    if (only === undefined) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" not found`);
    if (found.length > 1) throw new RucheError(ErrorCode.BadRequest, `job "${id}" is in several namespaces (${found.map((j) => j.Namespace).join(", ")}): name one with ?namespace=`, { path: "namespace" });
    return only;
  }
  const j = ctx.store.job(namespace, id);
  if (j === null) throw new RucheError(ErrorCode.JobNotFound, `job "${id}" not found`);
  return j;
}

/** The job in a request body, validated as a job file would be: every mistake at once. */
async function jobFromBody(body: unknown): Promise<Job> {
  if (typeof body !== "object" || body === null || !("Job" in body)) throw new RucheError(ErrorCode.BadRequest, 'the body must be {"Job": {...}}');
  const r = await parseJob(JSON.stringify((body).Job), { file: "request", format: "json", api: true });
  if (!r.ok) {
    throw new RucheError(ErrorCode.InvalidJob, `the job is not valid: ${r.diagnostics.length} error${r.diagnostics.length === 1 ? "" : "s"}`, { path: "Job", details: r.diagnostics.map(formatDiagnostic) });
  }
  return r.job;
}

/**
 * The job as this region keeps it: its region this server's (Nomad's `regionForJob`: the
 * query's, the body's, the job's; "global" is here). A job for another region is sent there by
 * the listener before it reaches a route; one that comes here all the same is refused, never
 * registered in the wrong region.
 */
function inThisRegion(ctx: ApiContext, req: Request, job: Job): Job {
  const own = ctx.cluster.self.Region;
  // A multiregion job's copy another region sent is this region's as it is.
  if (isMultiregion(job) && req.headers[MULTIREGION_COPY] !== undefined) {
    if (job.Region !== own) throw new RucheError(ErrorCode.NoRegionPath, `No path to region "${job.Region}": a multiregion job's copy for region "${job.Region}" came to a server of region "${own}": nothing was registered here`, { path: "Job.Region" });
    return job;
  }
  const region = multiregionEntry(job.Multiregion, regionForJob(req.query.get("region") || null, (req.body as { Region?: unknown }).Region, job.Region, own));
  if (region !== own) throw new RucheError(ErrorCode.NoRegionPath, `No path to region "${region}": the job is for region "${region}" and this server is of region "${own}": nothing was registered here`, { path: "Job.Region" });
  return { ...job, Region: own };
}

/** What a multiregion job's registration or global stop needs of this server: its region, server and state, and its way to the other regions. */
function multiregionEdge(ctx: ApiContext): MultiregionEdge {
  return { own: ctx.cluster.self.Region, server: ctx.server, store: ctx.store, ...(ctx.regions === undefined ? {} : { client: ctx.regions }) };
}

export function summary(allocs: readonly Allocation[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const a of allocs) {
    const s = (out[a.TaskGroup] ??= { Queued: 0, Starting: 0, Running: 0, Failed: 0, Complete: 0, Lost: 0, Unknown: 0 });
    switch (a.ClientStatus) {
      case "pending":
        if (a.DesiredStatus === "run") s.Starting = (s.Starting ?? 0) + 1;
        break;
      case "running":
        s.Running = (s.Running ?? 0) + 1;
        break;
      case "failed":
        s.Failed = (s.Failed ?? 0) + 1;
        break;
      case "complete":
        s.Complete = (s.Complete ?? 0) + 1;
        break;
      case "lost":
        s.Lost = (s.Lost ?? 0) + 1;
        break;
      case "unknown":
        s.Unknown = (s.Unknown ?? 0) + 1;
        break;
      default:
        break;
    }
  }
  return out;
}

export function jobRoutes(r: Router, ctx: ApiContext): void {
  const { store, server } = ctx;

  // Ten thousand clients listing the jobs at one index get one answer, made once.
  const jobLists = new RenderCache<ListAnswer>(64);
  r.get("/v1/jobs", async (req) => {
    const prefix = req.query.get("prefix") ?? "";
    return blockingList(
      ctx,
      req,
      ["jobs", "allocs"],
      answerPerToken(req) ? new RenderCache<ListAnswer>(1) : jobLists,
      () => inRequestNamespace(req, prefix === "" ? store.jobs() : store.jobs().filter((j) => j.ID.startsWith(prefix)), NamespaceCap.ListJobs),
      namespaceIdTokens,
      (j) => ({
        ID: j.ID,
        Name: j.Name,
        Namespace: j.Namespace,
        /** Nomad's JobListStub: a child's parent, and whether the job is a periodic or parameterized parent. */
        ParentID: j.ParentID ?? "",
        Periodic: isPeriodic(j),
        ParameterizedJob: isParameterized(j),
        Type: j.Type,
        Priority: j.Priority,
        Status: liveStatus(j, store.allocsByJob(j.Namespace, j.ID)),
        Stop: j.Stop,
        Version: j.Version,
        Datacenters: j.Datacenters,
        JobSummary: { Summary: summary(store.allocsByJob(j.Namespace, j.ID)) },
        CreateIndex: j.CreateIndex,
        ModifyIndex: j.ModifyIndex,
        JobModifyIndex: j.JobModifyIndex,
        SubmitTime: j.SubmitTime,
        StatusDescription: "",
        Meta: j.Meta,
      }),
    );
  });

  const register = async (req: Request) => {
    mustAllowRegistration(ctx, req);
    const job = inThisRegion(ctx, req, { ...(await jobFromBody(req.body)), Namespace: jobRequestNamespace(req) });
    const b = req.body as { EnforceIndex?: unknown; JobModifyIndex?: unknown };
    if (req.params.id !== undefined && req.params.id !== job.ID) throw new RucheError(ErrorCode.BadRequest, `the job's ID "${job.ID}" is not "${req.params.id}" of the URL`, { path: "Job.ID" });
    const opts: { enforceIndex?: number } = {};
    if (b.EnforceIndex === true) {
      if (typeof b.JobModifyIndex !== "number") throw new RucheError(ErrorCode.BadRequest, "EnforceIndex needs JobModifyIndex", { path: "JobModifyIndex" });
      opts.enforceIndex = b.JobModifyIndex;
    }
    // A multiregion job submitted here: a copy registered in every region it names.
    if (isMultiregion(job) && req.headers[MULTIREGION_COPY] === undefined) {
      const answer = await registerMultiregion(multiregionEdge(ctx), req, job, opts.enforceIndex);
      return { body: answer, index: Math.max(answer.Index, store.index) };
    }
    const version = isMultiregion(job) ? copyVersion(req) : undefined;
    const res = await server.registerJob(job, { ...opts, ...(version === undefined ? {} : { version }) });
    return { body: { EvalID: res.EvalID, EvalCreateIndex: res.EvalCreateIndex, JobModifyIndex: res.JobModifyIndex, Index: res.Index, Warnings: mergeWarnings(memoryMaxWarnings(job, server.schedulerConfig())) }, index: res.Index };
  };
  r.put("/v1/jobs", register);
  r.put("/v1/job/:id", register);

  // Nomad's `api.Jobs.ParseHCLOpts` (nomad-pack, the Terraform provider): a job file → the api.Job JSON, every default filled.
  r.put("/v1/jobs/parse", async (req) => {
    const b = (req.body ?? {}) as { JobHCL?: unknown; Variables?: unknown };
    if (typeof b.JobHCL !== "string" || b.JobHCL === "") throw new RucheError(ErrorCode.BadRequest, "Job spec is empty", { path: "JobHCL" });
    const variables = typeof b.Variables === "string" && b.Variables !== "" ? { varFiles: [{ file: "variables.hcl", text: b.Variables }] } : {};
    const r2 = await parseJob(b.JobHCL, { file: "input.hcl", format: "hcl", ...variables });
    if (!r2.ok) throw new RucheError(ErrorCode.InvalidJob, `Failed to parse job: ${r2.diagnostics.map(formatDiagnostic).join("; ")}`, { path: "JobHCL", details: r2.diagnostics.map(formatDiagnostic) });
    return { body: r2.job };
  });

  // Nomad's `api.Jobs.Validate` (`nomad job validate`): a job that is not valid is a 200 whose ValidationErrors say why.
  r.put("/v1/validate/job", async (req) => {
    if (typeof req.body !== "object" || req.body === null || !("Job" in req.body) || req.body.Job === null) throw new RucheError(ErrorCode.BadRequest, "Job must be specified", { path: "Job" });
    const r2 = await parseJob(JSON.stringify(req.body.Job), { file: "request", format: "json", api: true });
    const errors = r2.ok ? [] : r2.diagnostics.map(formatDiagnostic);
    const error = errors.length === 0 ? "" : `${errors.length} error${errors.length === 1 ? "" : "s"} occurred:\n${errors.map((e) => `\t* ${e}`).join("\n")}\n\n`;
    return { body: { DriverConfigValidated: r2.ok, ValidationErrors: errors, Error: error, Warnings: r2.ok ? mergeWarnings(memoryMaxWarnings(r2.job, server.schedulerConfig())) : "" } };
  });

  r.get("/v1/job/:id", async (req) =>
    blocking(ctx, req, ["jobs", "allocs"], () => {
      const j = mustJob(ctx, req);
      return { ...j, Status: liveStatus(j, store.allocsByJob(j.Namespace, j.ID)) };
    }),
  );
  r.delete("/v1/job/:id", async (req) => {
    const j = mustJob(ctx, req);
    const purge = req.query.get("purge") === "true";
    // `job stop -global`: a multiregion job stopped in every region.
    if (req.query.get("global") === "true" && isMultiregion(j)) {
      const answer = await stopMultiregion(multiregionEdge(ctx), req, j, purge);
      return { body: answer, index: answer.Index };
    }
    const res = await server.stopJob(j.Namespace, j.ID, purge);
    return { body: { EvalID: res.EvalID, EvalCreateIndex: res.EvalCreateIndex, JobModifyIndex: res.JobModifyIndex, Index: res.Index }, index: res.Index };
  });
  r.get("/v1/job/:id/versions", async (req) => {
    const j = mustJob(ctx, req);
    return blocking(ctx, req, ["jobVersions"], () => ({ Versions: store.jobVersions(j.Namespace, j.ID) }));
  });
  r.get("/v1/job/:id/summary", async (req) => {
    const j = mustJob(ctx, req);
    return blocking(ctx, req, ["allocs", "jobs"], () => ({ JobID: j.ID, Namespace: j.Namespace, Summary: summary(store.allocsByJob(j.Namespace, j.ID)) }));
  });
  r.get("/v1/job/:id/allocations", async (req) => {
    const j = mustJob(ctx, req);
    return blocking(ctx, req, ["allocs"], () => store.allocsByJob(j.Namespace, j.ID).map(allocStub));
  });
  r.get("/v1/job/:id/evaluations", async (req) => {
    const j = mustJob(ctx, req);
    return blocking(ctx, req, ["evals"], () => store.evalsByJob(j.Namespace, j.ID).map(toWireEval));
  });
  r.get("/v1/job/:id/deployments", async (req) => {
    const j = mustJob(ctx, req);
    return blocking(ctx, req, ["deployments"], () => store.deploymentsByJob(j.Namespace, j.ID).map(toWireDeployment));
  });
  r.get("/v1/job/:id/deployment", async (req) => {
    const j = mustJob(ctx, req);
    return blocking(ctx, req, ["deployments"], () => {
      const d = store.latestDeployment(j.Namespace, j.ID);
      return d === null ? null : toWireDeployment(d);
    });
  });

  r.put("/v1/job/:id/plan", async (req) => {
    const job = inThisRegion(ctx, req, { ...(await jobFromBody(req.body)), Namespace: jobRequestNamespace(req) });
    if (job.ID !== req.params.id) throw new RucheError(ErrorCode.BadRequest, `the job's ID "${job.ID}" is not "${req.params.id ?? ""}" of the URL`, { path: "Job.ID" });
    // A multiregion job is planned as this region's copy of it (each region plans its own).
    const own = isMultiregion(job) ? job.Multiregion.Regions.find((r) => r.Name === ctx.cluster.self.Region) : undefined;
    const plan = server.planJob(own === undefined ? job : regionalJob(job, own));
    const diff = diffJobs(plan.current, plan.next);
    const desired = plan.result.plan.Annotations?.DesiredTGUpdates ?? {};
    for (const g of diff.TaskGroups) {
      const d = desired[g.Name];
      if (d !== undefined) g.Updates = updatesFromDesired(d);
    }
    return {
      body: {
        Diff: diff,
        Annotations: plan.result.plan.Annotations,
        FailedTGAllocs: plan.result.failed,
        Failures: Object.entries(plan.result.failed).map(([g, m]) => ({ Group: g, Reason: describeFailure(m) })),
        JobModifyIndex: plan.JobModifyIndex,
        Warnings: mergeWarnings(memoryMaxWarnings(job, server.schedulerConfig())),
      },
      index: store.index,
    };
  });

  r.put("/v1/job/:id/revert", async (req) => {
    const j = mustJob(ctx, req);
    const b = (req.body ?? {}) as { JobVersion?: unknown; EnforcePriorVersion?: unknown };
    if (typeof b.JobVersion !== "number") throw new RucheError(ErrorCode.BadRequest, "JobVersion must be a number", { path: "JobVersion" });
    const res = await server.revertJob(j.Namespace, j.ID, b.JobVersion, typeof b.EnforcePriorVersion === "number" ? b.EnforcePriorVersion : undefined);
    return { body: { EvalID: res.EvalID, JobModifyIndex: res.JobModifyIndex, Index: res.Index }, index: res.Index };
  });

  r.put("/v1/job/:id/scale", async (req) => {
    mustAllowRegistration(ctx, req);
    const j = mustJob(ctx, req);
    const b = (req.body ?? {}) as { Count?: unknown; Target?: { Group?: unknown } };
    if (typeof b.Count !== "number") throw new RucheError(ErrorCode.BadRequest, "Count must be a number", { path: "Count" });
    const group = b.Target?.Group;
    if (typeof group !== "string") throw new RucheError(ErrorCode.BadRequest, "Target.Group must name a group", { path: "Target.Group" });
    const res = await server.scaleJob(j.Namespace, j.ID, group, b.Count);
    return { body: { EvalID: res.EvalID, JobModifyIndex: res.JobModifyIndex, Index: res.Index }, index: res.Index };
  });
}

/** An allocation as lists show it (Nomad's `AllocationListStub`): without the job it carries, nor its placement metrics; Nomad's time types. */
export function allocStub(a: Allocation): AllocationWire<Omit<Allocation, "Job" | "Metrics"> & { JobVersion: number; JobType: string }> {
  const { Job: job, Metrics: _metrics, ...rest } = a;
  return toWireAlloc({ ...rest, JobVersion: job.Version, JobType: job.Type });
}
