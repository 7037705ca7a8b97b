import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, printJson, VERBOSE_FLAG } from "../api.js";
import { allocationsTable, deployedTable, jobHeader, jobsTable, latestDeploymentKV, summaryTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job status [options] [ID]

  Without an ID, lists the jobs. With one (or the start of one), shows the job: its
  allocation counts per group, its latest deployment, and its allocations.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answers
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG });
  if (p.positional.length > 1) throw new UsageError(`this command takes at most one job ID, got ${p.positional.length} arguments`);
  const api = apiClient(p, io);
  const json = flagBool(p, "json");
  const full = flagBool(p, "verbose");
  const id = p.positional[0];
  if (id === undefined) {
    const jobs = (await api.jobs()).body;
    if (json) printJson(io, jobs);
    else io.out(jobs.length === 0 ? "No running jobs\n" : `${jobsTable(jobs)}\n`);
    return Exit.Ok;
  }
  const job = await resolveJob(api, id);
  const [summary, deployment, allocs] = await Promise.all([api.jobSummary(job.ID), api.latestDeployment(job.ID), api.jobAllocations(job.ID)]);
  if (json) {
    printJson(io, { Job: job, Summary: summary.body.Summary, LatestDeployment: deployment.body, Allocations: allocs.body });
    return Exit.Ok;
  }
  const sections = [
    jobHeader(job),
    `Summary\n${summaryTable(
      job.TaskGroups.map((g) => g.Name),
      summary.body.Summary,
    )}`,
  ];
  const d = deployment.body;
  if (d !== null) sections.push(`Latest Deployment\n${latestDeploymentKV(d, full)}`, `Deployed\n${deployedTable(d, { progressDeadline: false })}`);
  sections.push(allocs.body.length === 0 ? "Allocations\nNo allocations placed" : `Allocations\n${allocationsTable(allocs.body, Date.now(), full)}`);
  io.out(`${sections.join("\n\n")}\n`);
  return Exit.Ok;
}
