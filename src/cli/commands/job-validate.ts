import { parseArgs } from "../args.js";
import { Exit, type IO } from "../io.js";
import { JOB_FILE_FLAGS, loadJobFile, printDiagnostics } from "../jobfile.js";

export const usage = `Usage: ruche job validate [-var name=value] [-var-file FILE] FILE

  Checks a job file (HCL or JSON) and reports every mistake in it, each with
  its place in the file. Exits 0 when the job is valid, 1 otherwise.
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, JOB_FILE_FLAGS);
  const result = await loadJobFile(p, io);
  if (!result.ok) {
    printDiagnostics(result, io);
    return Exit.Error;
  }
  io.out("Job validation successful\n");
  return Exit.Ok;
}
