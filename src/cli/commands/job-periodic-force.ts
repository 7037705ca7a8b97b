import { ApiError, type JobStub } from "../../apiclient/index.js";
import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, VERBOSE_FLAG } from "../api.js";
import { jobsTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { monitorJobChange } from "../monitor.js";
import { pickByPrefix } from "../resolve.js";

export const usage = `Usage: ruche job periodic force [options] JOB

  Launches a child of a periodic job now, JOB/periodic-<unix time>, whatever its schedule
  and prohibit_overlap say, then follows the child's evaluation, unless -detach.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -detach         return once the child is launched, printing its evaluation's ID
  -verbose        show full IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG, ...VERBOSE_FLAG });
  if (p.positional.length !== 1) throw new UsageError("This command takes one argument: <job id>");
  const prefix = (p.positional[0] ?? "").trim();
  const api = apiClient(p, io);
  // As Nomad: the ID, or the start of one, among the periodic jobs.
  const periodic = (await api.jobs()).body.filter((j) => j.Periodic === true);
  if (!periodic.some((j) => j.ID.startsWith(prefix))) {
    io.err(`No periodic job(s) with prefix or ID "${prefix}" found\n`);
    return Exit.Error;
  }
  const id = pickByPrefix<JobStub>(periodic, prefix, (j) => j.ID, "periodic job", (js) => jobsTable(js)).ID;
  let evalId: string;
  try {
    evalId = (await api.periodicForce(id)).body.EvalID;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    io.err(`Error forcing periodic job "${id}": ${err.message}\n`);
    return Exit.Error;
  }
  if (flagBool(p, "detach")) {
    io.out(`Force periodic successful\nEvaluation ID: ${evalId}\n`);
    return Exit.Ok;
  }
  return monitorJobChange(api, evalId, io);
}
