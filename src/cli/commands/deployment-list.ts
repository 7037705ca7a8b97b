import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, positionals, printJson, VERBOSE_FLAG } from "../api.js";
import { deploymentsTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche deployment list [options]

  Lists the deployments, newest first.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG });
  positionals(p);
  const ds = (await apiClient(p, io).deployments()).body;
  if (flagBool(p, "json")) printJson(io, ds);
  else io.out(ds.length === 0 ? "No deployments found\n" : `${deploymentsTable(ds, flagBool(p, "verbose"))}\n`);
  return Exit.Ok;
}
