import { flagBool, flagValues, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, DETACH_FLAG, wholeNumber } from "../api.js";
import { Exit, type IO } from "../io.js";
import { nextPeriodicLaunch } from "../format/index.js";
import { JOB_FILE_FLAGS, loadJobFile, printDiagnostics } from "../jobfile.js";
import { monitorJobChange } from "../monitor.js";
import { isMultiregion } from "../../structs/index.js";

export const usage = `Usage: ruche job run [options] FILE

  Submits a job file (HCL or JSON) to the servers, then follows the evaluation the
  servers make of it and the deployment that rolls it out, until the deployment
  succeeds, fails, or waits for its canaries to be promoted.

  A job file that names its region (region = "us") is sent to that region through
  the server asked, and followed there, whatever -region says, as Nomad's CLI does.

  Exit codes: 0 done, 1 error or failed deployment, 2 allocations could not be placed.

Options:
  -address ADDR       the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -check-index N      register only if the job's modify index is still N (0: only
                      if the job does not exist yet); "ruche job plan" prints N
  -detach             return once the job is registered, printing the evaluation ID
  -json               read FILE as the API's JSON form of a job, whatever its name
  -output             print the JSON that would be sent to the API, {"Job": ...}, and
                      register nothing (as "nomad job run -output")
  -var name=value     set a variable of the job file; may be repeated
  -var-file FILE      read variables from a file; may be repeated
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JOB_FILE_FLAGS, ...DETACH_FLAG, "check-index": { value: true }, output: { value: false }, json: { value: false } });
  const checkText = flagValues(p, "check-index").at(-1);
  const checkIndex = checkText === undefined ? undefined : wholeNumber(checkText, "-check-index");
  const parsed = await loadJobFile(p, io, flagBool(p, "json") ? "json" : undefined);
  if (!parsed.ok) {
    printDiagnostics(parsed, io);
    return Exit.Error;
  }
  if (flagBool(p, "output")) {
    // Nomad's indent: its CLI marshals with four spaces.
    io.out(`${JSON.stringify({ Job: parsed.job }, null, 4)}\n`);
    return Exit.Ok;
  }
  const api = apiClient(p, io, parsed.job.Region);
  const res = (await api.register(parsed.job, checkIndex)).body;
  // As Nomad: a periodic job (which runs nothing itself), a multiregion one (rolled out region after region) or one without an evaluation is not followed.
  const next = nextPeriodicLaunch(parsed.job, Date.now());
  if (flagBool(p, "detach") || next !== null || res.EvalID === "" || isMultiregion(parsed.job)) {
    io.out("Job registration successful\n");
    if (next !== null) io.out(`Approximate next launch time: ${next}\n`);
    else if (res.EvalID !== "") io.out(`Evaluation ID: ${res.EvalID}\n`);
    return Exit.Ok;
  }
  return monitorJobChange(api, res.EvalID, io);
}
