import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, printJson, wholeNumber } from "../api.js";
import { CommandError } from "../errors.js";
import { Exit, type IO } from "../io.js";
import { JOB_FILE_FLAGS, loadJobFile, printDiagnostics } from "../jobfile.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job inspect [options] ID
       ruche job inspect --local [-var name=value] [-var-file FILE] FILE

  Prints the job as Ruche understands it, with every default filled in, in the
  JSON form the API takes ({"Job": {...}}): as the servers hold it, or with
  --local as read from a file, without asking any server.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -version N      an earlier version of the job
  --local         read the job from FILE instead
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...JOB_FILE_FLAGS, ...API_FLAGS, local: { value: false }, version: { value: true } });
  if (flagBool(p, "local")) {
    const result = await loadJobFile(p, io);
    if (!result.ok) {
      printDiagnostics(result, io);
      return Exit.Error;
    }
    printJson(io, { Job: result.job });
    return Exit.Ok;
  }
  if (flagValues(p, "var").length > 0 || flagValues(p, "var-file").length > 0) throw new UsageError("-var and -var-file go with --local FILE");
  const [id] = p.positional;
  if (id === undefined || p.positional.length > 1) throw new UsageError("this command takes one job ID (or --local FILE)");
  if (/\.(hcl|nomad|json)$/.test(id) && existsSync(resolve(io.cwd, id))) throw new UsageError(`"${id}" is a job file; to read a job from a file use --local FILE`);
  const api = apiClient(p, io);
  const job = await resolveJob(api, id);
  const versionText = flagValues(p, "version").at(-1);
  if (versionText === undefined) {
    printJson(io, { Job: job });
    return Exit.Ok;
  }
  const version = wholeNumber(versionText, "-version");
  const found = (await api.versions(job.ID)).body.Versions.find((v) => v.Version === version);
  if (found === undefined) throw new CommandError(`job "${job.ID}" has no version ${version}`);
  printJson(io, { Job: found });
  return Exit.Ok;
}
