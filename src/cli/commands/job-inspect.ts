import { flagBool, parseArgs, UsageError } from "../args.js";
import { Exit, type IO } from "../io.js";
import { JOB_FILE_FLAGS, loadJobFile, printDiagnostics } from "../jobfile.js";

export const usage = `Usage: ruche job inspect --local [-var name=value] [-var-file FILE] FILE

  Prints the job as Ruche understands it, with every default filled in, in the
  JSON form the API takes ({"Job": {...}}). With --local the job is read from a
  file and no server is asked.
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...JOB_FILE_FLAGS, local: { value: false } });
  if (!flagBool(p, "local")) throw new UsageError("reading a job from the servers is not available yet; use --local FILE");
  const result = await loadJobFile(p, io);
  if (!result.ok) {
    printDiagnostics(result, io);
    return Exit.Error;
  }
  io.out(`${JSON.stringify({ Job: result.job }, null, 2)}\n`);
  return Exit.Ok;
}
