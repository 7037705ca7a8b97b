import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, positionals, printJson, VERBOSE_FLAG } from "../api.js";
import { allocDetail } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";

export const usage = `Usage: ruche alloc status [options] ID

  Shows an allocation (ID or the start of one): where it runs, what the servers
  want of it and what its client reports, its deployment health, and each task's
  resources and recent events.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
  -verbose        show whole IDs, and the placement metrics: the nodes the
                  scheduler looked at and turned down, and the best nodes it
                  scored, each scorer's score and the final one
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG });
  const [id = ""] = positionals(p, "ID");
  const a = await resolveAlloc(apiClient(p, io), id);
  if (flagBool(p, "json")) printJson(io, a);
  else io.out(`${allocDetail(a, Date.now(), flagBool(p, "verbose"))}\n`);
  return Exit.Ok;
}
