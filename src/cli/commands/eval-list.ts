import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, printJson, VERBOSE_FLAG } from "../api.js";
import { evalsTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche eval list [options]

  Lists the evaluations, newest first, with Nomad's columns.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -job ID         only the evaluations of this job
  -status S       only the evaluations in this status (pending, complete, failed,
                  blocked, canceled)
  -json           print the API's answer
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG, job: { value: true }, status: { value: true } });
  if (p.positional.length > 0) throw new UsageError("This command takes no arguments");
  const job = flagValues(p, "job").at(-1);
  const status = flagValues(p, "status").at(-1);
  // Filtered here: the servers' list answers every evaluation (Nomad filters on its side).
  const evals = (await apiClient(p, io).evaluations()).body.filter((e) => (job === undefined || e.JobID === job) && (status === undefined || e.Status === status));
  if (flagBool(p, "json")) printJson(io, evals);
  else io.out(evals.length === 0 ? "No evals found\n" : `${evalsTable(evals, flagBool(p, "verbose"))}\n`);
  return Exit.Ok;
}
