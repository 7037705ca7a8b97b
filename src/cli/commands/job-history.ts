import { diffJobs, formatJobDiff } from "../../jobspec/index.js";
import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, positionals, printJson } from "../api.js";
import { versionsList } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveJob } from "../resolve.js";

export const usage = `Usage: ruche job history [options] ID

  Lists the versions of a job, newest first, each with whether it is stable (its
  deployment succeeded) and when it was submitted.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -p              show what each version changed from the one before
  -json           print the API's answer
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, p: { value: false } });
  const [id = ""] = positionals(p, "ID");
  const api = apiClient(p, io);
  const job = await resolveJob(api, id);
  const versions = (await api.versions(job.ID)).body.Versions;
  if (flagBool(p, "json")) {
    printJson(io, versions);
    return Exit.Ok;
  }
  let diffs: Map<number, string> | undefined;
  if (flagBool(p, "p")) {
    const sorted = [...versions].sort((a, b) => a.Version - b.Version);
    diffs = new Map(sorted.slice(1).map((v, i) => [v.Version, formatJobDiff(diffJobs(sorted[i] ?? null, v), { verbose: false })]));
  }
  io.out(`${versionsList(versions, diffs)}\n`);
  return Exit.Ok;
}
