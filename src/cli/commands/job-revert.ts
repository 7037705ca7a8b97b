import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, positionals, wholeNumber } from "../api.js";
import { Exit, type IO } from "../io.js";
import { monitorJobChange } from "../monitor.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job revert [options] ID VERSION

  Registers an earlier version of a job again, as a new version, then follows the
  evaluation and the deployment, as "ruche job run" does.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -detach         return once the revert is accepted, printing the evaluation ID
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG });
  const [id = "", versionText = ""] = positionals(p, "ID", "VERSION");
  const version = wholeNumber(versionText, "VERSION");
  const api = apiClient(p, io);
  const job = await resolveJob(api, id);
  const res = (await api.revert(job.ID, version)).body;
  if (flagBool(p, "detach")) {
    io.out(`${res.EvalID}\n`);
    return Exit.Ok;
  }
  return monitorJobChange(api, res.EvalID, io);
}
