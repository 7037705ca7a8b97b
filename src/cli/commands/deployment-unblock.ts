import { parseArgs } from "../args.js";
import { DEFAULT_ADDRESS, API_FLAGS, apiClient, positionals } from "../api.js";
import { shortId } from "../format/index.js";
import { Exit, type IO } from "../io.js";
import { resolveDeployment } from "../resolve.js";

export const usage = `Usage: ruche deployment unblock [options] ID

  Marks a blocked multiregion deployment (ID or the start of one) successful. A
  region's deployment is blocked once it is done there while other regions' are not;
  unblock it when another region cannot say it is done (its servers are lost, or its
  deployment failed with on_failure = "fail_local").

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, API_FLAGS);
  const [id = ""] = positionals(p, "ID");
  const api = apiClient(p, io);
  const d = await resolveDeployment(api, id);
  await api.unblockDeployment(d.ID);
  io.out(`Deployment "${d.ID}" unblocked (${shortId(d.ID)} is successful)\n`);
  return Exit.Ok;
}
