import { flagBool, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, printJson, VERBOSE_FLAG } from "../api.js";
import { allocChecksText } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";

export const usage = `Usage: ruche alloc checks [options] ALLOC

  Prints the latest result of each service check of an allocation (its ID or the start
  of one), as the node that runs it probes them, the way "nomad alloc checks" does:
  Status "success", "failure" or "pending" (not yet probed), the HTTP status code, the
  probe's output, and its time.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer (check ID → Nomad's AllocCheckStatus)
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...VERBOSE_FLAG, ...JSON_FLAG });
  const [id] = p.positional;
  if (id === undefined) throw new UsageError("An allocation ID is required");
  if (p.positional.length > 1) throw new UsageError("This command takes one argument (allocation ID)");
  if (id.length === 1) throw new UsageError("Alloc ID must contain at least two characters.");
  const api = apiClient(p, io);
  const alloc = await resolveAlloc(api, id);
  const checks = (await api.allocChecks(alloc.ID)).body;
  if (flagBool(p, "json")) printJson(io, checks);
  else io.out(`${allocChecksText(checks)}\n`);
  return Exit.Ok;
}
