import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, confirm, DETACH_FLAG, positionals, YES_FLAG } from "../api.js";
import { CommandError } from "../errors.js";
import { Exit, type IO } from "../io.js";
import { isMultiregion } from "../../structs/index.js";
import { monitorEval } from "../monitor.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job stop [options] ID

  Stops a job: its allocations are stopped and the job stays, dead, with its
  history (-purge removes it entirely). Then follows the evaluation.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -purge          remove the job and its versions from the servers
  -global         stop a multiregion job in every region it runs in (without it,
                  in the region asked alone, after a confirmation)
  -detach         return once the stop is accepted, printing the evaluation ID
  -yes            do not ask for confirmation when ID is only the start of the job's ID
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...DETACH_FLAG, ...YES_FLAG, purge: { value: false }, global: { value: false } });
  const [id = ""] = positionals(p, "ID");
  const api = apiClient(p, io);
  const job = await resolveJob(api, id);
  if (job.ID !== id && !(await confirm(p, io, `Are you sure you want to stop job "${job.ID}"?`, `"${id}" is not a whole job ID; it names job "${job.ID}"`))) {
    throw new CommandError("Cancelling job stop");
  }
  const global = flagBool(p, "global");
  if (!global && isMultiregion((await api.job(job.ID)).body) && !(await confirm(p, io, `Are you sure you want to stop multi-region job "${job.ID}" in a single region?`, `job "${job.ID}" is multiregion: -global stops it in every region`))) {
    throw new CommandError("Cancelling job stop");
  }
  const res = (await api.stop(job.ID, flagBool(p, "purge"), global)).body;
  if (flagBool(p, "detach")) {
    io.out(`${res.EvalID}\n`);
    return Exit.Ok;
  }
  const r = await monitorEval(api, res.EvalID, io);
  return r.eval.Status === "failed" ? Exit.Error : Exit.Ok;
}
