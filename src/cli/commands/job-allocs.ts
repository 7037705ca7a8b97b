import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, printJson, VERBOSE_FLAG } from "../api.js";
import { allocationsTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job allocs [options] JOB

  Lists the allocations of a job (its ID or the start of one), newest first, as
  "nomad job allocs" does.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -all            taken for Nomad's sake: the list always holds the allocations of
                  earlier jobs of the same ID
  -json           print the API's answer
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG, all: { value: false } });
  const [id] = p.positional;
  if (id === undefined || p.positional.length !== 1) throw new UsageError("This command takes one argument: <job>");
  const api = apiClient(p, io);
  const job = await resolveJob(api, id.trim());
  const allocs = (await api.jobAllocations(job.ID)).body;
  if (flagBool(p, "json")) printJson(io, allocs);
  else io.out(allocs.length === 0 ? "No allocations placed\n" : `${allocationsTable(allocs, Date.now(), flagBool(p, "verbose"))}\n`);
  return Exit.Ok;
}
