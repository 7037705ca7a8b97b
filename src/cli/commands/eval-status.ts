import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, positionals, printJson, VERBOSE_FLAG } from "../api.js";
import { evalDetail } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveEval } from "../resolve.js";

export const usage = `Usage: ruche eval status [options] ID

  Shows an evaluation (ID or the start of one): what triggered it, its status, and
  for each group it could not place, why.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG });
  const [id = ""] = positionals(p, "ID");
  const ev = await resolveEval(apiClient(p, io), id);
  if (flagBool(p, "json")) printJson(io, ev);
  else io.out(`${evalDetail(ev, Date.now(), flagBool(p, "verbose"))}\n`);
  return Exit.Ok;
}
