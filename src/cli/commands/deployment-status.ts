import { flagBool, parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, JSON_FLAG, positionals, printJson, VERBOSE_FLAG } from "../api.js";
import { deployedTable, deploymentHeader } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveDeployment } from "../resolve.js";
import { multiregionDeployments } from "../multiregion.js";

export const usage = `Usage: ruche deployment status [options] ID

  Shows a deployment (ID or the start of one): its status and, per group, how many
  allocations are placed and healthy, and its canaries.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the API's answer
  -verbose        show whole IDs
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, ...VERBOSE_FLAG });
  const [id = ""] = positionals(p, "ID");
  const api = apiClient(p, io);
  const d = await resolveDeployment(api, id);
  if (flagBool(p, "json")) {
    printJson(io, d);
    return Exit.Ok;
  }
  const full = flagBool(p, "verbose");
  const sections = [deploymentHeader(d, full)];
  // A multiregion job's: each region's deployment of its version (Nomad's "Multiregion Deployment").
  const regions = d.IsMultiregion === true ? await multiregionDeployments(p, io, (await api.job(d.JobID)).body, d, full) : null;
  if (regions !== null) sections.push(regions);
  sections.push(`Deployed\n${deployedTable(d, { progressDeadline: true })}`);
  io.out(`${sections.join("\n\n")}\n`);
  return Exit.Ok;
}
