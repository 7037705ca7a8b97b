import type { ApiClient } from "../../apiclient/index.js";
import type { JobDiff } from "../../jobspec/index.js";
import { formatJobDiff } from "../../jobspec/index.js";
import type { AllocMetric, Job } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, printJson } from "../api.js";
import { reportError } from "../errors.js";
import { placementFailures } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { JOB_FILE_FLAGS, loadJobFile, printDiagnostics } from "../jobfile.js";

export const usage = `Usage: ruche job plan [options] FILE

  Shows what submitting a job file would change, without changing anything: the
  difference with the job the servers run, what the scheduler would do with each
  group (create, destroy, update, canary, ignore), whether every allocation would
  find room, and the job modify index to pass to "ruche job run -check-index".

  Exit codes: 0 nothing would change, 1 something would change, 255 error.

Options:
  -address ADDR       the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -verbose            show unchanged fields too
  -json               print the API's answer
  -var name=value     set a variable of the job file; may be repeated
  -var-file FILE      read variables from a file; may be repeated
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  try {
    return await plan(argv, io);
  } catch (err) {
    reportError(err, io, usage);
    return Exit.Fatal;
  }
}

type PlanResponse = Awaited<ReturnType<ApiClient["plan"]>>["body"];

async function plan(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JOB_FILE_FLAGS, ...JSON_FLAG, verbose: { value: false } });
  const parsed = await loadJobFile(p, io);
  if (!parsed.ok) {
    printDiagnostics(parsed, io);
    return Exit.Fatal;
  }
  const res = (await apiClient(p, io, parsed.job.Region).plan(parsed.job)).body;
  const changes = planChanges(res);
  if (flagBool(p, "json")) {
    printJson(io, res);
    return changes ? Exit.PlanChanges : Exit.Ok;
  }
  const file = p.positional[0] ?? "";
  const vars = flagValues(p, "var").map((v) => `-var ${shellQuote(v)} `);
  const varFiles = flagValues(p, "var-file").map((v) => `-var-file ${shellQuote(v)} `);
  io.out(
    `${formatJobDiff(res.Diff as JobDiff, { verbose: flagBool(p, "verbose") })}\n\n` +
      `Scheduler dry-run:\n${dryRun(res, parsed.job)}\n\n` +
      `Job Modify Index: ${res.JobModifyIndex}\n\n` +
      `To submit the job with version verification run:\n` +
      `ruche job run -check-index ${res.JobModifyIndex} ${vars.join("")}${varFiles.join("")}${shellQuote(file)}\n\n` +
      `When running the job with the check-index flag, the job will only be run if the\n` +
      `server side version matches the job modify index returned. If the index has\n` +
      `changed, another user has modified the job and the plan's results are\n` +
      `potentially invalid.\n`,
  );
  return changes ? Exit.PlanChanges : Exit.Ok;
}

/** Whether the plan changes anything: the job itself, or its allocations. */
function planChanges(res: Pick<PlanResponse, "Diff" | "Annotations">): boolean {
  if ((res.Diff as JobDiff | null)?.Type !== "None") return true;
  return Object.values(res.Annotations?.DesiredTGUpdates ?? {}).some((u) => {
    const d = u as Partial<Record<string, number>>;
    return (d.Place ?? 0) + (d.Stop ?? 0) + (d.Migrate ?? 0) + (d.InPlaceUpdate ?? 0) + (d.DestructiveUpdate ?? 0) + (d.Canary ?? 0) > 0;
  });
}

function dryRun(res: PlanResponse, job: Job): string {
  const failed = res.FailedTGAllocs as Record<string, AllocMetric>;
  if (Object.keys(failed).length === 0) return "- All tasks successfully allocated.";
  const head = job.Type === "system" ? "- WARNING: Failed to place allocations on all nodes." : "- WARNING: Failed to place all allocations.";
  return `${head}\n${placementFailures(failed, "  ")}`;
}

/** Quotes a word for a POSIX shell when it needs it, so the printed command can be pasted. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
