import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, printJson, scopeQuery, VERBOSE_FLAG } from "../api.js";
import { allocationsTable, deployedTable, formatKV, formatTable, jobHeader, jobsTable, latestDeploymentKV, periodicChildrenTable, placementFailures, summaryTable } from "../format/index.js";
import { DISPATCH_LAUNCH_SUFFIX, PERIODIC_LAUNCH_SUFFIX, toWireAlloc, toWireDeployment, toWireEval } from "../../structs/index.js";
import type { ApiClient } from "../../apiclient/index.js";
import { Exit, type IO } from "../io.js";
import { resolveJob } from "../resolve.js";
import { multiregionDeployments } from "../multiregion.js";

/** Nomad's `job status -short`: the job's header alone. */
export const SHORT_FLAG = { short: { value: false } } as const;

export const usage = `Usage: ruche job status [options] [ID]

  Without an ID, lists the jobs. With one (or the start of one), shows the job: its
  allocation counts per group, its latest deployment, and its allocations.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print, per job, its summary, allocations, latest deployment and
                  evaluations as the API gives them (a list, as Nomad's)
  -verbose        show whole IDs
  -short          show only the job's header, not its groups, deployment and allocations
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG, ...SHORT_FLAG });
  if (p.positional.length > 1) throw new UsageError(`this command takes at most one job ID, got ${p.positional.length} arguments`);
  const api = apiClient(p, io);
  const json = flagBool(p, "json");
  const full = flagBool(p, "verbose");
  const id = p.positional[0];
  if (id === undefined) {
    const jobs = (await api.jobs()).body;
    if (jobs.length === 0) io.out("No running jobs\n");
    else if (json) printJson(io, await Promise.all(jobs.map((j) => jobJson(api, j.ID))));
    else io.out(`${jobsTable(jobs, scopeQuery(p, io).namespace === "*")}\n`);
    return Exit.Ok;
  }
  const job = await resolveJob(api, id);
  if (json) {
    printJson(io, [await jobJson(api, job.ID)]);
    return Exit.Ok;
  }
  if (flagBool(p, "short")) {
    io.out(`${jobHeader(job)}\n`);
    return Exit.Ok;
  }
  const params = job.ParameterizedJob;
  if (params !== undefined && params !== null && job.Dispatched !== true) {
    // Nomad's parameterized job: its block, its children's counts, the jobs dispatched of it.
    const prefix = `${job.ID}${DISPATCH_LAUNCH_SUFFIX}`;
    const children = (await api.jobs()).body.filter((c) => c.ParentID === job.ID && c.ID.startsWith(prefix));
    const count = (s: string): string => String(children.filter((c) => (c.Stop ? "dead" : c.Status) === s).length);
    const sections = [
      jobHeader(job),
      `Parameterized Job
${formatKV([
        ["Payload", params.Payload],
        ["Required Metadata", params.MetaRequired.join(", ")],
        ["Optional Metadata", params.MetaOptional.join(", ")],
      ])}`,
      `Parameterized Job Summary
${formatTable(["Pending", "Running", "Dead"], [[count("pending"), count("running"), count("dead")]])}`,
    ];
    sections.push(children.length === 0 ? "No dispatched instances of parameterized job found" : `Dispatched Jobs
${periodicChildrenTable(children)}`);
    io.out(`${sections.join("\n\n")}\n`);
    return Exit.Ok;
  }
  if (job.Periodic !== null) {
    // Nomad's periodic parent: its next launch in the header, then its children (it has no allocations of its own).
    const prefix = `${job.ID}${PERIODIC_LAUNCH_SUFFIX}`;
    const children = (await api.jobs()).body.filter((c) => c.ParentID === job.ID && c.ID.startsWith(prefix));
    const count = (s: string): string => String(children.filter((c) => (c.Stop ? "dead" : c.Status) === s).length);
    const sections = [jobHeader(job), `Children Job Summary\n${formatTable(["Pending", "Running", "Dead"], [[count("pending"), count("running"), count("dead")]])}`];
    sections.push(children.length === 0 ? "No instances of periodic job found" : `Previously Launched Jobs\n${periodicChildrenTable(children)}`);
    io.out(`${sections.join("\n\n")}\n`);
    return Exit.Ok;
  }
  const [summary, deployment, allocs, evals] = await Promise.all([api.jobSummary(job.ID), api.latestDeployment(job.ID), api.jobAllocations(job.ID), api.jobEvaluations(job.ID)]);
  const sections = [
    jobHeader(job),
    `Summary\n${summaryTable(
      job.TaskGroups.map((g) => g.Name),
      summary.body.Summary,
    )}`,
  ];
  // As Nomad's: while an evaluation is blocked, why the latest one that failed to place could not.
  const latestFailed = evals.body.filter((e) => Object.keys(e.FailedTGAllocs).length > 0).sort((a, b) => b.CreateIndex - a.CreateIndex)[0];
  if (latestFailed !== undefined && evals.body.some((e) => e.Status === "blocked")) sections.push(`Placement Failure\n${placementFailures(latestFailed.FailedTGAllocs, "")}`);
  const d = deployment.body;
  if (d !== null) {
    sections.push(`Latest Deployment\n${latestDeploymentKV(d, full)}`);
    const regions = await multiregionDeployments(p, io, job, d, full);
    if (regions !== null) sections.push(regions);
    sections.push(`Deployed\n${deployedTable(d, { progressDeadline: false })}`);
  }
  sections.push(allocs.body.length === 0 ? "Allocations\nNo allocations placed" : `Allocations\n${allocationsTable(allocs.body, Date.now(), full)}`);
  io.out(`${sections.join("\n\n")}\n`);
  return Exit.Ok;
}

/**
 * One job under `-json`, as Nomad's `JobJson` (command/job_status.go): its summary, its
 * allocations, its latest deployment and its evaluations, each as the API answers them.
 */
export async function jobJson(api: ApiClient, id: string): Promise<Record<string, unknown>> {
  const [summary, allocs, deployment, evals] = await Promise.all([api.jobSummary(id), api.jobAllocations(id), api.latestDeployment(id), api.jobEvaluations(id)]);
  return {
    Summary: summary.body,
    Allocations: allocs.body.map(toWireAlloc),
    LatestDeployment: deployment.body === null ? null : toWireDeployment(deployment.body),
    Evaluations: evals.body.map(toWireEval),
  };
}
