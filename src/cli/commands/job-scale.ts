import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, positionals, wholeNumber } from "../api.js";
import { Exit, type IO } from "../io.js";
import { monitorJobChange } from "../monitor.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job scale [options] ID GROUP COUNT

  Sets how many allocations of a group the job runs (a new version of the job),
  then follows the evaluation and the deployment.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -detach         return once the change is accepted, printing the evaluation ID
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG });
  const [id = "", group = "", countText = ""] = positionals(p, "ID", "GROUP", "COUNT");
  const count = wholeNumber(countText, "COUNT");
  const api = apiClient(p, io);
  const job = await resolveJob(api, id);
  const res = (await api.scale(job.ID, group, count)).body;
  if (flagBool(p, "detach")) {
    io.out(`${res.EvalID}\n`);
    return Exit.Ok;
  }
  return monitorJobChange(api, res.EvalID, io);
}
